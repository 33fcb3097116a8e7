"""The model card's Markdown and HTML: every section, every cell, escaped, and a page
that loads nothing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from importlib.resources import files

import pytest

from pathtolive.gates.curves import calibration, confusion_matrix, roc_curve
from pathtolive.service.card import (
    CardSection,
    CardTable,
    CodeBlock,
    Evaluation,
    ModelCard,
    SliceFigure,
    gate_figures,
)
from pathtolive.ui.card import model_card_html, model_card_markdown

EVIL = "<script>alert(1)</script>"

CARD = ModelCard(
    f"Model card: risk@2 {EVIL}",
    (
        CardSection(
            "Intended use and limitations",
            ("Intended use: rank & sort garages", "Limitations: not stated"),
        ),
        CardSection(
            "Training data",
            (
                "data: cancer@1 (569 rows)",
                CardTable(
                    ("column", "type"), (("mean radius", "float"), ("a|b", f"two\nlines {EVIL}"))
                ),
            ),
        ),
        CardSection("Lineage", (CodeBlock(("model risk@2", "  run 7 <main>")),)),
    ),
)


ESCAPED = "\\<script\\>alert(1)\\</script\\>"


def test_markdown() -> None:
    assert model_card_markdown(CARD) == "\n".join(
        [
            f"# Model card: risk@2 {ESCAPED}",
            "",
            "## Intended use and limitations",
            "",
            "Intended use: rank \\& sort garages",
            "",
            "Limitations: not stated",
            "",
            "## Training data",
            "",
            "data: cancer@1 (569 rows)",
            "",
            "| column | type |",
            "| --- | --- |",
            "| mean radius | float |",
            f"| a\\|b | two lines {ESCAPED} |",
            "",
            "## Lineage",
            "",
            "```\nmodel risk@2\n  run 7 <main>\n```",
            "",
        ]
    )


def test_markdown_renders_names_and_config_as_text_never_as_html() -> None:
    # Before, a renderer ran <script> from a model's description, config or name.
    from markdown_it import MarkdownIt

    hostile = ModelCard(
        f"Model card: risk@2 {EVIL}",
        (
            CardSection(
                f"Intended use {EVIL}",
                (
                    f"Use: <img src=x onerror=alert(1)> [click](javascript:alert(1)) {EVIL}",
                    "# not a heading\n<script>alert(2)</script>\n\n- not a list",
                    "1. not a list either",
                    CardTable(
                        ("param", f"value {EVIL}"),
                        (("min_metric", f"*bold* _em_ `code` ~~gone~~ &lt; {EVIL}"),),
                    ),
                    CodeBlock(("```", f"</pre>{EVIL}")),
                ),
            ),
        ),
    )
    markdown = model_card_markdown(hostile)
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    parsed = _Collect()
    parsed.feed(html)

    assert {"script", "img", "a", "em", "strong", "s"}.isdisjoint(parsed.tags), html
    assert parsed.tags.count("code") == 1  # the code block's, no inline code
    assert parsed.tags.count("h1") == 1
    assert parsed.tags.count("h2") == 1
    assert {"ol", "ul"}.isdisjoint(parsed.tags)
    text = "".join(parsed.text)
    assert EVIL in text  # shown to the reader as text
    assert "min_metric\n*bold* _em_ `code` ~~gone~~ &lt; " in text
    assert "# not a heading <script>alert(2)</script> - not a list" in text
    assert f"```\n</pre>{EVIL}" in text  # the code block keeps its lines, fence and all


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_escaped() -> None:
    page = model_card_html(CARD)
    parsed = _Collect()
    parsed.feed(page)

    assert page.startswith("<!DOCTYPE html>")
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "rank &amp; sort garages" in page
    assert {"script", "link", "img", "iframe"}.isdisjoint(parsed.tags)
    assert not [name for name, _ in parsed.attributes if name in ("src", "href")]
    for forbidden in ("http://", "https://", "url(", "@import"):
        assert forbidden not in page.lower()
    assert parsed.tags.count("table") == 1
    assert parsed.tags.count("h2") == 3
    assert "style" in parsed.tags
    text = "".join(parsed.text)
    assert f"Model card: risk@2 {EVIL}" in text  # shown to the reader as text
    assert "model risk@2\n  run 7 <main>" in text  # the lineage keeps its lines
    assert '<pre class="lineage">model risk@2' in page  # wrapped, not clipped (the stylesheet)
    assert "pre.lineage{white-space:pre-wrap" in page


# -- the evaluation's figures ------------------------------------------------------------

TRUTH = [False, False, True, True]
SCORES = [0.1, 0.4, 0.35, 0.8]


def _evaluation() -> Evaluation:
    predicted = ["no" if s < 0.5 else EVIL for s in SCORES]
    truth = [EVIL if t else "no" for t in TRUTH]
    return Evaluation(
        split="holdout of cancer@1: all 4 rows, scored again for this card",
        metric="roc_auc",
        classes=("no", EVIL),
        positive=EVIL,
        roc=roc_curve(TRUTH, SCORES, 0.5),
        calibration=calibration(TRUTH, SCORES, bins=2),
        confusion=confusion_matrix(truth, predicted, ["no", EVIL]),
        threshold=0.5,
        slices=(
            SliceFigure("region=north", 120, 0.9, 0.8, "ok"),
            SliceFigure(f"region={EVIL}", 80, 0.45, 0.7, "regressed"),
        ),
        slice_split="slices of the holdout of cancer@1 (4 rows), gates",
        notes=(),
    )


def _svg(page: str, kind: str) -> ET.Element:
    (fragment,) = re.findall(rf'<svg class="chart {kind}".*?</svg>', page, flags=re.S)
    return ET.fromstring(fragment)


def _page() -> str:
    card = ModelCard(
        "Model card: risk@2",
        (CardSection("Metrics", (CardTable(("metric", "value", "split"), ()), _evaluation())),),
    )
    return model_card_html(card)


def test_the_card_draws_roc_calibration_confusion_and_slices() -> None:
    page = _page()
    parsed = _Collect()
    parsed.feed(page)

    assert EVIL not in page
    assert "Evaluation on the holdout of cancer@1: all 4 rows" in page

    roc = _svg(page, "roc")
    (curve,) = [p for p in roc.iter("polyline") if p.get("class") == "curve"]
    points = [tuple(map(float, p.split(","))) for p in (curve.get("points") or "").split()]
    assert len(points) == 5  # (0,0) (0,.5) (.5,.5) (.5,1) (1,1)
    (x0, y0), (x1, y1), _, _, (x4, y4) = points
    assert x0 == x1  # up by half at no false positive
    assert y1 == pytest.approx((y0 + y4) / 2)
    assert x4 > x0
    assert roc.get("aria-label") == "ROC curve, area 0.75"
    (dot,) = roc.iter("circle")
    assert (float(dot.get("cx", "0")), float(dot.get("cy", "0"))) == pytest.approx(
        (x0, y1), abs=0.1
    )

    cal = _svg(page, "calibration")
    titles = [t.text or "" for t in cal.iter("title")]
    assert titles == [
        "predicted 0.283, observed 0.333 on 3 rows",  # 0.1, 0.4 and 0.35: one positive
        "predicted 0.8, observed 1 on 1 row",
    ]

    confusion = _svg(page, "confusion")
    counts = [t.text for t in confusion.iter("text") if t.get("class") == "cell-count"]
    assert counts == ["2", "0", "1", "1"]  # true no: 2 right; true positive: 1 missed, 1 found
    labels = [t.text for t in confusion.iter("text") if t.get("class") != "cell-count"]
    assert labels.count("<script>al…") == 2  # across and down, shortened, as text
    assert "the decision threshold 0.5" in page

    slices = _svg(page, "slices")
    bars = [r for r in slices.iter("rect") if "slice" in (r.get("class") or "")]
    assert [b.get("class") for b in bars] == ["slice ok", "slice regressed"]
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[0] == pytest.approx(2 * heights[1], rel=0.01)  # 0.9 against 0.45
    assert len([p for p in slices.iter("polyline") if p.get("class") == "reference"]) == 2
    assert f"region={EVIL}: roc_auc 0.45 on 80 rows, live 0.7 (regressed)" in [
        t.text for t in slices.iter("title")
    ]


def test_the_markdown_card_tables_the_evaluation() -> None:
    markdown = model_card_markdown(
        ModelCard("Model card: risk@2", (CardSection("Metrics", (_evaluation(),)),))
    )
    assert "ROC AUC 0.75; at threshold 0.5: false positive rate 0, true positive rate 0.5." in (
        markdown
    )
    assert f"| no | 2 | 0 |\n| {ESCAPED} | 1 | 1 |" in markdown
    assert "| region=north | 120 | 0.9 | 0.8 | ok |" in markdown
    assert EVIL not in markdown


def test_a_gate_is_judged_on_a_figure_not_mistaken_for_its_estimate() -> None:
    comparison = {
        "gate": "beat_live",
        "figure": 0.004,
        "data": {"difference": 0.02, "low": 0.004, "high": 0.037},
    }
    assert gate_figures(comparison) == (
        "+0.02 (difference)",
        "+0.004 to +0.037",
        "lower bound 0.004",
    )
    floor = {
        "gate": "min_metric",
        "figure": 0.91,
        "data": {"interval": {"value": 0.91, "low": 0.88, "high": 0.94}},
    }
    assert gate_figures(floor) == ("0.91", "0.88 to 0.94", "estimate 0.91")
    assert gate_figures({"gate": "size", "figure": 12.0}) == ("12", "", "12")


def test_the_card_prints_and_shares_the_stylesheet() -> None:
    page = model_card_html(CARD)
    assert "@media print" in page
    assert '<p class="muted small">model card</p>' in page  # what the file is, as on a page
    for sheet in ("console/static/console.css", "static/charts.css", "static/pathtolive.css"):
        text = (files("pathtolive.ui") / sheet).read_text(encoding="utf-8")
        assert text.strip() in page  # the console's stylesheets, inlined
