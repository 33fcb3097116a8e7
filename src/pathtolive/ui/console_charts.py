"""The geometry of the console's own charts: a gate report as intervals, and drift as a
feature-by-window heat map.

As in :mod:`pathtolive.ui.charts`, the arithmetic is here and every element is in the
templates (``templates/console_charts.html``), so every text that reaches a chart goes
through the template's escaping.

- :func:`gate_intervals`: the candidate's metric with its bootstrap interval, the live
  version's and the baseline's, overall and per slice, on one horizontal scale; and the
  candidate's lead over live and over the baseline with their intervals and margins.
- :func:`heat_map`: one row per feature, one column per window, each cell shaded by the
  series' drift statistic (the PSI, on the console) against its threshold, with the
  window's other figures in its tooltip, and linked to its histograms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pathtolive.format import number, short_when, when
from pathtolive.monitoring.drift import FeatureDrift
from pathtolive.monitoring.series import MonitorSeries
from pathtolive.monitoring.verdict import EFFECT_NAMES
from pathtolive.ui.charts import ticks

__all__ = [
    "HEAT_LEVELS",
    "HeatCell",
    "HeatMap",
    "HeatRow",
    "IntervalChart",
    "IntervalMark",
    "IntervalRow",
    "Tick",
    "gate_intervals",
    "heat_legend",
    "heat_map",
]

_LABEL_LENGTH = 40  # characters of a row label; the full one is in every mark's tooltip

MarkKind = Literal["candidate", "live", "baseline", "difference"]
HEAT_LEVELS = 5
"""Shades of a heat map cell: 0 (none) to 4 (at or beyond twice the threshold)."""


@dataclass(frozen=True)
class IntervalMark:
    """One figure on a row: a dot at ``x`` and, with an interval, a bar from ``low_x``
    to ``high_x``."""

    kind: MarkKind
    x: float
    low_x: float | None
    high_x: float | None
    tip: str


@dataclass(frozen=True)
class IntervalRow:
    label: str
    y: float
    marks: tuple[IntervalMark, ...]


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class IntervalChart:
    """Rows of figures on one horizontal scale; ``zero_x`` marks the margin line of a
    chart of differences (None on a chart of values)."""

    label: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    rows: tuple[IntervalRow, ...]
    ticks: tuple[Tick, ...]
    zero_x: float | None


@dataclass(frozen=True)
class _Figure:
    label: str
    kind: MarkKind
    value: float
    low: float | None = None
    high: float | None = None


def gate_intervals(report: Mapping[str, Any]) -> tuple[IntervalChart | None, IntervalChart | None]:
    """The stored gate report ``report`` as (values, differences): the metric of the
    candidate (with its interval), of live and of the baseline, overall then per slice;
    and the candidate's lead over live and over the baseline with their intervals. Each
    is None when the report has no such figure."""
    metric = str(report.get("metric", "metric"))
    values: list[_Figure] = []
    differences: list[_Figure] = []
    slices: list[_Figure] = []
    for result in report.get("results", []):
        data = result.get("data") or {}
        gate = result.get("gate")
        if gate == "min_metric" and isinstance(data.get("interval"), Mapping):
            interval = data["interval"]
            low, high = interval["low"], interval["high"]
            values.append(_Figure("overall", "candidate", interval["value"], low, high))
        elif gate in ("beat_live", "beat_baseline") and "difference" in data:
            kind: MarkKind = "live" if gate == "beat_live" else "baseline"
            if "a" in data and not any(f.kind == "candidate" for f in values):
                values.append(_Figure("overall", "candidate", data["a"]))
            values.append(_Figure("overall", kind, data["b"]))
            differences.append(
                _Figure(f"vs {kind}", "difference", data["difference"], data["low"], data["high"])
            )
        elif gate == "slices":
            for part in data.get("slices", []):
                label = f"{part['column']}={part['value']} ({part['rows']} rows)"
                if part.get("candidate") is not None:
                    slices.append(_Figure(label, "candidate", part["candidate"]))
                if part.get("reference") is not None:
                    slices.append(_Figure(label, "live", part["reference"]))
    value_chart = _chart(f"{metric}: candidate, live and baseline", [*values, *slices], metric)
    difference_chart = _chart(f"{metric}: the candidate's lead", differences, metric, zero=True)
    return value_chart, difference_chart


def _chart(
    label: str, figures: Sequence[_Figure], metric: str, *, zero: bool = False
) -> IntervalChart | None:
    if not figures:
        return None
    labels = list(dict.fromkeys(figure.label for figure in figures))
    bounds = [
        bound
        for figure in figures
        for bound in (figure.value, figure.low, figure.high)
        if bound is not None
    ]
    low, high = min([*bounds, 0.0] if zero else bounds), max([*bounds, 0.0] if zero else bounds)
    if high - low < 1e-9:
        low, high = low - 0.05, high + 0.05
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    left, right, top, row_height = 280, 940, 12, 26
    height = top + row_height * len(labels) + 28
    span = right - left

    def x_of(value: float) -> float:
        return left + span * (value - low) / (high - low)

    rows = []
    for index, name in enumerate(labels):
        marks = tuple(
            IntervalMark(
                figure.kind,
                x_of(figure.value),
                None if figure.low is None else x_of(figure.low),
                None if figure.high is None else x_of(figure.high),
                _tip(figure, metric),
            )
            for figure in figures
            if figure.label == name
        )
        shown = name if len(name) <= _LABEL_LENGTH else name[: _LABEL_LENGTH - 1] + "…"
        rows.append(IntervalRow(shown, top + row_height * index + row_height / 2, marks))
    marks_at = tuple(Tick(x_of(value), number(value)) for value in ticks(low, high))
    return IntervalChart(
        label,
        right + 20,
        height,
        left,
        right,
        top,
        height - 28,
        tuple(rows),
        marks_at,
        x_of(0.0) if zero else None,
    )


def _tip(figure: _Figure, metric: str) -> str:
    shown = f"{figure.label}: {figure.kind} {metric} {number(figure.value)}"
    if figure.low is not None and figure.high is not None:
        shown += f" (interval {number(figure.low)} to {number(figure.high)})"
    return shown


@dataclass(frozen=True)
class HeatCell:
    """One feature in one window: its statistic (None without a verdict), its shade
    (0 to :data:`HEAT_LEVELS` - 1), whether it drifted, a tooltip and the link to its
    histograms."""

    value: float | None
    level: int
    drifted: bool
    tip: str
    href: str


@dataclass(frozen=True)
class HeatRow:
    feature: str
    persistent: bool
    cells: tuple[HeatCell, ...]


@dataclass(frozen=True)
class HeatMap:
    """Features by windows (oldest window first): the column headings, the rows, the
    statistic, its threshold, and the legend: each shade's level and what it means."""

    columns: tuple[str, ...]
    rows: tuple[HeatRow, ...]
    statistic: str
    threshold: float | None
    legend: tuple[tuple[int, str], ...] = ()

    @property
    def label(self) -> str:
        """The statistic's name for a reader (``PSI``)."""
        return EFFECT_NAMES.get(self.statistic, self.statistic)


