"""Drive the real command line in a temporary workspace.

The ``cli`` fixture calls the console script's entry point in this process (see
:mod:`tests.support.cli`); a test marked ``subprocess(cli=True)`` gets a new interpreter
per call instead, for what only a real process shows (exit codes and streams end to end).
Tests that start real processes themselves (watchers, racers, servers) are marked
``subprocess`` and keep the fast ``cli`` for their setup and checks.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import env
from tests.support.cli import Result, run_in_process, run_process
from tests.support.console import ConsoleWorkspace, build_console_workspace
from tests.support.environ import without_settings

__all__ = ["CLI", "Build", "Result", "WorkspaceTemplates", "initialise", "initialise_with_cancer"]

CLI = Callable[..., Result]
Build = Callable[[CLI, Path, Path], None]
"""Prepares a template: ``build(cli, workspace, scratch)``, with ``cli`` running in the
workspace and ``scratch`` a folder beside it for source files."""


def _cli_environ() -> dict[str, str]:
    environ = without_settings()
    environ[env.USER] = "ada"
    environ["COLUMNS"] = "200"
    return environ


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    # A home of the test's own: what a command keeps there (an audit signing key, with
    # --out ~/...) never lands in the real one.
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**_cli_environ(), "HOME": str(home)}


class WorkspaceTemplates:
    """Workspaces prepared once per test process, by name, through the in-process CLI as
    ``ada``; a test works on a copy of its own. A workspace is a folder with relative
    store paths (``sqlite:///.pathtolive/meta.db``, ``.pathtolive``), so a copy is a
    workspace of its own; every template's folder is called ``ws``, as a test's is."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._built: dict[str, Path] = {}

    def copy(self, name: str, build: Build, to: Path) -> Path:
        """A copy of template ``name`` (built by ``build`` on first use) at ``to``."""
        if name not in self._built:
            self._built[name] = self._build(name, build)
        shutil.copytree(self._built[name], to, dirs_exist_ok=True)
        return to

    def _build(self, name: str, build: Build) -> Path:
        root = self._base / name / "ws"
        scratch = self._base / name / "scratch"
        root.mkdir(parents=True)
        scratch.mkdir()

        def cli(*args: str | Path) -> Result:
            return run_in_process(args, cwd=root, environ=_cli_environ())

        build(cli, root, scratch)
        return root


@pytest.fixture(scope="session")
def workspace_templates(tmp_path_factory: pytest.TempPathFactory) -> WorkspaceTemplates:
    return WorkspaceTemplates(tmp_path_factory.mktemp("templates"))


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> ConsoleWorkspace:
    """The web console's prepared workspace (on SQLite), built once per test process and
    only when a test asks for it: never use it in place, copy it
    (:func:`~tests.support.console.copy_console_workspace`)."""
    base = tmp_path_factory.mktemp("console-template")
    return build_console_workspace(base / "ws", base / "scratch")


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str]) -> CLI:
    """Run ``pathtolive ARGS`` in ``tmp_path/ws`` (made if missing)."""
    workdir = tmp_path / "ws"
    workdir.mkdir(exist_ok=True)
    marker = request.node.get_closest_marker("subprocess")
    real = marker is not None and marker.kwargs.get("cli", False)
    runner = run_process if real else run_in_process

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> Result:
        return runner(
            args, cwd=cwd or workdir, environ={**cli_env, **(extra_env or {})}, input=input
        )

    return run


def initialise(cli: CLI, root: Path, scratch: Path) -> None:
    result = cli("init")
    assert result.code == 0, result.stderr


def initialise_with_cancer(cli: CLI, root: Path, scratch: Path) -> None:
    """A new workspace with scikit-learn's breast-cancer data as ``cancer@1`` (its
    ``target`` tagged), added from ``scratch/cancer.csv``."""
    initialise(cli, root, scratch)
    load_breast_cancer(as_frame=True).frame.to_csv(scratch / "cancer.csv", index=False)
    added = cli("data", "add", scratch / "cancer.csv", "--name", "cancer", "--tag", "target=target")
    assert added.code == 0, added.stderr


@pytest.fixture
def workspace(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """An initialised workspace (``pathtolive init`` as ``ada``), the ``cli``'s folder."""
    return workspace_templates.copy("initialised", initialise, tmp_path / "ws")
