"""Model cards, generated from the registry.

A card says what the model is for and where it falls short (``[models.NAME.card]``
``intended_use`` and ``limitations``, or the version's description), what it was trained
on (dataset versions with their contract and profile), how it scored, how it fared at its
gates against the baseline and the live champion (with the slice table), who approved or
overrode its promotion, and its lineage.

This module gathers that into a :class:`ModelCard`: typed sections of paragraphs,
tables and code blocks, every cell already text. The faces render it
(:mod:`pathtolive.ui.card`: Markdown and one self-contained HTML file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pathtolive.auth import Permission
from pathtolive.config import check_keys, table_at
from pathtolive.data import Profile, Schema
from pathtolive.display import HtmlDisplay
from pathtolive.entities import Run, StoredGateReport
from pathtolive.errors import PathToLiveError
from pathtolive.format import signed, significant
from pathtolive.gates.costs import cost_summary
from pathtolive.gates.curves import (
    CalibrationBin,
    RocCurve,
    calibration,
    confusion_matrix,
    roc_curve,
)
from pathtolive.gates.report import GateReport, unknown_training_line
from pathtolive.lineage import LineageNode, render_tree
from pathtolive.service import datasets as dataset_service
from pathtolive.service import gates as gate_service
from pathtolive.service import lineage as lineage_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.named_holdout import holdout_record
from pathtolive.service.privacy import configured_pii_columns, pii_columns

__all__ = [
    "CARD_KEYS",
    "CARD_ROWS",
    "Block",
    "CardSection",
    "CardTable",
    "CodeBlock",
    "Evaluation",
    "ModelCard",
    "SliceFigure",
    "gate_figures",
    "model_card",
]

CARD_ROWS = 20_000
"""Holdout rows a card scores again to draw its curves, at most (the first ones): enough
for a smooth ROC curve, few enough that writing a card stays quick."""

DECISION_THRESHOLD = 0.5
"""Where a binary classifier's probability of the positive class turns a row positive,
for the confusion matrix and the point marked on the ROC curve."""


@dataclass(frozen=True)
class CardTable:
    """A table of text cells under ``headers``."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CodeBlock:
    """Preformatted lines (the lineage tree), shown as they are."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class SliceFigure:
    """The candidate's metric on one slice of the holdout (``column=value``), and the
    reference model's (the live one) where there was one, as the slice gate stored them."""

    label: str
    rows: int
    candidate: float | None
    reference: float | None
    status: str


@dataclass(frozen=True)
class Evaluation:
    """What the card draws of the model's evaluation: on ``split`` (the holdout rows
    scored again, said in words), the ROC curve and calibration of a binary classifier
    (``positive`` is its positive class), the confusion matrix of ``classes`` at
    ``threshold`` (None: the most probable class), and ``metric`` per slice of the
    holdout from the gate report. ``notes`` say what could not be drawn, and why."""

    split: str
    metric: str
    classes: tuple[str, ...]
    positive: str | None
    roc: RocCurve | None
    calibration: tuple[CalibrationBin, ...]
    confusion: tuple[tuple[int, ...], ...] | None
    threshold: float | None
    slices: tuple[SliceFigure, ...]
    slice_split: str
    notes: tuple[str, ...]


Block = str | CardTable | CodeBlock | Evaluation
"""A paragraph, a table, a code block or the evaluation's figures."""


@dataclass(frozen=True)
class CardSection:
    """A heading and its blocks, in order."""

    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class ModelCard(HtmlDisplay):
    """The card of one model version: a title and its sections."""

    title: str
    sections: tuple[CardSection, ...]


def _cell(value: Any) -> str:
    """A table cell: a float to four significant digits, None as nothing, anything else
    as its text."""
    return (
        significant(value, 4) if isinstance(value, float) else ("" if value is None else str(value))
    )


_WITHHELD = "withheld (pii)"
CARD_KEYS = ("intended_use", "limitations")
"""The keys of ``[models.NAME.card]``."""


def _without_pii(result: dict[str, Any], pii: set[str]) -> dict[str, Any]:
    """A stored slice gate result with the values of PII columns withheld. Gates refuse a
    PII slice column now, but a report stored before that, or before the column was
    tagged, still holds its values, and a card is written to be shared."""
    if result.get("gate") != "slices" or not pii:
        return result
    data = result.get("data") or {}
    table = data.get("slices") if isinstance(data, dict) else None
    rows = table if isinstance(table, list) else []
    named = {row.get("column") for row in rows if isinstance(row, dict)}
    detail = str(result.get("detail", ""))
    private = sorted(c for c in pii if c in named or f"{c}=" in detail)
    if not private:
        return result
    return {
        **result,
        "detail": f"slice values withheld: {', '.join(private)} tagged pii",
        "data": {
            **data,
            "slices": [
                {**row, "value": _WITHHELD}
                if isinstance(row, dict) and row.get("column") in pii
                else row
                for row in rows
            ],
        },
    }


