"""The view models of the partials the console's pages and the static reports share.

A partial (``templates/partials/*.html``) is a Jinja2 macro that draws one part of a
page from one plain object built here: the drift table (:class:`DriftTable`), a
feature's reference-vs-live card (:class:`FeatureView`), the metric over time
(:class:`MetricView`) and the model card (:class:`CardView`). The console's Monitoring
and Model version pages and the static files (``monitor --report``, ``models card``)
build the same objects from the same results and include the same macros, so the two
look alike and are escaped alike. A link in a view model is an address or None: the
console passes its pages' addresses, a static file passes in-page anchors or None (the
partial then writes plain text), so a static file never points outside itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pathtolive.format import number
from pathtolive.monitoring.decay import CBPE_CAVEAT, DecayResult
from pathtolive.monitoring.drift import DriftResult, FeatureDrift
from pathtolive.service.card import CardTable, CodeBlock, Evaluation, ModelCard
from pathtolive.ui.charts import (
    HistogramChart,
    MetricChart,
    PlotChart,
    calibration_chart,
    confusion_chart,
    histogram_chart,
    metric_chart,
    roc_chart,
    slice_chart,
)

__all__ = [
    "BlockKind",
    "CardBlock",
    "CardSectionView",
    "CardView",
    "DriftColumn",
    "DriftRow",
    "DriftTable",
    "EvaluationCharts",
    "FeatureView",
    "MetricView",
    "card_view",
    "drift_columns",
    "drift_table",
    "evaluation_charts",
    "feature_view",
    "metric_view",
    "ranked",
]


# -- drift ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftColumn:
    """A figure of the drift table: its ``key`` in :attr:`FeatureDrift.figures`, its
    ``heading``, and its threshold (``limit``, None when it decides nothing) shown under
    the heading as ``limit_text``; ``below`` when a figure under the limit is the one that
    counts (a p-value), else at or above it (an effect size)."""

    key: str
    heading: str
    limit: float | None
    limit_text: str
    below: bool = False

    def cell(self, feature: FeatureDrift) -> tuple[str, bool]:
        """The figure of ``feature`` as text (a dash where it has none) and whether it
        crosses the threshold."""
        value = feature.figures.get(self.key)
        if value is None:
            return "-", False
        text = number(value) if not self.below else f"{value:.2g}"
        if self.limit is None or not math.isfinite(value):
            return text, False
        return text, (value < self.limit) if self.below else (value >= self.limit)


def drift_columns(drift: DriftResult) -> list[DriftColumn]:
    """The figures of the drift table with their thresholds, each only when a feature
    has it: the effect sizes (PSI, Jensen-Shannon distance, normed Wasserstein) and the
    tests' p-values (Kolmogorov-Smirnov, chi-square), the latter's threshold divided
    among the features tested under Bonferroni, as the verdict took it."""
    limits = drift.thresholds
    columns: list[DriftColumn] = []
    for key, heading in (("psi", "PSI"), ("js", "JS"), ("wasserstein", "norm. Wasserstein")):
        limit = getattr(limits, key)
        text = "a figure only" if limit is None else f"≥ {limit:g}"
        columns.append(DriftColumn(key, heading, limit, text))
    for key, heading, base in (
        ("ks_pvalue", "KS p", limits.ks_pvalue),
        ("chi2_pvalue", "chi² p", limits.chi2_pvalue),
    ):
        family = sum(1 for feature in drift.features if key in feature.figures)
        if limits.correction == "bonferroni" and family > 1:
            columns.append(DriftColumn(key, heading, base / family, f"< {base:g}/{family}", True))
        else:
            columns.append(DriftColumn(key, heading, base, f"< {base:g}", True))
    return [c for c in columns if any(c.key in f.figures for f in drift.features)]


@dataclass(frozen=True)
class DriftRow:
    """A feature's row of the drift table: its drift, each column's (text, crosses the
    threshold), and where its name links (None: plain text)."""

    drift: FeatureDrift
    cells: tuple[tuple[str, bool], ...]
    href: str | None


@dataclass(frozen=True)
class DriftTable:
    """The drift table (``partials/drift.html``, ``drift_table``): one row per feature in
    rank order, a column per figure with its threshold, and an importance column when
    the drift was weighted by importance."""

    columns: tuple[DriftColumn, ...]
    rows: tuple[DriftRow, ...]
    weighted: bool


def ranked(drift: DriftResult | None) -> list[FeatureDrift]:
    """The features of ``drift`` in rank order (whatever order they were given in)."""
    return sorted(drift.features, key=lambda feature: feature.rank) if drift else []


def drift_table(drift: DriftResult, href: Callable[[int, FeatureDrift], str | None]) -> DriftTable:
    """The table of ``drift``; ``href(index, feature)`` is where the ``index``-th feature
    (in rank order) links: its card on the same page, or the console's histograms."""
    columns = tuple(drift_columns(drift))
    rows = tuple(
        DriftRow(feature, tuple(column.cell(feature) for column in columns), href(index, feature))
        for index, feature in enumerate(ranked(drift))
    )
    return DriftTable(columns, rows, drift.weighted_drift is not None)


