"""The console's Datasets, Runs and Audit pages on the workspace prepared as the demo
leaves one (two trained versions, a refused data version named to test escaping), served
by a real server on loopback to a visitor signed in as a viewer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from httpx import Client

from tests.support.console import (
    SCRIPT,
    ConsoleWorkspace,
    console_in_thread,
    copy_console_workspace,
)


@pytest.fixture(scope="module")
def viewer(
    console_template: ConsoleWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Client]:
    """A client signed in as ``val`` (viewer) to the console of a prepared workspace."""
    base = tmp_path_factory.mktemp("console-browsing")
    workspace = copy_console_workspace(console_template, base / "ws")
    with console_in_thread(Path(workspace.root), host="0.0.0.0") as client:
        form = client.get("/sign-in").text
        nonce = _field(form, "sign_in_token")
        answer = client.post(
            "/sign-in",
            data={"token": workspace.tokens["val"], "sign_in_token": nonce, "next": "/"},
        )
        assert answer.status_code == 303, answer.text
        yield client


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert found is not None, f"no {name} on the page"
    return found.group(1)


def _safe(html: str) -> None:
    assert SCRIPT not in html
    assert "http://" not in html
    assert "https://" not in html


def test_the_dataset_pages_show_the_refused_version_and_the_profile(viewer: Client) -> None:
    listing = viewer.get("/datasets")
    assert listing.status_code == 200
    assert 'href="/datasets/cancer"' in listing.text
    dataset = viewer.get("/datasets/cancer")
    assert dataset.status_code == 200
    assert "refused.csv" in dataset.text
    assert "&lt;script&gt;" in dataset.text  # the offending value, as text
    assert "target" in dataset.text  # the contract's tagged column
    _safe(dataset.text)
    version = viewer.get("/datasets/cancer/versions/1")
    assert version.status_code == 200
    assert version.text.count('class="chart density"') >= 30  # every numeric column
    _safe(version.text)


def test_two_trained_runs_compare(viewer: Client) -> None:
    table = viewer.get("/runs?pipeline=risk")
    assert table.status_code == 200
    runs = re.findall(r'name="run" value="([0-9a-f]+)"', table.text)
    assert len(runs) == 2
    compared = viewer.get(f"/runs/compare?run={runs[0]}&run={runs[1]}")
    assert compared.status_code == 200
    assert re.search(
        r"<strong>n_estimators</strong> <span class=\"badge bad\">differs", compared.text
    )
    assert 'href="/datasets/cancer/versions/1">cancer@1</a>' in compared.text
    _safe(compared.text)


def test_a_viewer_runs_the_audit_verification(viewer: Client) -> None:
    page = viewer.get("/audit?action=dataset.version_refused")
    assert page.status_code == 200
    assert "dataset.version_refused" in page.text
    _safe(page.text)
    verified = viewer.post("/audit/verify", data={"csrf_token": _field(page.text, "csrf_token")})
    assert verified.status_code == 200
    assert "The chain holds." in verified.text
