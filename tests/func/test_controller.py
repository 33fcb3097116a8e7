"""The controller through the real command line: ``watch`` turns a new dataset version
into a release under each policy, ``retrain`` and ``triggers`` show what it does, and a
controller killed mid-release is resumed by the next one, which finishes the trigger
exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from tests.support.pipelines import RISK, write_pipelines

from .conftest import CLI

CONFIG = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = 0.5
[models.risk-model.promotion]
live = "{policy}"
[models.risk-model.retrain]
pipeline = "risk"
dataset = "cancer"
parameter = "data"
on = ["new_data"]
params = {{ n_estimators = 20 }}
"""

# The RISK pipeline, plus a way to hold a controller at a known point of a release: while
# the file ``hold-POINT`` exists in FLAGS, reaching POINT touches ``in-POINT`` and waits
# for ``go``. POINT is ``train`` (a step of the run) or ``gates`` (a gate: the version is
# registered and recorded by then).
HOLD = """
import pathlib
import time

from pathtolive.gates import GateResult, gate, register_gate

_FLAGS = pathlib.Path({flags!r})


def _hold(point):
    if (_FLAGS / f"hold-{{point}}").exists():
        (_FLAGS / f"in-{{point}}").touch()
        while not (_FLAGS / "go").exists():
            time.sleep(0.05)


@gate("hold")
def _hold_gate(context):
    _hold("gates")
    return GateResult("hold", True, None, None, "pass", "not held")


register_gate(_hold_gate, replace=True)
"""


def setup_live(
    cli: CLI, workspace: Path, tmp_path: Path, *, policy: str, source: str = RISK
) -> None:
    """cancer@1; risk-model@1 trained on it and live; then cancer@2 (the same rows in
    another order) arrives."""
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(tmp_path / "v1.csv", index=False)
    frame.sample(frac=1, random_state=1).to_csv(tmp_path / "v2.csv", index=False)
    added = cli("data", "add", tmp_path / "v1.csv", "--name", "cancer", "--tag", "target=target")
    assert added.code == 0, added.stderr
    write_pipelines(workspace, risk=source)
    config = workspace / "pathtolive.toml"
    config.write_text(config.read_text() + CONFIG.format(policy=policy))
    trained = cli(
        "run",
        "risk",
        "--data",
        "cancer@1",
        "--param",
        "n_estimators=20",
        "--register",
        "risk-model",
    )
    assert trained.code == 0, trained.stderr
    assert cli("alias", "set", "risk-model@1", "live", "--override", "first").code == 0
    added = cli("data", "add", tmp_path / "v2.csv", "--name", "cancer")
    assert added.code == 0, added.stderr


def live(cli: CLI) -> int | None:
    aliases = {row["alias"]: row["version"] for row in cli("alias", "list", "--json").json()}
    return aliases.get("live")


def triggers(cli: CLI, *args: str) -> list[dict[str, Any]]:
    result = cli("triggers", "list", *args, "--json")
    assert result.code == 0, result.stderr
    rows: list[dict[str, Any]] = result.json()
    return rows


def latest_version(cli: CLI) -> int:
    [model] = cli("models", "list", "--json").json()
    return int(model["latest_version"])


