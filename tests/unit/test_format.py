"""The shared formats of figures and times."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pathtolive.format import (
    count,
    duration,
    exact,
    magnitude,
    number,
    percent,
    short_when,
    signed,
    significant,
    utc,
    when,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.712, "0.712"),
        (0.75, "0.75"),
        (0.0012, "0.0012"),
        (1532.5, "1532.5"),
        (0.0, "0"),
        (-0.06, "-0.06"),
        (None, "n/a"),
        (math.nan, "n/a"),
        (math.inf, "n/a"),
    ],
)
def test_number(value: float | None, text: str) -> None:
    assert number(value) == text


def test_signed_shows_the_sign_of_positive_figures() -> None:
    assert [signed(v) for v in (0.025, -0.06, 0.0, None)] == ["+0.025", "-0.06", "0", "n/a"]


def test_significant_exact_and_magnitude() -> None:
    assert significant(0.123456, 3) == "0.123"
    assert significant(1234567.0, 6) == "1.23457e+06"
    assert significant(None, 4) == ""
    assert [exact(5.0), exact(0.1), exact(3), exact(None)] == ["5", "0.1", "3", "none"]
    assert [magnitude(v, "ms") for v in (1532.4, 15.34, 1.534, 0.1534)] == [
        "1,532 ms",
        "15.3 ms",
        "1.53 ms",
        "0.153 ms",
    ]
    assert magnitude(None, "ms") == "-"
    assert magnitude(2.5) == "2.50"


def test_percent_and_count() -> None:
    assert [percent(0.125), percent(0.2), percent(0.12345, 2), percent(1.0)] == [
        "12.5%",
        "20%",
        "12.35%",
        "100%",
    ]
    assert percent(0.5, 0) == "50%"
    assert count(4812) == "4,812"
    assert count(None) == "n/a"


def test_times_are_shown_in_utc() -> None:
    naive = datetime(2026, 11, 26, 13, 5)
    paris = datetime(2026, 11, 26, 14, 5, tzinfo=timezone(timedelta(hours=1)))
    assert utc(naive) == utc(paris) == datetime(2026, 11, 26, 13, 5, tzinfo=UTC)
    assert utc(paris).tzinfo is UTC
    assert when(paris) == "2026-11-26 13:05 UTC"
    assert when(naive) == "2026-11-26 13:05 UTC"
    assert when(None) == "-"
    assert short_when(paris) == "11-26 13:05"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(hours=24), "1d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=30), "30m"),
        (timedelta(seconds=90), "90s"),
    ],
)
def test_duration(delta: timedelta, text: str) -> None:
    assert duration(delta) == text