def model_card(ctx: ServiceContext, ref: str, *, lineage: LineageNode | None = None) -> ModelCard:
    """The card of model version ``ref``; its lineage section draws ``lineage`` when given
    (a page that has read it already, perhaps bounded), else the whole lineage."""
    ctx.require(Permission.READ, "read model cards")
    version = model_service.model_version(ctx, ref)
    card_settings = ctx.settings.document.get("models", {}).get(version.model, {}).get("card", {})
    where = f"models.{version.model}.card"
    check_keys(table_at(card_settings, where), where, CARD_KEYS)
    with ctx.metadata.read() as session:
        run = session.get_run(version.run_id)
        report = session.latest_gate_report(version.model, version.version)
        promotions = session.list_promotions(model=version.model)
        history = session.alias_history(version.model)
    assert run is not None
    intended = card_settings.get("intended_use") or version.description or "not stated"
    sections: list[CardSection] = []
    sections.append(
        CardSection(
            "Intended use and limitations",
            (
                f"Intended use: {intended}",
                f"Limitations: {card_settings.get('limitations') or 'not stated'}",
                f"Flavor {version.flavor}, artifact {version.artifact_digest} "
                f"({version.artifact_bytes:,} bytes), registered by {version.created_by} on "
                f"{version.created_at.isoformat(timespec='seconds')}; aliases: "
                f"{', '.join(version.aliases) or 'none'}.",
            ),
        )
    )
    data_blocks: list[Block] = []
    pii: set[str] = set(configured_pii_columns(ctx))
    for parameter, data_ref in sorted(run.inputs.items()):
        data = dataset_service.get_version(ctx, data_ref)
        schema = Schema.from_dict(
            dataset_service.dataset_schema(ctx, data.dataset, data.schema_version).schema
        )
        pii.update(pii_columns(ctx, schema))
        profile = Profile.from_dict(data.profile).withholding(pii)
        data_blocks.append(
            f"{parameter}: {data.ref} ({data.rows:,} rows, hash {data.content_hash[:12]}, "
            f"schema v{data.schema_version}, validation {data.validation_status}, from "
            f"{data.source})"
        )
        if data.forgotten_at is not None:
            data_blocks.append(
                f"Trained on erased data {data.ref}: erased on "
                f"{data.forgotten_at.date().isoformat()} by {data.forgotten_by}."
            )
        rows: list[tuple[str, ...]] = []
        for column in schema.columns:
            stats = profile.column(column.name) if column.name in profile.names else None
            numeric = None if stats is None else stats.numeric
            rows.append(
                (
                    column.name,
                    column.type,
                    # A column PII by the workspace's word reads as one tagged so.
                    ", ".join(
                        (*column.tags, "pii")
                        if column.name in pii and "pii" not in column.tags
                        else column.tags
                    ),
                    "" if stats is None else f"{stats.nulls:,}",
                    "" if numeric is None else _cell(numeric.mean),
                    ""
                    if numeric is None
                    else f"{_cell(numeric.minimum)} … {_cell(numeric.maximum)}",
                )
            )
        data_blocks.append(
            CardTable(("column", "type", "tags", "nulls", "mean", "range"), tuple(rows))
        )
    if not data_blocks:
        judged = holdout_record(report.report) if report is not None else {}
        data_blocks.append(
            unknown_training_line(version.ref, str(judged["dataset"]))
            if judged.get("dataset")
            else f"Training data unknown: {version.ref} was registered without the data it "
            "was trained on; gate it on a named holdout it cannot have seen."
        )
    sections.append(CardSection("Training data", tuple(data_blocks)))
    logged = f"logged by run {run.run_id[:12]}"
    metrics = [(name, _cell(value), logged) for name, value in sorted(version.metrics.items())]
    if report is not None:
        metrics += _gate_metrics(report.report)
    metric_blocks: list[Block] = (
        [CardTable(("metric", "value", "split"), tuple(metrics))]
        if metrics
        else ["No metrics recorded."]
    )
    evaluation = _evaluation(ctx, version.ref, run, report, pii)
    if evaluation is not None:
        metric_blocks.append(evaluation)
    sections.append(CardSection("Metrics", tuple(metric_blocks)))
    gate_blocks: list[Block] = []
    if report is None:
        gate_blocks.append("The gates have not been checked for this version.")
    else:
        body = report.report
        gate_blocks.append(
            f"{'Passed' if report.passed else 'Failed'} on "
            f"{report.created_at.isoformat(timespec='seconds')} (checked by "
            f"{report.created_by}); metric {body.get('metric')}; holdout "
            f"{body.get('holdout', {}).get('dataset')} ({body.get('holdout', {}).get('rows')} "
            f"rows); live champion compared: {body.get('champion_version') or 'none'}."
        )
        # What it was judged on, who chose it, and what is unknown, as the report says it
        # (a report stored before holdouts were recorded names none, and may lack the
        # fields a report has now).
        judged_lines = (
            GateReport.from_dict(body).judged_lines()
            if (body.get("holdout") or {}).get("dataset")
            else []
        )
        gate_blocks.extend(
            line[:1].upper() + line[1:] + ("" if line.endswith(".") else ".")
            for line in judged_lines
        )
        results = [_without_pii(r, pii) for r in body.get("results", [])]
        gate_blocks.append(
            CardTable(
                ("gate", "verdict", "estimate", "interval", "judged on", "threshold", "detail"),
                tuple(
                    (
                        r["gate"],
                        r["verdict"],
                        *gate_figures(r),
                        _cell(r.get("threshold")),
                        r["detail"],
                    )
                    for r in results
                ),
            )
        )
        # The cost of owning it, and whether that is worth it against the baseline and
        # live (figures of the gates' own measurement, see pathtolive.gates.costs).
        summary = cost_summary(body.get("costs") or {})
        if summary:
            gate_blocks.append(summary)
        gate_blocks.extend(f"Worth it? {line}" for line in body.get("worth_it") or ())
        for result in results:
            table = result.get("data", {}).get("slices")
            if result["gate"] == "slices" and isinstance(table, list) and table:
                headers = tuple(str(key) for key in table[0])
                cells = tuple(tuple(_cell(row.get(h)) for h in headers) for row in table)
                gate_blocks.append(CardTable(headers, cells))
    sections.append(CardSection("Gates: baseline, champion, slices", tuple(gate_blocks)))
    mine = [p for p in promotions if p.version == version.version]
    promotion_rows = tuple(
        (
            str(p.promotion_id),
            p.alias,
            p.policy,
            p.status,
            p.requested_by,
            ", ".join(f"{a.approver} {a.decision}" for a in p.approvals),
            p.override_reason or "",
        )
        for p in mine
    )
    moves = tuple(
        (
            h.at.isoformat(timespec="seconds"),
            h.alias,
            _cell(h.from_version),
            _cell(h.to_version),
            h.actor,
            h.reason,
        )
        for h in history
        if version.version in (h.from_version, h.to_version)
    )
    sections.append(
        CardSection(
            "Approvals and overrides",
            (
                CardTable(
                    ("#", "alias", "policy", "status", "asked by", "approvals", "override"),
                    promotion_rows,
                )
                if promotion_rows
                else "No promotion requested.",
                CardTable(("when", "alias", "from", "to", "by", "reason"), moves)
                if moves
                else "No alias moves.",
            ),
        )
    )
    tree = render_tree(lineage or lineage_service.model_lineage(ctx, version.ref))
    sections.append(CardSection("Lineage", (CodeBlock(tuple(tree)),)))
    return ModelCard(f"Model card: {version.ref}", tuple(sections))


