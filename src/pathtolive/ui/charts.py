"""The geometry of the charts: reference-vs-live histograms and a metric over time.

A chart is computed here as typed geometry (gridlines, bars, dots, labels in SVG user
units) and drawn by the macros of ``templates/charts.html``. Python does the arithmetic
it is good at; the templates hold every element and attribute, so all markup lives in
one place and every text that reaches a chart (a bin label, a tooltip) goes through the
template's escaping. The charts need no script: tooltips are SVG ``<title>`` elements.

- :func:`histogram_chart`: the shares of both sides per bin or category, side by side,
  on a scale rounded up to 1, 2, 2.5 or 5 times a power of ten; a number's bins
  redrawn on equal-width display bins (:func:`display_bins`), at most :data:`MAX_BARS`
  categories (the smallest beyond it lumped into one), at most :data:`MAX_AXIS_LABELS`
  labels under the axis.
- :func:`metric_chart`: the measured and the estimated metric per window with their
  intervals (vertical whiskers), the gate-time figure and the alert line (labelled in
  the right margin, pushed apart when close), and one hoverable column per window with
  its figures.
- :func:`trend_chart`: one feature's effect size over a series of windows, on a scale
  from 0, with its drift threshold, the windows where it drifted marked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Literal

from pathtolive.format import count, number, percent, short_when, when
from pathtolive.monitoring.decay import DecayResult, WindowMetric
from pathtolive.monitoring.drift import Histogram

__all__ = [
    "DISPLAY_BINS",
    "MAX_AXIS_LABELS",
    "MAX_BARS",
    "AxisLabel",
    "Bar",
    "BarGroup",
    "Cell",
    "DisplayBins",
    "Dot",
    "Frame",
    "Gridline",
    "HistogramChart",
    "Level",
    "Line",
    "MetricChart",
    "PlotChart",
    "Series",
    "Whisker",
    "WindowMark",
    "calibration_chart",
    "confusion_chart",
    "display_bins",
    "histogram_chart",
    "metric_chart",
    "nice_ceiling",
    "roc_chart",
    "slice_chart",
    "ticks",
    "trend_chart",
]

MAX_BARS = 30
"""Categories drawn per histogram; the smallest beyond it are drawn as one."""

DISPLAY_BINS = 20
"""Equal-width bins a numeric histogram is drawn on (fewer when its stored bins are
equal-width and fewer)."""

MAX_AXIS_LABELS = 8
"""Labels under a histogram's axis, at most: the others are left out (their bars keep
their tooltips)."""

_LABEL_LENGTH = 11  # characters of a bin label under the axis


@dataclass(frozen=True)
class Gridline:
    """A horizontal gridline at ``y`` with its value's ``label`` on the left."""

    y: float
    label: str


@dataclass(frozen=True)
class Frame:
    """What every chart has: its size, its accessible ``label``, the plot area (from
    ``left`` to ``right``, from ``top`` down to the axis at ``baseline``) and the
    gridlines of its scale."""

    label: str
    width: int
    height: int
    left: int
    right: int
    top: int
    baseline: int
    gridlines: tuple[Gridline, ...]


@dataclass(frozen=True)
class AxisLabel:
    """A label under the axis, centred on ``x``; ``rotated`` labels are slanted so that
    long ones fit; ``anchor`` ``end`` puts a label left of ``x`` (a vertical axis's)."""

    x: float
    y: float
    text: str
    rotated: bool = False
    anchor: Literal["middle", "end"] = "middle"


@dataclass(frozen=True)
class Bar:
    """One side's bar of a bin: ``side`` is ``ref`` (the reference) or ``live``."""

    side: Literal["ref", "live"]
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class BarGroup:
    """The two bars of one bin, the tooltip that compares them and the bin's label
    under the axis (None where labels are thinned out)."""

    tip: str
    bars: tuple[Bar, Bar]
    label: AxisLabel | None


@dataclass(frozen=True)
class HistogramChart:
    """Reference and live shares per bin (see :func:`histogram_chart`); ``ticks`` label
    a numeric axis at its bins' edges (empty when each bar has its own label)."""

    frame: Frame
    groups: tuple[BarGroup, ...]
    ticks: tuple[AxisLabel, ...] = ()


@dataclass(frozen=True)
class Level:
    """A horizontal level across the plot: ``reference`` (the gate-time figure) or
    ``threshold`` (the alert line), its ``text`` at ``label_y`` in the right margin."""

    kind: Literal["reference", "threshold"]
    y: float
    label_y: float
    text: str


