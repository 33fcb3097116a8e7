"""The controller through the service layer: detecting triggers (and not twice), releases
under each policy, failures, crash and resume at each step, and the lock that lets one
controller act at a time. Real workspaces, real pipelines, real gates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import env
from pathtolive.entities import AuditEvent
from pathtolive.errors import ConfigError, InvalidInputError, PermissionDeniedError
from pathtolive.service import controller as controller_module
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.controller import (
    LOCK_NAME,
    Controller,
    ControllerEvent,
    detect_triggers,
    get_trigger,
    handle_trigger,
    last_schedule_slot,
    list_triggers,
    request_retrain,
)
from pathtolive.service.runs import run_pipeline
from pathtolive.service.tokens import create_token
from pathtolive.service.workspace import init_workspace, open_workspace
from tests.support.pipelines import BROKEN, RISK, write_pipelines

T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)

CONFIG = """
[models.risk-model]
metric = "roc_auc"
[models.risk-model.gates]
min_metric = {floor}
[models.risk-model.promotion]
live = "{policy}"
[models.risk-model.retrain]
pipeline = "{pipeline}"
dataset = "cancer"
{parameter}
on = {on}
params = {{ n_estimators = 20 }}
{schedule}
"""


@dataclass
class Setup:
    ctx: ServiceContext
    root: Path
    environ: dict[str, str]
    frame: pd.DataFrame
    opened: list[ServiceContext]

    def reopen(self, environ: dict[str, str] | None = None) -> ServiceContext:
        """Another context on the workspace (another process, as far as the store
        knows); closed at the end of the test."""
        ctx = open_workspace(self.root, environ=environ or self.environ)
        self.opened.append(ctx)
        return ctx

    def as_role(self, role: str) -> ServiceContext:
        created = create_token(self.ctx, principal=f"{role}-user", role=role)
        return self.reopen({**self.environ, env.TOKEN: created.secret})

    def add_data(self, seed: int | None = None) -> str:
        frame = self.frame
        if seed is not None:
            frame = frame.sample(frac=1, random_state=seed).reset_index(drop=True)
        added = dataset_service.add_dataset(self.ctx, frame, "cancer", tags={"target": ["target"]})
        return added.version.ref

    def train_live(self) -> None:
        """risk-model@1 trained on cancer@1 and live (set directly: no gates needed)."""
        run_pipeline(
            self.ctx,
            "risk",
            data={"data": "cancer@1"},
            params={"n_estimators": "20"},
            register="risk-model",
        )
        model_service.set_alias(self.ctx, "risk-model@1", "live")

    def versions(self) -> list[int]:
        return [v.version for v in model_service.model_versions(self.ctx, "risk-model")]

    def live(self) -> int | None:
        with self.ctx.metadata.read() as session:
            return session.alias_version("risk-model", "live")

    def events(self, action: str) -> list[AuditEvent]:
        with self.ctx.metadata.read() as session:
            return list(session.iter_audit_events(action=action))


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


@pytest.fixture
def make_setup(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str], cancer: pd.DataFrame
) -> Iterator[Callable[..., Setup]]:
    made: list[ServiceContext] = []

    def make(
        *,
        policy: str = "auto",
        floor: float = 0.5,
        on: str = '["new_data"]',
        schedule: str = "",
        pipeline: str = "risk",
        parameter: str | None = "data",
    ) -> Setup:
        root = tmp_path / "ws"
        # In the environment rather than as an argument: the gates' clean-process probe
        # opens the workspace from the environment it inherits.
        environ = {**clean_environ, env.METADATA_URL: metadata_url}
        init_workspace(root, environ=environ).close()
        write_pipelines(root, risk=RISK, broken=BROKEN)
        config = root / "pathtolive.toml"
        config.write_text(
            config.read_text()
            + CONFIG.format(
                policy=policy,
                floor=floor,
                on=on,
                schedule=schedule,
                pipeline=pipeline,
                parameter="" if parameter is None else f"parameter = {parameter!r}",
            )
        )
        ctx = open_workspace(root, environ=environ)
        made.append(ctx)
        return Setup(ctx, root, environ, cancer, made)

    yield make
    for ctx in made:
        ctx.close()


def _alert(setup: Setup, kind: str, key: str, message: str) -> int:
    with setup.ctx.metadata.write() as session:
        alert, _ = session.raise_alert("risk-model", kind, key, message, {}, at=T0)
    return alert.alert_id


# -- detection -------------------------------------------------------------------------


def test_new_data_is_detected_once_per_dataset_version(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    setup.add_data()
    # No version of the model yet: the first data is a reason to train one.
    [first] = detect_triggers(setup.ctx, now=T0)
    assert first.kind == "new_data"
    assert first.cause == "new data cancer@1 (risk-model has no version yet)"
    assert first.dedupe_key == "new_data:risk-model:cancer@1"
    assert first.status == "pending"
    assert detect_triggers(setup.ctx, now=T0) == []

    setup.train_live()
    assert detect_triggers(setup.ctx, now=T0) == []
    setup.add_data(seed=1)
    [second] = detect_triggers(setup.ctx, now=T0)
    assert second.cause == "new data cancer@2 (risk-model@1 was trained on cancer@1)"
    assert detect_triggers(setup.ctx, now=T0 + timedelta(hours=1)) == []
    assert [t.trigger_id for t in list_triggers(setup.ctx)] == [
        second.trigger_id,
        first.trigger_id,
    ]
    [event, _] = setup.events("controller.trigger")[::-1]
    assert event.subject == "model:risk-model"
    assert event.details["trigger"] == second.trigger_id
    assert event.details["cause"] == second.cause


def test_drift_and_decay_alerts_trigger_once_each(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(on='["drift"]')
    drift = _alert(setup, "drift", "drift:mean radius", "drift in mean radius PSI 0.31")
    output = _alert(setup, "prediction_drift", "prediction_drift", "predictions moved PSI 0.4")
    _alert(setup, "decay", "decay:roc_auc", "roc_auc fell by 0.08")  # not in `on`
    created = detect_triggers(setup.ctx, now=T0)
    assert [(t.kind, t.cause, t.dedupe_key) for t in created] == [
        ("drift", "drift in mean radius PSI 0.31", f"alert:{drift}"),
        ("drift", "predictions moved PSI 0.4", f"alert:{output}"),
    ]
    # The alert is refreshed while the problem lasts: still the same reason.
    _alert(setup, "drift", "drift:mean radius", "drift in mean radius PSI 0.35")
    assert detect_triggers(setup.ctx, now=T0) == []


def test_decay_alert(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(on='["decay"]')
    decay = _alert(setup, "decay", "decay:roc_auc", "roc_auc fell by 0.08")
    [trigger] = detect_triggers(setup.ctx, now=T0)
    assert (trigger.kind, trigger.cause, trigger.dedupe_key) == (
        "decay",
        "roc_auc fell by 0.08",
        f"alert:{decay}",
    )
    assert detect_triggers(setup.ctx, now=T0) == []


def test_schedule_fires_each_slot_once_without_a_backlog(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["schedule"]', schedule='schedule = "0 3 * * *"')
    started = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    # Today's 03:00 passed before the controller started: it does not fire.
    assert detect_triggers(setup.ctx, now=started, since=started) == []
    tomorrow = datetime(2026, 4, 2, 3, 0, 20, tzinfo=UTC)
    [trigger] = detect_triggers(setup.ctx, now=tomorrow, since=started)
    assert trigger.kind == "schedule"
    assert trigger.dedupe_key == "schedule:risk-model:2026-04-02T03:00:00+00:00"
    assert "0 3 * * *" in trigger.cause
    assert detect_triggers(setup.ctx, now=tomorrow + timedelta(hours=5), since=started) == []
    # Down for three days: only the most recent slot fires, once.
    later = datetime(2026, 4, 5, 4, 0, tzinfo=UTC)
    [caught_up] = detect_triggers(setup.ctx, now=later, since=later)
    assert caught_up.dedupe_key == "schedule:risk-model:2026-04-05T03:00:00+00:00"
    assert detect_triggers(setup.ctx, now=later, since=later) == []


def test_last_schedule_slot() -> None:
    at = datetime(2026, 4, 6, 3, 0, tzinfo=UTC)  # a Monday
    assert last_schedule_slot("0 3 * * 1", at) == at
    assert last_schedule_slot("0 3 * * 1", at - timedelta(seconds=1)) == at - timedelta(days=7)
    assert last_schedule_slot("*/15 * * * *", at + timedelta(minutes=20)) == at + timedelta(
        minutes=15
    )


def test_a_bad_schedule_is_a_config_error(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup(on='["schedule"]', schedule='schedule = "0 25 * * *"')
    with pytest.raises(ConfigError, match="not valid cron"):
        detect_triggers(setup.ctx, now=T0)
    with pytest.raises(ConfigError, match="not valid cron"):
        Controller(setup.ctx)


def test_manual_retrain_needs_write_and_settings(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    trigger = request_retrain(setup.ctx, "risk-model", reason="monthly refresh")
    assert (trigger.kind, trigger.status) == ("manual", "pending")
    assert trigger.cause == "manual retrain by ada: monthly refresh"
    assert trigger.dedupe_key.startswith("manual:")
    again = request_retrain(setup.ctx, "risk-model")
    assert again.trigger_id != trigger.trigger_id
    assert get_trigger(setup.ctx, trigger.trigger_id) == trigger
    with pytest.raises(PermissionDeniedError):
        request_retrain(setup.as_role("viewer"), "risk-model")
    with pytest.raises(ConfigError, match=r"\[models.churn.retrain\]"):
        request_retrain(setup.ctx, "churn")


# -- the lock --------------------------------------------------------------------------


def test_a_second_controller_waits_while_the_first_holds_the_lock(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    with pytest.raises(InvalidInputError, match="longer than its interval"):
        Controller(setup.ctx, interval=10, lease=5)
    now = datetime.now(UTC)
    first = Controller(setup.ctx, holder="first", lease=30, clock=lambda: now)
    second = Controller(setup.reopen(), holder="second", lease=30, clock=lambda: now)
    assert first.run_once() == []
    trigger = request_retrain(setup.ctx, "risk-model")
    assert second.run_once() == []
    assert second.waiting_for == "first"
    with setup.ctx.metadata.read() as session:
        lease = session.get_lock(LOCK_NAME)
    assert lease is not None
    assert lease.holder == "first"
    assert get_trigger(setup.ctx, trigger.trigger_id).status == "pending"
    # The first renews its own lease; the second still waits.
    assert first.renew()
    assert not second.renew()

    # Once the first's lease has run out, the second takes over.
    later = Controller(
        setup.reopen(), holder="second", lease=30, clock=lambda: now + timedelta(seconds=31)
    )
    assert later.renew()
    assert later.waiting_for is None
    assert not first.renew()
    # A clean stop gives the lease up at once.
    later.release()
    with setup.ctx.metadata.read() as session:
        assert session.get_lock(LOCK_NAME) is None
    assert first.renew()


def test_run_gives_the_lock_up_when_stopped(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    controller = Controller(setup.ctx, holder="looping", interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,))
    thread.start()
    try:
        for _ in range(600):
            with setup.ctx.metadata.read() as session:
                lease = session.get_lock(LOCK_NAME)
            if lease is not None:
                break
            time.sleep(0.05)
        assert lease is not None
        assert lease.holder == "looping"
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    with setup.ctx.metadata.read() as session:
        assert session.get_lock(LOCK_NAME) is None


def test_edits_to_the_workspace_file_are_taken_up_between_rounds(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(policy="approval")
    events: list[ControllerEvent] = []
    controller = Controller(setup.ctx, holder="looping", interval=0.05, on_event=events.append)
    config = setup.root / "pathtolive.toml"
    good = config.read_text()

    def live_policy() -> object:
        return controller.ctx.settings.document["models"]["risk-model"]["promotion"]["live"]

    def wait_for(kind: str, count: int) -> None:
        for _ in range(600):
            if sum(1 for e in list(events) if e.kind == kind) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event: {events}")

    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,))
    thread.start()
    try:
        wait_for("acquired", 1)
        config.write_text(good.replace('live = "approval"', 'live = "auto"'))
        wait_for("reloaded", 1)
        assert live_policy() == "auto"
        # A file that does not read, then a schedule that is not cron: said once each,
        # and the settings in use stay.
        config.write_text(good + "\n[models\n")
        wait_for("error", 1)
        config.write_text(good.replace('on = ["new_data"]', 'on = ["schedule"]\nschedule = "when"'))
        wait_for("error", 2)
        time.sleep(0.3)  # several rounds on the same bad file
        assert live_policy() == "auto"
        config.write_text(good)
        wait_for("reloaded", 2)
        assert live_policy() == "approval"
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    errors = [e.message for e in events if e.kind == "error"]
    assert len(errors) == 2
    assert errors[0].startswith("pathtolive.toml not taken up (the settings in use stay): ")
    assert "schedule" in errors[1]


def test_a_controller_that_lost_the_lock_leaves_the_trigger_running(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    setup.add_data()
    trigger = request_retrain(setup.ctx, "risk-model")
    left = handle_trigger(setup.ctx, trigger, "stale", guard=lambda: False)
    assert (left.status, left.holder, left.model_version) == ("running", "stale", None)
    assert model_service.list_models(setup.ctx) == []  # nothing was trained
    assert setup.events("controller.decision") == []


# -- releases --------------------------------------------------------------------------

# Releases train and gate real models: SQLite alone, but for the crash tests below, which
# exercise the claims and leases on both backends.
_SQLITE_ONLY = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@pytest.mark.slow
@pytest.mark.xdist_group("controller")
@_SQLITE_ONLY
@pytest.mark.parametrize(
    ("policy", "decision", "live"),
    [
        ("auto", "promoted risk-model@2 to live (auto)", 2),
        ("four-eyes", "risk-model@2 awaits approval for live (four-eyes)", 1),
    ],
)
def test_new_data_is_released_under_the_policy(
    make_setup: Callable[..., Setup], policy: str, decision: str, live: int
) -> None:
    setup = make_setup(policy=policy)
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)
    controller = Controller(setup.ctx, holder="c1")
    [handled] = controller.run_once()
    assert handled.status == "done"
    assert handled.decision == decision
    assert handled.model_version == 2
    assert handled.attempts == 1
    assert handled.holder == "c1"
    assert setup.versions() == [1, 2]
    assert setup.live() == live
    promotions = promotion_service.list_promotions(setup.ctx, model="risk-model")
    assert [(p.version, p.status) for p in promotions] == [
        (2, "applied" if policy == "auto" else "pending")
    ]
    assert "new data cancer@2" in promotions[0].reason
    version = model_service.model_version(setup.ctx, "risk-model@2")
    assert version.run_id == handled.run_id
    with setup.ctx.metadata.read() as session:
        stored = session.get_run(version.run_id)
    assert stored is not None
    assert stored.inputs == {"data": "cancer@2"}
    assert stored.params["n_estimators"] == 20

    [release] = setup.events("controller.release")
    assert release.details["trigger"] == handled.trigger_id
    assert release.details["version"] == 2
    [decided] = setup.events("controller.decision")
    assert decided.details["decision"] == decision
    assert decided.details["cause"] == handled.cause
    # Nothing more to do, and no second release for the same data.
    assert controller.run_once() == []
    assert setup.versions() == [1, 2]


@_SQLITE_ONLY
def test_without_a_named_parameter_the_data_goes_to_the_pipelines_one_data_parameter(
    make_setup: Callable[..., Setup],
) -> None:
    # The dataset is "cancer", the pipeline's parameter "data": no name in common.
    setup = make_setup(policy="approval", parameter=None)
    setup.add_data()
    [handled] = Controller(setup.ctx, holder="c1").run_once()
    assert handled.status == "done", handled.error
    assert handled.model_version == 1
    version = model_service.model_version(setup.ctx, "risk-model@1")
    with setup.ctx.metadata.read() as session:
        stored = session.get_run(version.run_id)
    assert stored is not None
    assert stored.inputs == {"data": "cancer@1"}


@pytest.mark.slow
@pytest.mark.xdist_group("controller")
@_SQLITE_ONLY
def test_failing_gates_and_failing_runs_are_decisions_not_retried(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(floor=0.9999)
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)
    controller = Controller(setup.ctx, holder="c1")
    [handled] = controller.run_once()
    assert handled.status == "done"
    assert handled.decision.startswith("gates failed for risk-model@2: min_metric: ")
    assert setup.live() == 1
    controller.release()

    # A pipeline whose code raises: the trigger fails, audited, and is not retried.
    config = setup.root / "pathtolive.toml"
    text = config.read_text().replace('pipeline = "risk"', 'pipeline = "fails"')
    config.write_text(text.replace("params = { n_estimators = 20 }", ""))
    broken = Controller(setup.reopen(), holder="c2")
    trigger = request_retrain(setup.ctx, "risk-model", reason="try the broken one")
    [failed] = broken.run_once()
    assert failed.trigger_id == trigger.trigger_id
    assert failed.status == "failed"
    assert failed.decision.startswith("run failed: ")
    assert "ZeroDivisionError" in (failed.error or "")
    assert broken.run_once() == []
    assert get_trigger(setup.ctx, trigger.trigger_id).status == "failed"
    assert [e.details["status"] for e in setup.events("controller.decision")] == [
        "done",
        "failed",
    ]


@pytest.mark.slow
@pytest.mark.xdist_group("controller")
@_SQLITE_ONLY
def test_pending_triggers_of_a_model_are_covered_by_one_release(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)
    first = request_retrain(setup.ctx, "risk-model", reason="one")
    handled = Controller(setup.ctx, holder="c1").run_once()
    # The manual trigger is oldest: it trains on cancer@2; the new-data trigger detected
    # in the same round is answered by that release.
    assert [(t.trigger_id, t.status) for t in handled] == [(first.trigger_id, "done")]
    [covered] = list_triggers(setup.ctx, status="done", limit=None)[:1]
    assert covered.kind == "new_data"
    assert covered.decision == f"covered by trigger {first.trigger_id}"
    assert setup.versions() == [1, 2]


# -- crash and resume ------------------------------------------------------------------


class Crash(BaseException):
    """A stand-in for the process dying at a chosen point."""


def _crash_once(
    monkeypatch: pytest.MonkeyPatch, target: Any, name: str, *, after: bool = False
) -> None:
    real = getattr(target, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            if after:
                real(*args, **kwargs)
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


@pytest.mark.slow
@pytest.mark.xdist_group("controller")
@pytest.mark.parametrize(
    ("target", "name", "after"),
    [
        # Died after registering the version, before recording it on the trigger.
        (controller_module, "_record_version", False),
        # Died with the version recorded, before asking for its promotion.
        (promotion_service, "promote", False),
        # Died after the alias moved, before the trigger was finished.
        (promotion_service, "promote", True),
    ],
    ids=["registered", "recorded", "promoted"],
)
def test_a_controller_that_dies_mid_release_is_resumed_exactly_once(
    make_setup: Callable[..., Setup],
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    name: str,
    after: bool,
) -> None:
    setup = make_setup()
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)
    _crash_once(monkeypatch, target, name, after=after)
    dying = Controller(setup.ctx, holder="dying", lease=30)
    with pytest.raises(Crash):
        dying.run_once()
    [stuck] = list_triggers(setup.ctx)
    assert (stuck.status, stuck.holder) == ("running", "dying")
    assert setup.versions() == [1, 2]

    # A restarted controller waits for the dead one's lease...
    restarted = Controller(setup.reopen(), holder="restarted", lease=30)
    assert restarted.run_once() == []
    assert restarted.waiting_for == "dying"
    # ...and once it has run out, takes the trigger over and finishes it.
    expired = datetime.now(UTC) + timedelta(seconds=31)
    restarted.clock = lambda: expired
    [resumed] = restarted.run_once()
    assert resumed.trigger_id == stuck.trigger_id
    assert resumed.status == "done"
    assert resumed.decision == "promoted risk-model@2 to live (auto)"
    assert resumed.attempts == 2
    assert resumed.holder == "restarted"
    assert setup.versions() == [1, 2]  # exactly one new version
    assert setup.live() == 2
    promotions = promotion_service.list_promotions(setup.ctx, model="risk-model")
    assert [(p.version, p.status) for p in promotions] == [(2, "applied")]
    [taken] = setup.events("controller.resumed")
    assert taken.details["from"] == "dying"
    assert [e.details["trigger"] for e in setup.events("controller.decision")] == [stuck.trigger_id]
    assert restarted.run_once() == []
