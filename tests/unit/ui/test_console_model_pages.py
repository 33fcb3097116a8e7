"""The console's Models, Model, Model version and Monitoring pages, served in-process
(Starlette's TestClient) against a prepared workspace: what each shows, that each links
to the others, that names and values from data are text (a feature named like a script
tag, a slice value with markup), the explain form (CSRF-checked, refusals shown), and
that the static files (``models card``, ``monitor --report``) are drawn with the pages'
own partials in a file that loads nothing, and that the Model and Monitoring pages show
what ``monitor`` stored and never read the prediction log."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import NoReturn
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

with warnings.catch_warnings():
    # Starlette asks for the httpx2 package in place of httpx; the client works the same.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from pathtolive.format import number
from pathtolive.monitoring import decay, drift
from pathtolive.monitoring.decay import CBPE_CAVEAT
from pathtolive.service import models as model_service
from pathtolive.service import monitor as monitor_service
from pathtolive.service import predictions
from pathtolive.service.card import model_card
from pathtolive.service.context import ServiceContext
from pathtolive.service.monitor import monitor
from pathtolive.store.metadata.store import MetadataSession
from pathtolive.ui.card import model_card_html
from pathtolive.ui.console.app import ConsoleSettings, create_console
from pathtolive.ui.monitoring import monitoring_report_html
from tests.support.cli import run_in_process
from tests.support.console_pages import EVIL, FEATURES, Prepared, prepare

EVIL_IN_URL = quote(EVIL, safe="")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    root = tmp_path_factory.mktemp("console-pages") / "ws"
    return prepare(root, {"PATHTOLIVE_USER": "ada", "HOME": str(root.parent)})


@pytest.fixture(scope="module")
def ctx(prepared: Prepared) -> Iterator[ServiceContext]:
    opened = prepared.open()
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(ctx: ServiceContext) -> Iterator[TestClient]:
    """The console on loopback for the workspace's trusted local user (an admin)."""
    app = create_console(ctx, ConsoleSettings(host="127.0.0.1"))
    with TestClient(app, base_url="http://127.0.0.1") as opened:
        yield opened


