"""The monitoring report as one self-contained HTML page.

:func:`monitoring_report_html` takes the :class:`~pathtolive.monitoring.report.MonitorReport`
the monitor service built and returns a page that needs nothing but itself to be viewed:
the styles are inline, the charts are inline SVG, and there is no script, no external
stylesheet, font or image and no URL of any kind. Every text that comes from the report
is escaped by the template environment (:mod:`pathtolive.ui.templates`).

The page (``templates/monitoring_report.html``) shows a header (model, version, window,
reference data), a summary (how many features drifted and which, the prediction drift,
the decay verdict, open alerts), the metric over time (measured and estimated with
their intervals, the gate-time figure and the alert line, and the caveat that goes with
the estimate), the drift table sorted by rank with drifted features highlighted, each
feature's drift over a series of windows when the look covered one, reference-vs-live
histograms per feature, and the alerts. The drift table, the feature cards, the metric
and the alerts are the console Monitoring page's own partials (``partials/*.html``, their
view models built by :mod:`pathtolive.ui.partials`) in the standalone layout; this
module decides what the summary says and builds the views; the template lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pathtolive.entities import Alert
from pathtolive.format import count, listing, percent, when
from pathtolive.monitoring.decay import DecayResult
from pathtolive.monitoring.drift import FeatureDrift
from pathtolive.monitoring.report import MonitorReport
from pathtolive.monitoring.series import FeatureTrend, MonitorSeries
from pathtolive.monitoring.verdict import EFFECT_NAMES, rule_text
from pathtolive.ui.charts import MetricChart, trend_chart
from pathtolive.ui.partials import (
    DriftColumn,
    FeatureView,
    drift_columns,
    drift_table,
    feature_view,
    metric_view,
    ranked,
)
from pathtolive.ui.templates import render

__all__ = [
    "DriftColumn",
    "FeatureView",
    "SummaryCard",
    "TrendView",
    "drift_columns",
    "monitoring_report_html",
]

_LISTED = 8  # drifted features named in the summary line

Verdict = Literal["bad", "good", "none"]


@dataclass(frozen=True)
class SummaryCard:
    """One card of the summary: a title, a verdict (its colour), the verdict's short
    label and a sentence."""

    title: str
    verdict: Verdict
    label: str
    text: str


@dataclass(frozen=True)
class TrendView:
    """A feature across the series: its trend and the chart of its drift score."""

    trend: FeatureTrend
    chart: MetricChart | None


def monitoring_report_html(report: MonitorReport) -> str:
    """The report as one self-contained HTML page (see the module docs)."""
    in_order = ranked(report.drift)
    prediction = report.prediction_drift
    decay = report.decay
    return render(
        "monitoring_report.html",
        report=report,
        window_text=_window_text(report),
        cards=_summary(report, in_order),
        drift_line=_drift_line(in_order),
        rule=rule_text(report.drift.thresholds) if report.drift else "",
        kind=(
            "drift report"
            if report.drift is not None or report.prediction_drift is not None
            else "monitoring report"
        ),
        weighted_line=_weighted_line(report),
        # A feature's name in the table leads to its card further down the page.
        table=drift_table(report.drift, lambda index, _: f"#feature-{index}")
        if report.drift
        else None,
        features=[
            feature_view(feature, f"feature-{index}") for index, feature in enumerate(in_order)
        ],
        prediction=feature_view(prediction.drift, "prediction") if prediction else None,
        metric=metric_view(decay),
        series=report.series,
        trends=_trends(report.series) if report.series is not None else [],
        statistic_name=(
            EFFECT_NAMES.get(report.series.statistic, report.series.statistic)
            if report.series is not None
            else ""
        ),
    )


def _weighted_line(report: MonitorReport) -> str:
    """The importance-weighted drift and, with ``min_weighted_drift``, whether it alerts."""
    drift, alerting = report.drift, report.drift_alerting
    parts: list[str] = []
    if drift is not None and drift.weighted_drift is not None:
        parts.append(
            f"The drifted features carry {percent(drift.weighted_drift)} of the model's "
            "attribution (importance-weighted drift; importance: the mean absolute "
            "attribution the explainability gate measured at release)."
        )
    if alerting is not None and alerting.min_weighted_drift is not None:
        parts.append(f"Alerts: {alerting.reason}.")
    return " ".join(parts)


def _trends(series: MonitorSeries) -> list[TrendView]:
    ends = [window.end for window in series.windows]
    # Those that meet the alert rule first, then by name.
    ordered = sorted(series.features, key=lambda trend: (not trend.persistent, trend.feature))
    return [
        TrendView(
            trend,
            trend_chart(
                trend.feature,
                ends,
                trend.values,
                trend.drifted,
                series.statistic,
                series.threshold,
            ),
        )
        for trend in ordered
    ]


def _window_text(report: MonitorReport) -> str:
    window = report.window
    parts = [
        window.description,
        f"{when(window.start)} → {when(window.end)}",
        f"{count(window.rows)} rows",
    ]
    return " · ".join(part for part in parts if part)


def _summary(report: MonitorReport, ranked: list[FeatureDrift]) -> list[SummaryCard]:
    cards: list[SummaryCard] = []
    if report.drift is None:
        cards.append(SummaryCard("Input drift", "none", "not computed", "Drift was not computed."))
    else:
        drifted = any(feature.drifted for feature in ranked)
        verdict: Verdict = "bad" if drifted else "good"
        label = "drift" if drifted else "no drift"
        cards.append(SummaryCard("Input drift", verdict, label, _drift_line(ranked)))
    if report.prediction_drift is not None:
        cards.append(_prediction_card(report.prediction_drift.drift))
    cards.append(_decay_card(report.decay))
    cards.append(_alerts_card(report.alerts))
    return cards


def _prediction_card(feature: FeatureDrift) -> SummaryCard:
    moved = feature.drifted
    reasons = "; ".join(feature.reasons)
    why = f": {feature.explanation}" if feature.explanation else ""
    held = f"The predictions hold steady{why}."
    text = reasons or ("The predictions moved." if moved else held)
    if moved:
        return SummaryCard("Prediction drift", "bad", "drift", text)
    return SummaryCard("Prediction drift", "good", "no drift", text)


def _decay_card(decay: DecayResult | None) -> SummaryCard:
    if decay is None:
        return SummaryCard("Performance", "none", "not computed", "Decay was not computed.")
    title = f"Performance: {decay.metric}"
    if decay.decayed:
        return SummaryCard(title, "bad", "decayed", decay.reason)
    if decay.judged is not None or decay.latest is not None:
        return SummaryCard(title, "good", "holding", decay.reason)
    return SummaryCard(title, "none", "no verdict", decay.reason)


def _alerts_card(alerts: tuple[Alert, ...]) -> SummaryCard:
    still = [alert for alert in alerts if alert.status != "cleared"]
    if still:
        kinds = ", ".join(sorted({alert.kind for alert in still}))
        text = f"{len(still)} open ({kinds}), {len(alerts) - len(still)} cleared."
        return SummaryCard("Alerts", "bad", f"{len(still)} open", text)
    text = f"No open alert; {len(alerts)} cleared." if alerts else "No alerts."
    return SummaryCard("Alerts", "good", "none open", text)


def _drift_line(ranked: list[FeatureDrift]) -> str:
    names = [feature.feature for feature in ranked if feature.drifted]
    total = len(ranked)
    features = "feature" if total == 1 else "features"
    if not names:
        return f"No drift: none of {total} {features} moved." if total else "No features compared."
    return f"{len(names)} of {total} {features} drifted: {listing(names, _LISTED)}."
