"""The browser suite: a real ``pathtolive ui`` on loopback, driven by Chromium through
Playwright, as a person would.

One workspace prepared like the demo's (:func:`~tests.support.console.build_console_workspace`)
and one console server serve the whole session; a test that changes what is live opens
a server of its own on a copy (:func:`own_console`). Every page a test opens goes
through :func:`Visitor.visit`, which checks it logs no console error, makes no failed
request and no request beyond the console's origin, has no serious or critical axe-core
violation, and saves a screenshot under ``$PATHTOLIVE_TEST_ARTIFACTS`` (else the
session's temporary folder).

Chromium is Debian's (``chromium`` or ``chromium-browser`` on PATH, or the file named
by ``PATHTOLIVE_TEST_BROWSER``); without it the suite skips, except in CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from pathtolive import env
from tests.support.console import ConsoleWorkspace, build_console_workspace, console_environ
from tests.support.serving import free_port

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERIOUS = frozenset(("serious", "critical"))


def chromium_executable() -> str | None:
    named = os.environ.get(env.TEST_BROWSER)
    if named:
        return named
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = chromium_executable()
    if found is None:
        message = "no Chromium: install Debian's chromium or set PATHTOLIVE_TEST_BROWSER"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get(env.TEST_ARTIFACTS)
    folder = Path(named) / "browser" if named else tmp_path_factory.mktemp("browser-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> ConsoleWorkspace:
    """The workspace every browser test reads (built once, only when Chromium is here)."""
    base = tmp_path_factory.mktemp("browser-workspace")
    return build_console_workspace(base / "ws", base / "scratch")


@dataclass
class RunningConsole:
    url: str
    workspace: ConsoleWorkspace
    process: subprocess.Popen[str]
    log: Path


@contextmanager
def running_console(workspace: ConsoleWorkspace, *args: str) -> Iterator[RunningConsole]:
    """``pathtolive ui --auth`` in ``workspace`` on a free loopback port, as a real
    process; stopped with SIGINT when the block ends."""
    port = free_port()
    log = workspace.root.parent / f"ui-{port}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "pathtolive", "ui", "--host", "127.0.0.1",
             "--port", str(port), "--auth", *args],
            cwd=workspace.root,
            env=console_environ(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )  # fmt: skip
    console = RunningConsole(f"http://127.0.0.1:{port}", workspace, process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the console exited early:\n{log.read_text()}")
            try:
                if httpx.get(console.url + "/sign-in", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the console did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield console
    finally:
        process.send_signal(2)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def shared_console(prepared: ConsoleWorkspace) -> Iterator[RunningConsole]:
    """The session's console on the prepared workspace: for tests that change nothing
    live (signing in and out, refusals, tokens of their own)."""
    with running_console(prepared) as console:
        yield console


@pytest.fixture
def own_console(prepared: ConsoleWorkspace, tmp_path: Path) -> Iterator[RunningConsole]:
    """A console of this test's own, on a copy of the prepared workspace."""
    root = tmp_path / "ws"
    shutil.copytree(prepared.root, root)
    with running_console(ConsoleWorkspace(root, prepared.tokens)) as console:
        yield console


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """Chromium for one test module. Not for the session: while Playwright's sync API runs
    it holds an event loop on the main thread, and every later test in the same worker
    that calls ``asyncio.run`` would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=BROWSER_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Visitor:
    """One browser context (its own cookies) on one console, recording what its pages
    log and request."""

    page: Any
    console: RunningConsole
    artifacts: Path
    name: str
    javascript: bool = True
    """False: the context runs no script, the page's nor axe-core's (the pages checked
    with scripts are checked by axe there)."""
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    shots: int = 0

    def watch(self) -> None:
        origin = self.console.url

        def on_console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(message.text)

        def on_request(request: Any) -> None:
            url = request.url
            home = url == origin or url.startswith(origin + "/")
            if not home and not url.startswith("data:"):
                self.foreign.append(url)

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def on_failed(request: Any) -> None:
            # A load the page's own navigation cut short (a favicon when a form posts)
            # is no failure of the console's.
            if request.failure != "net::ERR_ABORTED":
                self.failed.append(f"{request.url}: {request.failure}")

        def on_response(response: Any) -> None:
            if response.status >= 400:
                self.failed.append(f"{response.url}: {response.status}")

        self.page.on("requestfailed", on_failed)
        self.page.on("response", on_response)
        self.page.on("request", on_request)

    def url(self, path: str) -> str:
        return self.console.url + path

    def visit(self, path: str | None = None, *, label: str | None = None) -> Any:
        """Open ``path`` (or stay on the page the last action led to) and check it."""
        if path is not None:
            response = self.page.goto(self.url(path))
            assert response is not None
            assert response.status < 400, f"{path}: {response.status}"
        self.page.wait_for_load_state("load")
        self.check(label or (path or "page"))
        return self.page

    def check(self, label: str) -> None:
        """The page as it is: clean console and network, no serious axe violation, and
        a screenshot."""
        from axe_playwright_python.sync_playwright import Axe

        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", f"{self.name}-{self.shots}-{label}".lower()).strip("-")
        self.page.screenshot(path=str(self.artifacts / f"{slug}.png"), full_page=True)
        assert self.errors == [], f"console errors on {label}: {self.errors}"
        assert self.failed == [], f"failed requests on {label}: {self.failed}"
        assert self.foreign == [], f"requests beyond the console on {label}: {self.foreign}"
        if not self.javascript:
            return
        results = Axe().run(self.page)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + "; ".join(", ".join(node["target"]) for node in v["nodes"][:3])
            for v in results.response["violations"]
            if v.get("impact") in SERIOUS
        ]
        assert serious == [], f"accessibility violations on {label}: {serious}"

    def sign_in(self, principal: str) -> None:
        self.page.goto(self.url("/sign-in"))
        self.check("sign-in")
        self.page.get_by_label("API token").fill(self.console.workspace.tokens[principal])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state("load")
        assert self.page.locator(".principal").inner_text() == principal


@pytest.fixture
def visitor_on(
    browser: Any, artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Visitor]]:
    """A fresh browser context on a console: ``visitor_on(console)``, and
    ``visitor_on(console, javascript=False)`` for a browser without scripts."""
    contexts: list[Any] = []

    def open_on(console: RunningConsole, *, javascript: bool = True) -> Visitor:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
        )
        contexts.append(context)
        page = context.new_page()
        visitor = Visitor(
            page, console, artifacts, f"{request.node.name}-{len(contexts)}", javascript
        )
        visitor.watch()
        return visitor

    yield open_on
    for context in contexts:
        context.close()
