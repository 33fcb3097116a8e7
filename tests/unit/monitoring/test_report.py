"""The typed monitoring report: its JSON is its parts' own JSON, put together in the
order ``pathtolive monitor --json`` prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from pathtolive.entities import Alert
from pathtolive.monitoring.drift import drift_from_scratch
from pathtolive.monitoring.report import (
    DriftAlerting,
    MonitorReport,
    MonitorWindow,
    PredictionDrift,
    alert_dict,
)

NOW = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def _alert(cleared: datetime | None) -> Alert:
    return Alert(
        alert_id=3,
        model="risk",
        kind="drift",
        key="drift:age",
        status="cleared" if cleared else "open",
        message="drift in age: psi 0.4 > 0.2",
        details={"version": 2, "rows": 300},
        opened_at=NOW - timedelta(hours=1),
        last_seen_at=NOW,
        cleared_at=cleared,
        delivered_at=None,
        delivery_attempts=0,
    )


def test_the_json_is_the_parts_json_in_the_printed_order() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"age": rng.normal(40, 5, 500), "prediction": rng.random(500)})
    current = pd.DataFrame({"age": rng.normal(50, 5, 300), "prediction": rng.random(300)})
    inputs = drift_from_scratch(reference[["age"]], current[["age"]], min_rows=30)
    outputs = drift_from_scratch(reference[["prediction"]], current[["prediction"]])
    prediction = PredictionDrift(outputs.features[0], "the first 500 outputs of risk@2")
    report = MonitorReport(
        model="risk",
        version=2,
        generated_at=NOW,
        window=MonitorWindow(NOW - timedelta(hours=24), NOW, 300, "last 1d"),
        trained_on=("loans@3", "regions@1"),
        reference="loans@3",
        drift=inputs,
        drift_alerting=DriftAlerting(False, 0.2, 0.05, "below min_weighted_drift 0.2"),
        prediction_drift=prediction,
        alerts=(_alert(None),),
    )

    data = report.to_dict()

    assert list(data) == [
        "model", "version", "generated_at", "window", "trained_on", "reference", "drift",
        "drift_alerting", "prediction_drift", "decay", "alerts", "series",
    ]  # fmt: skip
    assert data["generated_at"] == NOW.isoformat()
    assert data["window"] == {
        "start": (NOW - timedelta(hours=24)).isoformat(),
        "end": NOW.isoformat(),
        "rows": 300,
        "description": "last 1d",
    }
    assert data["trained_on"] == ["loans@3", "regions@1"]
    assert data["drift"] == inputs.to_dict()
    assert data["drift"]["drifted"] == ["age"]
    assert data["drift_alerting"] == {
        "alerts": False,
        "min_weighted_drift": 0.2,
        "weighted_drift": 0.05,
        "reason": "below min_weighted_drift 0.2",
    }
    assert data["prediction_drift"] == {
        **outputs.features[0].to_dict(),
        "reference_description": "the first 500 outputs of risk@2",
    }
    assert data["decay"] is None
    # The alert as the webhook gets it, and where its delivery stands (it is not in the
    # payload).
    assert data["alerts"] == [
        {
            **alert_dict(_alert(None)),
            "delivery": {
                "state": "",
                "id": None,
                "attempts": 0,
                "delivered_at": None,
                "next_attempt_at": None,
                "last_error": None,
            },
        }
    ]
    assert "delivery" not in alert_dict(_alert(None))
    json.dumps(data, allow_nan=False)  # plain JSON types throughout


def test_a_window_without_a_start_and_an_alert_without_a_clearing() -> None:
    window = MonitorWindow(None, NOW, 0, "last 300 requests")
    assert window.to_dict()["start"] is None
    report = MonitorReport("risk", 1, NOW, window, (), "loans@1")
    assert report.to_dict()["drift"] is None
    assert report.to_dict()["alerts"] == []
    assert alert_dict(_alert(None))["cleared_at"] is None
    cleared = alert_dict(_alert(NOW))
    assert cleared["cleared_at"] == NOW.isoformat()
    assert cleared == {
        "alert_id": 3,
        "model": "risk",
        "kind": "drift",
        "key": "drift:age",
        "status": "cleared",
        "message": "drift in age: psi 0.4 > 0.2",
        "details": {"version": 2, "rows": 300},
        "opened_at": (NOW - timedelta(hours=1)).isoformat(),
        "cleared_at": NOW.isoformat(),
    }