@dataclass(frozen=True)
class Series:
    """A polyline through consecutive known values: ``measured``, ``estimated`` or
    ``trend`` (a feature's drift score)."""

    kind: Literal["measured", "estimated", "trend"]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Dot:
    """A value of one window; ``css`` is its class (``measured-dot``, ``measured-dot
    judged`` for the window the verdict is on, ``estimated-dot``)."""

    css: str
    x: float
    y: float
    radius: float


@dataclass(frozen=True)
class Whisker:
    """An interval of one window, a vertical line at ``x`` from ``top`` to ``bottom``;
    ``css`` is ``measured-range`` or ``estimated-range``."""

    css: str
    x: float
    top: float
    bottom: float


@dataclass(frozen=True)
class WindowMark:
    """One window's dots and interval whiskers, its tooltip and the invisible column
    (from ``x``, ``width`` wide) that makes the whole window hoverable."""

    tip: str
    dots: tuple[Dot, ...]
    x: float
    width: float
    whiskers: tuple[Whisker, ...] = ()


@dataclass(frozen=True)
class MetricChart:
    """Values per window: the metric (:func:`metric_chart`) or a feature's drift score
    (:func:`trend_chart`, without ``levels``)."""

    frame: Frame
    levels: tuple[Level, ...]
    series: tuple[Series, ...]
    windows: tuple[WindowMark, ...]
    labels: tuple[AxisLabel, ...]


# -- histograms ---------------------------------------------------------------------------


def histogram_chart(name: str, reference: Histogram, current: Histogram) -> HistogramChart | None:
    """Reference and live shares per bin, side by side, with a tooltip per bin; None
    when neither side has a bin.

    A numeric column's bins are redrawn on equal-width display bins (see
    :func:`display_bins`) and labelled at their edges; a categorical column's bars are
    labelled each, thinned and slanted so that at most :data:`MAX_AXIS_LABELS` show."""
    display = display_bins(reference, current)
    if display is not None:
        labels, ref_shares, cur_shares, edges = display
    else:
        labels, ref_shares, cur_shares = _align(reference, current)
        edges = None
    if not labels:
        return None
    n = len(labels)
    width, height = max(340, min(760, 60 + 26 * n)), 210
    left, right, top, bottom = 44, 10, 12, 58
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([*ref_shares, *cur_shares, 0.0])
    ceiling = nice_ceiling(peak) if peak > 0 else 1.0
    gridlines = tuple(
        Gridline(top + plot_h * (1 - tick / ceiling), percent(tick))
        for tick in (0.0, ceiling / 2, ceiling)
    )
    group = plot_w / n
    bar = max(1.0, group * 0.38)
    every = max(1, math.ceil(n / MAX_AXIS_LABELS))
    rotated = edges is None and any(len(label) > 4 for label in labels) and n > 4
    groups: list[BarGroup] = []
    for i, label in enumerate(labels):
        x = left + i * group
        ref, cur = ref_shares[i], cur_shares[i]
        heights = [plot_h * min(share, ceiling) / ceiling for share in (ref, cur)]
        bars = (
            Bar("ref", x + group * 0.1, top + plot_h - heights[0], bar, heights[0]),
            Bar("live", x + group * 0.52, top + plot_h - heights[1], bar, heights[1]),
        )
        tip = f"{label}: reference {percent(ref, 1)}, live {percent(cur, 1)}"
        shown: AxisLabel | None = None
        if edges is None and i % every == 0:
            shown = AxisLabel(x + group / 2, top + plot_h + 14, _shorten(label), rotated=rotated)
        groups.append(BarGroup(tip, bars, shown))
    ticks_at = () if edges is None else _edge_labels(edges, left, group, top + plot_h + 14)
    frame = Frame(
        f"{name}: reference and live distributions",
        width,
        height,
        left,
        width - right,
        top,
        top + plot_h,
        gridlines,
    )
    return HistogramChart(frame, tuple(groups), ticks_at)


DisplayBins = tuple[list[str], list[float], list[float], list[tuple[int, float]]]
"""Labels, reference shares, live shares per display bin, and the (bin position, value)
of the edges to label under the axis."""


