"""Pipeline steps on a real Dask cluster (a ``LocalCluster`` of two worker processes):
a step with ``compute="dask"`` runs in a worker process, reads its dataset there as a Dask
DataFrame, and leaves the records, metrics and logs a local run leaves; a cached step is
not sent again; a failing one fails the run in the same words as locally; the README's
example trains LightGBM on the cluster as written."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.func.test_readme_quick_start import loans
from tests.func.test_readme_reference import blocks
from tests.support.cli import run_in_process
from tests.support.pipelines import write_pipelines

from .conftest import CLI, WorkspaceTemplates, initialise_with_cancer

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.xdist_group("cluster")]

STEPS = """
import os

from sklearn.tree import DecisionTreeClassifier

from pathtolive import Dataset, log_metric, pipeline, step


@step
def prepare(data: Dataset):
    return data.df


@step(compute="dask")
def fit(frame, data: Dataset, trace: str, depth: int = 3):
    with open(trace, "a") as handle:  # which process ran it, each time it ran
        handle.write(f"{os.getpid()}\\n")
    rows = int(data.ddf[data.target].count().compute())  # on the cluster, from the store
    log_metric("rows", rows)
    print("fitting on", rows, "rows")
    X, y = frame.drop(columns=[data.target]), frame[data.target]
    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)


@step
def score(model, frame, target: str) -> dict:
    return {"accuracy": float(model.score(frame.drop(columns=[target]), frame[target]))}


@pipeline
def clustered(data: Dataset, trace: str = "", depth: int = 3):
    frame = prepare(data)
    model = fit(frame, data, trace, depth=depth)
    return model, score(model, frame, data.target)


@step
def explode(frame):
    print("about to fail")
    return len(frame) / 0


@pipeline
def fails(data: Dataset):
    return explode(prepare(data))
"""

SETTINGS = """
[pipelines.fails]
compute = "dask"
"""


def _build(cli: CLI, root: Path, scratch: Path) -> None:
    initialise_with_cancer(cli, root, scratch)
    write_pipelines(root, steps=STEPS)
    with (root / "pathtolive.toml").open("a", encoding="utf-8") as handle:
        handle.write(SETTINGS)


@pytest.fixture
def scheduler(dask_cluster: str) -> str:
    """The test process's shared cluster (starting one costs about 10 s of CPU)."""
    return dask_cluster


@pytest.fixture
def workspace(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    return workspace_templates.copy("cluster-steps", _build, tmp_path / "ws")


def _steps(cli: CLI, run_id: str) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]], Any]:
    """What ``runs show`` says of a run's steps (without their times), its metrics
    (without theirs) and its graph."""
    shown = cli("runs", "show", run_id, "--json").json()
    steps = [
        {key: value for key, value in step.items() if key not in {"started_at", "seconds"}}
        for step in shown["steps"]
    ]
    metrics = [(m["key"], m["value"], m["step"]) for m in shown["metrics"]]
    return steps, metrics, shown["run"]["graph"]


def test_a_step_on_the_cluster_is_recorded_as_if_it_ran_here(
    cli: CLI, workspace: Path, scheduler: str, tmp_path: Path
) -> None:
    trace = tmp_path / "trace.txt"
    run = ("run", "clustered", "--data", "cancer@1", "--param", f"trace={trace}", "--json")

    here = cli(*run, "--no-cache")
    there = cli(*run, "--no-cache", "--scheduler", scheduler)
    assert here.code == 0, here.stderr
    assert there.code == 0, there.stderr

    local_pid, worker_pid = (int(line) for line in trace.read_text().split())
    assert local_pid == os.getpid()  # the in-process command ran it here...
    assert worker_pid != os.getpid()  # ...and sent it to a worker process with --scheduler
    assert there.json()["executed"] == here.json()["executed"] == ["prepare", "fit", "score"]
    local_steps, local_metrics, local_graph = _steps(cli, here.json()["run"]["run_id"])
    steps, metrics, graph = _steps(cli, there.json()["run"]["run_id"])
    assert steps == local_steps  # cache keys, inputs, output digests, logs
    assert steps[1]["logs"] == "fitting on 569 rows\n"
    assert metrics == local_metrics
    assert ("rows", 569.0, None) in metrics
    assert graph == local_graph

    cached = cli(*run, "--scheduler", scheduler)
    assert cached.code == 0, cached.stderr
    assert cached.json()["cached"] == ["prepare", "fit", "score"]
    assert len(trace.read_text().split()) == 2  # not sent to the cluster again


def test_a_failing_step_on_the_cluster_fails_the_run_as_it_would_here(
    cli: CLI, workspace: Path, scheduler: str, cli_env: dict[str, str]
) -> None:
    # [pipelines.fails] compute = "dask": every step of it goes to the cluster, when one
    # is given, here by the environment.
    here = cli("run", "fails", "--data", "cancer@1")
    there = run_in_process(
        ["run", "fails", "--data", "cancer@1", "--json"],
        cwd=workspace,
        environ={**cli_env, "PATHTOLIVE_DASK_SCHEDULER": scheduler},
    )

    assert (here.code, there.code) == (11, 11)
    error_line = "step 'explode' failed: ZeroDivisionError: division by zero"
    assert error_line in here.stderr
    assert there.json()["message"] == here.stderr.strip().removeprefix("error: ")
    failed = cli("runs", "list", "--status", "failed", "--json").json()
    runs = {run["run_id"]: run for run in failed}
    assert len(runs) == 2
    for run_id in runs:
        steps, _, _ = _steps(cli, run_id)
        assert [(step["name"], step["status"]) for step in steps] == [
            ("prepare", "succeeded"),
            ("explode", "failed"),
        ]
        assert steps[1]["logs"] == "about to fail\n"
        assert "return len(frame) / 0" in steps[1]["error"]  # the user's code, by file


def test_the_readme_pipeline_trains_lightgbm_on_the_cluster(
    cli: CLI, workspace: Path, scheduler: str, tmp_path: Path
) -> None:
    (block,) = blocks("Running on a Dask cluster", "python")
    (command,) = blocks("Running on a Dask cluster", "sh")
    loans(500, seed=1).to_csv(tmp_path / "loans.csv", index=False)
    assert cli("data", "add", tmp_path / "loans.csv", "--name", "loans").code == 0
    module = workspace / block.splitlines()[0].removeprefix("# ").strip()
    module.write_text(block)

    args = shlex.split(command.replace("tcp://scheduler:8786", scheduler))
    ran = cli(*args[1:], "--json")

    assert ran.code == 0, ran.stderr
    result = ran.json()
    assert result["executed"] == ["train", "evaluate"]
    assert result["metrics"]["train_rows"] == 500
    assert result["model_version"]["flavor"] == "lightgbm"
