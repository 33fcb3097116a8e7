"""Bad input that is not a request: damaged objects on disk and edited audit rows.

Requests are covered elsewhere and not repeated here: tests/func/test_serving_fuzz.py
runs schemathesis over the server's whole OpenAPI document (never a 5xx), and
tests/func/test_serving.py checks each kind of invalid body. A damaged model artifact is
already refused by the server's loader (test_serving.py) and by ``promote``
(test_cli_promotion.py), a damaged data object by ``data export`` (test_cli_data.py),
and an edited audit row on SQLite through the CLI (test_cli_data.py). What follows adds
the ways an object is damaged by a crash or a disk (cut short, emptied, gone) on the
Python API's load paths, and edits and deletions in the audit trail on both databases."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace
from pathtolive.errors import IntegrityError, NotFoundError


def _damage(path: Path, how: str) -> None:
    path.chmod(0o644)  # stored objects are read-only
    data = path.read_bytes()
    if how == "flipped byte":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif how == "cut short":
        path.write_bytes(data[: len(data) // 2])
    elif how == "emptied":
        path.write_bytes(b"")
    else:
        path.unlink()


DAMAGE = ["flipped byte", "cut short", "emptied", "gone"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_object_is_refused_when_loaded(tmp_path: Path, how: str) -> None:
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [i % 2 for i in range(40)]})
    with Workspace.init(tmp_path / "ws") as ws:
        data = ws.add_dataset(frame, "points")
        model = ws.register_model(
            LogisticRegression().fit(frame[["x"]], frame["y"]),
            name="clf",
            data="points@1",
            sample=frame[["x"]],
        )
        objects = ws.root / ".pathtolive" / "objects"
        loads: list[tuple[str, Callable[[], object]]] = [
            (model.artifact_digest, lambda: ws.load_model("clf@1")),
            (data.content_hash, lambda: ws.load("points@1")),
        ]
        for digest, load in loads:
            _damage(objects / digest[:2] / digest[2:], how)
            expected = NotFoundError if how == "gone" else IntegrityError
            with pytest.raises(expected) as refused:
                load()
            assert digest[:12] in refused.value.message


@pytest.mark.slow
def test_an_edited_or_deleted_audit_row_is_found_by_verify(
    store_environ: dict[str, str], tmp_path: Path
) -> None:
    environ = store_environ
    root = tmp_path / "ws"
    with Workspace.init(root, environ=environ, local_role="admin") as ws:
        for number in range(3):
            ws.add_dataset(pd.DataFrame({"x": [number, number + 1]}), f"set{number}")
        url = ws.context.settings.metadata_url
        assert ws.verify_audit().ok
    engine = sa.create_engine(url.replace("sqlite:///.pathtolive", f"sqlite:///{root}/.pathtolive"))
    try:
        events = sa.table("audit_events", sa.column("seq"), sa.column("details_json"))
        with engine.begin() as connection:
            connection.execute(
                events.update().where(events.c.seq == 3).values(details_json='{"rows": 1}')
            )
        edited = _verify(root, environ)
        with engine.begin() as connection:
            connection.execute(events.delete().where(events.c.seq == 3))
        deleted = _verify(root, environ)
    finally:
        engine.dispose()
    # Through the command line: in this process, a verify that stops early on
    # PostgreSQL leaves its server-side cursor for the collector (a ResourceWarning).
    assert edited.returncode == 1, edited.stderr
    assert json.loads(edited.stdout)["first_bad_seq"] == 3
    assert deleted.returncode == 1, deleted.stderr
    assert json.loads(deleted.stdout)["first_bad_seq"] == 3
    assert "deleted" in json.loads(deleted.stdout)["problem"]


def _verify(root: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pathtolive", "audit", "verify", "--json"],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
