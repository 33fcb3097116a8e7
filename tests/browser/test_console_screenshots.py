"""The README's pictures of the console, taken by the suite on a workspace prepared like
the demo's but with ordinary names (no text made to test escaping). They go to the
artifacts folder on every run, and to ``docs/images/`` with
``PATHTOLIVE_UPDATE_SCREENSHOTS=1``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pathtolive import env
from tests.support.console import MODEL, ConsoleWorkspace, build_console_workspace

from .conftest import RunningConsole, Visitor, running_console

pytestmark = [pytest.mark.xdist_group("browser"), pytest.mark.browser, pytest.mark.subprocess]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 800}
PICTURES = {
    "console-overview.png": ("/", "Overview"),
    "console-model-version.png": (f"/models/{MODEL}/versions/2", f"{MODEL}@2"),
}
"""File name: (page, a heading it shows). The README links these files."""


@pytest.fixture(scope="module")
def plain_console(
    tmp_path_factory: pytest.TempPathFactory, chromium_path: str
) -> Iterator[RunningConsole]:
    base = tmp_path_factory.mktemp("plain-console")
    workspace: ConsoleWorkspace = build_console_workspace(base / "ws", base / "scratch", plain=True)
    with running_console(workspace) as console:
        yield console


def test_the_readme_pictures_of_the_overview_and_a_model_version(
    visitor_on: Callable[..., Visitor], plain_console: RunningConsole, artifacts: Path
) -> None:
    visitor = visitor_on(plain_console)
    visitor.page.set_viewport_size(VIEWPORT)
    visitor.sign_in("maria")
    update = os.environ.get(env.TEST_UPDATE_SCREENSHOTS) == "1"
    for name, (path, heading) in PICTURES.items():
        page: Any = visitor.visit(path, label=name.removesuffix(".png"))
        assert page.get_by_role("heading", name=heading).first.is_visible()
        taken = artifacts / name
        page.screenshot(path=str(taken), full_page=False)
        assert taken.stat().st_size > 0
        if update:
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(taken, DOCS_IMAGES / name)