def gate_figures(result: dict[str, Any]) -> tuple[str, str, str]:
    """(estimate, interval, judged figure) of a gate result, so that the figure a gate
    compares with its threshold is not read as the estimate: a comparison with the
    champion or the baseline is judged on the lower bound of the difference's interval,
    the minimum metric on the point estimate."""
    data = result.get("data") or {}
    figure = result.get("figure")
    interval = data.get("interval") if isinstance(data, dict) else None
    if isinstance(interval, dict) and {"value", "low", "high"} <= interval.keys():
        return (
            _cell(interval["value"]),
            f"{_cell(interval['low'])} to {_cell(interval['high'])}",
            f"estimate {_cell(figure)}",
        )
    if isinstance(data, dict) and {"difference", "low", "high"} <= data.keys():
        return (
            f"{signed(data['difference'])} (difference)",
            f"{signed(data['low'])} to {signed(data['high'])}",
            f"lower bound {_cell(figure)}",
        )
    return _cell(figure), "", _cell(figure)


def _holdout_text(body: dict[str, Any]) -> str:
    """The split a gate report measured on: its holdout, named when the report says
    which (a report may not)."""
    holdout = body.get("holdout") or {}
    dataset, rows = holdout.get("dataset"), holdout.get("rows")
    if not dataset:
        return "holdout"
    return f"holdout of {dataset}" + (f" ({rows} rows)" if rows is not None else "")


