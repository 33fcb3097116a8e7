"""Model cards, generated from the registry: Markdown and one self-contained HTML file.

A card says what the model is for and where it falls short (``[models.NAME.card]``
``intended_use`` and ``limitations``, or the version's description), what it was trained
on (dataset versions with their contract and profile), how it scored, how it fared at its
gates against the baseline and the live champion (with the slice table), who approved or
overrode its promotion, and its lineage.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from pathtolive.auth import Permission
from pathtolive.data import Profile, Schema
from pathtolive.lineage import render_tree
from pathtolive.service import datasets as dataset_service
from pathtolive.service import lineage as lineage_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext

__all__ = ["ModelCard", "model_card"]

Block = str | tuple[list[str], list[list[str]]]  # a paragraph, or (headers, rows)


@dataclass(frozen=True)
class ModelCard:
    title: str
    sections: tuple[tuple[str, tuple[Block, ...]], ...]

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for heading, blocks in self.sections:
            lines += [f"## {heading}", ""]
            for block in blocks:
                if isinstance(block, str):
                    lines += [block, ""]
                else:
                    headers, rows = block
                    lines.append("| " + " | ".join(headers) + " |")
                    lines.append("| " + " | ".join("---" for _ in headers) + " |")
                    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
                    lines.append("")
        return "\n".join(lines)

    def html(self) -> str:
        body = [f"<h1>{html.escape(self.title)}</h1>"]
        for heading, blocks in self.sections:
            body.append(f"<h2>{html.escape(heading)}</h2>")
            for block in blocks:
                if isinstance(block, str):
                    if "\n" in block:
                        body.append(f"<pre>{html.escape(block.strip('`').strip())}</pre>")
                    else:
                        body.append(f"<p>{html.escape(block)}</p>")
                else:
                    headers, rows = block
                    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
                    cells = "".join(
                        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                        for row in rows
                    )
                    body.append(
                        f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
                    )
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n"
        )


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#1b1b1b}table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid "
    "#ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}th{background:#f3f3f3}"
    "pre{background:#f6f6f6;padding:.75rem;overflow-x:auto;font-size:.85rem}"
)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else ("" if value is None else str(value))


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
    sections: list[tuple[str, tuple[Block, ...]]] = []
    sections.append(
        (
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
    for parameter, data_ref in sorted(run.inputs.items()):
        data = dataset_service.get_version(ctx, data_ref)
        schema = Schema.from_dict(
            dataset_service.dataset_schema(ctx, data.dataset, data.schema_version).schema
        )
        profile = Profile.from_dict(data.profile)
        data_blocks.append(
            f"{parameter}: {data.ref} ({data.rows:,} rows, hash {data.content_hash[:12]}, "
            f"schema v{data.schema_version}, validation {data.validation_status}, from "
            f"{data.source})"
        )
        rows = []
        for column in schema.columns:
            stats = profile.column(column.name) if column.name in profile.names else None
            numeric = None if stats is None else stats.numeric
            rows.append(
                [
                    column.name,
                    column.type,
                    ", ".join(column.tags),
                    "" if stats is None else f"{stats.nulls:,}",
                    "" if numeric is None else _number(numeric.mean),
                    ""
                    if numeric is None
                    else f"{_number(numeric.minimum)} … {_number(numeric.maximum)}",
                ]
            )
        data_blocks.append((["column", "type", "tags", "nulls", "mean", "range"], rows))
    sections.append(("Training data", tuple(data_blocks) or ("No recorded training data.",)))
    sections.append(
        (
            "Metrics",
            ((["metric", "value"], [[k, _number(v)] for k, v in sorted(version.metrics.items())]),)
            if version.metrics
            else ("No metrics recorded.",),
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
        gate_blocks.append(
            (
                ["gate", "verdict", "figure", "threshold", "detail"],
                [
                    [
                        r["gate"],
                        r["verdict"],
                        _number(r.get("figure")),
                        _number(r.get("threshold")),
                        r["detail"],
                    ]
                    for r in body.get("results", [])
                ],
            )
        )
        for result in body.get("results", []):
            table = result.get("data", {}).get("slices")
            if result["gate"] == "slices" and isinstance(table, list) and table:
                headers = [str(key) for key in table[0]]
                gate_blocks.append(
                    (headers, [[_number(row.get(h)) for h in headers] for row in table])
                )
    sections.append(("Gates: baseline, champion, slices", tuple(gate_blocks)))
    mine = [p for p in promotions if p.version == version.version]
    promotion_rows = [
        [
            str(p.promotion_id),
            p.alias,
            p.policy,
            p.status,
            p.requested_by,
            ", ".join(f"{a.approver} {a.decision}" for a in p.approvals),
            p.override_reason or "",
        ]
        for p in mine
    ]
    moves = [
        [
            h.at.isoformat(timespec="seconds"),
            h.alias,
            _number(h.from_version),
            _number(h.to_version),
            h.actor,
            h.reason,
        ]
        for h in history
        if version.version in (h.from_version, h.to_version)
    ]
    sections.append(
        (
            "Approvals and overrides",
            (
                (
                    ["#", "alias", "policy", "status", "asked by", "approvals", "override"],
                    promotion_rows,
                )
                if promotion_rows
                else "No promotion requested.",
                (["when", "alias", "from", "to", "by", "reason"], moves)
                if moves
                else "No alias moves.",
            ),
        )
    )
    tree = render_tree(lineage_service.model_lineage(ctx, version.ref))
    sections.append(("Lineage", ("```\n" + "\n".join(tree) + "\n```",)))
    return ModelCard(f"Model card: {version.ref}", tuple(sections))
