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

from pathtolive.auth import Permission
from pathtolive.data import Profile, Schema
from pathtolive.format import significant
from pathtolive.lineage import render_tree
from pathtolive.service import datasets as dataset_service
from pathtolive.service import lineage as lineage_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.privacy import configured_pii_columns, pii_columns

__all__ = ["Block", "CardSection", "CardTable", "CodeBlock", "ModelCard", "model_card"]


@dataclass(frozen=True)
class CardTable:
    """A table of text cells under ``headers``."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CodeBlock:
    """Preformatted lines (the lineage tree), shown as they are."""

    lines: tuple[str, ...]


Block = str | CardTable | CodeBlock
"""A paragraph, a table or a code block."""


@dataclass(frozen=True)
class CardSection:
    """A heading and its blocks, in order."""

    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class ModelCard:
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


def model_card(ctx: ServiceContext, ref: str) -> ModelCard:
    ctx.require(Permission.READ, "read model cards")
    version = model_service.model_version(ctx, ref)
    card_settings = ctx.settings.document.get("models", {}).get(version.model, {}).get("card", {})
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
    sections.append(
        CardSection("Training data", tuple(data_blocks) or ("No recorded training data.",))
    )
    metrics = tuple((name, _cell(value)) for name, value in sorted(version.metrics.items()))
    sections.append(
        CardSection(
            "Metrics",
            (CardTable(("metric", "value"), metrics),) if metrics else ("No metrics recorded.",),
        )
    )
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
        results = [_without_pii(r, pii) for r in body.get("results", [])]
        gate_blocks.append(
            CardTable(
                ("gate", "verdict", "figure", "threshold", "detail"),
                tuple(
                    (
                        r["gate"],
                        r["verdict"],
                        _cell(r.get("figure")),
                        _cell(r.get("threshold")),
                        r["detail"],
                    )
                    for r in results
                ),
            )
        )
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
    tree = render_tree(lineage_service.model_lineage(ctx, version.ref))
    sections.append(CardSection("Lineage", (CodeBlock(tuple(tree)),)))
    return ModelCard(f"Model card: {version.ref}", tuple(sections))
