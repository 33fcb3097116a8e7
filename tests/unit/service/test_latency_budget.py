"""The latency probe's series: every call for a fast model, its minimum and budget for a
slow one; and a caller that imported scikit-learn since its probe server started keeps
that server."""

from __future__ import annotations

import itertools

import pandas as pd

from pathtolive import env
from pathtolive.service import latency
from pathtolive.service.latency_probe import _timed_calls


def frames(count: int) -> list[pd.DataFrame]:
    return [pd.DataFrame({"x": [n]}) for n in range(count)]


def test_a_fast_model_gets_every_call() -> None:
    seen: list[int] = []
    seconds, _ = _timed_calls(lambda frame: seen.append(int(frame["x"][0])), frames(50), 10, 60.0)
    assert len(seconds) == 50
    assert seen == list(range(50))


def test_a_slow_model_stops_at_its_minimum_once_the_budget_is_spent(monkeypatch) -> None:
    clock = itertools.count(0.0, 0.5)  # every reading half a second later: 0.5 s a call
    monkeypatch.setattr("pathtolive.service.latency_probe.time.perf_counter", lambda: next(clock))
    seconds, _ = _timed_calls(lambda frame: None, frames(200), 60, 1.5)
    assert len(seconds) == 60  # the budget was spent after three calls; the minimum holds
    assert set(seconds) == {0.5}


def test_the_budget_ends_a_series_past_its_minimum(monkeypatch) -> None:
    clock = itertools.count(0.0, 0.01)
    monkeypatch.setattr("pathtolive.service.latency_probe.time.perf_counter", lambda: next(clock))
    seconds, _ = _timed_calls(lambda frame: None, frames(200), 60, 1.0)
    assert len(seconds) == 100  # 100 calls of 10 ms spend the second


def test_what_importing_scikit_learn_sets_needs_no_new_server() -> None:
    before = {"PATH": "/bin", "OMP_NUM_THREADS": "1"}
    after = {**before, "KMP_DUPLICATE_LIB_OK": "True", "KMP_INIT_AT_FORK": "FALSE"}
    assert (
        latency._start_up_part(before) == latency._start_up_part(after) == {"OMP_NUM_THREADS": "1"}
    )
    # Set by the user to something else, it is a start-up setting like any other.
    assert latency._start_up_part({"KMP_INIT_AT_FORK": "TRUE"}) == {"KMP_INIT_AT_FORK": "TRUE"}


def test_the_budget_variable_reads_seconds_and_unset_means_the_defaults() -> None:
    assert latency.latency_budget({}) is None
    assert latency.latency_budget({env.LATENCY_BUDGET: " "}) is None
    assert latency.latency_budget({env.LATENCY_BUDGET: "0"}) == 0.0
    assert latency.latency_budget({env.LATENCY_BUDGET: " 0.25 "}) == 0.25
