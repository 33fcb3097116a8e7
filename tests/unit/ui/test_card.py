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
    assert "<pre>model risk@2" in page