class _Page(HTMLParser):
    """A page's links, elements and text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "input" and found.get("name"):
            self.inputs[str(found["name"])] = found.get("value") or ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def _get(client: TestClient, path: str, status: int = 200) -> tuple[str, _Page]:
    answer = client.get(path)
    assert answer.status_code == status, answer.text
    page = _Page()
    page.feed(answer.text)
    # The layout loads the console's one script by src; no page adds one of data.
    assert page.tags.count("script") == 1, "a name from data became markup"
    return answer.text, page


def test_the_models_page_lists_every_model_linked(client: TestClient) -> None:
    _, page = _get(client, "/models")
    assert "/models/risk" in page.links
    assert "/models/risk/versions/2" in page.links  # live


def test_the_model_page_lists_versions_timeline_drift_and_metric(client: TestClient) -> None:
    html, page = _get(client, "/models/risk")
    assert {"/models/risk/versions/3", "/models/risk/versions/2"} <= set(page.links)
    assert "/datasets/cancer/versions/1" in page.links
    assert "/monitoring/risk" in page.links
    # Each version's run beside the run of the version before it.
    assert any(link.startswith("/runs/compare?run=") for link in page.links)
    assert "passed" in page.words  # @2's stored report
    assert "not checked" in page.words  # @1 and @3 have none
    assert "the second release" in page.words  # the timeline's reasons
    assert EVIL in page.words  # the open drift alert's feature, as text
    assert '<svg class="chart metric"' in html  # the live metric over the stored windows
    assert "/static/model_pages.css" in page.links


def test_the_model_page_pages_through_versions(client: TestClient) -> None:
    _, page = _get(client, "/models/risk?page=2", 200)
    assert "No versions on this page." in page.words  # three versions fit on page 1
    assert "/models/risk?page=1" in page.links
    _, refused = _get(client, "/models/risk?page=0", 400)
    assert "page must be a whole number from 1" in refused.words
    _, missing = _get(client, "/models/nope", 404)
    assert "no model 'nope'" in missing.words


def test_the_version_page_draws_the_report_lineage_card_and_form(client: TestClient) -> None:
    html, page = _get(client, "/models/risk/versions/2")
    svgs = re.findall(r'<svg class="chart intervals".*?</svg>', html, flags=re.S)
    assert len(svgs) == 2  # values (candidate, live, per slice), and the lead over live
    for svg in svgs:
        ET.fromstring(svg)  # well-formed, so every text in it is escaped
    assert "&lt;b&gt;big&lt;/b&gt;" in svgs[0]  # the slice value stays text
    assert "single_p95_ms" in page.words
    assert "/datasets/cancer/versions/1" in page.links  # lineage: data
    assert "/models/risk" in page.links
    assert any(link.startswith("/runs/compare?run=") for link in page.links)  # lineage: run
    assert 'action="/models/risk/versions/2/explain"' in html
    assert page.inputs["csrf_token"]
    assert set(FEATURES) <= set(page.inputs)
    assert "Model card" in page.words


def test_the_explain_form_answers_refuses_and_checks_its_token(
    client: TestClient, prepared: Prepared
) -> None:
    _, page = _get(client, "/models/risk/versions/2")
    token = page.inputs["csrf_token"]
    values = {name: str(prepared.frame[name].median()) for name in FEATURES}
    values[EVIL] = "30"
    answer = client.post("/models/risk/versions/2/explain", data={**values, "csrf_token": token})
    assert answer.status_code == 200, answer.text
    assert "Output" in answer.text
    assert 'value="30"' in answer.text
    refused = client.post(
        "/models/risk/versions/2/explain",
        data={EVIL: "<i>x</i>", "mean texture": "3", "csrf_token": token},
    )
    assert refused.status_code == 400
    assert "&lt;i&gt;x&lt;/i&gt;" in refused.text
    assert "<i>x</i>" not in refused.text
    forged = client.post("/models/risk/versions/2/explain", data={**values, "csrf_token": "x"})
    assert forged.status_code == 403


def test_the_monitoring_pages_show_the_heat_map_a_cell_the_metric_and_alerts(
    client: TestClient,
) -> None:
    _, index = _get(client, "/monitoring")
    assert "/monitoring/risk" in index.links
    html, page = _get(client, f"/monitoring/risk?windows=3&feature={EVIL_IN_URL}&window=2")
    cells = [link for link in page.links if "feature=" in link]
    # Two features by three windows, each a link; and the newest window's drift table.
    assert len(cells) == 2 * 3 + 2
    assert cells.count(f"/monitoring/risk?feature={EVIL_IN_URL}&window=2#cell") == 2
    assert f"/monitoring/risk?feature={EVIL_IN_URL}&window=2#cell" in cells
    assert 'class="num heat-4 drifted"' in html  # the shifted day of the first input
    assert '<svg class="chart hist"' in html  # the chosen cell's histograms
    assert '<svg class="chart metric"' in html
    assert CBPE_CAVEAT in page.words
    assert "waiting (0 attempts)" in page.words  # the alert in the webhook outbox
    assert "/models/risk/versions/2" in page.links
    _, refused = _get(client, "/monitoring/risk?windows=31", 400)
    assert "give 1 to 30" in refused.words


def test_mounted_under_a_prefix_every_link_keeps_it(ctx: ServiceContext) -> None:
    outer = Starlette(routes=[Mount("/ui", app=create_console(ctx, ConsoleSettings()))])
    with TestClient(outer, base_url="http://127.0.0.1") as mounted:
        for path in ("/ui/models/risk", "/ui/models/risk/versions/2", "/ui/monitoring/risk"):
            _, page = _get(mounted, path)
            ours = [link for link in page.links if link.startswith("/")]
            assert ours
            assert all(link.startswith("/ui/") for link in ours), ours


def test_unknown_versions_and_models_are_answered_404_saying_so(client: TestClient) -> None:
    _, version = _get(client, "/models/risk/versions/9", 404)
    assert "model 'risk' has no version 9" in version.words
    _, monitoring = _get(client, "/monitoring/nope", 404)
    assert "no model 'nope'" in monitoring.words


# -- the static files are the pages' own partials ------------------------------------------


def _sections(page: str, css: str) -> list[str]:
    return re.findall(rf'<section class="{css}">.*?</section>', page, flags=re.S)


def _self_contained(page: str) -> None:
    parsed = _Page()
    parsed.feed(page)
    assert {"script", "link", "img", "iframe", "form"}.isdisjoint(parsed.tags)
    assert all(link.startswith("#") for link in parsed.links), parsed.links
    for outside in ("http://", "https://", "src=", "/static/", "url(", "@import"):
        assert outside not in page


def test_the_model_card_file_is_the_version_pages_card_section(
    client: TestClient, ctx: ServiceContext
) -> None:
    html, _ = _get(client, "/models/risk/versions/2")
    static = model_card_html(model_card(ctx, "risk@2"))
    on_page = _sections(html, "card-section")
    in_file = _sections(static, "card-section")

    assert on_page, "the page draws the card with the partial"
    # The same partial, the page's headings one level down under its "Model card".
    assert [s.replace("<h3>", "<h2>").replace("</h3>", "</h2>") for s in on_page] == in_file
    _self_contained(static)


def test_the_drift_report_draws_drift_with_the_monitoring_pages_partials(
    client: TestClient, ctx: ServiceContext
) -> None:
    html, page = _get(client, f"/monitoring/risk?windows=3&feature={EVIL_IN_URL}&window=2")
    static = monitoring_report_html(monitor(ctx, "risk", record_alerts=False).report)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"

    for drawn in (html, static):
        (table,) = re.findall(r'<table class="drift-table">.*?</table>', drawn, flags=re.S)
        assert f">{escaped}</" in table  # the feature named like a script tag, as text
        assert EVIL not in drawn
        card = r'<article class="feature[^"]*" id="[^"]+">\s*<div class="card-head"><h3>'
        card += re.escape(escaped)
        assert re.search(card, drawn)  # its card, with its histograms
        assert '<svg class="chart hist"' in drawn
        assert '<table class="alerts-table">' in drawn
        assert '<svg class="chart metric"' in drawn
    headers = [
        re.search(r"<thead>.*?</thead>", drawn, flags=re.S).group()  # type: ignore[union-attr]
        for drawn in (html.split('class="drift-table"')[1], static.split('class="drift-table"')[1])
    ]
    assert headers[0] == headers[1]  # same columns, same thresholds
    # On the page a feature links to its histograms; in the file, to its card below.
    assert f"/monitoring/risk?feature={EVIL_IN_URL}&window=2#cell" in page.links
    assert f'<a href="#feature-0">{escaped}</a>' in static
    _self_contained(static)


# -- the pages read what monitor stored -----------------------------------------------------


def _forbidden(*_: object, **__: object) -> NoReturn:
    raise AssertionError("a console page read the prediction log, a dataset or computed drift")


def test_the_pages_read_stored_results_never_the_log_or_a_dataset(
    client: TestClient, ctx: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every way to the log's rows or a dataset's bytes, and the computations on them.
    for owner, name in (
        (MetadataSession, "list_prediction_segments"),
        (MetadataSession, "list_feedback"),
        (predictions, "read_prediction_log"),
        (monitor_service, "monitor"),
        (drift, "compare"),
        (drift, "drift"),
        (decay, "decay"),
        (ctx.artifacts, "get_bytes"),
        (ctx.artifacts, "get_file"),
        (ctx.artifacts, "local_path"),
    ):
        monkeypatch.setattr(owner, name, _forbidden)
    html, page = _get(client, "/models/risk")
    assert '<svg class="chart metric"' in html
    assert f"1 of 2 features drifted: {EVIL}" in page.words
    html, page = _get(client, f"/monitoring/risk?windows=3&feature={EVIL_IN_URL}&window=2")
    assert 'class="num heat-4 drifted"' in html
    assert '<svg class="chart hist"' in html  # the cell's stored histograms
    assert '<svg class="chart metric"' in html
    assert "PSI per feature and window; drift threshold 0.1" in page.words


class _Cells(HTMLParser):
    """The heat map's cells: (feature, window) -> (tooltip, shown figure)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, int], tuple[str, str]] = {}
        self._open: tuple[tuple[str, int], str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        href = found.get("href") or ""
        # The heat map's cells carry a tooltip; the drift table's feature links do not.
        if tag == "a" and "feature=" in href and found.get("title"):
            query = parse_qs(urlsplit(href).query)
            self._open = ((query["feature"][0], int(query["window"][0])), found["title"] or "")

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.cells[self._open[0]] = (self._open[1], data.strip())
            self._open = None


def test_monitor_stores_what_the_pages_then_show(client: TestClient, prepared: Prepared) -> None:
    looked = run_in_process(
        ["monitor", "risk", "--every", "1d", "--count", "3", "--json"],
        cwd=prepared.root,
        environ=prepared.environ,
    )
    assert looked.code == 0, looked.stderr
    assert "results of 3 windows stored for the console" in looked.stderr
    series = looked.json()["series"]
    html, _ = _get(client, "/monitoring/risk?windows=3")
    parsed = _Cells()
    parsed.feed(html)
    assert len(parsed.cells) == 2 * 3
    for index, window in enumerate(series["windows"]):
        for feature in window["features"]:
            psi = feature["figures"]["psi"]
            tip, shown = parsed.cells[(feature["feature"], index)]
            assert shown == number(psi)
            assert f"PSI {number(psi)}" in tip
            assert f"Jensen-Shannon {number(feature['figures']['js'])}" in tip
            assert tip.endswith("drifted" if feature["drifted"] else "no drift")
    newest = series["windows"][-1]
    _, model_page = _get(client, "/models/risk")
    drifted = ", ".join(newest["drifted"])
    assert f"{len(newest['drifted'])} of 2 features drifted: {drifted}" in model_page.words


def test_without_stored_results_the_pages_say_which_command_stores_them(
    client: TestClient, ctx: ServiceContext
) -> None:
    model_service.set_alias(ctx, "risk@3", "live", override="never monitored")
    try:
        command = "pathtolive monitor risk --every 1d --count 14"
        for path in ("/models/risk", "/monitoring/risk"):
            html, page = _get(client, path)
            assert "No monitoring results are stored for risk@3 yet" in page.words
            assert f"<code>{command}</code>" in html
            assert '<svg class="chart metric"' not in html
    finally:
        model_service.set_alias(ctx, "risk@2", "live", override="monitored again")
