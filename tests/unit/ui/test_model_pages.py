"""The console's Model, Model version and Monitoring pages rendered against a prepared
workspace: what each shows, that each links to the others, and that names and values
from data (a feature named like a script tag, a slice value with markup) are text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.monitoring.decay import CBPE_CAVEAT
from pathtolive.service.context import ServiceContext
from pathtolive.service.model_views import explain_row, model_view, version_view
from pathtolive.service.monitor_views import monitoring_view
from pathtolive.ui.model_pages import (
    ExplainForm,
    Links,
    model_page_html,
    monitoring_page_html,
    version_page_html,
)
from tests.support.console_pages import EVIL, FEATURES, NOW, Prepared, prepare

LINKS = Links("/ui")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root = tmp_path_factory.mktemp("console-pages") / "ws"
    return prepare(root, {"PATHTOLIVE_USER": "ada", "HOME": str(root.parent)})


@pytest.fixture
def ctx(prepared: Prepared) -> Iterator[ServiceContext]:
    opened = prepared.open()
    yield opened
    opened.close()


class _Page(HTMLParser):
    """The links of a page and every text node, and whether any script element exists."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name == "href" and value]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    assert "script" not in page.tags, "a name from data became markup"
    return page


def test_the_model_page_lists_versions_timeline_drift_and_metric(ctx: ServiceContext) -> None:
    html = model_page_html(
        model_view(ctx, "risk"), LINKS, monitoring_view(ctx, "risk", windows=3, now=NOW)
    )
    page = _parse(html)
    text = " ".join(page.text)
    assert "/ui/models/risk/3" in page.links
    assert "/ui/models/risk/2" in page.links
    assert "/ui/datasets/cancer/1" in page.links
    assert "/ui/monitoring/risk" in page.links
    assert any(link.startswith("/ui/runs/") for link in page.links)
    assert "passed" in text  # @2's stored report
    assert "not checked" in text  # @1 and @3 have none
    assert "the second release" in text  # the timeline's reasons
    assert EVIL in text  # the open drift alert's feature, as text
    assert '<svg class="chart metric"' in html  # the metric over the three days


def test_the_model_page_pages_through_versions(ctx: ServiceContext) -> None:
    page = _parse(model_page_html(model_view(ctx, "risk", page=2, size=2), LINKS))
    assert "/ui/models/risk?page=1" in page.links
    assert "/ui/models/risk/1" in page.links
    assert "/ui/models/risk/3" not in page.links


def test_the_version_page_draws_the_report_lineage_card_and_form(ctx: ServiceContext) -> None:
    html = version_page_html(version_view(ctx, "risk@2"), LINKS, csrf_token="tok&en")
    page = _parse(html)
    text = " ".join(page.text)
    svgs = re.findall(r'<svg class="chart intervals".*?</svg>', html, flags=re.S)
    assert len(svgs) == 2  # values (candidate, live, per slice), and the lead over live
    for svg in svgs:
        ET.fromstring(svg)  # well-formed, so every text in it is escaped
    assert "&lt;b&gt;big&lt;/b&gt;" in svgs[0]  # the slice value stays text
    assert "single_p95_ms" in text
    assert "/ui/datasets/cancer/1" in page.links  # lineage: data
    assert "/ui/models/risk" in page.links
    assert any(link.startswith("/ui/runs/") for link in page.links)  # lineage: run
    assert 'action="/ui/models/risk/2/explain"' in html
    assert 'value="tok&amp;en"' in html
    assert f'name="{EVIL}"'.replace("<", "&lt;").replace(">", "&gt;") in html
    assert "Model card" in text


def test_the_explain_form_shows_the_answer_and_a_refusal(
    ctx: ServiceContext, prepared: Prepared
) -> None:
    values = {name: str(prepared.frame[name].median()) for name in FEATURES}
    values[EVIL] = "30"
    answer = ExplainForm(values, explain_row(ctx, "risk@2", values))
    html = version_page_html(version_view(ctx, "risk@2"), LINKS, form=answer)
    text = " ".join(_parse(html).text)
    assert "Output" in text
    assert 'value="30"' in html
    with pytest.raises(InvalidInputError) as refused:
        explain_row(ctx, "risk@2", {EVIL: "<i>x</i>", "mean texture": "3"})
    html = version_page_html(
        version_view(ctx, "risk@2"), LINKS, form=ExplainForm(error=str(refused.value))
    )
    assert "&lt;i&gt;x&lt;/i&gt;" in html
    _parse(html)


def test_the_monitoring_page_has_the_heat_map_a_cell_the_metric_and_alerts(
    ctx: ServiceContext,
) -> None:
    view = monitoring_view(ctx, "risk", windows=3, now=NOW)
    html = monitoring_page_html(view, LINKS, feature=EVIL, window=2)
    page = _parse(html)
    text = " ".join(page.text)
    cells = [link for link in page.links if "feature=" in link]
    assert len(cells) == 2 * 3  # two features by three windows, each a link
    assert (
        "/ui/monitoring/risk?feature=%3Cscript%3Ealert%281%29%3C%2Fscript%3E&window=2#cell" in cells
    )
    assert 'class="num heat-4 drifted"' in html  # the shifted day of the first input
    assert '<svg class="chart hist"' in html  # the chosen cell's histograms
    assert '<svg class="chart metric"' in html
    assert CBPE_CAVEAT in text
    assert "waiting (0 attempts)" in text  # the alert in the webhook outbox
    assert "/ui/models/risk/2" in page.links


def test_monitoring_before_any_traffic_says_so_and_bad_counts_are_refused(
    ctx: ServiceContext,
) -> None:
    view = monitoring_view(ctx, "risk", windows=1, now=NOW - timedelta(days=30))
    assert view.unavailable is None  # a live version, but nothing logged then
    html = monitoring_page_html(view, LINKS)
    assert "No logged predictions in these windows." in html
    assert "No metric yet" in html
    with pytest.raises(InvalidInputError, match="give 1 to 30"):
        monitoring_view(ctx, "risk", windows=31)
