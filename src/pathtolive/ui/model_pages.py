"""The console's Model, Model version and Monitoring pages rendered to HTML.

The service gathers each page (:mod:`pathtolive.service.model_views`,
:mod:`pathtolive.service.monitor_views`); this module lays it out with the shared
templates (``templates/console/``), the charts of :mod:`pathtolive.ui.charts` and
:mod:`pathtolive.ui.console_charts`, and the addresses of :class:`Links`, so that every
page links to the others. The drift table, a feature's histograms, the metric over time
and the model card are the view models of :mod:`pathtolive.ui.partials`, drawn by the
partials the static reports draw them with. Every text from data reaches the page escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from pathtolive.gates.costs import cost_summary
from pathtolive.lineage import LineageNode
from pathtolive.monitoring.drift import FeatureDrift
from pathtolive.service.model_views import Explanation, ModelView, VersionView
from pathtolive.service.monitor_views import LiveMetric, MonitoringView
from pathtolive.ui.charts import metric_chart
from pathtolive.ui.console_charts import gate_intervals, heat_map
from pathtolive.ui.partials import card_view, drift_table, feature_view, metric_view

__all__ = [
    "ExplainForm",
    "LineageItem",
    "Links",
    "model_context",
    "monitoring_context",
    "version_context",
]


@dataclass(frozen=True)
class Links:
    """The console's addresses, under ``root`` (``""``, or ``/ui`` when mounted)."""

    root: str = ""

    def model(self, name: str, page: int | None = None) -> str:
        address = f"{self.root}/models/{quote(name, safe='')}"
        return address if page is None else f"{address}?{urlencode({'page': page})}"

    def version(self, name: str, version: int) -> str:
        return f"{self.model(name)}/versions/{version}"

    def explain(self, name: str, version: int) -> str:
        return f"{self.version(name, version)}/explain"

    def monitoring(self, name: str, *, feature: str | None = None, window: int = 0) -> str:
        address = f"{self.root}/monitoring/{quote(name, safe='')}"
        if feature is None:
            return address
        return f"{address}?{urlencode({'feature': feature, 'window': window})}#cell"

    def run(self, run_id: str, other: str | None = None) -> str:
        """The run side by side with ``other`` (the previous version's run), or the
        runs table when there is none to compare with."""
        if other is None or other == run_id:
            return f"{self.root}/runs"
        return f"{self.root}/runs/compare?{urlencode([('run', run_id), ('run', other)])}"

    def dataset(self, ref: str) -> str:
        name, _, number = ref.partition("@")
        address = f"{self.root}/datasets/{quote(name, safe='')}"
        return f"{address}/versions/{quote(number, safe='')}" if number else address

    def node(self, node: LineageNode, run_id: str, other: str | None) -> str | None:
        """The page of a lineage node, where there is one (``run_id``: the run of the
        model version the lineage is of; ``other``, the previous version's run)."""
        if node.kind == "model":
            name, _, number = node.label.partition("@")
            return self.version(name, int(number)) if number.isdigit() else self.model(name)
        if node.kind in ("data", "parent"):
            return self.dataset(node.label)
        if node.kind == "run":
            return self.run(run_id, other)
        return None


def model_context(view: ModelView, links: Links, live: LiveMetric | None = None) -> dict[str, Any]:
    """What ``console/model.html`` takes: a model's versions, alias timeline, the live
    version's drift (its newest stored window) and metric over the stored windows."""
    decay = None if live is None else live.decay
    return {
        "view": view,
        "links": links,
        "live": live,
        "unavailable": None if live is None else live.unavailable,
        "command": None if live is None else live.command,
        "metric": None if decay is None or not decay.windows else metric_chart(decay),
    }


@dataclass(frozen=True)
class ExplainForm:
    """The explain form's state: the values typed, and the answer or the refusal."""

    values: Mapping[str, str] = field(default_factory=dict)
    explanation: Explanation | None = None
    error: str | None = None


def version_context(
    view: VersionView, links: Links, form: ExplainForm | None = None
) -> dict[str, Any]:
    """What ``console/model_version.html`` takes: the gate report as intervals, latency
    and size, lineage, card and the explain form."""
    report = None if view.report is None else view.report.report
    values, differences = (None, None) if report is None else gate_intervals(report)
    return {
        "view": view,
        "links": links,
        "values_chart": values,
        "differences_chart": differences,
        "cost_lines": [] if report is None else _cost_lines(report),
        "lineage": _lineage(view, links),
        "card": card_view(view.card),
        "form": form or ExplainForm(),
    }


def _cost_lines(report: Mapping[str, Any]) -> list[str]:
    """The report's cost figures and "is it worth it?" lines (none for a report from
    before costs were measured)."""
    summary = cost_summary(report.get("costs") or {})
    worth = [f"Worth it? {line}" for line in report.get("worth_it") or ()]
    return ([summary] if summary else []) + worth


@dataclass(frozen=True)
class LineageItem:
    """A lineage node as the page lists it: its depth, kind, label, attributes and
    link."""

    depth: int
    kind: str
    label: str
    attributes: tuple[tuple[str, str], ...]
    href: str | None


_DEEPEST = 6  # indentation steps the stylesheet has


def _lineage(view: VersionView, links: Links) -> list[LineageItem]:
    items: list[LineageItem] = []

    def visit(node: LineageNode, depth: int) -> None:
        attributes = tuple(
            (str(key), str(value))
            for key, value in node.attributes.items()
            if value not in ("", None)
        )
        href = links.node(node, view.version.run_id, view.previous_run)
        items.append(LineageItem(min(depth, _DEEPEST), node.kind, node.label, attributes, href))
        for child in node.children:
            visit(child, depth + 1)

    visit(view.lineage, 0)
    return items


def monitoring_context(
    view: MonitoringView, links: Links, *, feature: str | None = None, window: int = 0
) -> dict[str, Any]:
    """What ``console/monitoring.html`` takes: the drift heat map (PSI), the newest
    window's drift table (each feature linked to its histograms in that window), one
    cell's card with its histograms, the metric over time with its caveat, and the
    alerts, all from stored results. The table, the card and the metric are the view
    models the monitoring report draws with the same partials."""
    series = view.series
    cell = None if feature is None else view.cell(feature, window)
    latest = view.latest
    newest = None if series is None else len(series.windows) - 1

    # As links.monitoring(model, feature=, window=) has it, each name quoted once: a heat
    # map may have thousands of cells.
    base = links.monitoring(view.model)
    quoted: dict[str, str] = {}

    def cell_link(name: str, index: int) -> str:
        if name not in quoted:
            quoted[name] = quote_plus(name, safe="")
        return f"{base}?feature={quoted[name]}&window={index}#cell"

    def newest_link(_: int, drift: FeatureDrift) -> str | None:
        return None if newest is None else cell_link(drift.feature, newest)

    return {
        "view": view,
        "links": links,
        "heat": None if series is None else heat_map(series, cell_link),
        "table": (
            None
            if latest is None or latest.drift is None
            else drift_table(latest.drift, newest_link)
        ),
        "cell": None if cell is None else feature_view(cell, "histograms"),
        "cell_window": None if cell is None or series is None else series.windows[window],
        "metric": metric_view(view.decay, caveat=True),
    }
