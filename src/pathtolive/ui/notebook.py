"""What the Python API's results look like in Jupyter: HTML fragments, one per type.

:func:`register_renderers` (called when :mod:`pathtolive.workspace` is imported)
registers a renderer (:func:`pathtolive.display.register_html`) for the model card, the
monitoring report and its drift result, the gate report, and runs, model versions and
dataset versions, so their ``_repr_html_`` draws them inline.
The model card and the monitoring report are the very pages ``models card`` and
``monitor --report`` write; the others are drawn by ``templates/notebook.html`` on the
same skeleton and stylesheet, with the figures the command line prints.

A page is made a fragment (:func:`embed`): its body, without the footer, in a
``<div class="pathtolive-embed">`` with the page's styles scoped to that element by CSS
nesting (``:root`` and ``body`` becoming the element itself), so the notebook around it
keeps its own look. The pages load nothing, run no script and hold no URL; the
fragment keeps that, and every text in it is escaped by the templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pathtolive.data.profile import Profile
from pathtolive.display import register_html
from pathtolive.entities import DatasetVersion, ModelVersion, Run
from pathtolive.format import count, number, when
from pathtolive.gates import REPORT_COLUMNS, GateReport
from pathtolive.monitoring.drift import DriftResult
from pathtolive.monitoring.report import MonitorReport
from pathtolive.service.card import ModelCard
from pathtolive.ui.card import model_card_html
from pathtolive.ui.monitoring import drift_columns, monitoring_report_html
from pathtolive.ui.templates import render

__all__ = [
    "EMBED_CLASS",
    "dataset_version_html",
    "drift_result_html",
    "embed",
    "gate_report_html",
    "model_version_html",
    "register_renderers",
    "run_html",
]

EMBED_CLASS = "pathtolive-embed"
"""The class of the element a fragment's content and styles are scoped to."""

_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S)
_FOOTER = re.compile(r"<footer[^>]*>.*?</footer>", re.S)
_PAGE_ROOT = re.compile(r"(?<![\w.#-])(?::root|html|body)(?:\.[\w-]+)*(?=[\s,{>:])")

Table = tuple[str, Sequence[str], Sequence[Sequence[str]], Mapping[int, Mapping[str, str]]]
"""A table of a page: its heading, headers, rows, and the verdict columns' colours."""

_GATE_VERDICTS = {"pass": "good", "fail": "bad", "note": "none"}
_RUN_STATUS = {"succeeded": "good", "failed": "bad", "cancelled": "none", "running": "none"}
_DRIFT_VERDICTS = {"drifted": "bad", "stable": "good"}


def embed(page: str) -> str:
    """A self-contained page as a fragment to show inside another page (see above)."""
    styles = "".join(_STYLE.findall(page))
    body = _BODY.search(page)
    content = _FOOTER.sub("", body.group(1) if body else page).strip()
    scoped = _PAGE_ROOT.sub("&", styles)
    return f'<div class="{EMBED_CLASS}"><style>.{EMBED_CLASS}{{{scoped}}}</style>{content}</div>'


def _page(
    kind: str,
    heading: str,
    *,
    verdict: tuple[str, str] | None = None,
    facts: Sequence[tuple[str, str]] = (),
    lead: str = "",
    tables: Sequence[Table] = (),
) -> str:
    return embed(
        render(
            "notebook.html",
            skeleton="standalone.html",
            kind=kind,
            heading=heading,
            verdict=verdict,
            facts=facts,
            lead=lead,
            tables=tables,
        )
    )


def gate_report_html(report: GateReport) -> str:
    """The gate table ``gates check`` prints: gate, verdict, figure, threshold, detail;
    first what it was judged on (an unknown training set before all), then the cost
    figures and the "is it worth it?" lines."""
    judged = report.judged_lines()
    return _page(
        "gate report",
        f"{report.model}@{report.version}",
        verdict=("good", "passed") if report.passed else ("bad", "failed"),
        facts=[("metric", report.metric), ("checked", when(report.created_at))],
        lead=report.summary(),
        tables=([("Judged on", ["what"], [(line,) for line in judged], {})] if judged else [])
        + [("Gates", REPORT_COLUMNS, report.rows(), {1: _GATE_VERDICTS})]
        + (
            [("Cost of owning it", ["what"], [(line,) for line in report.cost_lines()], {})]
            if report.cost_lines()
            else []
        ),
    )


