"""`pathtolive monitor --every`: a series of windows over a prediction log spanning days,
drawn in the HTML report, and drift alerts on persistence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pathtolive import Workspace
from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service.predictions import StoreSegmentSink, record_feedback_many
from tests.support.cli import run_in_process
from tests.support.serving import FEATURES, ServedWorkspace, cli_environ, risk_frame

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("monitoring")]

DAYS = 8
SHIFTED_DAYS = 4  # the newest days: age moved up by 20 years
ROWS_PER_DAY = 240


def _write_days(served: ServedWorkspace, now: datetime) -> None:
    """``DAYS`` days of logged traffic for risk@1 ending just before ``now``, four
    requests of 60 rows a day, each labelled with its truth."""
    model = served.models[1]
    labels: list[tuple[str, Any, int]] = []
    with Workspace.open(served.root) as ws:
        logger = PredictionLogger(StoreSegmentSink(ws.context))
        for day in range(DAYS):
            frame = risk_frame(ROWS_PER_DAY, seed=100 + day)
            if day >= DAYS - SHIFTED_DAYS:
                frame["age"] = frame["age"] + 20
            proba = model.predict_proba(frame[list(FEATURES)])
            start = now - timedelta(days=DAYS - day) + timedelta(hours=1)
            for part in range(4):
                rows = slice(part * 60, (part + 1) * 60)
                request = f"d{day}-{part}"
                logger.log(
                    PredictionRecord(
                        request_id=request,
                        at=start + timedelta(hours=5 * part),
                        model="risk",
                        version=1,
                        trained_on=("risk-data@1",),
                        protocol="v1",
                        role="live",
                        latency_ms=1.0,
                        inputs=frame[list(FEATURES)].iloc[rows].reset_index(drop=True),
                        outputs=[[float(a), float(b)] for a, b in proba[rows]],
                    )
                )
                truth = frame["at_risk"].iloc[rows].tolist()
                labels += [(request, int(label), row) for row, label in enumerate(truth)]
        logger.close()
        record_feedback_many(ws.context, labels, model="risk")


def _configure(served: ServedWorkspace, extra: str = "") -> None:
    config = served.root / "pathtolive.toml"
    config.write_text(
        config.read_text()
        + '\n[models.risk.monitoring]\nmin_rows = 100\nmetric = "accuracy"\nwindow = "1d"\n'
        + extra
    )


def _monitor(root: Path, *args: str) -> Any:
    completed = run_in_process(["monitor", "risk", *args], cwd=root, environ=cli_environ())
    assert completed.code == 0, completed.stderr
    return completed


def test_a_series_of_daily_windows_shows_the_drift_move_in_and_draws_it(
    tmp_path: Path, served_workspace: Callable[..., ServedWorkspace]
) -> None:
    served = served_workspace()
    _configure(served)
    _write_days(served, datetime.now(UTC))
    report_path = tmp_path / "series.html"

    data = _monitor(
        served.root, "--every", "1d", "--window", "1d", "--json", "--no-alerts",
        "--report", str(report_path),
    ).json()  # fmt: skip

    series = data["series"]
    assert series["window_seconds"] == series["every_seconds"] == 86_400
    assert series["persistence"] is None
    windows = series["windows"]
    # Back to the first logged row: one window per day, the oldest perhaps empty.
    assert len(windows) in (DAYS, DAYS + 1)
    full = [w for w in windows if w["rows"]]
    assert [w["rows"] for w in full] == [ROWS_PER_DAY] * DAYS
    assert windows[-1]["end"] == data["window"]["end"]
    # The newest window is the one the rest of the report is about.
    assert windows[-1]["drifted"] == data["drift"]["drifted"]
    drifted = ["age" in w["drifted"] for w in full]
    assert drifted == [False] * (DAYS - SHIFTED_DAYS) + [True] * SHIFTED_DAYS
    age = next(f for f in series["features"] if f["feature"] == "age")
    effects = [value for value in age["values"] if value is not None]
    assert min(effects[-SHIFTED_DAYS:]) > 2 * max(effects[:-SHIFTED_DAYS])
    assert min(effects[-SHIFTED_DAYS:]) > series["threshold"]
    assert series["persistent"] == ["age"]  # no rule: the newest window's drift
    # Decay per window where labels exist: the model holds up, with an interval.
    for window in full:
        point = window["decay"]
        assert point["metric"] == "accuracy"
        assert point["labelled"] == ROWS_PER_DAY
        low, high = point["interval"]
        assert low <= point["value"] <= high
        low, high = point["estimated_interval"]
        assert low <= point["estimated"] <= high
    assert data["decay"]["estimate_caveat"]

    html = report_path.read_text()
    assert "Drift over time" in html
    assert html.count('<svg class="chart trend"') == len(series["features"])
    assert "cannot see concept drift" in html
    assert "http://" not in html


def test_persistence_opens_a_drift_alert_only_on_drift_in_k_of_the_last_n_windows(
    served_workspace: Callable[..., ServedWorkspace],
) -> None:
    three = served_workspace()
    _configure(three, 'persistence = "3 of 5"\n')
    now = datetime.now(UTC)
    _write_days(three, now)
    # Age drifted in 4 of the last 5 daily windows: the alert opens.
    data = _monitor(three.root, "--json").json()
    assert data["series"]["persistence"] == {"k": 3, "n": 5}
    assert len(data["series"]["windows"]) == 5
    (alert,) = [a for a in data["alerts"] if a["kind"] == "drift"]
    assert alert["key"] == "drift:age"
    assert "in 4 of the last 5 windows of 1d (persistence 3 of 5)" in alert["message"]
    assert alert["details"]["drifted"] == [False, True, True, True, True]

    five = served_workspace(three.root.parent / "five")
    _configure(five, 'persistence = "5 of 5"\n')
    _write_days(five, now)
    # 4 of 5 is not 5 of 5: no alert, though the newest window alone has drifted.
    data = _monitor(five.root, "--json").json()
    assert "age" in data["drift"]["drifted"]
    assert [a for a in data["alerts"] if a["kind"] == "drift"] == []
    text = _monitor(five.root).stdout
    assert "drift alerts need persistence 5 of 5" in text


def test_a_series_is_refused_with_last_requests(
    served_workspace: Callable[..., ServedWorkspace],
) -> None:
    served = served_workspace()
    completed = run_in_process(
        ["monitor", "risk", "--last", "50", "--every", "1d"], cwd=served.root, environ=cli_environ()
    )
    assert completed.code != 0
    assert "give --every with --window, not with --last" in completed.stderr