def display_bins(reference: Histogram, current: Histogram) -> DisplayBins | None:
    """A numeric histogram on at most :data:`DISPLAY_BINS` equal-width bins between the
    reference's smallest and largest finite edge, so that a bar's height shows how dense
    the data lies there; None for a categorical one (no edges) or one without two finite
    edges.

    The PSI is taken on equal-mass bins: every reference bin holds the same share, so
    drawn as they are, every reference bar would be the same height whatever the
    distribution's shape. Each stored bin's share is spread evenly over its width and
    summed into the display bins (the shape of the distribution to the resolution of its
    stored bins). Shares beyond the finite edges (live values outside the reference's
    range) are drawn as a first and a last bar when either side has some."""
    edges = reference.edges
    if edges is None or len(edges) != len(reference.shares) + 1:
        return None
    if current.edges is not None and tuple(current.edges) != tuple(edges):
        return None
    finite = [i for i, edge in enumerate(edges) if math.isfinite(edge)]
    if len(finite) < 2 or finite != list(range(finite[0], finite[-1] + 1)):
        return None
    first, last = finite[0], finite[-1]
    low, high = edges[first], edges[last]
    if not high > low:
        return None
    inner = [edges[i + 1] - edges[i] for i in range(first, last)]
    equal = max(inner) - min(inner) <= 1e-9 * (high - low)
    count = last - first if equal and last - first <= DISPLAY_BINS else DISPLAY_BINS
    cuts = [low + (high - low) * k / count for k in range(count + 1)]
    sides = [_finite_shares(side.shares, len(edges) - 1) for side in (reference, current)]
    spread = [[0.0] * count for _ in sides]
    for b in range(first, last):
        a, z = edges[b], edges[b + 1]
        for k in range(count):
            overlap = min(z, cuts[k + 1]) - max(a, cuts[k])
            if overlap > 0 and z > a:
                for side, shares in zip(spread, sides, strict=True):
                    side[k] += shares[b] * overlap / (z - a)
    labels = [f"{_edge(a)} to {_edge(z)}" for a, z in pairwise(cuts)]
    ticks_at = [(k, cut) for k, cut in enumerate(cuts)]
    below = [sum(shares[:first]) for shares in sides]
    above = [sum(shares[last:]) for shares in sides]
    if any(below):
        labels.insert(0, f"below {_edge(low)}")
        for side, extra in zip(spread, below, strict=True):
            side.insert(0, extra)
        ticks_at = [(k + 1, cut) for k, cut in ticks_at]
    if any(above):
        labels.append(f"above {_edge(high)}")
        for side, extra in zip(spread, above, strict=True):
            side.append(extra)
    return labels, spread[0], spread[1], ticks_at


def _finite_shares(shares: Sequence[float], size: int) -> list[float]:
    # A share that is not finite would draw a bar of no defined height: none is drawn.
    kept = [share if math.isfinite(share) else 0.0 for share in shares]
    return (kept + [0.0] * size)[:size]


def _edge(value: float) -> str:
    return f"{value + 0.0:.3g}"  # no "-0"


def _edge_labels(
    edges: Sequence[tuple[int, float]], left: float, group: float, y: float
) -> tuple[AxisLabel, ...]:
    """Labels at the display bins' edges, at most :data:`MAX_AXIS_LABELS` of them (the
    first and last always among them)."""
    every = max(1, math.ceil((len(edges) - 1) / (MAX_AXIS_LABELS - 1)))
    chosen = [
        (position, value)
        for index, (position, value) in enumerate(edges)
        if index % every == 0 or index == len(edges) - 1
    ]
    if len(chosen) > 2 and (len(edges) - 1) % every:
        del chosen[-2]  # the one before the last would crowd it
    return tuple(AxisLabel(left + position * group, y, _edge(value)) for position, value in chosen)


def _align(reference: Histogram, current: Histogram) -> tuple[list[str], list[float], list[float]]:
    """The bins of both sides in one order (reference first), each side's share per bin
    (0 where it has none), and at most :data:`MAX_BARS` bins (the rest lumped)."""
    ref = _bins(reference)
    cur = _bins(current)
    labels = list(ref) + [label for label in cur if label not in ref]
    ref_shares = [ref.get(label, 0.0) for label in labels]
    cur_shares = [cur.get(label, 0.0) for label in labels]
    if len(labels) > MAX_BARS:
        weight = [max(a, b) for a, b in zip(ref_shares, cur_shares, strict=True)]
        keep = sorted(sorted(range(len(labels)), key=lambda i: -weight[i])[: MAX_BARS - 1])
        rest = [i for i in range(len(labels)) if i not in set(keep)]
        labels = [labels[i] for i in keep] + [f"{len(rest)} others"]
        ref_shares = [ref_shares[i] for i in keep] + [sum(ref_shares[i] for i in rest)]
        cur_shares = [cur_shares[i] for i in keep] + [sum(cur_shares[i] for i in rest)]
    return labels, ref_shares, cur_shares


