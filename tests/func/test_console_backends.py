"""Every console page and the four-eyes actions on the prepared workspace, once with its
metadata in SQLite and once in PostgreSQL: the same pages, the same links, the same
filters and the same audit events on both."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from httpx import Client
from sklearn.datasets import load_breast_cancer

from pathtolive.service import audit as audit_service
from pathtolive.service.workspace import open_workspace
from tests.conftest import postgres_schema
from tests.support.cli import run_in_process
from tests.support.console import (
    MODEL,
    SCRIPT,
    ConsoleWorkspace,
    build_console_workspace,
    console_environ,
    console_in_thread,
    copy_console_workspace,
)

ESCAPED = "&lt;script&gt;"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def prepared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleWorkspace]:
    """The prepared workspace on one backend (on SQLite a copy of the process's template),
    with a second version of ``cancer`` (its ``mean radius`` scaled) for the diff.
    Shared by this module's tests, in order."""
    base = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "sqlite":
        template: ConsoleWorkspace = request.getfixturevalue("console_template")
        workspace = copy_console_workspace(template, base / "ws")
        _add_scaled_version(workspace.root, base / "scratch")
        yield workspace
        return
    with postgres_schema(request.getfixturevalue("postgres_server")) as metadata_url:
        workspace = build_console_workspace(
            base / "ws", base / "scratch", metadata_url=metadata_url
        )
        _add_scaled_version(workspace.root, base / "scratch")
        yield workspace


def _add_scaled_version(root: Path, scratch: Path) -> None:
    scratch.mkdir(exist_ok=True)
    frame = load_breast_cancer(as_frame=True).frame
    frame["mean radius"] = frame["mean radius"] * 1.6
    frame.to_csv(scratch / "scaled.csv", index=False)
    added = run_in_process(
        ["data", "add", scratch / "scaled.csv", "--name", "cancer", "--policy", "warn"],
        cwd=root,
        environ=console_environ(),
    )
    assert added.code == 0, added.stderr


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found is not None, f"no {name} on the page"
    return found.group(1)


def _page(client: Client, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[-500:]}"
    assert SCRIPT not in answer.text, f"{path} shows data as markup"
    return answer.text


def _run_ids(client: Client, query: str) -> list[str]:
    return re.findall(r'name="run" value="([0-9a-f]+)"', _page(client, f"/runs?{query}"))


def _signed_in(client: Client, token: str) -> str:
    """Sign ``client`` in with ``token``; its CSRF token."""
    nonce = _field(client.get("/sign-in").text, "sign_in_token")
    answer = client.post("/sign-in", data={"token": token, "sign_in_token": nonce})
    assert answer.status_code == 303, answer.text
    return _field(client.get("/promotions").text, "csrf_token")


def _live(client: Client) -> str:
    overview = client.get("/").text
    row = overview[overview.index(f">{MODEL}</a>") :]
    start = row.index("@")
    return row[start : row.index("</a>", start)]


def _events(workspace: ConsoleWorkspace, action: str) -> list[Any]:
    ctx = open_workspace(workspace.root, environ=console_environ())
    try:
        return audit_service.audit_log(ctx, action=action, limit=None)
    finally:
        ctx.close()


def test_every_page_renders_with_its_content(prepared: ConsoleWorkspace) -> None:
    with console_in_thread(prepared.root, auth=True) as client:
        csrf = _signed_in(client, prepared.tokens["val"])
        overview = _page(client, "/")
        assert f'href="/models/{MODEL}"' in overview
        assert "drift in mean radius: psi 0.41" in overview
        assert ESCAPED in overview  # the alert on a feature named like a script tag

        assert f'href="/models/{MODEL}"' in _page(client, "/models")
        model = _page(client, f"/models/{MODEL}")
        for version in (1, 2):
            assert f'href="/models/{MODEL}/versions/{version}"' in model
        assert 'href="/datasets/cancer/versions/1"' in model
        version = _page(client, f"/models/{MODEL}/versions/2")
        assert 'class="chart intervals"' in version
        assert re.search(r'href="/runs/compare\?run=[0-9a-f]+', version)

        promotions = _page(client, "/promotions")
        assert f"{MODEL}@2" in promotions
        assert ESCAPED in promotions  # the request's reason

        assert 'href="/datasets/cancer"' in _page(client, "/datasets")
        dataset = _page(client, "/datasets/cancer")
        assert "refused.csv" in dataset
        assert ESCAPED in dataset  # the refused value
        assert _page(client, "/datasets/cancer/versions/1").count('class="chart density"') >= 30
        diff = _page(client, "/datasets/cancer/diff?old=1&new=2")
        moved = re.findall(r"<td>(mean [a-z ]+)</td>", diff)
        assert moved[:1] == ["mean radius"], "the scaled column moved most"

        ids = _run_ids(client, "pipeline=risk&sort=-metric:roc_auc")
        assert len(ids) == 2
        assert _run_ids(client, "pipeline=risk&sort=metric:roc_auc") == ids[::-1]
        # Filters on params and metrics kept as JSON, evaluated by the database.
        by_trees = [_run_ids(client, f"param=n_estimators%3D{n}") for n in (1, 60)]
        assert sorted(by_trees) == sorted([[ids[0]], [ids[1]]])
        assert sorted(_run_ids(client, "metric=roc_auc%3E%3D0")) == sorted(ids)
        assert _run_ids(client, "metric=roc_auc%3E1") == []
        compared = _page(client, f"/runs/compare?run={ids[0]}&run={ids[1]}")
        assert re.search(
            r"<strong>n_estimators</strong> <span class=\"badge bad\">differs", compared
        )

        assert f'href="/monitoring/{MODEL}"' in _page(client, "/monitoring")
        assert "drift in mean radius: psi 0.41" in _page(client, f"/monitoring/{MODEL}")

        requested = _page(client, "/audit?actor=sam&action=promotion.requested")
        assert requested.count("promotion.requested") >= 1
        assert "dataset.version_refused" not in requested
        verified = client.post("/audit/verify", data={"csrf_token": csrf})
        assert verified.status_code == 200
        assert "The chain holds." in verified.text


def test_four_eyes_refuse_approve_and_roll_back(prepared: ConsoleWorkspace) -> None:
    target = {"ref": f"{MODEL}@2", "alias": "live"}
    with console_in_thread(prepared.root, auth=True) as client:
        token = _signed_in(client, prepared.tokens["ada"])
        by_author = client.post("/promotions/approve", data={"csrf_token": token, **target})
        assert by_author.status_code == 403
        assert "ada trained it; four-eyes needs another approver" in by_author.text
    with console_in_thread(prepared.root, auth=True) as client:
        token = _signed_in(client, prepared.tokens["maria"])
        refused = client.post(
            "/promotions/refuse", data={"csrf_token": token, "reason": "not yet", **target}
        )
        assert refused.status_code == 303, refused.text
        assert "No promotion waits for a decision." in client.get("/promotions").text
        again = run_in_process(
            ["promote", f"{MODEL}@2", "--to", "live", "--reason", "retry"],
            cwd=prepared.root,
            environ=console_environ(PATHTOLIVE_TOKEN=prepared.tokens["sam"]),
        )
        assert again.code == 0, again.stderr
        approved = client.post(
            "/promotions/approve", data={"csrf_token": token, "comment": "fine", **target}
        )
        assert approved.status_code == 303, approved.text
        assert _live(client) == "@2"
        rolled = client.post(
            "/promotions/rollback",
            data={"csrf_token": token, "model": MODEL, "alias": "live", "reason": "canary"},
        )
        assert rolled.status_code == 303, rolled.text
        assert _live(client) == "@1"
    assert [e.actor for e in _events(prepared, "promotion.approval_refused")] == ["ada"]
    assert [(e.actor, e.details["reason"]) for e in _events(prepared, "promotion.declined")] == [
        ("maria", "not yet")
    ]
    assert [e.actor for e in _events(prepared, "promotion.approved")] == ["maria"]
    assert [e.actor for e in _events(prepared, "promotion.rolled_back")] == ["maria"]
