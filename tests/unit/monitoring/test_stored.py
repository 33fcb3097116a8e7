"""Monitor results as stored: a window's drift and metric survive the trip through the
store's JSON (figures, verdicts, histograms with their infinite outer edges, the metric
with its intervals), and the console's choice of windows among overlapping looks."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pathtolive.entities import MonitorResult, MonitorWindowKey
from pathtolive.monitoring.decay import DecayResult, WindowMetric
from pathtolive.monitoring.drift import drift_from_scratch
from pathtolive.monitoring.series import SeriesWindow
from pathtolive.monitoring.stored import from_stored, to_stored
from pathtolive.service.monitor_views import KeyFetcher, spaced_windows

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _window() -> SeriesWindow:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {"age": rng.normal(40, 10, 2000), "city": rng.choice(["a", "b", "c"], 2000)}
    )
    current = pd.DataFrame(
        {"age": rng.normal(48, 10, 400), "city": rng.choice(["a", "b", "z"], 400)}
    )
    metric = WindowMetric(NOW - DAY, NOW, 400, 120, 0.81, 0.84, (0.75, 0.86), (0.8, 0.88))
    decay = DecayResult("accuracy", 0.9, (metric,), 0.81, 0.84, True, "below the line", judged=0)
    return SeriesWindow(NOW - DAY, NOW, 400, drift_from_scratch(reference, current), decay)


def _through_json(result: MonitorResult) -> MonitorResult:
    """As the store hands it back: its parts dumped to JSON and read again."""
    return replace(
        result,
        summary=json.loads(json.dumps(result.summary)),
        histograms=json.loads(json.dumps(result.histograms)),
    )


def test_a_window_comes_back_from_the_store_as_monitor_built_it() -> None:
    window = _window()
    stored = to_stored("risk", 2, window, reference="cancer@1", step=DAY, computed_at=NOW)
    assert (stored.rows, stored.labelled, stored.step_seconds) == (400, 120, DAY.total_seconds())
    assert stored.drifted == len(window.drift.drifted) > 0  # type: ignore[union-attr]
    assert stored.summary["reference"] == "cancer@1"
    back = from_stored(_through_json(stored))
    assert back.to_dict() == window.to_dict()  # figures, verdicts and the metric
    assert back.decay is not None
    assert window.decay is not None
    assert back.decay.to_dict() == window.decay.to_dict()
    assert back.drift is not None
    assert window.drift is not None
    for found, original in zip(back.drift.features, window.drift.features, strict=True):
        for side in ("reference", "current"):
            kept, drawn = getattr(found, side), getattr(original, side)
            assert kept.labels == drawn.labels
            assert kept.edges == (None if drawn.edges is None else pytest.approx(drawn.edges))
            assert kept.shares == pytest.approx(drawn.shares, rel=1e-5)
    age = back.drift.feature("age").reference
    assert age.edges is not None
    assert (age.edges[0], age.edges[-1]) == (-math.inf, math.inf)


def test_the_summary_alone_leaves_the_histograms_out() -> None:
    stored = to_stored("risk", 2, _window(), reference="cancer@1", step=DAY, computed_at=NOW)
    back = from_stored(replace(_through_json(stored), histograms={}))
    assert back.drift is not None
    assert all(not feature.reference.shares for feature in back.drift.features)
    (age,) = [item for item in stored.summary["features"] if item["feature"] == "age"]
    assert back.drift.feature("age").figures["psi"] == age["figures"]["psi"]


def test_a_window_without_traffic_is_stored_as_such() -> None:
    empty = SeriesWindow(NOW - DAY, NOW, 0, None, None)
    stored = to_stored("risk", 2, empty, reference="cancer@1", step=DAY, computed_at=NOW)
    assert (stored.rows, stored.drifted, stored.histograms) == (0, 0, {})
    assert from_stored(_through_json(stored)) == empty


def _key(number: int, end: datetime, length: timedelta, step: timedelta) -> MonitorWindowKey:
    return MonitorWindowKey(number, end - length, end, step.total_seconds())


def _stored(keys: list[MonitorWindowKey], reads: list[int]) -> KeyFetcher:
    """What the store answers (each read counted in ``reads``): the newest ``limit`` of
    ``keys`` ending by a time."""

    def fetch(ending_by: datetime | None, limit: int) -> list[MonitorWindowKey]:
        reads.append(limit)
        found = [key for key in keys if ending_by is None or key.end <= ending_by]
        return sorted(found, key=lambda key: (key.end, key.start), reverse=True)[:limit]

    return fetch


def test_overlapping_looks_show_once_and_a_series_window_by_window() -> None:
    minutes = timedelta(minutes=5)
    # Looks at the last day every five minutes, and a rolling week, one window a day,
    # that ended before them.
    looks = [_key(i, NOW - i * minutes, DAY, DAY) for i in range(40)]
    week = [_key(100 + i, NOW - DAY - i * DAY, 7 * DAY, DAY) for i in range(5)]
    reads: list[int] = []
    stored = _stored(looks + week, reads)
    assert [key.result_id for key in spaced_windows(stored, 4)] == [102, 101, 100, 0]
    assert reads == [8, 2, 4]  # eight looks, then from half a day before the newest
    everything = [key.result_id for key in spaced_windows(stored, 30)]
    assert everything == [104, 103, 102, 101, 100, 0]
    assert spaced_windows(_stored([], []), 5) == []


def test_a_series_is_read_at_once_and_shown_window_by_window() -> None:
    series = [_key(i, NOW - i * DAY, DAY, DAY) for i in range(50)]
    reads: list[int] = []
    chosen = spaced_windows(_stored(series, reads), 14)
    assert [key.result_id for key in chosen] == list(range(13, -1, -1))
    assert reads == [28]
