"""Windows over time: the series' bounds, each feature's trend across it, and the
persistence rule that opens a drift alert only on drift in k of the last n windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.monitoring.config import MonitoringConfig
from pathtolive.monitoring.drift import DriftResult, drift_from_scratch
from pathtolive.monitoring.series import (
    MAX_WINDOWS,
    MonitorSeries,
    Persistence,
    SeriesWindow,
    series_bounds,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_persistence_is_read_as_k_of_n() -> None:
    assert Persistence.parse("3 of 5") == Persistence(3, 5)
    assert Persistence.parse(" 1 of 1 ") == Persistence(1, 1)
    assert str(Persistence(2, 4)) == "2 of 4"
    for bad in ("3/5", "three of five", "5 of 3", "0 of 2", 3, ""):
        with pytest.raises(ConfigError, match="persistence"):
            Persistence.parse(bad)
    with pytest.raises(ConfigError, match=f"N may be at most {MAX_WINDOWS} windows"):
        Persistence.parse(f"3 of {MAX_WINDOWS + 1}")


@pytest.mark.parametrize(
    ("flags", "alert"),
    [
        ([True, True, True, False, False], True),  # 3 of the last 5
        ([True, True, False, False, False, False], False),  # 2 of the last 5
        ([True, False, True, False, True], True),  # not in a row, still 3 of 5
        ([True, True, True, False, False, False, False, False], False),  # too long ago
        ([False, False, False, False, True], False),  # one window alone is not enough
        ([True, True, True], True),  # fewer windows than n: k still needed
        ([True, True], False),
    ],
)
def test_three_of_five(flags: list[bool], alert: bool) -> None:
    assert Persistence(3, 5).holds(flags) is alert


def test_the_series_ends_now_and_steps_back() -> None:
    bounds = series_bounds(NOW, window=7 * DAY, every=DAY, count=3)
    assert bounds == [
        (NOW - 9 * DAY, NOW - 2 * DAY),
        (NOW - 8 * DAY, NOW - DAY),
        (NOW - 7 * DAY, NOW),
    ]
    tiles = series_bounds(NOW, window=DAY, every=DAY, count=2)
    assert tiles == [(NOW - 2 * DAY, NOW - DAY), (NOW - DAY, NOW)]
    with pytest.raises(InvalidInputError, match=f"give 1 to {MAX_WINDOWS}"):
        series_bounds(NOW, window=DAY, every=DAY, count=MAX_WINDOWS + 1)
    with pytest.raises(InvalidInputError, match="positive window"):
        series_bounds(NOW, window=DAY, every=timedelta(0), count=2)


def _drifts(shifts: list[float]) -> list[DriftResult]:
    """One drift result per window: ``age`` moved by each shift (in its standard
    deviations), ``income`` never."""
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"age": rng.normal(40, 8, 4000), "income": rng.normal(5, 1, 4000)})
    results = []
    for shift in shifts:
        current = pd.DataFrame(
            {"age": rng.normal(40 + 8 * shift, 8, 800), "income": rng.normal(5, 1, 800)}
        )
        results.append(drift_from_scratch(reference, current, min_rows=100))
    return results


def _series(shifts: list[float], persistence: Persistence | None) -> MonitorSeries:
    windows = tuple(
        SeriesWindow(NOW - (len(shifts) - i) * DAY, NOW - (len(shifts) - i - 1) * DAY, 800, d, None)
        for i, d in enumerate(_drifts(shifts))
    )
    return MonitorSeries(DAY, DAY, windows, persistence)


def test_a_slow_drift_climbs_window_after_window_and_persists() -> None:
    series = _series([0.0, 0.0, 0.1, 0.3, 0.6, 1.0, 1.5], Persistence(3, 5))
    age, income = series.features

    assert age.feature == "age"
    effects = [value for value in age.values if value is not None]
    assert len(effects) == 7
    assert effects[-1] > effects[3] > effects[0]  # the climb is visible before the verdicts
    assert age.drifted[:2] == (False, False)
    assert age.drifted[-3:] == (True, True, True)
    assert age.persistent
    assert not any(income.drifted)
    assert not income.persistent
    assert series.persistent == ("age",)

    data = json.loads(json.dumps(series.to_dict(), allow_nan=False))
    assert data["persistence"] == {"k": 3, "n": 5}
    assert data["window_seconds"] == 86_400
    assert data["every_seconds"] == 86_400
    assert data["statistic"] == "js"
    assert data["threshold"] == 0.1
    assert data["persistent"] == ["age"]
    assert [w["end"] for w in data["windows"]][-1] == NOW.isoformat()
    assert data["windows"][-1]["drifted"] == ["age"]
    newest = {f["feature"]: f for f in data["windows"][-1]["features"]}
    assert newest["age"]["figures"]["js"] == pytest.approx(age.values[-1])
    assert "reference" not in newest["age"]  # no histograms per window: the series is long
    assert data["windows"][-1]["decay"] is None
    assert data["features"][0] == {
        "feature": "age",
        "values": list(age.values),
        "drifted": list(age.drifted),
        "persistent": True,
    }


def test_one_drifted_window_is_not_persistent_but_is_without_a_rule() -> None:
    shifts = [0.0, 0.0, 0.0, 0.0, 1.5]
    with_rule = _series(shifts, Persistence(3, 5))
    without = _series(shifts, None)

    assert with_rule.features[0].drifted[-1]
    assert with_rule.persistent == ()
    assert without.persistent == ("age",)


def test_monitoring_config_reads_persistence_and_the_decay_confidence() -> None:
    models = {"risk": {"monitoring": {"persistence": "2 of 4", "decay_confidence": 0.9}}}
    config = MonitoringConfig.from_toml("risk", models)
    assert config.persistence == Persistence(2, 4)
    assert config.decay_confidence == 0.9
    defaults = MonitoringConfig.from_toml("risk", {})
    assert defaults.persistence is None
    assert defaults.decay_confidence == 0.95
    with pytest.raises(ConfigError, match=r"models\.risk\.monitoring\.persistence"):
        MonitoringConfig.from_toml("risk", {"risk": {"monitoring": {"persistence": "4 of 2"}}})
    with pytest.raises(ConfigError, match="decay_confidence must be between 0 and 1"):
        MonitoringConfig.from_toml("risk", {"risk": {"monitoring": {"decay_confidence": 95}}})
