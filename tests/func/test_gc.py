"""Storage housekeeping: ``pathtolive gc`` and the leftovers of a ``data add`` killed with
``kill -9``."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pathtolive import Workspace
from pathtolive.store.artifacts import LocalArtifactStore, object_key
from tests.support.cli import run_in_process
from tests.support.pipelines import RISK, write_pipelines

from .conftest import CLI, WorkspaceTemplates, initialise_with_cancer


def build_trained(cli: CLI, workspace: Path, scratch: Path) -> None:
    """cancer@1 and @2, and risk-model@1 trained by a pipeline run (step outputs, the step
    cache and a replay record in the store)."""
    initialise_with_cancer(cli, workspace, scratch)
    frame = pd.read_csv(scratch / "cancer.csv")
    frame.iloc[:400].to_csv(scratch / "cancer2.csv", index=False)
    added = cli("data", "add", scratch / "cancer2.csv", "--name", "cancer")
    assert added.code == 0, added.stderr
    write_pipelines(workspace, risk=RISK.replace("n_jobs=1)", "n_jobs=1, max_depth=1)"))
    ran = cli(
        "run", "risk", "--data", "cancer@1", "--param", "n_estimators=1", "--register", "risk-model"
    )
    assert ran.code == 0, ran.stderr


@pytest.fixture
def trained(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    return workspace_templates.copy("gc-trained", build_trained, tmp_path / "ws")


def _orphan(root: Path, data: bytes, *, age_seconds: float) -> str:
    """An object no row names, as an add killed after publishing it leaves one."""
    store = LocalArtifactStore(root / ".pathtolive")
    digest = store.put_bytes(data).digest
    written = time.time() - age_seconds
    os.utime(root / ".pathtolive" / object_key(digest), (written, written))
    return digest


def test_gc_removes_only_old_unreferenced_objects_and_everything_still_loads(
    cli: CLI, trained: Path
) -> None:
    objects = trained / ".pathtolive"
    before = set(LocalArtifactStore(objects).iter_digests())
    old = _orphan(trained, b"left by a crashed add", age_seconds=7200)
    young = _orphan(trained, b"published by an add in flight", age_seconds=0)

    dry = cli("gc", "--dry-run", "--json")
    assert dry.code == 0, dry.stderr
    assert dry.json()["removed_digests"] == [old]
    assert (objects / object_key(old)).is_file()  # a dry run removes nothing

    collected = cli("gc", "--json")
    assert collected.code == 0, collected.stderr
    report = collected.json()
    assert report["removed_digests"] == [old]
    assert report["removed_bytes"] == len(b"left by a crashed add")
    assert report["kept_recent"] == 1
    store = LocalArtifactStore(objects)
    assert set(store.iter_digests()) == before | {young}

    # Everything the metadata refers to still loads, verified against its digest.
    with Workspace.open(trained) as ws:
        for version in ws.versions("cancer"):
            assert len(ws.load(version.ref)) == version.rows
        assert ws.load_model("risk-model@1") is not None
    for digest in before:
        store.get_bytes(digest)
    # The step cache still answers: the same run is served from it.
    rerun = cli("run", "risk", "--data", "cancer@1", "--param", "n_estimators=1", "--json")
    assert rerun.code == 0, rerun.stderr

    events = [e for e in cli("audit", "log", "--json").json() if e["action"] == "store.gc"]
    assert len(events) == 1  # the dry run is not a change
    assert events[0]["details"]["removed"] == 1
    assert events[0]["details"]["removed_bytes"] == len(b"left by a crashed add")
    assert events[0]["details"]["removed_prefixes"] == [old[:16]]
    assert cli("audit", "verify").code == 0


def test_gc_needs_an_admin(cli: CLI, workspace: Path) -> None:
    old = _orphan(workspace, b"an orphan", age_seconds=7200)
    scientist = cli("tokens", "create", "--user", "sam", "--role", "scientist", "--json").json()

    refused = cli("gc", extra_env={"PATHTOLIVE_TOKEN": scientist["secret"]})

    assert refused.code == 7, refused.stdout + refused.stderr
    assert "admin" in refused.stderr
    assert (workspace / ".pathtolive" / object_key(old)).is_file()


def _add_and_hang(ready: Any, root: str, source: str, environ: dict[str, str]) -> None:
    """``data add`` that stops for good while it profiles the file, when its canonical
    copy is in a work folder and the store is copying it to a temporary file."""
    from pathtolive.service import datasets

    def hang(*args: object, **kwargs: object) -> None:
        ready.set()
        time.sleep(600)

    datasets.compute_profile = hang  # type: ignore[assignment]
    run_in_process(["data", "add", source, "--name", "loans"], cwd=Path(root), environ=environ)


@pytest.mark.subprocess  # a real process, killed with SIGKILL
def test_the_next_add_removes_what_an_add_killed_with_sigkill_left(
    cli: CLI, workspace: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    source = tmp_path / "loans.csv"
    pd.DataFrame({"amount": rng.normal(size=50_000), "term": rng.integers(1, 5, 50_000)}).to_csv(
        source, index=False
    )
    tmp = workspace / ".pathtolive" / "tmp"
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writer = context.Process(
        target=_add_and_hang, args=(ready, str(workspace), str(source), cli_env)
    )
    writer.start()
    try:
        assert ready.wait(timeout=120), "the add never reached profiling"
        deadline = time.monotonic() + 60
        while not any(p.suffix == ".tmp" for p in tmp.iterdir()):
            assert time.monotonic() < deadline, "the add never staged its copy"
            time.sleep(0.05)
    finally:
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(timeout=60)
    assert writer.exitcode == -signal.SIGKILL
    leftovers = sorted(p.name for p in tmp.iterdir())
    assert any(name.endswith(".tmp") for name in leftovers), leftovers
    assert any(name.startswith("add-") for name in leftovers), leftovers

    pd.DataFrame({"x": [1, 2, 3]}).to_csv(tmp_path / "other.csv", index=False)
    added = cli("data", "add", tmp_path / "other.csv", "--name", "other")
    assert added.code == 0, added.stderr

    assert sorted(p.name for p in tmp.iterdir()) == []
    # The killed add stored nothing; the store holds only the new version's object.
    assert len(list(LocalArtifactStore(workspace / ".pathtolive").iter_digests())) == 1


@pytest.mark.parametrize("orphan_of_the_same_content", [False, True])
def test_gc_while_an_add_is_between_its_object_and_its_row_keeps_the_object(
    cli: CLI,
    workspace: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    orphan_of_the_same_content: bool,
) -> None:
    """gc runs after the add published its object and before its row commits. With an old
    orphan of the same content (an earlier add killed after publishing), the add reuses it
    and marks it as just written, so gc keeps it too."""
    from pathtolive.store.artifacts import StagedObject

    source = tmp_path / "loans.csv"
    pd.DataFrame({"amount": [1.0, 2.0, 3.0]}).to_csv(source, index=False)
    if orphan_of_the_same_content:
        first = cli("data", "add", source, "--name", "loans", "--json")
        assert first.code == 0, first.stderr
        digest = first.json()["version"]["content_hash"]
        # Make it an old orphan: a fresh workspace over the same objects, as after a crash.
        (workspace / ".pathtolive" / "meta.db").unlink()
        assert cli("db", "upgrade").code == 0
        path = workspace / ".pathtolive" / object_key(digest)
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    original = StagedObject.commit
    reports: list[Any] = []

    def commit_then_gc(self: StagedObject) -> Any:
        info = original(self)
        collected = run_in_process(["gc", "--json"], cwd=workspace, environ=cli_env)
        assert collected.code == 0, collected.stderr
        reports.append(collected.json())
        return info

    StagedObject.commit = commit_then_gc  # type: ignore[method-assign]
    try:
        added = cli("data", "add", source, "--name", "loans", "--json")
    finally:
        StagedObject.commit = original  # type: ignore[method-assign]
    assert added.code == 0, added.stderr
    assert len(reports) == 1
    assert reports[0]["removed"] == 0
    assert reports[0]["kept_recent"] == 1

    with Workspace.open(workspace) as ws:
        assert ws.load("loans@1")["amount"].tolist() == [1.0, 2.0, 3.0]
