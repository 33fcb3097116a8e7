"""`pathtolive gates check` measures the cost of owning the candidate, prices it by
[costs], judges the cost gates and says whether it is worth it; the card says so too."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CLI, WorkspaceTemplates
from .test_cli_gates import build_candidate

COSTS = """
[costs]
currency = "GBP"
cpu_hour = 0.05
gb_month = 3.0
requests_per_month = 2000000
batch_rows_per_month = 10000000
retrains_per_month = 4

[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
baseline = "logistic"
max_monthly_cost = {limit}
max_cost_per_1k = 100
"""


@pytest.fixture
def candidate(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """risk-model@1 on cancer@1 (the template test_cli_gates builds, shared per process)."""
    return workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")


def _configure(workspace: Path, text: str) -> None:
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + text)


def test_the_gates_record_the_cost_of_owning_the_model_and_judge_it(
    cli: CLI, candidate: Path, tmp_path: Path
) -> None:
    _configure(candidate, COSTS.format(limit=1_000_000))

    report = cli("gates", "check", "risk-model@1", "--json").json()

    costs = report["costs"]
    footprint = costs["footprint"]
    assert footprint["cpu_seconds_per_1k_single"] > 0
    assert footprint["cpu_seconds_per_1k_batch_rows"] > 0
    assert footprint["memory_bytes"] >= 0
    assert footprint["artifact_bytes"] > 0
    assert footprint["training_wall_seconds"] > 0
    assert footprint["training_cpu_seconds"] > 0
    monthly = costs["monthly"]
    parts = ("serving_cpu", "memory", "storage", "retraining")
    assert monthly["total"] == pytest.approx(sum(monthly[part] for part in parts))
    assert monthly["serving_cpu"] > 0
    assert monthly["currency"] == "GBP"
    baseline = costs["baseline"]
    assert baseline["footprint"]["training_cpu_seconds"] >= 0
    assert baseline["monthly"] is not None
    results = {r["gate"]: r for r in report["results"]}
    assert results["monthly_cost"]["verdict"] == "pass"
    assert results["monthly_cost"]["figure"] == pytest.approx(monthly["total"])
    per_1k = results["cost_per_1k"]
    assert per_1k["verdict"] == "pass"
    assert per_1k["figure"] == pytest.approx(footprint["cpu_seconds_per_1k_single"] / 3600 * 0.05)
    (line,) = report["worth_it"]
    assert "roc_auc over the 'logistic' baseline (" in line
    assert " a month more (£" in line or " a month less (£" in line

    card = cli("models", "card", "risk-model@1", "--out", tmp_path / "card")
    assert card.code == 0, card.stderr
    text = (tmp_path / "card" / "risk-model-v1.md").read_text()
    assert f"Worth it? {line}" in text
    assert "CPU s per 1,000 one-row predictions" in text

    config = candidate / "pathtolive.toml"
    config.write_text(
        config.read_text().replace("max_monthly_cost = 1000000", "max_monthly_cost = 0.000001")
    )
    refused = cli("gates", "check", "risk-model@1")
    assert refused.code == 1
    assert "monthly_cost" in refused.stdout
    assert "worth it?" in refused.stdout


def test_a_cost_gate_without_prices_is_a_config_error_naming_them(
    cli: CLI, candidate: Path
) -> None:
    _configure(
        candidate, "[models.risk-model.gates]\nmax_monthly_cost = 10\nmax_cost_per_1k = 0.1\n"
    )

    checked = cli("gates", "check", "risk-model@1")

    assert checked.code == 8
    assert "max_cost_per_1k" in checked.stderr
    assert "cpu_hour" in checked.stderr

    _configure(candidate, "[costs]\ncpu_hours = 0.05\n")
    typo = cli("gates", "check", "risk-model@1")
    assert typo.code == 8
    assert "costs.cpu_hours" in typo.stderr
    assert "cpu_hour" in typo.stderr