def _bins(side: Histogram) -> dict[str, float]:
    """One side as {bin label: share}; bins without a label are named from ``edges``
    when there is one more edge than shares, else ``bin N``."""
    # A share that is not finite would draw a bar of no defined height: none is drawn.
    shares = [share if math.isfinite(share) else 0.0 for share in side.shares]
    labels = list(side.labels)
    edges = side.edges or ()
    if len(labels) < len(shares) and len(edges) == len(shares) + 1:
        labels = [f"{number(a)} to {number(b)}" for a, b in pairwise(edges)]
    labels += [f"bin {i + 1}" for i in range(len(labels), len(shares))]
    bins: dict[str, float] = {}
    for label, share in zip(labels, shares, strict=False):
        bins[label] = bins.get(label, 0.0) + share
    return bins


def _shorten(text: str) -> str:
    return text if len(text) <= _LABEL_LENGTH else text[: _LABEL_LENGTH - 1] + "…"


# -- the model card's figures ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A polyline of class ``css`` (``curve``, ``diagonal``, ``reference``)."""

    css: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Cell:
    """A rectangle of class ``css`` with its tooltip, a ``shade`` (fill opacity, 0 to 1;
    a confusion matrix's stays light enough for its count to read on it) and an
    optional ``text`` in its middle (a confusion matrix's count)."""

    css: str
    x: float
    y: float
    width: float
    height: float
    tip: str
    shade: float = 1.0
    text: str = ""


@dataclass(frozen=True)
class PlotChart:
    """A chart of the model card: lines, marked points (with their tooltips), cells and
    axis labels in a frame (:func:`roc_chart`, :func:`calibration_chart`,
    :func:`confusion_chart`, :func:`slice_chart`)."""

    frame: Frame
    lines: tuple[Line, ...]
    points: tuple[tuple[str, Dot], ...]
    cells: tuple[Cell, ...]
    labels: tuple[AxisLabel, ...]


_UNIT = (0.0, 0.5, 1.0)


def _unit_square(
    label: str, x_name: str
) -> tuple[Frame, Callable[[float, float], tuple[float, float]], list[AxisLabel]]:
    """A frame for values from 0 to 1 on both axes, the mapping into it, and its labels."""
    size, left, top, bottom = 300, 46, 10, 40
    plot = size - top - bottom
    gridlines = tuple(Gridline(top + plot * (1 - tick), number(tick)) for tick in _UNIT)
    frame = Frame(label, size + left - 30, size, left, left + plot, top, top + plot, gridlines)

    def at(x: float, y: float) -> tuple[float, float]:
        return left + plot * min(max(x, 0.0), 1.0), top + plot * (1 - min(max(y, 0.0), 1.0))

    labels = [AxisLabel(left + plot * tick, top + plot + 14, number(tick)) for tick in _UNIT]
    labels.append(AxisLabel(left + plot / 2, top + plot + 32, x_name))
    return frame, at, labels


def roc_chart(
    points: Sequence[tuple[float, float]],
    auc: float,
    threshold: float,
    at_threshold: tuple[float, float],
) -> PlotChart:
    """The ROC curve (false positive rate across, true positive rate up) with the
    diagonal of a guess and the point of the decision ``threshold`` marked."""
    frame, at, labels = _unit_square(f"ROC curve, area {number(auc)}", "false positive rate")
    curve = Line("curve", tuple(at(x, y) for x, y in points))
    diagonal = Line("diagonal", (at(0, 0), at(1, 1)))
    x, y = at(*at_threshold)
    tip = (
        f"threshold {number(threshold)}: false positive rate {number(at_threshold[0])}, "
        f"true positive rate {number(at_threshold[1])}"
    )
    return PlotChart(
        frame, (diagonal, curve), ((tip, Dot("bin-dot threshold", x, y, 5)),), (), tuple(labels)
    )


