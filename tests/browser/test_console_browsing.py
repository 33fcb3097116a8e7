"""The Datasets, Runs and Audit pages in Chromium against a real ``pathtolive ui``:
opening a dataset and the diff of two of its versions, comparing two runs, running the
audit verification."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from tests.support.cli import run_in_process
from tests.support.console import SCRIPT, console_environ

from .conftest import RunningConsole, Visitor

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.browser, pytest.mark.subprocess]

Open = Callable[[RunningConsole], Visitor]


def test_a_dataset_its_profile_and_the_diff_of_two_versions(
    visitor_on: Open, own_console: RunningConsole
) -> None:
    root = own_console.workspace.root
    shifted = root.parent / "shifted.csv"
    export = run_in_process(
        ["data", "export", "cancer@1", shifted.with_suffix(".parquet")],
        cwd=root,
        environ=console_environ(),
    )
    assert export.code == 0, export.stderr
    data = pd.read_parquet(shifted.with_suffix(".parquet"))
    data["mean radius"] = data["mean radius"] * 1.6
    data.to_csv(shifted, index=False)
    added = run_in_process(
        ["data", "add", shifted, "--name", "cancer", "--policy", "warn"],
        cwd=root,
        environ=console_environ(),
    )
    assert added.code == 0, added.stderr

    visitor = visitor_on(own_console)
    visitor.sign_in("val")
    page = visitor.visit("/datasets", label="datasets")
    page.get_by_role("link", name="cancer", exact=True).click()
    page = visitor.visit(label="dataset")
    assert page.get_by_role("heading", name="Refused versions").is_visible()
    assert SCRIPT in page.locator("#main").inner_text()  # shown as text, not run
    page.get_by_role("link", name="@1", exact=True).click()
    page = visitor.visit(label="dataset-version")
    assert page.locator("svg.density").count() >= 30
    page.go_back()
    page.get_by_label("From version").fill("1")
    page.get_by_label("To version").fill("2")
    page.get_by_role("button", name="Show the diff").click()
    page = visitor.visit(label="dataset-diff")
    first = page.locator("#diff-table tbody tr").first.get_by_role("cell").first
    assert first.inner_text().strip() == "mean radius"


def test_two_runs_compared_side_by_side(visitor_on: Open, shared_console: RunningConsole) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in("val")
    page = visitor.visit("/runs", label="runs")
    boxes = page.get_by_role("checkbox")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Compare the checked runs").click()
    page = visitor.visit(label="runs-compare")
    assert page.get_by_role("heading", name="Compare 2 runs").is_visible()
    differing = page.locator("tr.differs").filter(has_text="n_estimators")
    assert differing.count() == 1
    assert page.get_by_role("link", name="cancer@1").first.is_visible()


def test_the_audit_log_filtered_and_the_chain_verified(
    visitor_on: Open, shared_console: RunningConsole
) -> None:
    visitor = visitor_on(shared_console)
    visitor.sign_in("val")
    page = visitor.visit("/audit", label="audit")
    page.get_by_label("Action starts with").fill("dataset.version_refused")
    page.get_by_role("button", name="Filter").click()
    page = visitor.visit(label="audit-filtered")
    actions = page.locator("#audit-table tbody tr td:nth-child(4)").all_inner_texts()
    assert actions
    assert set(actions) == {"dataset.version_refused"}
    page.get_by_role("button", name="Verify the audit chain now").click()
    page = visitor.visit(label="audit-verified")
    assert "The chain holds." in page.locator("#verification").inner_text()
