"""The model card as Markdown and as one self-contained HTML page.

The card's content is gathered by :func:`pathtolive.service.card.model_card`; this module
only renders it. The HTML page (``templates/model_card.html``) is the console's model card
section (``partials/card.html``, the one the Model version page includes) in the
standalone layout (``standalone.html``): it has no script and no URL of any kind, and
every text of the card is escaped. The Markdown is written here directly, and escaped too:
names, descriptions and config are anyone's text, and a Markdown renderer passes raw HTML
through. Every text has its line breaks made spaces (a paragraph or a cell stays one) and
the characters that open HTML, links, emphasis or code (``\\ ` * [ ] < > & | ~``, and
``_`` but inside a word) backslash-escaped, so ``<script>`` shows as text; a code block's
fence is longer than any run of backticks inside it.
"""

from __future__ import annotations

import re

from pathtolive.format import number
from pathtolive.service.card import CardTable, CodeBlock, Evaluation, ModelCard
from pathtolive.ui.partials import EvaluationCharts, card_view, evaluation_charts
from pathtolive.ui.templates import render

__all__ = ["EvaluationCharts", "evaluation_charts", "model_card_html", "model_card_markdown"]


def model_card_markdown(card: ModelCard) -> str:
    """The card as Markdown: a title, a heading per section, its paragraphs, tables and
    fenced code blocks."""
    lines = [f"# {_text(card.title)}", ""]
    for section in card.sections:
        lines += [f"## {_text(section.heading)}", ""]
        for block in section.blocks:
            if isinstance(block, CardTable):
                lines.append("| " + " | ".join(_text(cell) for cell in block.headers) + " |")
                lines.append("| " + " | ".join("---" for _ in block.headers) + " |")
                lines += [
                    "| " + " | ".join(_text(cell) for cell in row) + " |" for row in block.rows
                ]
                lines.append("")
            elif isinstance(block, CodeBlock):
                lines += [_fenced(block.lines), ""]
            elif isinstance(block, Evaluation):
                lines += _evaluation_markdown(block)
            else:
                lines += [_paragraph(block), ""]
    return "\n".join(lines)


def model_card_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page (see the module docs)."""
    return render("model_card.html", card=card_view(card))


_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>&|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
"""What can open markup. An ``_`` between two letters or digits cannot (CommonMark),
so ``min_metric`` stays as it reads."""
_LINE_BREAK = re.compile(r"[\r\n]+")
_BACKTICKS = re.compile(r"`+")


def _text(text: str) -> str:
    """``text`` as Markdown that renders as that text: on one line, and no character of
    it opening HTML, a link, emphasis, code or a table cell."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", text))


_BLOCK_START = re.compile(r"^[#+=-]")
_ORDERED_ITEM = re.compile(r"^(\d+)([.)])")


def _paragraph(text: str) -> str:
    """``text`` as a Markdown paragraph: escaped, and not starting a heading or a list."""
    escaped = _BLOCK_START.sub(lambda match: "\\" + match.group(), _text(text), count=1)
    return _ORDERED_ITEM.sub(r"\1\\\2", escaped, count=1)


def _fenced(lines: tuple[str, ...]) -> str:
    """``lines`` in a fenced code block whose fence no line can close."""
    body = "\n".join(lines)
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{body}\n{fence}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(_text(cell) for cell in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
        *("| " + " | ".join(_text(cell) for cell in row) + " |" for row in rows),
        "",
    ]


def _evaluation_markdown(evaluation: Evaluation) -> list[str]:
    """The evaluation's figures as sentences and tables (Markdown draws no chart)."""
    lines: list[str] = []
    roc = evaluation.roc
    if evaluation.split:
        lines += [_paragraph(f"Evaluation on the {evaluation.split}."), ""]
    if roc is not None:
        lines += [
            _paragraph(
                f"ROC AUC {number(roc.auc)}; at threshold {number(roc.threshold)}: false "
                f"positive rate {number(roc.at_threshold[0])}, true positive rate "
                f"{number(roc.at_threshold[1])}."
            ),
            "",
        ]
    if evaluation.calibration:
        lines += _table(
            ["predicted", "observed", "rows"],
            [
                [number(b.predicted), number(b.observed), f"{b.rows:,}"]
                for b in evaluation.calibration
            ],
        )
    if evaluation.confusion is not None:
        where = (
            "most probable class"
            if evaluation.threshold is None
            else f"threshold {number(evaluation.threshold)}"
        )
        lines += [_paragraph(f"Confusion matrix at the {where} (true class down):"), ""]
        lines += _table(
            ["true \\ predicted", *evaluation.classes],
            [
                [name, *(f"{value:,}" for value in row)]
                for name, row in zip(evaluation.classes, evaluation.confusion, strict=True)
            ],
        )
    if evaluation.slices:
        lines += [_paragraph(f"{evaluation.metric} per slice ({evaluation.slice_split}):"), ""]
        lines += _table(
            ["slice", "rows", "candidate", "live", "status"],
            [
                [s.label, f"{s.rows:,}", number(s.candidate), number(s.reference), s.status]
                for s in evaluation.slices
            ],
        )
    for note in evaluation.notes:
        lines += [_paragraph(f"Note: {note}."), ""]
    return lines
