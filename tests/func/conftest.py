"""Drive the real command line as a subprocess in a temporary workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pathtolive import env


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


CLI = Callable[..., Result]


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PATHTOLIVE_")}
    environ[env.USER] = "ada"
    environ["COLUMNS"] = "200"
    return environ


@pytest.fixture
def cli(tmp_path: Path, cli_env: dict[str, str]) -> CLI:
    """Run ``pathtolive ARGS`` in ``tmp_path/ws`` (made if missing)."""
    workdir = tmp_path / "ws"
    workdir.mkdir(exist_ok=True)

    def run(
        *args: str | Path,
        cwd: Path | None = None,
        extra_env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> Result:
        completed = subprocess.run(
            [sys.executable, "-m", "pathtolive", *map(str, args)],
            cwd=cwd or workdir,
            env={**cli_env, **(extra_env or {})},
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    return run


@pytest.fixture
def workspace(cli: CLI, tmp_path: Path) -> Path:
    result = cli("init")
    assert result.code == 0, result.stderr
    return tmp_path / "ws"