def calibration_chart(bins: Sequence[tuple[float, float, int]]) -> PlotChart:
    """Mean predicted probability (across) against the observed positive rate (up) per
    bin, with the diagonal of perfect calibration; a dot's size grows with its rows."""
    frame, at, labels = _unit_square("calibration", "mean predicted probability")
    most = max((rows for _, _, rows in bins), default=1)
    dots = []
    for predicted, observed, rows in bins:
        x, y = at(predicted, observed)
        noun = "row" if rows == 1 else "rows"
        tip = f"predicted {number(predicted)}, observed {number(observed)} on {count(rows)} {noun}"
        dots.append((tip, Dot("bin-dot", x, y, 2.5 + 3.5 * math.sqrt(rows / most))))
    curve = Line("curve", tuple(at(p, o) for p, o, _ in bins))
    diagonal = Line("diagonal", (at(0, 0), at(1, 1)))
    return PlotChart(frame, (diagonal, curve), tuple(dots), (), tuple(labels))


def confusion_chart(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> PlotChart:
    """The confusion matrix as a grid: true classes down, predicted across, each cell
    its count, shaded by its share of its true class's rows."""
    n = len(classes)
    cell = max(28.0, min(80.0, 240 / max(n, 1)))
    left, top, bottom = 90, 26, 16
    width, height = int(left + cell * n + 10), int(top + cell * n + bottom)
    cells = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, value in enumerate(row):
            css = "cell hit" if i == j else "cell"
            tip = (
                f"true {classes[i]}, predicted {classes[j]}: {count(value)} rows "
                f"({percent(value / total, 1)} of true {classes[i]})"
            )
            shown = count(value) if n <= 12 else ""
            cells.append(
                Cell(
                    css,
                    left + j * cell,
                    top + i * cell,
                    cell,
                    cell,
                    tip,
                    0.06 + 0.6 * value / total,
                    shown,
                )
            )
    every = max(1, math.ceil(n / MAX_AXIS_LABELS))
    labels = [
        AxisLabel(left + (j + 0.5) * cell, top - 8, _shorten(name))
        for j, name in enumerate(classes)
        if j % every == 0
    ]
    labels += [
        AxisLabel(left - 6, top + (i + 0.5) * cell + 4, _shorten(name), anchor="end")
        for i, name in enumerate(classes)
        if i % every == 0
    ]
    frame = Frame(
        "confusion matrix: true class down, predicted across",
        width,
        height,
        left,
        int(left + cell * n),
        top,
        int(top + cell * n),
        (),
    )
    return PlotChart(frame, (), (), tuple(cells), tuple(labels))


def slice_chart(
    metric: str, slices: Sequence[tuple[str, int, float | None, float | None, str]]
) -> PlotChart | None:
    """``metric`` per slice as bars (regressed slices red, too small ones grey), the
    reference model's value on each as a short line; None without a value."""
    values = [v for _, _, cand, ref, _ in slices for v in (cand, ref) if v is not None]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    n = len(slices)
    peak = max([*finite, 0.0])
    ceiling = nice_ceiling(peak) if peak > 0 else 1.0
    width, height = max(340, min(760, 60 + 34 * n)), 220
    left, right, top, bottom = 48, 10, 12, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    group = plot_w / n

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(max(value, 0.0), ceiling) / ceiling)

    gridlines = tuple(Gridline(y_of(t), number(t)) for t in (0.0, ceiling / 2, ceiling))
    cells: list[Cell] = []
    lines: list[Line] = []
    labels: list[AxisLabel] = []
    every = max(1, math.ceil(n / MAX_AXIS_LABELS))
    for i, (label, rows, candidate, reference, status) in enumerate(slices):
        x = left + i * group
        bar = group * 0.6
        shown = _finite(candidate)
        tip = f"{label}: {metric} {number(shown)} on {count(rows)} rows"
        if _finite(reference) is not None:
            tip += f", live {number(reference)}"
        tip += f" ({status})" if status else ""
        css = f"slice {status}".strip()
        top_y = y_of(shown) if shown is not None else top + plot_h
        cells.append(Cell(css, x + group * 0.2, top_y, bar, top + plot_h - top_y, tip))
        ref = _finite(reference)
        if ref is not None:
            lines.append(
                Line("reference", ((x + group * 0.1, y_of(ref)), (x + group * 0.9, y_of(ref))))
            )
        if i % every == 0:
            labels.append(
                AxisLabel(x + group / 2, top + plot_h + 14, _shorten(label), rotated=n > 4)
            )
    frame = Frame(
        f"{metric} per slice", width, height, left, width - right, top, top + plot_h, gridlines
    )
    return PlotChart(frame, tuple(lines), (), tuple(cells), tuple(labels))