# The figures a cell's tooltip names beside the shaded one, in this order.
_TIP_FIGURES = (
    ("psi", "PSI"),
    ("js", "Jensen-Shannon"),
    ("wasserstein", "Wasserstein"),
    ("ks_pvalue", "KS p"),
    ("chi2_pvalue", "chi-square p"),
    ("unseen_share", "unseen"),
)


def heat_map(series: MonitorSeries, link: Callable[[str, int], str]) -> HeatMap:
    """``series`` as a heat map shaded by its statistic (the PSI on the console);
    ``link(feature, window)`` is each cell's address, and each cell's tooltip has the
    window's other figures for the feature and its verdict."""
    threshold = series.threshold
    # Each window's features by name, and its end as text, once rather than per cell.
    by_name = [
        {} if window.drift is None else {f.feature: f for f in window.drift.features}
        for window in series.windows
    ]
    ends = [when(window.end) for window in series.windows]
    rows = []
    for trend in series.features:
        cells = []
        for index, (value, drifted) in enumerate(zip(trend.values, trend.drifted, strict=True)):
            found = by_name[index].get(trend.feature)
            cells.append(
                HeatCell(
                    value,
                    _level(value, threshold),
                    drifted,
                    _heat_tip(trend.feature, ends[index], found, drifted),
                    link(trend.feature, index),
                )
            )
        rows.append(HeatRow(trend.feature, trend.persistent, tuple(cells)))
    columns = tuple(short_when(window.end) for window in series.windows)
    return HeatMap(columns, tuple(rows), series.statistic, threshold, heat_legend(threshold))


def _heat_tip(feature: str, end: str, found: FeatureDrift | None, drifted: bool) -> str:
    head = f"{feature}, window to {end}: "
    if found is None:
        return head + "no verdict"
    shown = [
        f"{label} {number(found.figures[name])}"
        for name, label in _TIP_FIGURES
        if name in found.figures and math.isfinite(found.figures[name])
    ]
    verdict = "drifted" if drifted else ("no verdict" if found.rule == "min_rows" else "no drift")
    return head + ", ".join([*shown, verdict])


def heat_legend(threshold: float | None) -> tuple[tuple[int, str], ...]:
    """What each shade of :func:`heat_map` means, as (level, text): the bounds of
    :func:`_level` in the statistic's own figures."""
    scale = 2 * threshold if threshold else 1.0
    step = scale / (HEAT_LEVELS - 1)
    bounds = [number(step * k) for k in range(1, HEAT_LEVELS - 1)]
    legend = [(0, "no figure"), (1, f"below {bounds[0]}")]
    legend += [
        (level, f"{bounds[level - 2]} to {bounds[level - 1]}")
        for level in range(2, HEAT_LEVELS - 1)
    ]
    legend.append((HEAT_LEVELS - 1, f"{bounds[-1]} or more"))
    return tuple(legend)


def _level(value: float | None, threshold: float | None) -> int:
    """0 without a value; otherwise 1 to 4 by the value's share of twice the threshold
    (of 1 without a threshold): the cell reaches the threshold at level 3."""
    if value is None:
        return 0
    scale = 2 * threshold if threshold else 1.0
    share = min(max(value / scale, 0.0), 1.0)
    return 1 + min(int(share * (HEAT_LEVELS - 1)), HEAT_LEVELS - 2)
