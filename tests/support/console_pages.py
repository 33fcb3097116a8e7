"""A workspace prepared for the console's Model, Model version and Monitoring pages:
model ``risk`` trained on ``cancer@1`` whose first input is named like a script tag,
three versions (@1 then @2 live), a stored gate report on @2 with intervals and slices,
three days of logged predictions of @2 (the last day shifted) with feedback labels,
monitored (a series of a window per day, stored as ``pathtolive monitor`` stores it), and
a drift alert waiting in the webhook outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from pathtolive.gates.base import GateResult
from pathtolive.gates.report import GateReport
from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.monitor import monitor
from pathtolive.service.predictions import StoreSegmentSink, record_feedback_many
from pathtolive.service.workspace import init_workspace, open_workspace

EVIL = "<script>alert(1)</script>"
FEATURES = [EVIL, "mean texture"]
# Traffic of the last days, so the console (whose windows end now) shows it.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = 3
ROWS = 120

MONITORING = """
[models.risk.monitoring]
window = "1d"
min_rows = 50
metric = "accuracy"
"""


@dataclass
class Prepared:
    root: Path
    environ: dict[str, str]
    frame: pd.DataFrame

    def open(self) -> ServiceContext:
        return open_workspace(self.root, environ=self.environ)


def _frame() -> pd.DataFrame:
    cancer = load_breast_cancer(as_frame=True).frame
    return cancer[["mean radius", "mean texture", "target"]].rename(columns={"mean radius": EVIL})


def gate_report(version: int) -> dict[str, Any]:
    results = [
        GateResult.passing(
            "min_metric",
            "ok",
            figure=0.93,
            threshold=0.8,
            data={
                "interval": {
                    "metric": "roc_auc",
                    "value": 0.93,
                    "low": 0.9,
                    "high": 0.95,
                    "resamples": 200,
                    "confidence": 0.95,
                },
                "bound": "floor",
            },
        ),
        GateResult.passing(
            "beat_live",
            "better",
            figure=0.01,
            threshold=0.0,
            data={
                "against": "live",
                "metric": "roc_auc",
                "a": 0.93,
                "b": 0.91,
                "difference": 0.02,
                "low": 0.01,
                "high": 0.03,
                "resamples": 200,
                "confidence": 0.95,
                "margin": 0.0,
            },
        ),
        GateResult.passing(
            "slices",
            "no slice loses",
            figure=0.01,
            threshold=0.05,
            data={
                "reference": "live",
                "min_slice_rows": 20,
                "slices": [
                    {
                        "column": EVIL,
                        "value": "<b>big</b>",
                        "rows": 40,
                        "candidate": 0.88,
                        "reference": 0.89,
                        "drop": 0.01,
                        "status": "ok",
                    }
                ],
            },
        ),
        GateResult.passing(
            "latency", "fast", figure=2.5, threshold=50.0, data={"single_p95_ms": 2.5}
        ),
    ]
    return GateReport.from_results("risk", version, "roc_auc", results, NOW).to_dict()


def prepare(root: Path, environ: dict[str, str]) -> Prepared:
    frame = _frame()
    ctx = init_workspace(root, environ=environ, local_role="admin")
    try:
        config = root / "pathtolive.toml"
        config.write_text(config.read_text() + MONITORING)
        ctx.close()
        ctx = open_workspace(root, environ=environ)
        source = root.parent / "cancer.csv"
        frame.to_csv(source, index=False)
        dataset_service.add_dataset(ctx, source, "cancer")
        models = []
        for c in (0.1, 1.0, 10.0):
            model = LogisticRegression(C=c, max_iter=5000).fit(frame[FEATURES], frame["target"])
            model_service.register_model(ctx, model, "risk", data="cancer@1", metrics={"c": c})
            models.append(model)
        model_service.set_alias(ctx, "risk@1", "live", override="the first release")
        model_service.set_alias(ctx, "risk@2", "live", override="the second release")
        with ctx.metadata.write() as session:
            session.insert_gate_report(
                "risk", 2, passed=True, report=gate_report(2), at=NOW, by="ada"
            )
            alert, _ = session.raise_alert(
                "risk",
                "drift",
                f"drift:{EVIL}",
                f"{EVIL} drifted",
                {"feature": EVIL},
                at=NOW - timedelta(hours=2),
            )
            session.queue_delivery(alert.alert_id, "d-1", at=NOW - timedelta(hours=2))
        _log(ctx, models[1], frame)
        # What the console shows of monitoring is what a look like
        # `pathtolive monitor risk --every 1d --count 3` stores.
        monitor(ctx, "risk", every=timedelta(days=1), count=DAYS)
    finally:
        ctx.close()
    return Prepared(root, environ, frame)


def _log(ctx: ServiceContext, model: Any, frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    logger = PredictionLogger(StoreSegmentSink(ctx))
    labels: list[tuple[str, Any, int]] = []
    for day in range(DAYS):
        rows = frame.sample(ROWS, random_state=day, replace=True).reset_index(drop=True)
        if day == DAYS - 1:
            rows[EVIL] = rows[EVIL] + 8 + rng.normal(0, 1, ROWS)
        proba = model.predict_proba(rows[FEATURES])
        request = f"day{day}"
        logger.log(
            PredictionRecord(
                request_id=request,
                at=NOW - timedelta(days=DAYS - day) + timedelta(hours=3),
                model="risk",
                version=2,
                trained_on=("cancer@1",),
                protocol="v1",
                role="live",
                latency_ms=1.0,
                inputs=rows[FEATURES],
                outputs=[[float(a), float(b)] for a, b in proba],
            )
        )
        labels += [(request, int(label), row) for row, label in enumerate(rows["target"])]
    logger.close()
    record_feedback_many(ctx, labels, model="risk")