# -- the metric over time -----------------------------------------------------------------


def metric_chart(decay: DecayResult) -> MetricChart:
    """Measured and estimated values per window of ``decay``, the gate-time figure and
    the alert line (``drop`` below it, or above for a metric where lower is better)."""
    metric = decay.metric
    windows = decay.windows
    values = [_finite(w.value) for w in windows]
    estimates = [_finite(w.estimated) for w in windows]
    reference = _finite(decay.reference)
    threshold = _finite(decay.alert_line)
    bounds = [
        bound
        for w in windows
        for interval in (w.interval, w.estimated_interval)
        if interval is not None
        for bound in interval
    ]
    known = [
        v
        for v in [*values, *estimates, *map(_finite, bounds), reference, threshold]
        if v is not None
    ]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    pad = (high - low) * 0.12 or 0.05
    low, high = low - pad, high + pad
    width, height = 780, 270
    left, right, top, bottom = 56, 84, 14, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(windows)
    x_of = _columns(left, plot_w, n)

    def y_of(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    gridlines = tuple(Gridline(y_of(tick), number(tick)) for tick in ticks(low, high))
    # The two levels are labelled in the right margin, pushed apart when they are close.
    shown: list[tuple[Literal["reference", "threshold"], float, str]] = []
    if reference is not None:
        shown.append(("reference", reference, f"gates {number(reference)}"))
    if threshold is not None:
        shown.append(("threshold", threshold, f"alert {number(threshold)}"))
    label_y = [y_of(level) + 4 for _, level, _ in shown]
    if len(label_y) == 2 and abs(label_y[0] - label_y[1]) < 13:
        middle, upper = sum(label_y) / 2, label_y[0] < label_y[1]
        label_y = [middle - 6.5, middle + 6.5] if upper else [middle + 6.5, middle - 6.5]
    levels = tuple(
        Level(kind, y_of(level), text_y, text)
        for (kind, level, text), text_y in zip(shown, label_y, strict=True)
    )
    drawn: tuple[tuple[Literal["measured", "estimated"], list[float | None]], ...] = (
        ("estimated", estimates),
        ("measured", values),
    )
    series = tuple(
        Series(kind, tuple((x_of(i), y_of(v)) for i, v in run))
        for kind, known_values in drawn
        for run in _runs(known_values)
        if len(run) > 1
    )
    column = plot_w / max(n, 1)
    marks: list[WindowMark] = []
    for i, window in enumerate(windows):
        dots: list[Dot] = []
        estimate, value = estimates[i], values[i]
        if estimate is not None:
            dots.append(Dot("estimated-dot", x_of(i), y_of(estimate), 3.5))
        if value is not None:
            judged = i == decay.judged
            css = "measured-dot judged" if judged else "measured-dot"
            dots.append(Dot(css, x_of(i), y_of(value), 5.5 if judged else 3.5))
        whiskers = tuple(
            Whisker(css, x_of(i), y_of(interval[1]), y_of(interval[0]))
            for css, interval, shown_value in (
                ("estimated-range", window.estimated_interval, estimate),
                ("measured-range", window.interval, value),
            )
            if interval is not None and shown_value is not None
        )
        marks.append(
            WindowMark(
                _window_tip(metric, window), tuple(dots), x_of(i) - column / 2, column, whiskers
            )
        )
    every = max(1, math.ceil(n / 8))
    labels = tuple(
        AxisLabel(x_of(i), top + plot_h + 18, short_when(window.start))
        for i, window in enumerate(windows)
        if i % every == 0
    )
    frame = Frame(
        f"{metric} over time", width, height, left, width - right, top, top + plot_h, gridlines
    )
    return MetricChart(
        frame=frame,
        levels=levels,
        series=series,
        windows=tuple(marks),
        labels=labels,
    )


def _window_tip(metric: str, window: WindowMetric) -> str:
    parts = [f"{when(window.start)} to {when(window.end)}"]
    value = _finite(window.value)
    if value is not None:
        parts.append(
            f"{metric} {number(value)}{_range(window.interval)} on "
            f"{count(window.labelled)} labelled rows"
        )
    else:
        parts.append(f"{count(window.labelled)} labelled rows")
    estimate = _finite(window.estimated)
    if estimate is not None:
        parts.append(
            f"estimated {number(estimate)}{_range(window.estimated_interval)} on "
            f"{count(window.rows)} rows"
        )
    else:
        parts.append(f"{count(window.rows)} rows")
    return "; ".join(parts)


def _columns(left: float, width: float, n: int) -> Callable[[int], float]:
    """Where the ``i``-th of ``n`` windows sits across a plot ``width`` wide: spread from
    edge to edge, a lone window in the middle."""

    def x_of(i: int) -> float:
        return left + width / 2 if n == 1 else left + width * i / (n - 1)

    return x_of


def _range(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" ({number(interval[0])} to {number(interval[1])})"


# -- a feature's drift over a series of windows --------------------------------------------


def trend_chart(
    feature: str,
    ends: Sequence[datetime],
    scores: Sequence[float | None],
    drifted: Sequence[bool],
    statistic: str,
    threshold: float | None = None,
) -> MetricChart | None:
    """``feature``'s ``statistic`` per window (by the window's end), on a scale from 0
    rounded up to 1, 2, 2.5 or 5 times a power of ten, with the drift ``threshold`` as a
    level; drifted windows get a marked dot. None without any value."""
    values = [_finite(score) for score in scores]
    known = [value for value in values if value is not None]
    if not known:
        return None
    peak = max([*known, threshold or 0.0])
    ceiling = nice_ceiling(peak) if peak > 0 else 1.0
    width, height = 380, 160
    left, right, top, bottom = 48, 12, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(values)
    x_of = _columns(left, plot_w, n)

    def y_of(value: float) -> float:
        return top + plot_h * (1 - min(value, ceiling) / ceiling)

    gridlines = tuple(Gridline(y_of(tick), number(tick)) for tick in (0.0, ceiling / 2, ceiling))
    levels = (
        ()
        if threshold is None
        else (
            Level(
                "threshold", y_of(threshold), y_of(threshold) - 4, f"threshold {number(threshold)}"
            ),
        )
    )
    series = tuple(
        Series("trend", tuple((x_of(i), y_of(v)) for i, v in run))
        for run in _runs(values)
        if len(run) > 1
    )
    column = plot_w / n
    marks = []
    for i, value in enumerate(values):
        moved = drifted[i]
        dots = (
            ()
            if value is None
            else (
                Dot(
                    "trend-dot drifted" if moved else "trend-dot",
                    x_of(i),
                    y_of(value),
                    4 if moved else 3,
                ),
            )
        )
        verdict = "drifted" if moved else "no drift"
        shown = "no verdict" if value is None else f"{statistic} {number(value)}, {verdict}"
        tip = f"{feature}, window to {when(ends[i])}: {shown}"
        marks.append(WindowMark(tip, dots, x_of(i) - column / 2, column))
    every = max(1, math.ceil(n / 3))
    labels = tuple(
        AxisLabel(x_of(i), top + plot_h + 16, short_when(end))
        for i, end in enumerate(ends)
        if (n - 1 - i) % every == 0  # the newest window always labelled
    )
    frame = Frame(
        f"{feature}: {statistic} over time",
        width,
        height,
        left,
        width - right,
        top,
        top + plot_h,
        gridlines,
    )
    return MetricChart(frame, levels, series, tuple(marks), labels)


def _finite(value: float | None) -> float | None:
    # A value that is not finite cannot be placed on the scale: it is left out.
    return value if value is not None and math.isfinite(value) else None


def _runs(series: list[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive stretches of known values, as (index, value) pairs."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for i, value in enumerate(series):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((i, value))
    if current:
        runs.append(current)
    return runs


def ticks(low: float, high: float) -> list[float]:
    """About five round values between ``low`` and ``high``."""
    span = high - low
    step = 10.0 ** math.floor(math.log10(span / 5))
    for factor in (1, 2, 2.5, 5, 10):
        if span / (step * factor) <= 6:
            step *= factor
            break
    first = math.ceil(low / step) * step
    found = []
    value = first
    while value <= high + step * 1e-9:
        found.append(round(value, 12))
        value += step
    return found


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value`` (at most
    1 for a share)."""
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * power + 1e-12:
            return min(1.0, factor * power) if value <= 1 else factor * power
    return value  # pragma: no cover - the loop always ends at 10 * power
