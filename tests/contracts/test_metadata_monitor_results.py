"""The MetadataStore contract for stored monitor results: kept per version and window, a
window written again replaces the stored one, and the reads the console makes (window
keys newest first, summaries of chosen windows, histograms of one) stay bounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.entities import MonitorResult
from pathtolive.store.metadata import MetadataStore
from tests.support.metadata import store_with_models

NOW = datetime(2026, 11, 30, 3, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    store = store_with_models(metadata_url, {"risk": 2, "churn": 1}, run_id="run_m", at=NOW)
    yield store
    store.close()


def _result(model: str, version: int, end: datetime, *, psi: float = 0.1) -> MonitorResult:
    return MonitorResult(
        model=model,
        version=version,
        start=end - DAY,
        end=end,
        step_seconds=DAY.total_seconds(),
        computed_at=NOW,
        rows=120,
        labelled=100,
        drifted=1 if psi >= 0.2 else 0,
        summary={"features": [{"feature": "age", "figures": {"psi": psi}}]},
        histograms={"age": {"reference": {"shares": [0.5, 0.5]}, "current": {"shares": [1, 0]}}},
    )


def test_results_are_kept_per_version_and_read_back_whole(store: MetadataStore) -> None:
    days = [NOW - DAY * back for back in (2, 1, 0)]
    with store.write() as session:
        written = session.store_monitor_results(
            [_result("risk", 2, end, psi=0.1 * (i + 1)) for i, end in enumerate(days)]
            + [_result("risk", 1, NOW), _result("churn", 1, NOW)]
        )
    assert written == 5
    with store.read() as session:
        keys = session.monitor_window_keys("risk", 2, limit=10)
        assert [key.end for key in keys] == days[::-1]  # newest first
        assert all(key.start == key.end - DAY for key in keys)
        assert {key.step_seconds for key in keys} == {DAY.total_seconds()}
        found = session.get_monitor_results([key.result_id for key in keys])
    assert [result.end for result in found] == days  # oldest first
    newest = found[-1]
    assert (newest.model, newest.version, newest.rows, newest.labelled) == ("risk", 2, 120, 100)
    assert (newest.drifted, newest.computed_at) == (1, NOW)
    assert newest.summary["features"][0]["figures"]["psi"] == pytest.approx(0.3)
    assert newest.histograms == {}  # read only when asked for
    with store.read() as session:
        (opened,) = session.get_monitor_results([newest.result_id], histograms=True)
    assert opened.histograms["age"]["current"]["shares"] == [1, 0]


def test_the_newest_windows_are_read_with_a_limit(store: MetadataStore) -> None:
    with store.write() as session:
        session.store_monitor_results([_result("risk", 2, NOW - DAY * back) for back in range(8)])
    with store.read() as session:
        keys = session.monitor_window_keys("risk", 2, limit=3)
        assert [key.end for key in keys] == [NOW, NOW - DAY, NOW - 2 * DAY]
        earlier = session.monitor_window_keys("risk", 2, limit=2, ending_by=NOW - DAY)
        assert [key.end for key in earlier] == [NOW - DAY, NOW - 2 * DAY]
        assert session.monitor_window_keys("risk", 2, limit=2, ending_by=NOW - 9 * DAY) == []
        assert session.monitor_window_keys("risk", 1, limit=3) == []  # another version
        assert session.monitor_window_keys("risk", 9, limit=3) == []  # not registered
        assert session.monitor_window_keys("nope", 1, limit=3) == []
        assert session.get_monitor_results([]) == []


def test_a_window_stored_again_replaces_the_stored_one(store: MetadataStore) -> None:
    with store.write() as session:
        session.store_monitor_results([_result("risk", 2, NOW, psi=0.1)])
    with store.write() as session:
        # Twice in one call too: the last one wins, as it would in two calls.
        session.store_monitor_results(
            [_result("risk", 2, NOW, psi=0.2), _result("risk", 2, NOW, psi=0.4)]
        )
    with store.read() as session:
        keys = session.monitor_window_keys("risk", 2, limit=10)
        assert len(keys) == 1
        (result,) = session.get_monitor_results([keys[0].result_id])
    assert result.summary["features"][0]["figures"]["psi"] == pytest.approx(0.4)
    assert result.drifted == 1
