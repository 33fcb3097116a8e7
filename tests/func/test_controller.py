"""The controller through the real command line: ``watch`` turns a new dataset version
into a release under each policy, ``retrain`` and ``triggers`` show what it does, and a
controller killed mid-release is resumed by the next one, which finishes the trigger
exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sklearn.datasets import load_breast_cancer

from pathtolive import env
from pathtolive.store.metadata import MetadataStore
from tests.support.pipelines import RISK, write_pipelines

from .conftest import CLI, Result, WorkspaceTemplates

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
    train_live(cli)
    added = cli("data", "add", tmp_path / "v2.csv", "--name", "cancer")
    assert added.code == 0, added.stderr


def train_live(cli: CLI) -> None:
    """risk-model@1 trained on cancer@1 by the RISK pipeline, made live by an override."""
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


def test_triggers_list_shows_attempts_and_when_a_failed_release_is_tried_next(
    cli: CLI, workspace: Path
) -> None:
    store = MetadataStore(f"sqlite:///{workspace / '.pathtolive' / 'meta.db'}")
    at = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    due = at + timedelta(minutes=2)
    try:
        with store.write() as session:
            trigger = session.insert_trigger(
                "risk-model", "manual", "asked", "manual:1", at=at, by="ada"
            )
            assert trigger is not None
            session.claim_trigger(trigger.trigger_id, "ctl", at=at)
            session.claim_trigger(trigger.trigger_id, "ctl-2", at=at, take_over_from="ctl")
            session.retry_trigger(
                trigger.trigger_id,
                next_attempt_at=due,
                decision="run failed: boom; attempt 3 at 03:02",
                error="boom",
            )
    finally:
        store.close()
    [row] = triggers(cli)
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert datetime.fromisoformat(row["next_attempt_at"]) == due
    listed = cli("triggers", "list")
    assert listed.code == 0, listed.stderr
    assert "attempts" in listed.stdout
    assert "next attempt" in listed.stdout
    shown_at = due.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert shown_at in listed.stdout
    shown = cli("triggers", "show", str(trigger.trigger_id))
    assert "next attempt" in shown.stdout
    assert shown_at in shown.stdout


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


# -- fencing: a controller that lost its lease, and takeovers by another user ----------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_cli(
    request: pytest.FixtureRequest, cli: CLI, cli_env: dict[str, str], tmp_path: Path
) -> tuple[CLI, dict[str, str]]:
    """A new workspace on the test's backend (a SQLite file, then a PostgreSQL schema)
    in the ``cli``'s folder: the ``cli`` to drive it and the environment of its
    processes."""
    environ = dict(cli_env)
    if request.param == "postgres":
        environ[env.METADATA_URL] = str(request.getfixturevalue("postgres_url"))
    extra = {k: v for k, v in environ.items() if k not in cli_env}

    def run(*args: str | Path) -> Result:
        return cli(*args, extra_env=extra)

    initialised = run("init", "--local-role", "admin")
    assert initialised.code == 0, initialised.stderr
    return run, environ


def _watch(
    workspace: Path, environ: dict[str, str], log: Path, *, python: list[str] | None = None
) -> subprocess.Popen[bytes]:
    command = [*(python or [sys.executable, "-m", "pathtolive"]), "watch", "--interval", "0.2"]
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--lease", "2"],
            cwd=workspace,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _until(
    done: Callable[[], bool], what: str, processes: dict[str, tuple[subprocess.Popen[bytes], Path]]
) -> None:
    """Poll ``done`` until true; fail (with the logs) when a process exits or after long."""
    deadline = time.monotonic() + 240
    while not done():
        for name, (process, log) in processes.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}: {log.read_text()}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"{n}: {log.read_text()}" for n, (_, log) in processes.items())
            pytest.fail(f"{what} did not happen: {logs}")
        time.sleep(0.2)


def _writable(workspace: Path, environ: dict[str, str]) -> bool:
    """Whether a writer can start a transaction on the workspace's database now (no
    stopped process holds a write transaction open)."""
    url = environ.get(env.METADATA_URL)
    if url is None:
        connection = sqlite3.connect(workspace / ".pathtolive" / "meta.db", timeout=1.0)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            connection.close()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection, connection.begin():
            connection.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
            connection.execute(sa.text("SELECT id FROM audit_head FOR UPDATE"))
            connection.execute(sa.text("SELECT name FROM locks FOR UPDATE"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _pause(process: subprocess.Popen[bytes], workspace: Path, environ: dict[str, str]) -> None:
    """SIGSTOP ``process`` between two of its transactions. Stopped inside one it would
    hold its locks (rows on PostgreSQL, the database on SQLite) and block every writer,
    which is not what this is about: a holder paused while it works, between writes."""
    for _ in range(100):
        os.kill(process.pid, signal.SIGSTOP)
        if _writable(workspace, environ):
            return
        os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.05)
    pytest.fail("the controller was inside a transaction at each of 100 pauses")


def _stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()


def _kill(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a stopped process dies only once resumed
            process.kill()
            process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.xdist_group("controller-crash")
@pytest.mark.subprocess  # controllers paused and resumed with signals
def test_a_controller_paused_past_its_lease_is_fenced_out(
    store_cli: tuple[CLI, dict[str, str]], tmp_path: Path
) -> None:
    """The first controller is paused (SIGSTOP) mid-training for longer than its lease.
    A second takes the trigger over, releases it and stops. The first resumes (SIGCONT),
    finishes its training, and its registration is refused and audited: one new version,
    no orphan."""
    cli, environ = store_cli
    workspace_path = tmp_path / "ws"
    flags = tmp_path / "flags"
    flags.mkdir()
    source = RISK.replace(
        "    X, y = train_df.drop", '    _hold("train")\n    X, y = train_df.drop', 1
    ) + HOLD.format(flags=str(flags))
    setup_live(cli, workspace_path, tmp_path, policy="auto", source=source)
    (flags / "hold-train").touch()
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _watch(workspace_path, environ, first_log)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(flags / "in-train", first, first_log, timeout=180)
        _pause(first, workspace_path, environ)
        [paused] = triggers(cli)
        assert (paused["status"], paused["attempts"]) == ("running", 1)
        (flags / "go").touch()  # the second trains through; the first, stopped, waits

        second = _watch(workspace_path, environ, second_log)
        both = {"first": (first, first_log), "second": (second, second_log)}
        _until(lambda: triggers(cli)[0]["status"] == "done", "the takeover", both)
        _stop(second, second_log)  # a clean stop: the lease is free when the first wakes

        os.kill(first.pid, signal.SIGCONT)
        fenced: list[dict[str, Any]] = []

        def refused_or_registered() -> bool:
            fenced[:] = cli("audit", "log", "--action", "controller.fenced", "--json").json()
            return bool(fenced) or latest_version(cli) > 2

        _until(refused_or_registered, "the first controller's write", {"first": both["first"]})
        _stop(first, first_log)
    finally:
        _kill(first, *([] if second is None else [second]))

    [trigger] = triggers(cli)
    assert trigger["status"] == "done", trigger
    assert trigger["decision"] == "promoted risk-model@2 to live (auto)"
    assert trigger["holder"] != paused["holder"]
    assert trigger["model_version"] == 2
    # Exactly one new version, recorded on the trigger: no orphan.
    assert latest_version(cli) == 2
    assert live(cli) == 2
    promotions = cli("promotions", "list", "--json").json()
    assert [(p["version"], p["status"]) for p in promotions] == [(2, "applied")]
    [refused] = fenced
    details = refused["details"]
    assert details["holder"] == paused["holder"]
    assert details["trigger"] == trigger["trigger_id"]
    assert details["write"].startswith("registering risk-model@")
    assert details["lease_generation"] > details["generation"]
    assert "fenced" in first_log.read_text()
    assert cli("audit", "verify").code == 0


# Runs ``pathtolive`` killing itself (SIGKILL) as soon as a model version is registered.
DIE_ON_REGISTER = """
import os, signal, sys