@dataclass(frozen=True)
class FeatureView:
    """A compared column (or the model's output) as its card draws it
    (``partials/drift.html``, ``feature_card``): its drift, the card's anchor, and the
    reference-vs-live histogram (None when there are no values)."""

    drift: FeatureDrift
    anchor: str
    chart: HistogramChart | None


def feature_view(feature: FeatureDrift, anchor: str) -> FeatureView:
    """The card of ``feature`` with its histograms, anchored at ``anchor``."""
    return FeatureView(
        feature, anchor, histogram_chart(feature.feature, feature.reference, feature.current)
    )


# -- the metric over time ------------------------------------------------------------------


@dataclass(frozen=True)
class MetricView:
    """The metric over time (``partials/metric.html``, ``metric``): the chart (None when
    no window has a figure), its key as (line style, meaning) pairs, and the caveat of
    the confidence-based estimate (None when nothing was estimated)."""

    chart: MetricChart | None
    legend: tuple[tuple[str, str], ...]
    caveat: str | None


def metric_view(decay: DecayResult | None, *, caveat: bool | None = None) -> MetricView:
    """The metric of ``decay`` per window; the caveat is shown when an estimate was made
    (or always, or never, with ``caveat`` True or False)."""
    chart = None if decay is None or not decay.windows else metric_chart(decay)
    show = caveat if caveat is not None else decay is not None and decay.estimated
    return MetricView(chart, _legend(chart) if chart else (), CBPE_CAVEAT if show else None)


def _legend(chart: MetricChart) -> tuple[tuple[str, str], ...]:
    """The key of the metric chart: (line style, meaning) of each kind of line it draws."""
    items = [("measured", "measured on feedback labels")]
    if any(dot.css == "estimated-dot" for window in chart.windows for dot in window.dots):
        items.append(("estimated", "estimated from confidence (CBPE)"))
    if any(window.whiskers for window in chart.windows):
        items.append(("interval", "bootstrap interval"))
    meaning = {"reference": "at the gates", "threshold": "alert line"}
    items += [(level.kind, meaning[level.kind]) for level in chart.levels]
    return tuple(items)


# -- the model card ------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationCharts:
    """The evaluation as the card draws it: its figures and their charts (None where
    there is nothing to draw)."""

    evaluation: Evaluation
    roc: PlotChart | None
    calibration: PlotChart | None
    confusion: PlotChart | None
    slices: PlotChart | None


def evaluation_charts(evaluation: Evaluation) -> EvaluationCharts:
    """The charts of ``evaluation``: ROC, calibration, confusion matrix, metric per slice."""
    roc = evaluation.roc
    return EvaluationCharts(
        evaluation,
        None if roc is None else roc_chart(roc.points, roc.auc, roc.threshold, roc.at_threshold),
        calibration_chart([(b.predicted, b.observed, b.rows) for b in evaluation.calibration])
        if evaluation.calibration
        else None,
        None
        if evaluation.confusion is None
        else confusion_chart(evaluation.confusion, evaluation.classes),
        slice_chart(
            evaluation.metric,
            [(s.label, s.rows, s.candidate, s.reference, s.status) for s in evaluation.slices],
        )
        if evaluation.slices
        else None,
    )


BlockKind = Literal["paragraph", "table", "code", "evaluation"]
CardBlock = str | CardTable | CodeBlock | EvaluationCharts


@dataclass(frozen=True)
class CardSectionView:
    """A section of the card: its heading and its blocks as (kind, block)."""

    heading: str
    blocks: tuple[tuple[BlockKind, CardBlock], ...]


@dataclass(frozen=True)
class CardView:
    """The model card as ``partials/card.html`` (``card``) draws it."""

    title: str
    sections: tuple[CardSectionView, ...]


def card_view(card: ModelCard) -> CardView:
    """``card`` with each block's kind, and its evaluation's charts drawn."""
    sections = []
    for section in card.sections:
        blocks: list[tuple[BlockKind, CardBlock]] = []
        for block in section.blocks:
            if isinstance(block, CardTable):
                blocks.append(("table", block))
            elif isinstance(block, CodeBlock):
                blocks.append(("code", block))
            elif isinstance(block, Evaluation):
                blocks.append(("evaluation", evaluation_charts(block)))
            else:
                blocks.append(("paragraph", block))
        sections.append(CardSectionView(section.heading, tuple(blocks)))
    return CardView(card.title, tuple(sections))
