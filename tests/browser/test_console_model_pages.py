"""The Models, Model, Model version and Monitoring pages in Chromium against a real
``pathtolive ui``: reached by their links as a person would, clean (no console error,
no failed or foreign request, no serious accessibility violation), the gate report drawn,
a row explained by a viewer, and a feature named like a script tag shown as text."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pathtolive.service.tokens import create_token
from tests.support.console import MODEL, SCRIPT, ConsoleWorkspace, console_environ
from tests.support.console_pages import EVIL, prepare

from .conftest import RunningConsole, Visitor, running_console

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.browser, pytest.mark.subprocess]

Open = Callable[[RunningConsole], Visitor]


def test_a_viewer_goes_from_models_to_a_version_and_explains_a_row(
    visitor_on: Open, shared_console: RunningConsole
) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in("val")
    page = visitor.visit("/models", label="models")
    page.get_by_role("link", name=MODEL, exact=True).first.click()
    visitor.visit(label="model")
    assert page.get_by_role("heading", name="Versions").is_visible()
    assert page.get_by_text(SCRIPT).first.is_visible()  # the drift alert's feature, as text
    page.get_by_role("link", name=f"{MODEL}@2").first.click()
    visitor.visit(label="model-version")
    assert page.locator("svg.chart.intervals").count() == 2
    assert page.get_by_role("heading", name="Lineage", level=2).is_visible()
    assert page.get_by_role("heading", name="Model card", level=2).is_visible()
    for field in page.locator("form.explain input:not([type=hidden])").all():
        field.fill("1")
    page.get_by_role("button", name="Explain").click()
    visitor.visit(label="explained")
    assert page.get_by_text("attribution").first.is_visible()


def test_the_monitoring_pages_list_the_alerts_as_text(
    visitor_on: Open, shared_console: RunningConsole
) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in("maria")
    page = visitor.visit("/monitoring", label="monitoring-index")
    page.get_by_role("link", name=MODEL, exact=True).first.click()
    visitor.visit(label="monitoring")
    assert page.get_by_role("heading", name="Alerts").is_visible()
    assert page.get_by_text(f"drift in {SCRIPT}").first.is_visible()
    assert page.locator("script").count() == 1  # the console's own, nothing from data


@pytest.fixture(scope="module")
def monitored_console(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: str
) -> Iterator[RunningConsole]:
    """A console on a workspace with three days of traffic (the last one drifted), so
    the heat map, a cell's histograms and the metric over time have something to show."""
    root = tmp_path_factory.mktemp("monitored") / "ws"
    prepared = prepare(root, console_environ())
    ctx = prepared.open()
    try:
        token = create_token(ctx, principal="val", role="viewer").secret
    finally:
        ctx.close()
    with running_console(ConsoleWorkspace(root, {"val": token})) as console:
        yield console


def test_a_heat_map_cell_opens_its_histograms(
    visitor_on: Open, monitored_console: RunningConsole
) -> None:
    visitor = visitor_on(monitored_console)
    visitor.sign_in("val")
    page = visitor.visit("/monitoring/risk", label="heat-map")
    assert page.locator("table.heat").get_by_text(EVIL).is_visible()  # a name, as text
    assert page.locator("table.heat td.drifted").count() >= 1
    page.locator("table.heat td.drifted a").first.click()
    visitor.visit(label="heat-map-cell")
    assert page.locator("#cell svg.chart.hist").is_visible()
    assert page.locator("#metric svg.chart.metric").is_visible()
    assert page.get_by_text("it cannot see concept drift").is_visible()
