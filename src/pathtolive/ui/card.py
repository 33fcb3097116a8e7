"""The model card as Markdown and as one self-contained HTML page.

The card's content is gathered by :func:`pathtolive.service.card.model_card`; this module
only renders it. The HTML page (``templates/model_card.html``) extends the same skeleton
and stylesheet as the monitoring report, has no script and no URL of any kind, and every
text of the card is escaped. The Markdown is written here directly: a table cell's
``|`` is escaped and its line breaks become spaces, so a cell stays one cell.
"""

from __future__ import annotations

from typing import Literal

from pathtolive.service.card import Block, CardTable, CodeBlock, ModelCard
from pathtolive.ui.templates import render

__all__ = ["model_card_html", "model_card_markdown"]

BlockKind = Literal["paragraph", "table", "code"]


def model_card_markdown(card: ModelCard) -> str:
    """The card as Markdown: a title, a heading per section, its paragraphs, tables and
    fenced code blocks."""
    lines = [f"# {card.title}", ""]
    for section in card.sections:
        lines += [f"## {section.heading}", ""]
        for block in section.blocks:
            if isinstance(block, CardTable):
                lines.append("| " + " | ".join(block.headers) + " |")
                lines.append("| " + " | ".join("---" for _ in block.headers) + " |")
                lines += [
                    "| " + " | ".join(_cell(cell) for cell in row) + " |" for row in block.rows
                ]
                lines.append("")
            elif isinstance(block, CodeBlock):
                lines += ["```\n" + "\n".join(block.lines) + "\n```", ""]
            else:
                lines += [block, ""]
    return "\n".join(lines)


def model_card_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page (see the module docs)."""
    sections = [
        (section.heading, [(_kind(block), block) for block in section.blocks])
        for section in card.sections
    ]
    return render("model_card.html", card=card, sections=sections)


def _kind(block: Block) -> BlockKind:
    if isinstance(block, CardTable):
        return "table"
    return "code" if isinstance(block, CodeBlock) else "paragraph"


def _cell(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")
