"""Drive the real command line in a temporary workspace.

The ``cli`` fixture calls the console script's entry point in this process (see
:mod:`tests.support.cli`); a test marked ``subprocess(cli=True)`` gets a new interpreter
per call instead, for what only a real process shows (exit codes and streams end to end).
Tests that start real processes themselves (watchers, racers, servers) are marked
``subprocess`` and keep the fast ``cli`` for their setup and checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pathtolive import env
from tests.support.cli import Result, run_in_process, run_process

__all__ = ["CLI", "Result"]

CLI = Callable[..., Result]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PATHTOLIVE_")}
    environ[env.USER] = "ada"
    environ["COLUMNS"] = "200"
    return environ


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


@pytest.fixture
def workspace(cli: CLI, tmp_path: Path) -> Path:
    result = cli("init")
    assert result.code == 0, result.stderr
    return tmp_path / "ws"
