"""Prediction-log retention and feedback erasure, through the command line and the
server, on a real workspace (SQLite, then PostgreSQL)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive import env
from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.predictions import (
    StoreSegmentSink,
    feedback,
    read_prediction_log,
    record_feedback,
)
from pathtolive.service.tokens import create_token
from pathtolive.service.workspace import init_workspace
from pathtolive.serving import runtime
from tests.support.cli import Result, run_in_process
from tests.support.serving import serving_in_thread

FEATURES = ["mean radius", "mean texture", "mean smoothness"]
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=1)


@dataclass(frozen=True)
class Setup:
    ctx: ServiceContext
    root: Path
    environ: dict[str, str]
    frame: pd.DataFrame

    def cli(self, *args: str, token: str | None = None) -> Result:
        environ = {**self.environ, env.METADATA_URL: self.ctx.settings.metadata_url}
        if token is not None:
            environ[env.TOKEN] = token
        return run_in_process(args, cwd=self.root, environ=environ)

    def record(self, request_id: str, rows: int, at: datetime) -> PredictionRecord:
        return PredictionRecord(
            request_id=request_id,
            at=at,
            model="risk",
            version=1,
            trained_on=(),
            protocol="v1",
            role="live",
            latency_ms=1.0,
            inputs=self.frame[FEATURES].head(rows).reset_index(drop=True),
            outputs=[[0.5, 0.5]] * rows,
        )

    def log(self, request_id: str, rows: int, at: datetime) -> None:
        """One segment of ``rows`` predictions made at ``at``."""
        logger = PredictionLogger(StoreSegmentSink(self.ctx))
        logger.log(self.record(request_id, rows, at))
        logger.close()

    def segments(self) -> list[str]:
        with self.ctx.metadata.read() as session:
            return [s.artifact_digest for s in session.list_prediction_segments("risk")]

    def retain(self, days: int) -> None:
        config = self.root / "pathtolive.toml"
        config.write_text(config.read_text() + f"\n[serve]\nlog_retention_days = {days}\n")


@pytest.fixture
def setup(tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]) -> Iterator[Setup]:
    """A workspace with ``risk@1`` live (signature on three features)."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame[[*FEATURES, "target"]]
    ctx = init_workspace(
        tmp_path / "ws", metadata_url=metadata_url, environ=clean_environ, local_role="admin"
    )
    model = LogisticRegression(max_iter=5000).fit(frame[FEATURES], frame["target"])
    model_service.register_model(ctx, model, "risk", signature_sample=frame[FEATURES].head(20))
    model_service.set_alias(ctx, "risk@1", "live", override="test setup")
    yield Setup(ctx, tmp_path / "ws", clean_environ, frame)
    ctx.close()


def _journal(setup: Setup, name: str, written: datetime) -> Path:
    folder = setup.ctx.settings.state_dir / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"")
    os.utime(path, (written.timestamp(), written.timestamp()))
    return path


def test_prune_deletes_segments_and_journals_past_the_retention_and_audits_it(
    setup: Setup,
) -> None:
    setup.log("old", 3, OLD)
    setup.log("recent", 2, RECENT)
    old_segment, recent_segment = setup.segments()
    old_journal = _journal(setup, "1-old.jsonl", OLD)
    recent_journal = _journal(setup, "2-recent.jsonl", RECENT)
    setup.retain(30)

    pruned = setup.cli("predictions", "prune", "--json")
    assert pruned.code == 0, pruned.stderr
    result = pruned.json()
    assert (result["days"], result["segments"], result["rows"], result["journals"]) == (
        30,
        1,
        3,
        1,
    )
    assert setup.segments() == [recent_segment]
    assert not setup.ctx.artifacts.exists(old_segment)
    assert setup.ctx.artifacts.exists(recent_segment)
    assert not old_journal.exists()
    assert recent_journal.exists()
    assert list(read_prediction_log(setup.ctx, "risk")["request_id"]) == ["recent"] * 2

    (event,) = setup.cli("audit", "log", "--action", "predictions.pruned", "--json").json()
    details = event["details"]
    assert (details["segments"], details["rows"], details["journal_files"]) == (1, 3, 1)
    assert datetime.fromisoformat(details["oldest"]) <= OLD + timedelta(seconds=1)
    assert datetime.fromisoformat(details["newest"]) < NOW - timedelta(days=30)
    assert details["models"] == ["risk@1"]

    again = setup.cli("predictions", "prune")
    assert again.code == 0
    assert "Nothing older than 30 days" in again.stdout
    assert len(setup.cli("audit", "log", "--action", "predictions.pruned", "--json").json()) == 1
    assert setup.cli("audit", "verify").code == 0