def _gate_metrics(body: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The gates' own measure of the metric, on the holdout, with its interval."""
    found = []
    for result in body.get("results", []):
        interval = (result.get("data") or {}).get("interval")
        if result.get("gate") == "min_metric" and isinstance(interval, dict):
            value = (
                f"{_cell(interval.get('value'))} (interval {_cell(interval.get('low'))} to "
                f"{_cell(interval.get('high'))})"
            )
            found.append((str(interval.get("metric")), value, f"{_holdout_text(body)}, gates"))
    return found


def _slices(report: StoredGateReport | None) -> tuple[tuple[SliceFigure, ...], str]:
    if report is None:
        return (), ""
    for result in report.report.get("results", []):
        data = result.get("data") or {}
        rows = data.get("slices") if result.get("gate") == "slices" else None
        if isinstance(rows, list) and rows:
            figures = tuple(
                SliceFigure(
                    f"{row.get('column')}={row.get('value')}",
                    int(row.get("rows") or 0),
                    row.get("candidate"),
                    row.get("reference"),
                    str(row.get("status", "")),
                )
                for row in rows
                if isinstance(row, dict)
            )
            return figures, f"slices of the {_holdout_text(report.report)}, gates"
    return (), ""


def _evaluation(
    ctx: ServiceContext,
    ref: str,
    run: Run,
    report: StoredGateReport | None,
    pii: set[str],
) -> Evaluation | None:
    """The evaluation's figures: the holdout scored again (bounded by
    :data:`CARD_ROWS`), the slices from the gate report. None for a run without a
    recorded evaluation (a notebook or imported model) and no gate report."""
    slices, slice_split = _slices(report)
    # A slice of a PII column shows its values: withheld as in the gate table.
    slices = tuple(s for s in slices if s.label.split("=", 1)[0] not in pii)
    metric = str(report.report.get("metric", "")) if report is not None else ""
    notes: list[str] = []
    named = report is not None and holdout_record(report.report).get("named") is not None
    if run.kind != "pipeline" and not named:
        if not slices:
            return None
        notes.append(f"run {run.run_id[:12]} is a {run.kind} run: it has no holdout to score")
        return Evaluation(
            "", metric, (), None, None, (), None, None, slices, slice_split, tuple(notes)
        )
    try:
        scores = gate_service.score_holdout(
            ctx, ref, limit=CARD_ROWS, purpose=f"model card of {ref}"
        )
    except PathToLiveError as exc:
        notes.append(f"the holdout could not be scored: {exc.message}")
        return Evaluation(
            "", metric, (), None, None, (), None, None, slices, slice_split, tuple(notes)
        )
    part = "all" if scores.rows == scores.total else f"the first {scores.rows:,} of"
    split = f"holdout of {scores.dataset}: {part} {scores.total:,} rows, scored again for this card"
    if scores.task == "regression" or scores.classes is None:
        notes.append("a regressor: no ROC curve, calibration or confusion matrix")
        return Evaluation(
            split, metric, (), None, None, (), None, None, slices, slice_split, tuple(notes)
        )
    classes = scores.classes
    names = tuple(str(label) for label in classes)
    proba = scores.predictions.proba
    truth = scores.y_true
    roc: RocCurve | None = None
    bins: tuple[CalibrationBin, ...] = ()
    threshold: float | None = None
    if len(classes) == 2 and proba is not None:
        positive = np.asarray([label == classes[1] for label in truth.tolist()])
        score = proba[:, 1] if proba.ndim == 2 else proba
        threshold = DECISION_THRESHOLD
        predicted = np.where(score >= threshold, classes[1], classes[0])
        try:
            roc = roc_curve(positive, score, threshold)
        except PathToLiveError as exc:
            notes.append(f"no ROC curve: {exc.message}")
        bins = calibration(positive, score)
    else:
        if len(classes) != 2:
            notes.append(f"{len(classes)} classes: ROC and calibration are drawn for two")
        else:
            notes.append("the model gives no probabilities: no ROC curve or calibration")
        labels = scores.predictions.labels
        if labels is None and proba is not None:
            labels = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        predicted = labels if labels is not None else truth
    return Evaluation(
        split=split,
        metric=metric,
        classes=names,
        positive=names[1] if len(names) == 2 else None,
        roc=roc,
        calibration=bins,
        confusion=confusion_matrix(truth, predicted, classes),
        threshold=threshold,
        slices=slices,
        slice_split=slice_split,
        notes=tuple(notes),
    )
