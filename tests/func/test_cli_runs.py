"""`pathtolive runs list` with metric and param columns, filters and sorting; `runs
compare`; and `Workspace.runs()` as a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pathtolive import Workspace
from tests.support.pipelines import RISK, write_pipelines

from .conftest import CLI, WorkspaceTemplates, initialise_with_cancer

TREES = (1, 2, 3)


def build_runs(cli: CLI, workspace: Path, scratch: Path) -> None:
    """cancer@1 and three runs of ``risk`` with 1, 2 and 3 trees; the last registered."""
    initialise_with_cancer(cli, workspace, scratch)
    write_pipelines(workspace, risk=RISK)
    for trees in TREES:
        register = ["--register", "risk-model"] if trees == TREES[-1] else []
        ran = cli(
            "run", "risk", "--data", "cancer@1", "--param", f"n_estimators={trees}", *register
        )
        assert ran.code == 0, ran.stderr


@pytest.fixture
def runs_workspace(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    return workspace_templates.copy("three-runs", build_runs, tmp_path / "ws")


def _listed(cli: CLI, *args: str) -> list[dict[str, Any]]:
    result = cli("runs", "list", "--json", *args)
    assert result.code == 0, result.stderr
    rows = result.json()
    assert isinstance(rows, list)
    return rows


def test_runs_are_listed_with_metrics_filtered_sorted_and_compared(
    cli: CLI, runs_workspace: Path
) -> None:
    rows = _listed(cli)
    assert [row["params"]["n_estimators"] for row in rows] == list(reversed(TREES))
    auc = {row["run_id"]: row["metrics"]["roc_auc"] for row in rows}
    trees = {row["run_id"]: row["params"]["n_estimators"] for row in rows}

    # Sorted by a metric either way; filtered by a param, a metric, pipeline and status.
    by_auc = [row["run_id"] for row in _listed(cli, "--sort", "-roc_auc")]
    assert by_auc == sorted(auc, key=lambda run_id: -auc[run_id])
    assert [row["run_id"] for row in _listed(cli, "--sort", "roc_auc")] == by_auc[::-1]
    assert [row["params"]["n_estimators"] for row in _listed(cli, "--param", "n_estimators=2")] == [
        2
    ]
    threshold = sorted(auc.values())[1]
    above = {row["run_id"] for row in _listed(cli, "--metric", f"roc_auc>{threshold}")}
    assert above == {run_id for run_id, value in auc.items() if value > threshold}
    at_least = _listed(cli, "--metric", f"roc_auc>={threshold}", "--pipeline", "risk")
    assert {row["run_id"] for row in at_least} == above | {
        run_id for run_id, value in auc.items() if value == threshold
    }
    assert len(_listed(cli, "--status", "succeeded")) == len(TREES)
    assert _listed(cli, "--status", "failed") == []

    # The columns asked for are shown, with their values.
    shown = cli("runs", "list", "--columns", "roc_auc,n_estimators")
    assert shown.code == 0, shown.stderr
    header = next(line for line in shown.stdout.splitlines() if "roc_auc" in line)
    assert "n_estimators" in header
    assert "accuracy" not in header
    assert f"{auc[by_auc[0]]:.4g}" in shown.stdout

    # A status that does not exist, an unknown column, a bad filter: one line, exit 4.
    for args, expected in (
        (("--status", "runing"), "did you mean running?"),
        (("--columns", "roc_acu"), "(did you mean roc_auc?); known here: accuracy"),
        (("--metric", "roc_auc>high"), "not a number"),
        (("--sort", "-"), "cannot sort runs by"),
    ):
        refused = cli("runs", "list", *args)
        assert refused.code == 4, refused.stdout
        assert expected in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert "running, succeeded, failed, cancelled" in cli("runs", "list", "--status", "x").stderr

    # Compared: params side by side with the differing ones marked, metrics, data, code,
    # step timings and the model version the registered run made.
    first, last = rows[-1]["run_id"], rows[0]["run_id"]
    compared = cli("runs", "compare", first[:8], last, "--json")
    assert compared.code == 0, compared.stderr
    report = compared.json()
    assert [run["run_id"] for run in report["runs"]] == [first, last]
    assert report["params"]["n_estimators"] == {
        "values": [trees[first], trees[last]],
        "differs": True,
    }
    assert report["metrics"]["roc_auc"]["values"] == [auc[first], auc[last]]
    assert report["inputs"]["data"] == {"values": ["cancer@1", "cancer@1"], "differs": False}
    assert [run["model_versions"] for run in report["runs"]] == [[], ["risk-model@1"]]
    assert all("code_commit" in run for run in report["runs"])
    assert list(report["steps"]) == ["split", "train", "evaluate"]
    # The second run found the split in the cache.
    assert report["steps"]["split"]["cached"] == [False, True]
    human = cli("runs", "compare", first, last)
    assert human.code == 0, human.stderr
    assert "* n_estimators" in human.stdout
    assert "risk-model@1" in human.stdout
    lonely = cli("runs", "compare", first)
    assert lonely.code == 4
    assert "compare 2 to 10 runs" in lonely.stderr

    # Python: the same runs as a DataFrame, metrics and params as columns.
    with Workspace.open(runs_workspace) as ws:
        frame = ws.runs(sort="-roc_auc")
        assert list(frame["run_id"]) == by_auc
        assert frame["metrics.roc_auc"].tolist() == [auc[run_id] for run_id in by_auc]
        assert frame["params.n_estimators"].tolist() == [trees[run_id] for run_id in by_auc]
        assert set(frame["data.data"]) == {"cancer@1"}
        filtered = ws.runs(params={"n_estimators": 3}, metrics=["roc_auc>0"], limit=None)
        assert filtered["run_id"].tolist() == [last]
        assert ws.runs(status="failed").empty
