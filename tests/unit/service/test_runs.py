"""A run's heartbeat: renewed while its pipeline executes; a running run whose heartbeat
stopped (its process was killed, its machine went away) is marked failed, audited, by the
next writer that looks. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris

from pathtolive import env
from pathtolive.entities import Run
from pathtolive.service import datasets as dataset_service
from pathtolive.service import runs as run_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.tokens import create_token
from pathtolive.service.workspace import init_workspace, open_workspace
from tests.support.metadata import run_record
from tests.support.pipelines import write_pipelines

NAPPING = """
import time

from sklearn.dummy import DummyClassifier

from pathtolive import Dataset, pipeline, step


@step
def nap(data: Dataset, seconds: float):
    time.sleep(seconds)
    frame = data.df
    return DummyClassifier().fit(frame.drop(columns="target"), frame["target"])


@pipeline
def napping(data: Dataset, seconds: float = 0.6):
    return nap(data, seconds=seconds)
"""

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
"""Long ago: a run that started then and never beat since is lost by any clock."""


@pytest.fixture
def ctx(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]
) -> Iterator[ServiceContext]:
    environ = {**clean_environ, env.METADATA_URL: metadata_url}
    root = tmp_path / "ws"
    init_workspace(root, environ=environ, local_role="admin").close()
    write_pipelines(root, napping=NAPPING)
    context = open_workspace(root, environ=environ)
    frame: pd.DataFrame = load_iris(as_frame=True).frame
    dataset_service.add_dataset(context, frame, "iris")
    yield context
    context.close()


def _dead_run(ctx: ServiceContext, heartbeat: datetime | None) -> Run:
    """A run started at T0 and left `running`, its last heartbeat at ``heartbeat``."""
    run = run_record(
        "d" * 32,
        at=T0,
        kind="pipeline",
        pipeline="napping",
        status="running",
        heartbeat_at=heartbeat,
    )
    with ctx.metadata.write() as session:
        session.insert_run(run)
    return run


def test_a_pipeline_renews_its_heartbeat_while_it_runs(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_service, "HEARTBEAT_SECONDS", 0.05)
    result = run_service.run_pipeline(
        ctx, "napping", data="iris@1", params={"seconds": "0.6"}, use_cache=False
    )
    run = result.run
    assert run.status == "succeeded"
    assert run.heartbeat_at is not None
    # Beats came during the step, not only the one written at the start.
    assert run.heartbeat_at - run.started_at >= timedelta(seconds=0.3)
    assert run.finished_at is not None
    assert run.heartbeat_at <= run.finished_at


def test_a_run_whose_heartbeat_stopped_is_marked_failed_once(ctx: ServiceContext) -> None:
    beat = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    dead = _dead_run(ctx, heartbeat=beat)
    # Within LOST_AFTER of its last beat it may still be alive: left alone, also by readers.
    assert run_service.reap_lost_runs(ctx) == []
    assert run_service.get_run(ctx, dead.run_id).status == "running"

    later = beat + run_service.LOST_AFTER + timedelta(seconds=1)
    [lost] = run_service.reap_lost_runs(ctx, now=later)
    assert lost.run_id == dead.run_id
    assert lost.status == "failed"
    assert lost.finished_at == later
    assert lost.error is not None
    assert lost.error.startswith("lost: its process stopped renewing the run's heartbeat at ")
    assert f"{beat:%H:%M:%S} UTC" in lost.error
    assert run_service.reap_lost_runs(ctx, now=later + timedelta(hours=1)) == []
    with ctx.metadata.write() as session:
        events = list(session.iter_audit_events(action="run.failed"))
        # The process, were it alive after all, learns that its run is no longer running.
        assert not session.beat_run(dead.run_id, later)
    [event] = events
    assert event.subject == f"run:{dead.run_id}"
    assert event.details["lost"] is True


def test_listing_runs_marks_the_lost_ones_but_a_viewer_only_sees_them(
    ctx: ServiceContext, tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]
) -> None:
    dead = _dead_run(ctx, heartbeat=None)  # died before its first beat: its start counts
    viewer = create_token(ctx, principal="val", role="viewer")
    as_viewer = open_workspace(
        tmp_path / "ws",
        environ={**clean_environ, env.METADATA_URL: metadata_url, env.TOKEN: viewer.secret},
    )
    try:
        assert [r.status for r in run_service.list_runs(as_viewer)] == ["running"]
    finally:
        as_viewer.close()
    [listed] = run_service.list_runs(ctx)
    assert listed.run_id == dead.run_id
    assert listed.status == "failed"
