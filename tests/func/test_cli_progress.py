"""Long commands report progress on stderr when asked, never on stdout; `gates check` names
the gates it skipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from pathtolive import env

from .conftest import CLI, WorkspaceTemplates
from .test_cli_gates import build_candidate

_ON = {env.PROGRESS: "on"}
ONLY_A_FLOOR = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = 0.5
"""


@pytest.fixture
def candidate(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    return workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")


def test_gates_check_names_the_skipped_gates_and_keeps_progress_off_stdout(
    cli: CLI, candidate: Path
) -> None:
    config = candidate / "pathtolive.toml"
    config.write_text(config.read_text() + ONLY_A_FLOOR)

    checked = cli("gates", "check", "risk-model@1", "--json", extra_env=_ON)
    assert checked.code == 0, checked.stderr
    report = json.loads(checked.stdout)  # stdout is the JSON document and nothing else
    skipped = {item["gate"]: item["setting"] for item in report["skipped"]}
    assert set(skipped) == {
        "beat_live",
        "beat_baseline",
        "slices",
        "latency",
        "size",
        "cost_per_1k",
        "monthly_cost",
    }
    assert skipped["latency"] == "p95_latency_ms"
    assert "min_metric" in {result["gate"] for result in report["results"]}
    assert "progress: gates of risk-model@1: latency in a clean process" in checked.stderr
    assert re.search(r"progress: gates of risk-model@1: judging .*: done in \d", checked.stderr)

    ran = cli("--progress", "run", "risk", "--data", "cancer@1", "--param", "n_estimators=2")
    assert ran.code == 0, ran.stderr
    assert re.search(r"progress: step \w+", ran.stderr)
    assert "progress:" not in ran.stdout

    # --no-progress wins over the environment.
    again = cli("--no-progress", "run", "risk", "--data", "cancer@1", extra_env=_ON)
    assert again.code == 0, again.stderr
    assert "progress:" not in again.stderr


def test_data_add_reports_bytes_only_when_asked(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    source = tmp_path / "loans.csv"
    pd.DataFrame({"age": range(3000), "income": [float(i) * 1.5 for i in range(3000)]}).to_csv(
        source, index=False
    )
    quiet = cli("data", "add", source, "--name", "loans")
    assert quiet.code == 0, quiet.stderr
    assert "progress:" not in quiet.stderr  # not a terminal, not asked

    source.write_text(source.read_text() + "5,1.0\n")
    added = cli("data", "add", source, "--name", "loans", "--json", extra_env=_ON)
    assert added.code == 0, added.stderr
    assert json.loads(added.stdout)["version"]["version"] == 2
    for stage in ("reading loans.csv", "hashing and profiling"):
        amounts = rf"progress: {stage} \((\S+ \w+) of (\S+ \w+)\): done in \d"
        done = re.search(amounts, added.stderr)
        assert done is not None, added.stderr
        assert done.group(1) == done.group(2)  # every byte counted by the end
