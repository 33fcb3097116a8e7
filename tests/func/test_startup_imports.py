"""A command loads only the libraries it needs: ``--help`` and the read-only listings no
data library, and adding a Parquet file no pandas. What each command loaded is read from
``sys.modules`` of a new interpreter, as the console script starts one; how long that
takes is a benchmark's business (benchmarks/startup.py), not a test's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import CLI, WorkspaceTemplates
from .test_cli_gates import build_candidate

_MARK = "loaded-modules:"
_PROBE = f"""
import json, sys
from pathtolive.cli.main import run

watched, commands = json.loads(sys.argv[1]), json.loads(sys.argv[2])
loaded = []
for args in commands:
    try:
        run(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    loaded.append({{"code": code, "heavy": sorted(m for m in watched if m in sys.modules)}})
print({_MARK!r} + json.dumps(loaded))
"""

DATA_LIBRARIES = ("pandas", "pyarrow", "numpy", "scipy", "sklearn")


def _loaded_by(
    commands: list[list[str]], watched: tuple[str, ...], cwd: Path, cli_env: dict[str, str]
) -> list[dict[str, object]]:
    """Run ``commands`` one after the other in one new interpreter; for each, its exit
    code and which of ``watched`` were loaded by then (so the first to load one is named)."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(watched), json.dumps(commands)],
        cwd=cwd,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    line = completed.stdout.rpartition(_MARK)[2]
    found: list[dict[str, object]] = json.loads(line)
    return found


@pytest.fixture
def candidate(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """cancer@1 and risk-model@1 trained on it by a pipeline run."""
    return workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")


@pytest.mark.subprocess
def test_help_and_the_listings_load_no_data_library(
    candidate: Path, cli_env: dict[str, str]
) -> None:
    commands = [
        ["--help"],
        ["data", "--help"],
        ["data", "list"],
        ["data", "list", "cancer"],
        ["models", "list"],
        ["audit", "log"],
    ]
    # The database library too, for help: it opens no workspace. Pydantic, which Typer
    # uses to convert an option's value, for none: they are given no values.
    watched = (*DATA_LIBRARIES, "sqlalchemy", "pydantic")

    loaded = _loaded_by(commands, watched, candidate, cli_env)

    assert [entry["code"] for entry in loaded] == [0] * len(commands)
    assert loaded[0]["heavy"] == loaded[1]["heavy"] == []
    assert loaded[-1]["heavy"] == ["sqlalchemy"]


@pytest.mark.subprocess
def test_adding_a_parquet_file_loads_no_pandas(
    cli: CLI, workspace: Path, cli_env: dict[str, str]
) -> None:
    source = workspace.parent / "trips.parquet"
    pq.write_table(
        pa.table({"km": [1.5, None, 7.25, 3.0], "zone": ["a", "b", None, "a"], "n": [1, 2, 3, 4]}),
        source,
    )

    loaded = _loaded_by(
        [["data", "add", str(source), "--name", "trips"]], ("pandas",), workspace, cli_env
    )

    assert loaded == [{"code": 0, "heavy": []}]
    shown = cli("data", "show", "trips", "--json").json()
    assert shown["rows"] == 4
    km = shown["profile"]["columns"][0]
    assert (km["nulls"], km["numeric"]["minimum"], km["numeric"]["maximum"]) == (1, 1.5, 7.25)
    assert km["numeric"]["mean"] == pytest.approx((1.5 + 7.25 + 3.0) / 3)