from pathtolive.cli.main import run
from pathtolive.service import models

_register = models.register_model


def _register_then_die(*args, **kwargs):
    version = _register(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return version


models.register_model = _register_then_die
sys.argv[0] = "pathtolive"
run()
"""


@pytest.mark.slow
@pytest.mark.xdist_group("controller-crash")
@pytest.mark.subprocess  # a controller killed at a chosen point
def test_a_successor_running_as_another_user_adopts_the_registered_version(
    store_cli: tuple[CLI, dict[str, str]], tmp_path: Path
) -> None:
    """The holder is killed (kill -9) right after it registered the version; a successor
    running as another user finishes the release with that version, trains nothing."""
    cli, environ = store_cli
    workspace_path = tmp_path / "ws"
    setup_live(cli, workspace_path, tmp_path, policy="auto")
    driver = tmp_path / "die_on_register.py"
    driver.write_text(DIE_ON_REGISTER)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _watch(workspace_path, environ, first_log, python=[sys.executable, str(driver)])
    assert first.wait(timeout=240) == -signal.SIGKILL, first_log.read_text()
    [stuck] = triggers(cli)
    assert (stuck["status"], stuck["model_version"]) == ("running", 2)
    assert latest_version(cli) == 2

    second = _watch(workspace_path, {**environ, env.USER: "bob"}, second_log)
    try:
        _until(
            lambda: triggers(cli)[0]["status"] in ("done", "failed"),
            "the takeover",
            {"second": (second, second_log)},
        )
        _stop(second, second_log)
    finally:
        _kill(second)
    [trigger] = triggers(cli)
    assert trigger["status"] == "done", trigger
    assert trigger["decision"] == "promoted risk-model@2 to live (auto)"
    assert (trigger["model_version"], trigger["attempts"]) == (2, 2)
    assert latest_version(cli) == 2  # adopted, not trained again
    assert live(cli) == 2
    [resumed] = cli("audit", "log", "--action", "controller.resumed", "--json").json()
    assert (resumed["actor"], resumed["details"]["from"]) == ("bob", stuck["holder"])
    assert cli("audit", "verify").code == 0


# -- the other vectors of change: the pipelines' code, and the gates' settings ----------

VECTORS_CONFIG = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
{gates}
[models.risk-model.promotion]
live = "auto"
[models.risk-model.retrain]
pipeline = "risk"
dataset = "cancer"
parameter = "data"
on = {on}
params = {{ n_estimators = 20 }}
"""


def git(workspace: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=workspace, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def set_settings(workspace: Path, *, on: str, gates: str) -> None:
    """Rewrite the model's settings in the workspace file."""
    config = workspace / "pathtolive.toml"
    base = config.read_text().split("\n[models.risk-model]")[0]
    config.write_text(base + VECTORS_CONFIG.format(on=on, gates=gates))


def build_trained(cli: CLI, workspace: Path, scratch: Path) -> None:
    """A git repository holding a workspace with cancer@1, the committed RISK pipeline
    and risk-model@1 trained by it, live; its retrain trigger is ``code``."""
    initialised = cli("init")
    assert initialised.code == 0, initialised.stderr
    git(workspace, "init", "-q")
    git(workspace, "config", "user.name", "Ada")
    git(workspace, "config", "user.email", "ada@example.org")
    (workspace / ".gitignore").write_text(".pathtolive/\n")
    load_breast_cancer(as_frame=True).frame.to_csv(scratch / "v1.csv", index=False)
    added = cli("data", "add", scratch / "v1.csv", "--name", "cancer", "--tag", "target=target")
    assert added.code == 0, added.stderr
    write_pipelines(workspace, risk=RISK)
    set_settings(workspace, on='["code"]', gates="min_metric = 0.5")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "the risk pipeline")
    train_live(cli)


@pytest.fixture
def trained(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """A copy of :func:`build_trained`'s workspace, the ``cli``'s folder."""
    return workspace_templates.copy("controller-trained", build_trained, tmp_path / "ws")


@pytest.mark.slow
@pytest.mark.xdist_group("controller-cli")
def test_a_commit_that_changes_the_pipelines_code_is_released_once(cli: CLI, trained: Path) -> None:
    workspace = trained
    trained_commit = git(workspace, "rev-parse", "HEAD")
    idle = cli("watch", "--once")
    assert idle.code == 0, idle.stderr
    assert "0 trigger(s) handled" in idle.stdout  # the live version runs this code

    source = workspace / "pipelines" / "risk.py"
    source.write_text(source.read_text().replace("n_jobs=1", "n_jobs=1, max_depth=8"))
    git(workspace, "commit", "-q", "-am", "shallower trees")
    commit = git(workspace, "rev-parse", "HEAD")
    watched = cli("watch", "--once")
    assert watched.code == 0, watched.stderr
    assert "1 trigger(s) handled" in watched.stdout
    assert live(cli) == 2

    [trigger] = triggers(cli)
    assert (trigger["vector"], trigger["kind"], trigger["status"]) == ("code", "code", "done")
    assert trigger["decision"] == "promoted risk-model@2 to live (auto)"
    [detected] = cli("audit", "log", "--action", "controller.trigger", "--json").json()
    code, trained_code = (
        detected["details"][k] for k in ("pipelines_hash", "trained_pipelines_hash")
    )
    assert trigger["cause"] == (
        f"pipeline code changed to pipelines {code[:12]} at commit {commit[:12]} (risk-model@1 "
        f"was trained on pipelines {trained_code[:12]} at commit {trained_commit[:12]})"
    )
    assert (detected["details"]["commit"], detected["details"]["dirty"]) == (commit, False)
    assert detected["details"]["trained_commit"] == trained_commit
    [released] = cli("audit", "log", "--action", "controller.release", "--json").json()
    assert released["details"]["code"]["commit"] == commit
    assert released["details"]["code"]["pipelines_hash"] == detected["details"]["pipelines_hash"]

    # Released once: the live version now runs this code, and nothing fires again.
    again = cli("watch", "--once")
    assert again.code == 0, again.stderr
    assert "0 trigger(s) handled" in again.stdout
    assert latest_version(cli) == 2
    listed = cli("triggers", "list")
    assert listed.code == 0, listed.stderr
    assert "vector" in listed.stdout
    assert cli("audit", "verify").code == 0


@pytest.mark.slow
@pytest.mark.xdist_group("controller-cli")
def test_changed_gates_recheck_the_live_version_and_alert_without_demoting_it(
    cli: CLI, trained: Path
) -> None:
    workspace = trained
    set_settings(workspace, on='["config"]', gates="min_metric = 0.5")
    first = cli("watch", "--once", "--json")
    assert first.code == 0, first.stderr
    [recorded] = triggers(cli)
    assert (recorded["vector"], recorded["status"]) == ("config", "done")
    assert "nothing re-checked" in recorded["decision"]
    checks = len(cli("audit", "log", "--action", "gates.checked", "--json").json())

    # A change the live version still passes: checked, no alert.
    set_settings(workspace, on='["config"]', gates="min_metric = 0.6")
    assert cli("watch", "--once").code == 0
    passed = triggers(cli)[0]
    assert (passed["vector"], passed["status"]) == ("config", "done")
    assert passed["decision"] == "risk-model@1 (live) passes the changed gates; it stays live"
    assert len(cli("audit", "log", "--action", "gates.checked", "--json").json()) == checks + 1
    assert cli("alerts", "list", "--json").json() == []

    # A change it fails: an alert, and it stays live.
    set_settings(workspace, on='["config"]', gates="min_metric = 0.6\nmax_size_mb = 0.000001")
    watched = cli("watch", "--once")
    assert watched.code == 0, watched.stderr
    failed = triggers(cli)[0]
    assert failed["status"] == "done"
    assert failed["decision"].startswith("risk-model@1 (live) fails the changed gates (size:")
    [alert] = cli("alerts", "list", "--json").json()
    assert (alert["kind"], alert["status"]) == ("live_fails_gates", "open")
    assert "no longer passes the gates changed in pathtolive.toml" in alert["message"]
    assert live(cli) == 1
    assert latest_version(cli) == 1  # nothing trained
    assert cli("promotions", "list", "--json").json() == []

    # Once per change: the next round does nothing.
    again = cli("watch", "--once")
    assert "0 trigger(s) handled" in again.stdout
    assert [t["vector"] for t in triggers(cli)] == ["config"] * 3
    assert [a["alert_id"] for a in cli("alerts", "list", "--status", "open", "--json").json()] == [
        alert["alert_id"]
    ]
    opened = cli("audit", "log", "--action", "alert.opened", "--json").json()
    assert [e["details"]["alert"] for e in opened] == [alert["alert_id"]]
    assert cli("audit", "verify").code == 0