def run_html(run: Run) -> str:
    """A run as ``runs show`` tells it: what ran, on which data, code and params."""
    code = run.code_commit[:12] if run.code_commit else "not in git"
    if run.code_dirty:
        code += " (dirty)"
    metrics = (run.outputs or {}).get("metrics") or {}
    return _page(
        f"{run.kind} run",
        f"{run.pipeline or run.kind} · {run.run_id[:12]}",
        verdict=(_RUN_STATUS.get(run.status, "none"), run.status),
        facts=[
            ("by", run.actor),
            ("started", when(run.started_at)),
            ("finished", when(run.finished_at) if run.finished_at else "-"),
            ("code", code),
        ],
        lead=run.error.splitlines()[-1] if run.error else "",
        tables=[
            ("Data", ["input", "dataset version"], sorted(run.inputs.items()), {}),
            ("Params", ["param", "value"], _pairs(run.params), {}),
            ("Metrics", ["metric", "value"], _pairs(metrics), {}),
        ],
    )


def model_version_html(version: ModelVersion) -> str:
    """A model version as ``models show`` tells it: artifact, run, metrics, signature."""
    signature = version.signature or {}
    inputs = [(str(i["name"]), str(i["type"])) for i in signature.get("inputs", [])]
    return _page(
        "model version",
        version.ref,
        facts=[
            ("aliases", ", ".join(version.aliases) or "none"),
            ("flavor", version.flavor),
            ("size", f"{count(version.artifact_bytes)} bytes"),
            ("run", f"{version.run_id[:12]} ({version.source})"),
            ("by", version.created_by),
            ("registered", when(version.created_at)),
        ],
        lead=version.description,
        tables=[
            ("Metrics", ["metric", "value"], _pairs(version.metrics), {}),
            ("Signature", ["input", "type"], inputs, {}),
        ],
    )


def dataset_version_html(version: DatasetVersion) -> str:
    """A dataset version as ``data show`` tells it: provenance and its columns' profile."""
    columns = []
    for column in Profile.from_dict(version.profile).columns:
        summary = ""
        if column.numeric is not None and column.numeric.minimum is not None:
            stats = column.numeric
            summary = (
                f"{number(stats.minimum)} … {number(stats.maximum)}, mean {number(stats.mean)}"
            )
        elif column.categorical is not None:
            top = ", ".join(name for name, _ in column.categorical.categories[:5])
            summary = f"{column.categorical.distinct} distinct" + (f": {top}" if top else "")
        columns.append((column.name, column.kind, count(column.nulls), summary))
    parent = (
        "none" if version.parent_version is None else f"{version.dataset}@{version.parent_version}"
    )
    return _page(
        "dataset version",
        version.ref,
        verdict=("bad", "erased") if version.forgotten else None,
        facts=[
            ("rows", count(version.rows)),
            ("contract", f"v{version.schema_version}, {version.validation_status}"),
            ("parent", parent),
            ("source", version.source),
            ("by", version.author),
            ("added", when(version.created_at)),
        ],
        lead=f"content hash {version.content_hash}",
        tables=[("Columns", ["column", "kind", "nulls", "profile"], columns, {})],
    )


def drift_result_html(drift: DriftResult) -> str:
    """The drift table of the monitoring report: every feature's figures, rule and
    verdict, most drifted first."""
    figures = drift_columns(drift)
    rows = [
        (
            str(feature.rank),
            feature.feature,
            feature.kind,
            *(column.cell(feature)[0] for column in figures),
            feature.rule,
            "drifted" if feature.drifted else "stable",
            feature.explanation or "; ".join(feature.reasons),
        )
        for feature in sorted(drift.features, key=lambda feature: feature.rank)
    ]
    headers = [
        "rank",
        "feature",
        "kind",
        *(f"{column.heading} ({column.limit_text})" for column in figures),
        "rule",
        "verdict",
        "why",
    ]
    drifted = sum(feature.drifted for feature in drift.features)
    return _page(
        "drift",
        f"{drifted} of {len(drift.features)} features drifted",
        verdict=("bad", "drift") if drifted else ("good", "stable"),
        facts=[
            ("reference rows", count(drift.reference_rows)),
            ("live rows", count(drift.current_rows)),
        ],
        tables=[("Drift", headers, rows, {len(headers) - 2: _DRIFT_VERDICTS})],
    )


def _pairs(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (key, number(value) if isinstance(value, float) else str(value))
        for key, value in sorted(values.items())
    ]


def register_renderers() -> None:
    """Make this module draw the API's results in Jupyter (again is harmless)."""
    register_html(ModelCard, lambda card: embed(model_card_html(card)))
    register_html(MonitorReport, lambda report: embed(monitoring_report_html(report)))
    register_html(GateReport, gate_report_html)
    register_html(DriftResult, drift_result_html)
    register_html(Run, run_html)
    register_html(ModelVersion, model_version_html)
    register_html(DatasetVersion, dataset_version_html)
