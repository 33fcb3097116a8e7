"""kill -9 during a dataset add, a pipeline run and a promotion: after it the store is
consistent (see checks.py for what that means), and the operation can be done again.

Each killed command runs in its own process group, so what it started (the latency
probe of a promotion) dies with it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import Workspace
from pathtolive.service.promotion import list_promotions, promote
from pathtolive.service.runs import LOST_AFTER, list_runs, reap_lost_runs
from tests.reliability.checks import (
    check_store,
    group_runs,
    kill_when,
    report_figures,
    run_cli,
    start_cli,
)
from tests.support.pipelines import RISK, write_pipelines
from tests.support.serving import cli_environ

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability-crash")]


def _cancer_workspace(root: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
    with Workspace.init(root) as ws:
        ws.add_dataset(frame, "cancer", tags={"target": ["target"]})


def test_a_killed_data_add_leaves_nothing_half_done(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    environ = cli_environ()
    rows = 400_000
    rng = np.random.default_rng(3)
    source = tmp_path / "big.csv"
    pd.DataFrame(
        {
            "amount": rng.normal(100, 20, rows).round(3),
            "count": rng.integers(0, 1_000, rows),
            "kind": rng.choice(["a", "b", "c", "d", "e"], rows),
            "score": rng.random(rows).round(6),
        }
    ).to_csv(source, index=False)
    tmp = root / ".pathtolive" / "tmp"
    left_before: set[Path] = set()  # what killed adds left, so it cannot trigger a kill

    def converting() -> bool:  # the CSV is being turned into Parquet in a work folder
        return any(p.is_file() and p not in left_before for p in tmp.glob("add-*/*"))

    def staging() -> bool:  # the Parquet file is being copied and hashed into the store
        return any(p.is_file() and p not in left_before for p in tmp.glob("*.tmp"))

    kills = {}
    for point, condition in (("while converting", converting), ("while staging", staging)):
        left_before = set(tmp.rglob("*"))
        adder = start_cli(root, environ, "data", "add", str(source), "--name", "big")
        killed = kill_when(adder, condition)
        report = check_store(root, environ, cli=False)
        assert report.problems == [], (point, report.problems)
        with Workspace.open(root) as ws:
            versions = [v for d in ws.datasets() for v in ws.versions(d.name)]
        if killed:
            assert versions == [], point  # nothing of a killed add is visible
        kills[point] = {"killed": killed, **report.to_dict()}

    again = run_cli(root, environ, "data", "add", str(source), "--name", "big", "--json")
    assert again.returncode == 0, again.stderr
    added = json.loads(again.stdout)
    assert added["version"]["version"] == 1
    assert added["version"]["rows"] == rows
    final = check_store(root, environ)
    assert final.problems == []
    assert final.unreferenced_objects == 0
    report_figures("crash_data_add", {"kills": kills, "after_redo": final.to_dict()}, tmp_path)


WAITING = """
import time
from datetime import timedelta
from pathlib import Path

from sklearn.tree import DecisionTreeClassifier

from pathtolive import Dataset, pipeline, step


@step
def prepare(data: Dataset):
    return data.df


@step
def train(frame, flags: str = ""):
    (Path(flags) / "started").touch()
    while not (Path(flags) / "go").exists():
        time.sleep(0.05)
    X, y = frame.drop(columns=["target"]), frame["target"]
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)


@pipeline
def waiting(data: Dataset, flags: str = ""):
    return train(prepare(data), flags=flags)
"""


def test_a_killed_run_registers_nothing_and_can_run_again(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _cancer_workspace(root)
    write_pipelines(root, waiting=WAITING)
    environ = cli_environ()
    flags = tmp_path / "flags"
    flags.mkdir()
    runner = start_cli(
        root, environ, "run", "waiting", "--data", "cancer@1", "--param", f"flags={flags}",
        "--register", "waiter",
    )  # fmt: skip
    assert kill_when(runner, lambda: (flags / "started").exists())

    report = check_store(root, environ, cli=False)
    assert report.problems == []
    with Workspace.open(root) as ws:
        assert ws.models() == []
        killed = list_runs(ws.context)
    # Its process is gone, its heartbeat fresh: running, until LOST_AFTER has passed.
    assert [r.status for r in killed] == ["running"]
    with Workspace.open(root) as ws:
        last = killed[0].heartbeat_at
        assert last is not None
        [lost] = reap_lost_runs(ws.context, now=last + LOST_AFTER + timedelta(seconds=1))
    assert lost.run_id == killed[0].run_id
    assert lost.status == "failed"
    assert lost.error is not None
    assert lost.error.startswith("lost:")

    (flags / "go").touch()
    with Workspace.open(root) as ws:
        ws.run("waiting", data="cancer@1", params={"flags": str(flags)}, register="waiter")
        assert ws.model("waiter@1").run_id != killed[0].run_id
        statuses = sorted(ws.runs()["status"])
    assert statuses == ["failed", "succeeded"]
    final = check_store(root, environ)
    assert final.problems == []
    report_figures(
        "crash_run", {"after_kill": report.to_dict(), "after_redo": final.to_dict()}, tmp_path
    )


PROMOTION = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = 0.5
beat_live_by = -1.0
[models.risk-model.promotion]
live = "auto"
"""


def test_a_promotion_killed_in_its_latency_probe_moves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _cancer_workspace(root)
    write_pipelines(root, risk=RISK)
    (root / "pathtolive.toml").write_text((root / "pathtolive.toml").read_text() + PROMOTION)
    with Workspace.open(root) as ws:
        for trees in (3, 5):
            ws.run("risk", data="cancer@1", params={"n_estimators": trees}, register="risk-model")
        ws.set_alias("risk-model@1", "live", override="first release")
    environ = cli_environ()
    promoter = start_cli(root, environ, "promote", "risk-model@2", "--to", "live")
    probe = "pathtolive.service.latency_probe"
    assert kill_when(promoter, lambda: group_runs(promoter.pid, probe))
    assert not group_runs(promoter.pid, probe)  # the probe died with its parent

    report = check_store(root, environ, cli=False)
    assert report.problems == []
    with Workspace.open(root) as ws:
        assert list_promotions(ws.context) == []  # the request was never committed
        assert ws.model("risk-model@live").version == 1
        assert promote(ws.context, "risk-model@2", "live").applied
        assert ws.model("risk-model@live").version == 2
    final = check_store(root, environ)
    assert final.problems == []
    report_figures(
        "crash_promotion",
        {"after_kill": report.to_dict(), "after_redo": final.to_dict()},
        tmp_path,
    )
