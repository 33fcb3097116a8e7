"""The model card's Markdown and HTML: every section, every cell, escaped, and a page
that loads nothing."""

from __future__ import annotations

from html.parser import HTMLParser

from pathtolive.service.card import CardSection, CardTable, CodeBlock, ModelCard
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


def test_markdown() -> None:
    assert model_card_markdown(CARD) == "\n".join(
        [
            f"# Model card: risk@2 {EVIL}",
            "",
            "## Intended use and limitations",
            "",
            "Intended use: rank & sort garages",
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
            f"| a\\|b | two lines {EVIL} |",
            "",
            "## Lineage",
            "",
            "```\nmodel risk@2\n  run 7 <main>\n```",
            "",
        ]
    )


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
    assert "<pre>model risk@2" in page
