"""`pathtolive gates check` on real data: the baseline question, floors, budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.pipelines import RISK, write_pipelines

from .conftest import CLI, WorkspaceTemplates, initialise_with_cancer

GATES = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = 0.8
baseline = "{baseline}"
beat_baseline_by = 0.02
beat_live_by = 0.0
p95_latency_ms = 2000
max_size_mb = 50
"""


def build_candidate(cli: CLI, workspace: Path, scratch: Path) -> None:
    """A new workspace with cancer@1 and risk-model@1, one shallow tree trained on it."""
    initialise_with_cancer(cli, workspace, scratch)
    write_pipelines(workspace, risk=RISK.replace("n_jobs=1)", "n_jobs=1, max_depth=1)"))
    ran = cli(
        "run", "risk", "--data", "cancer@1", "--param", "n_estimators=1", "--register", "risk-model"
    )
    assert ran.code == 0, ran.stderr


@pytest.fixture
def candidate(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """The ``cli``'s workspace, from :func:`build_candidate` (prepared once per process)."""
    return workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")


def configure(workspace: Path, baseline: str) -> None:
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + GATES.format(baseline=baseline))


def test_a_candidate_that_loses_to_the_baseline_is_refused_with_figures(
    cli: CLI, candidate: Path
) -> None:
    configure(candidate, "logistic")
    checked = cli("gates", "check", "risk-model@1", "--json")
    assert checked.code == 1, checked.stderr
    report = checked.json()
    assert report["passed"] is False
    results = {r["gate"]: r for r in report["results"]}
    baseline = results["beat_baseline"]
    assert baseline["verdict"] == "fail"
    assert baseline["threshold"] == pytest.approx(0.02)
    assert baseline["figure"] < 0.02
    assert "baseline" in baseline["detail"]
    assert results["beat_live"]["verdict"] == "note"  # nothing is live yet
    assert results["data_contract"]["verdict"] == "pass"
    assert results["latency"]["verdict"] == "pass"
    assert results["size"]["verdict"] == "pass"
    assert results["loads_and_answers"]["verdict"] == "pass"
    _assert_the_served_explainer_was_checked(candidate, results["explainability"])
    human = cli("gates", "check", "risk-model@1")
    assert human.code == 1
    assert "beat_baseline" in human.stdout
    assert "FAIL" in human.stdout.upper()
    events = cli("audit", "log", "--action", "gates.checked", "--json").json()
    assert len(events) == 2
    assert events[0]["details"]["failed"] == ["beat_baseline"]


def test_a_candidate_that_beats_the_baseline_passes(cli: CLI, candidate: Path) -> None:
    configure(candidate, "majority")
    checked = cli("gates", "check", "risk-model@1", "--json")
    assert checked.code == 0, checked.stdout + checked.stderr
    report = checked.json()
    assert report["passed"] is True
    baseline = next(r for r in report["results"] if r["gate"] == "beat_baseline")
    assert baseline["figure"] > 0.02


def test_gate_configuration_errors_are_clear(cli: CLI, candidate: Path) -> None:
    config = candidate / "pathtolive.toml"
    config.write_text(config.read_text() + '[models.risk-model]\nmetric = "rmse"\n')
    wrong_metric = cli("gates", "check", "risk-model@1")
    assert wrong_metric.code == 4
    assert "rmse" in wrong_metric.stderr
    assert cli("gates", "check", "nope@1").code == 3


def _assert_the_served_explainer_was_checked(workspace: Path, result: dict[str, Any]) -> None:
    """The gate explained the forest with the method ``:explain`` will use (SHAP's
    TreeExplainer), said so, and kept each input's importance for monitoring."""
    from pathtolive import Workspace
    from pathtolive.service.explain import served_explainer
    from pathtolive.service.servables import background_sample, load_servable

    assert result["verdict"] == "pass"
    with Workspace.open(workspace) as ws:
        servable = load_servable(ws.context, "risk-model", 1)
        background = background_sample(ws.context, servable)
        assert background is not None
        served = served_explainer(servable.model, background)
    assert served.method == "shap.TreeExplainer"
    assert result["data"]["explainer"] == served.method
    assert served.method in result["detail"]
    importance = result["data"]["importance"]
    assert set(importance) == set(servable.signature.input_names)
    assert all(value >= 0 for value in importance.values())
    assert max(importance.values()) > 0