@pytest.mark.slow
@pytest.mark.xdist_group("controller-cli")
def test_watch_once_releases_new_data_under_auto(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    setup_live(cli, workspace, tmp_path, policy="auto")
    watched = cli("watch", "--once")
    assert watched.code == 0, watched.stderr
    assert "new data cancer@2" in watched.stdout
    assert "promoted risk-model@2 to live (auto)" in watched.stdout
    assert "1 trigger(s) handled" in watched.stdout
    assert live(cli) == 2

    [trigger] = triggers(cli)
    assert trigger["kind"] == "new_data"
    assert trigger["status"] == "done"
    assert trigger["model_version"] == 2
    assert trigger["decision"] == "promoted risk-model@2 to live (auto)"
    assert trigger["cause"] == "new data cancer@2 (risk-model@1 was trained on cancer@1)"
    shown = cli("triggers", "show", str(trigger["trigger_id"]), "--json")
    assert shown.code == 0, shown.stderr
    assert shown.json() == trigger
    text = cli("triggers", "show", str(trigger["trigger_id"]))
    assert "promoted risk-model@2 to live (auto)" in text.stdout
    assert cli("triggers", "show", "999").code == 3

    events = cli("audit", "log", "--action", "controller.", "--json").json()
    by_action = {e["action"]: e for e in events}
    assert set(by_action) == {"controller.trigger", "controller.release", "controller.decision"}
    for event in by_action.values():
        assert event["subject"] == "model:risk-model"
        assert event["details"]["trigger"] == trigger["trigger_id"]
        assert event["details"]["cause"] == trigger["cause"]

    # Handled once: another round finds nothing to do and trains nothing.
    again = cli("watch", "--once")
    assert again.code == 0, again.stderr
    assert "0 trigger(s) handled" in again.stdout
    assert latest_version(cli) == 2

    asked = cli("retrain", "risk-model", "--reason", "monthly refresh", "--json")
    assert asked.code == 0, asked.stderr
    assert asked.json()["kind"] == "manual"
    assert asked.json()["cause"] == "manual retrain by ada: monthly refresh"
    [pending] = triggers(cli, "--status", "pending")
    assert pending["trigger_id"] == asked.json()["trigger_id"]
    listed = cli("triggers", "list", "risk-model")
    assert "monthly refresh" in listed.stdout
    assert cli("retrain", "no-such-model").code == 8
    assert cli("audit", "verify").code == 0


@pytest.mark.slow
@pytest.mark.xdist_group("controller-cli")
def test_watch_once_leaves_a_pending_approval_under_four_eyes(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    setup_live(cli, workspace, tmp_path, policy="four-eyes")
    watched = cli("watch", "--once", "--json")
    assert watched.code == 0, watched.stderr
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    finished = [e for e in events if e["event"] == "finished"]
    assert [e["message"] for e in finished] == ["risk-model@2 awaits approval for live (four-eyes)"]
    assert finished[0]["trigger"]["status"] == "done"
    assert live(cli) == 1
    pending = cli("promotions", "list", "--status", "pending", "--json").json()
    assert [(p["version"], p["alias"], p["policy"]) for p in pending] == [(2, "live", "four-eyes")]
    assert "new data cancer@2" in pending[0]["reason"]
    # Handled once: the pending approval is not asked for again.
    assert cli("watch", "--once").code == 0
    assert latest_version(cli) == 2
    assert len(cli("promotions", "list", "--json").json()) == 1


def _wait_for(path: Path, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"watch exited with {process.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear in {timeout}s: {log.read_text()}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.xdist_group("controller-crash")
@pytest.mark.subprocess  # controllers killed and resumed
@pytest.mark.parametrize("point", ["train", "gates"])
def test_a_killed_controller_is_resumed_and_the_trigger_handled_once(
    cli: CLI, cli_env: dict[str, str], workspace: Path, tmp_path: Path, point: str
) -> None:
    flags = tmp_path / "flags"
    flags.mkdir()
    source = RISK.replace(
        "    X, y = train_df.drop", '    _hold("train")\n    X, y = train_df.drop', 1
    ) + HOLD.format(flags=str(flags))
    setup_live(cli, workspace, tmp_path, policy="auto", source=source)
    (flags / f"hold-{point}").touch()
    command = [
        sys.executable,
        "-m",
        "pathtolive",
        "watch",
        "--interval",
        "0.2",
        "--lease",
        "2",
    ]

    def start(name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=workspace, env=cli_env, stdout=out, stderr=subprocess.STDOUT
            )
        return process, log

    first, first_log = start("first")
    try:
        _wait_for(flags / f"in-{point}", first, first_log, timeout=180)
    finally:
        first.kill()  # SIGKILL: no clean-up of any kind
        first.wait(timeout=30)
    [stuck] = triggers(cli)
    assert stuck["status"] == "running"
    assert stuck["attempts"] == 1
    assert stuck["model_version"] == (2 if point == "gates" else None)
    assert latest_version(cli) == (2 if point == "gates" else 1)

    (flags / "go").touch()
    second, second_log = start("second")
    try:
        deadline = time.monotonic() + 240
        while True:
            [trigger] = triggers(cli)
            if trigger["status"] in ("done", "failed"):
                break
            if second.poll() is not None:
                pytest.fail(f"watch exited with {second.returncode}: {second_log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the trigger is still {trigger['status']}: {second_log.read_text()}")
            time.sleep(0.5)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0, second_log.read_text()
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=30)

    assert trigger["trigger_id"] == stuck["trigger_id"]
    assert trigger["status"] == "done", trigger
    assert trigger["decision"] == "promoted risk-model@2 to live (auto)"
    assert trigger["attempts"] == 2
    assert trigger["holder"] != stuck["holder"]
    # Exactly one new version, and exactly one promotion of it.
    assert latest_version(cli) == 2
    assert live(cli) == 2
    promotions = cli("promotions", "list", "--json").json()
    assert [(p["version"], p["status"]) for p in promotions] == [(2, "applied")]
    resumed = cli("audit", "log", "--action", "controller.resumed", "--json").json()
    assert [e["details"]["from"] for e in resumed] == [stuck["holder"]]
    assert len(cli("audit", "log", "--action", "controller.decision", "--json").json()) == 1
    assert "resumed" in second_log.read_text()
    assert cli("audit", "verify").code == 0