def test_prune_needs_an_admin_and_a_retention(setup: Setup) -> None:
    setup.log("old", 3, OLD)
    scientist = create_token(setup.ctx, principal="sam", role="scientist").secret
    refused = setup.cli("predictions", "prune", "--older-than-days", "1", token=scientist)
    assert refused.code == 7
    unset = setup.cli("predictions", "prune")
    assert unset.code == 4
    assert "log_retention_days" in unset.stderr
    assert setup.cli("predictions", "prune", "--older-than-days", "0").code == 4
    setup.retain(0)
    assert setup.cli("predictions", "prune").code == 8
    assert len(setup.segments()) == 1


def test_the_server_prunes_the_log_when_it_starts(setup: Setup) -> None:
    setup.log("old", 3, OLD)
    setup.log("recent", 2, RECENT)
    old_journal = _journal(setup, "1-old.jsonl", OLD)
    setup.retain(30)
    environ = {**setup.environ, env.METADATA_URL: setup.ctx.settings.metadata_url}
    with serving_in_thread(setup.root, environ=environ):
        assert len(setup.segments()) == 1
        assert not old_journal.exists()
    (event,) = setup.cli("audit", "log", "--action", "predictions.pruned", "--json").json()
    assert event["details"]["by"] == "server"
    assert event["details"]["rows"] == 3


def test_the_server_prunes_again_while_it_runs(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "RETENTION_EVERY", 0.1)
    setup.retain(30)
    environ = {**setup.environ, env.METADATA_URL: setup.ctx.settings.metadata_url}
    with serving_in_thread(setup.root, environ=environ):
        setup.log("old", 3, OLD)  # a segment that ages past the retention while serving
        deadline = time.monotonic() + 60
        while setup.segments() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert setup.segments() == []


def test_feedback_for_a_request_is_erased_and_audited(setup: Setup) -> None:
    # Named for no model: a label outside risk's classes would be refused.
    record_feedback(setup.ctx, "req-1", "secret-label")
    record_feedback(setup.ctx, "req-1", 1, model="risk", row=1)
    record_feedback(setup.ctx, "req-2", 0, model="risk")

    forgot = setup.cli("feedback", "forget", "req-1", "--reason", "subject request", "--json")
    assert forgot.code == 0, forgot.stderr
    assert forgot.json() == {"request_id": "req-1", "deleted": 2}
    assert [f.request_id for f in feedback(setup.ctx)] == ["req-2"]
    events = setup.cli("audit", "log", "--action", "feedback.forgotten", "--json")
    (event,) = events.json()
    assert event["subject"] == "request:req-1"
    assert event["details"]["labels"] == 2
    assert "secret-label" not in events.stdout  # the erased values are not copied

    again = setup.cli("feedback", "forget", "req-1", "--reason", "again")
    assert again.code == 3
    assert "no feedback" in again.stderr
    assert setup.cli("feedback", "forget", "req-2", "--reason", " ").code == 4
    assert setup.cli("feedback", "forget", "x" * 101, "--reason", "r").code == 4
    scientist = create_token(setup.ctx, principal="sam", role="scientist").secret
    assert setup.cli("feedback", "forget", "req-2", "--reason", "r", token=scientist).code == 7
    assert [f.request_id for f in feedback(setup.ctx)] == ["req-2"]
    assert setup.cli("audit", "verify").code == 0


def test_a_live_loggers_journal_is_never_pruned(setup: Setup, tmp_path: Path) -> None:
    from pathtolive.predlog import prune_journals

    folder = tmp_path / "journal"
    logger = PredictionLogger(StoreSegmentSink(setup.ctx), journal=folder)
    logger.log(setup.record("live", 1, NOW))
    (mine,) = folder.glob("*.jsonl")
    try:
        assert prune_journals(folder, NOW + timedelta(days=1)) == []
        assert mine.exists()
    finally:
        logger.close()
