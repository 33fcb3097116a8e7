"""The geometry of the dataset and run charts: a column's distribution as densities, and
logged metric series of several runs on one scale.

As in :mod:`pathtolive.ui.charts`, Python computes the coordinates and the templates
(``console/browse_charts.html``) hold every element, so every text reaching a chart (a
column name, a metric key, a run id) goes through the template's escaping.

- :func:`density_chart`: bars whose *area* is the share of values in their bin (height
  = share / width): the equal-mass bins a profile keeps hold the same share each, so
  bars of equal height would say nothing; drawn as densities they show the shape.
  Values that hold a share by themselves are marked as spikes with their share.
- :func:`series_chart`: one polyline per run of a logged metric against its step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pathtolive.format import number, percent
from pathtolive.service.datasets import ColumnHistogram
from pathtolive.ui.charts import AxisLabel, Frame, Gridline, ticks

__all__ = [
    "DensityBar",
    "DensityChart",
    "Line",
    "SeriesChart",
    "Spike",
    "density_chart",
    "series_chart",
]

_WIDTH, _HEIGHT = 420, 190
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 14, 12, 34


@dataclass(frozen=True)
class DensityBar:
    x: float
    y: float
    width: float
    height: float
    tip: str


@dataclass(frozen=True)
class Spike:
    """A value holding ``tip``'s share by itself: a line at ``x`` up to ``top``."""

    x: float
    top: float
    tip: str


@dataclass(frozen=True)
class DensityChart:
    frame: Frame
    bars: tuple[DensityBar, ...]
    spikes: tuple[Spike, ...]
    labels: tuple[AxisLabel, ...]


def density_chart(histogram: ColumnHistogram) -> DensityChart | None:
    """A numeric column's density; None without bins (a categorical or withheld column,
    or one without any finite value)."""
    if not histogram.bins and not histogram.point_masses:
        return None
    edges = [b.low for b in histogram.bins] + [b.high for b in histogram.bins]
    edges += [value for value, _ in histogram.point_masses]
    low, high = min(edges), max(edges)
    if high <= low:
        high = low + 1.0
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    peak = max((b.density for b in histogram.bins), default=0.0)
    ceiling = _ceiling(peak)

    def x_of(value: float) -> float:
        return _LEFT + plot_w * (value - low) / (high - low)

    def y_of(density: float) -> float:
        return _TOP + plot_h * (1 - min(density, ceiling) / ceiling)

    bars = tuple(
        DensityBar(
            x_of(b.low),
            y_of(b.density),
            max(x_of(b.high) - x_of(b.low), 0.5),
            _TOP + plot_h - y_of(b.density),
            f"{number(b.low)} to {number(b.high)}: {percent(b.share)} of values "
            f"({b.count} in the profile's sample)",
        )
        for b in histogram.bins
    )
    spikes = tuple(
        Spike(
            x_of(value),
            _TOP + plot_h * (1 - min(share, 1.0)),
            f"{number(value)}: {percent(share)} of values by itself",
        )
        for value, share in histogram.point_masses
    )
    gridlines = tuple(Gridline(y_of(tick), number(tick)) for tick in (0.0, ceiling / 2, ceiling))
    labels = tuple(
        AxisLabel(x_of(tick), _TOP + plot_h + 16, number(tick))
        for tick in ticks(low, high)
        if low <= tick <= high
    )
    frame = Frame(
        f"{histogram.column}: density of its values",
        _WIDTH,
        _HEIGHT,
        _LEFT,
        _WIDTH - _RIGHT,
        _TOP,
        _TOP + plot_h,
        gridlines,
    )
    return DensityChart(frame, bars, spikes, labels)


def _ceiling(peak: float) -> float:
    if peak <= 0 or not math.isfinite(peak):
        return 1.0
    power = 10.0 ** math.floor(math.log10(peak))
    for factor in (1, 2, 2.5, 5, 10):
        if peak <= factor * power * (1 + 1e-12):
            return factor * power
    return peak  # pragma: no cover - the loop always ends at 10 * power


@dataclass(frozen=True)
class Line:
    """One run's series: ``index`` picks its colour, ``label`` names the run."""

    index: int
    label: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SeriesChart:
    key: str
    frame: Frame
    lines: tuple[Line, ...]
    labels: tuple[AxisLabel, ...]


def series_chart(
    key: str, labels: Sequence[str], series: Sequence[Sequence[tuple[float, float]]]
) -> SeriesChart | None:
    """Metric ``key`` against its step, one line per run (``labels[i]`` names run i);
    None when no run logged a finite value of it."""
    finite = [
        [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)] for points in series
    ]
    every = [point for points in finite for point in points]
    if not every:
        return None
    x_low, x_high = min(x for x, _ in every), max(x for x, _ in every)
    y_low, y_high = min(y for _, y in every), max(y for _, y in every)
    if x_high <= x_low:
        x_high = x_low + 1.0
    if y_high <= y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    y_ticks = ticks(y_low, y_high)
    y_low, y_high = min(y_low, *y_ticks), max(y_high, *y_ticks)
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM

    def x_of(value: float) -> float:
        return _LEFT + plot_w * (value - x_low) / (x_high - x_low)

    def y_of(value: float) -> float:
        return _TOP + plot_h * (1 - (value - y_low) / (y_high - y_low))

    lines = tuple(
        Line(i, labels[i], tuple((x_of(x), y_of(y)) for x, y in points))
        for i, points in enumerate(finite)
        if points
    )
    gridlines = tuple(Gridline(y_of(tick), number(tick)) for tick in y_ticks)
    axis = tuple(
        AxisLabel(x_of(tick), _TOP + plot_h + 16, number(tick))
        for tick in ticks(x_low, x_high)
        if x_low <= tick <= x_high
    )
    frame = Frame(
        f"{key} by step", _WIDTH, _HEIGHT, _LEFT, _WIDTH - _RIGHT, _TOP, _TOP + plot_h, gridlines
    )
    return SeriesChart(key, frame, lines, axis)
