"""What ``monitor`` reads of the feedback: only the labels of the requests in its window,
however many other labels the model has (SQLite, then PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.datasets import add_dataset
from pathtolive.service.monitor import monitor
from pathtolive.service.predictions import StoreSegmentSink, record_feedback_many
from pathtolive.service.workspace import init_workspace
from pathtolive.store.metadata import MetadataSession

FEATURES = ["mean radius", "mean texture", "mean smoothness"]
T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]) -> Iterator[Any]:
    """``risk@1`` live, trained on ``cancer@1``, with 60 logged single-row requests."""
    frame = load_breast_cancer(as_frame=True).frame[[*FEATURES, "target"]]
    ctx = init_workspace(
        tmp_path / "ws", metadata_url=metadata_url, environ=clean_environ, local_role="admin"
    )
    add_dataset(ctx, frame, "cancer")
    fitted = LogisticRegression(max_iter=5000).fit(frame[FEATURES], frame["target"])
    model_service.register_model(ctx, fitted, "risk", data="cancer@1")
    model_service.set_alias(ctx, "risk@1", "live", override="test: no gates to run")
    logger = PredictionLogger(StoreSegmentSink(ctx))
    proba = fitted.predict_proba(frame[FEATURES].head(60))
    for index in range(60):
        logger.log(
            PredictionRecord(
                request_id=f"req-{index}",
                at=T0 + timedelta(seconds=index),
                model="risk",
                version=1,
                trained_on=("cancer@1",),
                protocol="v1",
                role="live",
                latency_ms=1.0,
                inputs=frame[FEATURES].iloc[index : index + 1].reset_index(drop=True),
                outputs=[list(proba[index])],
            )
        )
    logger.close()
    yield ctx
    ctx.close()


def test_monitor_reads_only_the_labels_of_the_requests_in_its_window(
    ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Labels for the 60 logged requests, then many for requests the log never saw.
    record_feedback_many(ctx, [(f"req-{i}", i % 2) for i in range(60)], model="risk")
    record_feedback_many(ctx, [(f"junk-{i}", 1) for i in range(3000)], model="risk")
    loaded: list[int] = []
    real = MetadataSession.list_feedback

    def counting(self: MetadataSession, *args: Any, **kwargs: Any) -> Any:
        found = real(self, *args, **kwargs)
        loaded.append(len(found))
        return found

    monkeypatch.setattr(MetadataSession, "list_feedback", counting)
    outcome = monitor(ctx, "risk", last=20, record_alerts=False)
    assert outcome.report.window.rows == 20
    # The last 20 requests' labels, not the model's 3060.
    assert sum(loaded) == 20
    assert outcome.report.decay is not None
