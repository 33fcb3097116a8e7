"""``monitor`` reading the prediction log's segments on a multi-process Dask cluster: the
drift, prediction drift and decay figures are exactly those of the read in this process
(over a window, and over the last N requests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive.compute import connect
from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.datasets import add_dataset
from pathtolive.service.monitor import monitor
from pathtolive.service.predictions import StoreSegmentSink, record_feedback_many
from pathtolive.service.workspace import init_workspace

pytestmark = pytest.mark.subprocess

FEATURES = ["mean radius", "mean texture", "mean smoothness"]
T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
SEGMENTS, PER_SEGMENT = 4, 40


@pytest.fixture
def ctx(tmp_path: Path, clean_environ: dict[str, str]) -> Iterator[Any]:
    """``risk@1`` live, trained on ``cancer@1``, with a log of several segments (the
    later requests shifted) and labels for most of its requests."""
    frame = load_breast_cancer(as_frame=True).frame[[*FEATURES, "target"]]
    ctx = init_workspace(
        tmp_path / "ws",
        metadata_url=f"sqlite:///{tmp_path / 'meta.db'}",
        environ=clean_environ,
        local_role="admin",
    )
    add_dataset(ctx, frame, "cancer")
    fitted = LogisticRegression(max_iter=5000).fit(frame[FEATURES], frame["target"])
    model_service.register_model(ctx, fitted, "risk", data="cancer@1")
    model_service.set_alias(ctx, "risk@1", "live", override="test: no gates to run")
    live = frame[FEATURES].sample(SEGMENTS * PER_SEGMENT, random_state=3, replace=True)
    live = live.reset_index(drop=True)
    live.loc[PER_SEGMENT * 2 :, "mean radius"] *= 1.3  # drift in the later segments
    proba = fitted.predict_proba(live)
    logger = PredictionLogger(StoreSegmentSink(ctx))
    for index in range(len(live)):
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
                inputs=live.iloc[index : index + 1].reset_index(drop=True),
                outputs=[list(proba[index])],
            )
        )
        if (index + 1) % PER_SEGMENT == 0:
            logger.flush()  # one segment per PER_SEGMENT requests
    logger.close()
    labels = [(f"req-{i}", int(i % 3 != 0)) for i in range(len(live))]
    record_feedback_many(ctx, labels, model="risk")
    yield ctx
    ctx.close()


def _task_prefixes(dask_scheduler: Any) -> list[str]:
    return list(dask_scheduler.task_prefixes)


def _figures(outcome: Any) -> dict[str, Any]:
    report = outcome.report.to_dict()
    return {key: report[key] for key in ("window", "drift", "prediction_drift", "decay")}


def test_figures_read_on_a_cluster_equal_the_local_read(
    ctx: ServiceContext, dask_cluster: str
) -> None:
    now = T0 + timedelta(hours=1)
    here = monitor(ctx, "risk", window=timedelta(hours=2), now=now, record_alerts=False)
    there = monitor(
        ctx, "risk", window=timedelta(hours=2), now=now, record_alerts=False, scheduler=dask_cluster
    )
    assert here.report.window.rows == SEGMENTS * PER_SEGMENT
    assert here.report.drift is not None
    assert here.report.decay is not None
    assert _figures(there) == _figures(here)
    with connect(dask_cluster) as client:
        prefixes = client.run_on_scheduler(_task_prefixes)
    assert "SegmentReader" in prefixes  # the segments were read by the workers

    newest = monitor(ctx, "risk", last=50, now=now, record_alerts=False)
    newest_there = monitor(
        ctx, "risk", last=50, now=now, record_alerts=False, scheduler=dask_cluster
    )
    assert newest.report.window.rows == 50
    assert _figures(newest_there) == _figures(newest)
