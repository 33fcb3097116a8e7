"""Windows over time: the same look at a live model, repeated over a series of windows.

One window says whether the traffic moved; a series says how it is moving. A slow drift
shows as a feature's effect size climbing window after window, before any one window
crosses its threshold, and a single noisy window shows as one spike among calm ones. The
effect size followed is the Jensen-Shannon distance (``js``): the drift verdict uses it
for every kind of column, and on its scale, 0 to 1, every feature reads alike.

The series
    ``count`` windows, each ``window`` long, the newest ending now and each one ``every``
    earlier than the next: ``--every 1d --window 7d`` is a rolling week, one per day.
    (:func:`series_bounds`; with ``every`` equal to ``window`` they tile time.) Each
    window gets its own drift result and, where labels exist, its own decay.

Persistence
    ``persistence = "3 of 5"`` (:class:`Persistence`) opens a drift alert on a feature
    only when it drifted in at least 3 of the last 5 windows: one window's verdict, right
    or wrong, is no longer enough, and a feature that keeps drifting alerts even when the
    newest window happens to be calm. A window without a verdict on the feature (too few
    rows) counts as not drifted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.format import duration
from pathtolive.monitoring.decay import DecayResult
from pathtolive.monitoring.drift import DriftResult, FeatureDrift

__all__ = [
    "DEFAULT_WINDOWS",
    "MAX_WINDOWS",
    "FeatureTrend",
    "MonitorSeries",
    "Persistence",
    "SeriesWindow",
    "series_bounds",
]

MAX_WINDOWS = 120
"""The most windows one series may have: each is a full look at the log, with a sketch
of its own held until the log is read (a sample of up to 20,000 values per numeric
column)."""

DEFAULT_WINDOWS = 30
"""The most windows of a series whose count is not given (back to the first logged row)."""

_PERSISTENCE = re.compile(r"^\s*(\d+)\s+of\s+(\d+)\s*$")


@dataclass(frozen=True)
class Persistence:
    """Drift alerts need the feature drifted in at least ``k`` of the last ``n``
    windows."""

    k: int
    n: int

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ConfigError(
                f"persistence {self.k} of {self.n}: k must be at least 1 and at most n, "
                'like "3 of 5"'
            )

    @classmethod
    def parse(cls, text: object, *, where: str = "persistence") -> Persistence:
        """``"3 of 5"`` as ``Persistence(3, 5)``."""
        match = _PERSISTENCE.match(text) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(
                f'{where} = {text!r} is not a persistence; write "K of N", like "3 of 5" '
                "(drifted in at least 3 of the last 5 windows)"
            )
        k, n = int(match.group(1)), int(match.group(2))
        if not 1 <= k <= n:
            raise ConfigError(
                f'{where} = {text!r}: K must be at least 1 and at most N, like "3 of 5"'
            )
        if n > MAX_WINDOWS:
            raise ConfigError(f"{where} = {text!r}: N may be at most {MAX_WINDOWS} windows")
        return cls(k, n)

    def holds(self, drifted: Sequence[bool]) -> bool:
        """Whether at least ``k`` of the last ``n`` verdicts (oldest first) are drift."""
        return sum(bool(flag) for flag in drifted[-self.n :]) >= self.k

    def __str__(self) -> str:
        return f"{self.k} of {self.n}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"k": self.k, "n": self.n}


def series_bounds(
    now: datetime, *, window: timedelta, every: timedelta, count: int
) -> list[tuple[datetime, datetime]]:
    """The ``(start, end)`` of ``count`` windows ``window`` long, the newest ending at
    ``now`` and each ending ``every`` before the next; oldest first. A window runs from
    its start (included) to its end (excluded)."""
    if window <= timedelta(0) or every <= timedelta(0):
        raise InvalidInputError("a series needs a positive window and step, like --every 1d")
    if not 1 <= count <= MAX_WINDOWS:
        raise InvalidInputError(
            f"a series of {count} windows: give 1 to {MAX_WINDOWS} (a longer step, or fewer)"
        )
    ends = [now - index * every for index in range(count - 1, -1, -1)]
    return [(end - window, end) for end in ends]


@dataclass(frozen=True)
class SeriesWindow:
    """One window of the series: its rows, its drift (None without live rows) and its
    decay (None without predictions)."""

    start: datetime
    end: datetime
    rows: int
    drift: DriftResult | None
    decay: DecayResult | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: the drift per feature without its histograms, the decay as
        the window's one measured value and estimate with their intervals."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "drifted": list(self.drift.drifted) if self.drift is not None else [],
            "features": (
                [_compact(feature.to_dict()) for feature in self.drift.features]
                if self.drift is not None
                else []
            ),
            "decay": _decay_point(self.decay),
        }


def _compact(feature: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in feature.items() if key not in ("reference", "current")}


def _decay_point(decay: DecayResult | None) -> dict[str, Any] | None:
    if decay is None or not decay.windows:
        return None
    (window,) = decay.windows
    point = window.to_dict()
    return {
        "metric": decay.metric,
        "labelled": point["labelled"],
        "value": point["value"],
        "interval": point["interval"],
        "estimated": point["estimated"],
        "estimated_interval": point["estimated_interval"],
        "decayed": decay.decayed,
    }


@dataclass(frozen=True)
class FeatureTrend:
    """One feature across the series: its effect size (the series' ``statistic``; None
    where the window had none) and drift verdict per window, and whether it meets the
    persistence rule (without one: whether it drifted in the newest window)."""

    feature: str
    values: tuple[float | None, ...]
    drifted: tuple[bool, ...]
    persistent: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "feature": self.feature,
            "values": list(self.values),
            "drifted": list(self.drifted),
            "persistent": self.persistent,
        }


@dataclass(frozen=True)
class MonitorSeries:
    """A series of windows (see the module docs), oldest first. ``statistic`` names the
    figure :class:`FeatureTrend` follows (the Jensen-Shannon distance, ``js``)."""

    window: timedelta
    every: timedelta
    windows: tuple[SeriesWindow, ...]
    persistence: Persistence | None = None
    statistic: str = "js"

    @property
    def threshold(self) -> float | None:
        """The drift threshold of ``statistic`` in the newest window with a drift result
        (None when it has none)."""
        for window in reversed(self.windows):
            if window.drift is not None:
                limit = getattr(window.drift.thresholds, self.statistic, None)
                return None if limit is None else float(limit)
        return None

    @property
    def features(self) -> tuple[FeatureTrend, ...]:
        """Every feature compared in any window, by name."""
        # Each window's features by name, once: a page may follow a hundred features
        # over thirty windows.
        by_name = [
            {} if window.drift is None else {f.feature: f for f in window.drift.features}
            for window in self.windows
        ]
        names = sorted({name for found in by_name for name in found})
        return tuple(self._trend(name, by_name) for name in names)

    def _trend(self, name: str, by_name: list[dict[str, FeatureDrift]]) -> FeatureTrend:
        values: list[float | None] = []
        drifted: list[bool] = []
        for features in by_name:
            found = features.get(name)
            figure = None if found is None else found.figures.get(self.statistic)
            values.append(None if figure is None else _finite(figure))
            drifted.append(found is not None and found.drifted)
        rule = self.persistence
        persistent = rule.holds(drifted) if rule is not None else bool(drifted and drifted[-1])
        return FeatureTrend(name, tuple(values), tuple(drifted), persistent)

    @property
    def persistent(self) -> tuple[str, ...]:
        """The features that meet the persistence rule, by name."""
        return tuple(trend.feature for trend in self.features if trend.persistent)

    @property
    def description(self) -> str:
        """``7 windows of 7d, every 1d``."""
        count = len(self.windows)
        return (
            f"{count} window{'s' if count != 1 else ''} of {duration(self.window)}, "
            f"every {duration(self.every)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; durations in seconds."""
        return {
            "window_seconds": self.window.total_seconds(),
            "every_seconds": self.every.total_seconds(),
            "persistence": self.persistence.to_dict() if self.persistence else None,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "persistent": list(self.persistent),
            "windows": [window.to_dict() for window in self.windows],
            "features": [trend.to_dict() for trend in self.features],
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
