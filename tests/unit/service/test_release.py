"""Releases through the service layer: under each policy (and the trace each leaves),
failures, a lost lock, and a controller that dies at each step of a release and is resumed
exactly once. Real workspaces, real pipelines, real gates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pathtolive import env
from pathtolive.entities import Trigger
from pathtolive.errors import ConfigError
from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import runs as run_service
from pathtolive.service.controller import LOCK_NAME, Controller
from pathtolive.service.release import RELEASE_FAILED, Fence, handle_trigger
from pathtolive.service.triggers import (
    detect_triggers,
    get_trigger,
    list_triggers,
    request_retrain,
    retrain_config,
)
from tests.support.controller import Setup
from tests.support.tracing import Spans, traced

# -- a lost lock -----------------------------------------------------------------------


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
    with traced() as spans:
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
    _assert_the_release_is_one_trace(spans, handled, promotions[0].status)


def _assert_the_release_is_one_trace(spans: Spans, handled: Trigger, promoted: str) -> None:
    """The release span holds the run it trained (with its steps) and the promotion it
    asked for (with the gates check and each gate), all in one trace."""
    (release,) = spans.named("release")
    assert dict(release.attributes or {}) == {
        "pathtolive.model": "risk-model",
        "pathtolive.trigger": handled.trigger_id,
        "pathtolive.trigger.kind": "new_data",
        "pathtolive.trigger.status": "done",
        "pathtolive.release.decision": handled.decision,
        "pathtolive.run_id": handled.run_id,
        "pathtolive.model.version": 2,
    }
    run, promotion = spans.children(release)
    assert run.name == "pipeline.run"
    assert run.attributes is not None
    assert run.attributes["pathtolive.run_id"] == handled.run_id
    assert {step.name for step in spans.children(run)} == {"pipeline.step"}
    assert promotion.name == "promotion"
    assert promotion.attributes is not None
    assert promotion.attributes["pathtolive.promotion.status"] == promoted
    (check,) = spans.children(promotion)
    assert check.name == "gates.check"
    assert {gate.name for gate in spans.children(check)} == {"gate"}
    assert {span.context.trace_id for span in spans.all()} == {release.context.trace_id}


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
def test_failing_gates_are_a_decision_and_failing_runs_are_retried_then_alerted(
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
    assert handled.attempts == 1  # a decision: not tried again
    assert setup.live() == 1
    controller.release()

    # A pipeline whose code raises: the release fails, and is tried again after 1m, then
    # 2m (the defaults: 3 attempts, 1m backoff doubling); then the trigger fails and an
    # alert opens.
    config = setup.root / "pathtolive.toml"
    text = config.read_text().replace('pipeline = "risk"', 'pipeline = "fails"')
    config.write_text(text.replace("params = { n_estimators = 20 }", ""))
    now = [datetime.now(UTC)]
    broken = Controller(setup.reopen(), holder="c2", clock=lambda: now[0])
    trigger = request_retrain(setup.ctx, "risk-model", reason="try the broken one")
    waits = []
    for attempt, backoff in [(1, timedelta(minutes=1)), (2, timedelta(minutes=2))]:
        assert broken.run_once() == []
        waiting = get_trigger(setup.ctx, trigger.trigger_id)
        assert (waiting.status, waiting.attempts, waiting.holder) == ("pending", attempt, None)
        assert waiting.next_attempt_at == now[0] + backoff
        assert "ZeroDivisionError" in (waiting.error or "")
        assert waiting.decision.startswith("run failed: ")
        waits.append(waiting.next_attempt_at)
        # Not due yet: the next round leaves it waiting.
        now[0] += backoff - timedelta(seconds=1)
        assert broken.run_once() == []
        assert get_trigger(setup.ctx, trigger.trigger_id).attempts == attempt
        now[0] += timedelta(seconds=1)
    [failed] = broken.run_once()
    assert failed.trigger_id == trigger.trigger_id
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 3, None)
    assert failed.decision.startswith("run failed: ")
    assert failed.decision.endswith("(gave up after 3 attempts)")
    assert "ZeroDivisionError" in (failed.error or "")
    assert broken.run_once() == []
    assert get_trigger(setup.ctx, trigger.trigger_id).status == "failed"

    retries = setup.events("controller.retry")
    assert [(e.details["trigger"], e.details["attempt"]) for e in retries] == [
        (trigger.trigger_id, 1),
        (trigger.trigger_id, 2),
    ]
    assert [e.details["next_attempt_at"] for e in retries] == [w.isoformat() for w in waits]
    assert [e.details["status"] for e in setup.events("controller.decision")] == [
        "done",
        "failed",
    ]
    with setup.ctx.metadata.read() as session:
        [alert] = session.list_alerts("risk-model", status="open")
    assert alert.kind == RELEASE_FAILED
    assert alert.details["trigger"] == trigger.trigger_id
    assert alert.details["attempts"] == 3
    assert f"trigger {trigger.trigger_id}" in alert.message
    [opened] = setup.events("alert.opened")
    assert opened.details["alert"] == alert.alert_id

    # The pipeline mended: the next release goes through and clears the alert.
    config.write_text(text.replace('pipeline = "fails"', 'pipeline = "risk"'))
    mended = request_retrain(setup.ctx, "risk-model", reason="fixed")
    broken.release()
    [released] = Controller(setup.reopen(), holder="c3", clock=lambda: now[0]).run_once()
    assert (released.trigger_id, released.status) == (mended.trigger_id, "done")
    with setup.ctx.metadata.read() as session:
        assert session.list_alerts("risk-model", status="open") == []
    [cleared] = setup.events("alert.cleared")
    assert (cleared.details["alert"], cleared.details["by_trigger"]) == (
        alert.alert_id,
        mended.trigger_id,
    )


def test_retry_settings_are_checked(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    config = setup.root / "pathtolive.toml"
    base = config.read_text()
    for line, wrong in [
        ("max_attempts = 0", "max_attempts must be a whole number, 1 or more"),
        ('max_attempts = "3"', "max_attempts must be a whole number, 1 or more"),
        ('retry_backoff = "soon"', "retry_backoff = 'soon' is not a duration"),
        ("retry_backoff = 60", "retry_backoff must be a duration"),
    ]:
        config.write_text(base + line + "\n")
        with pytest.raises(ConfigError, match=wrong):
            retrain_config(setup.reopen(), "risk-model")
    config.write_text(base + 'max_attempts = 1\nretry_backoff = "30s"\n')
    settings = retrain_config(setup.reopen(), "risk-model")
    assert settings.retry_delay(1) is None  # one attempt: never retried
    config.write_text(base + 'max_attempts = 4\nretry_backoff = "30s"\n')
    settings = retrain_config(setup.reopen(), "risk-model")
    assert [settings.retry_delay(n) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
        None,
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
    ("target", "name", "after", "successor"),
    [
        # Died as soon as the version was registered (which records it on the trigger in
        # the same transaction); the successor runs as the same user, or as another: it
        # finds the version by the trigger either way.
        (model_service, "register_model", True, "ada"),
        (model_service, "register_model", True, "bob"),
        # Died with the version recorded, before asking for its promotion.
        (promotion_service, "promote", False, "ada"),
        # Died after the alias moved, before the trigger was finished.
        (promotion_service, "promote", True, "ada"),
    ],
    ids=["registered", "registered-other-user", "recorded", "promoted"],
)
def test_a_controller_that_dies_mid_release_is_resumed_exactly_once(
    make_setup: Callable[..., Setup],
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    name: str,
    after: bool,
    successor: str,
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
    restarted = Controller(
        setup.reopen({**setup.environ, env.USER: successor}), holder="restarted", lease=30
    )
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
    assert taken.actor == successor
    [release] = setup.events("controller.release")
    assert (release.details["trigger"], release.details["version"]) == (stuck.trigger_id, 2)
    assert [e.details["trigger"] for e in setup.events("controller.decision")] == [stuck.trigger_id]
    assert restarted.run_once() == []


# -- fencing ---------------------------------------------------------------------------


def _take_over(setup: Setup, holder: str, *, after: timedelta) -> int:
    """``holder`` takes the controller lease, as if the one before it was silent for
    ``after``; returns the new generation."""
    with setup.ctx.metadata.write() as session:
        lease = session.acquire_lock(LOCK_NAME, holder, at=datetime.now(UTC) + after, ttl=30)
    assert lease is not None
    return lease.generation


def test_a_stale_holder_cannot_claim_a_trigger(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    setup.add_data()
    stale = Controller(setup.ctx, holder="stale", lease=30)
    assert stale.renew()
    assert stale.generation is not None
    fence = Fence(LOCK_NAME, "stale", stale.generation)
    successor = _take_over(setup, "successor", after=timedelta(seconds=31))
    assert successor == fence.generation + 1
    trigger = request_retrain(setup.ctx, "risk-model")
    before = setup.events("controller.")
    left = handle_trigger(setup.ctx, trigger, "stale", fence=fence)
    assert (left.status, left.holder, left.attempts) == ("pending", None, 0)
    [fenced] = [e for e in setup.events("controller.") if e not in before]
    assert fenced.action == "controller.fenced"
    assert {k: v for k, v in fenced.details.items() if k != "role"} == {
        "write": "claiming",
        "holder": "stale",
        "generation": fence.generation,
        "trigger": trigger.trigger_id,
        "lease_holder": "successor",
        "lease_generation": successor,
    }


@pytest.mark.slow
@pytest.mark.xdist_group("controller")
@pytest.mark.parametrize("released", [False, True], ids=["taken-over", "taken-back"])
def test_a_holder_that_lost_its_lease_while_training_registers_nothing(
    make_setup: Callable[..., Setup], monkeypatch: pytest.MonkeyPatch, released: bool
) -> None:
    """While the first controller trains (paused, as far as the lease knows), another
    takes the lease over. The first's registration is refused in its own transaction:
    no version, no object, no record on the trigger; the refusal is audited. Also when
    the successor gave the lease up and the first took it back since (a new generation:
    another controller may have acted in between)."""
    setup = make_setup()
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)
    real = run_service.run_pipeline
    first = Controller(setup.ctx, holder="first", lease=30)

    def paused_past_the_lease(*args: Any, **kwargs: Any) -> Any:
        _take_over(setup, "second", after=timedelta(seconds=31))
        if released:
            with setup.ctx.metadata.write() as session:
                session.release_lock(LOCK_NAME, "second")
            assert first.renew()  # the first takes the lease back: a new generation
        return real(*args, **kwargs)

    monkeypatch.setattr(run_service, "run_pipeline", paused_past_the_lease)
    assert first.run_once() == []
    [trigger] = list_triggers(setup.ctx)
    assert (trigger.status, trigger.holder, trigger.model_version) == ("running", "first", None)
    assert setup.versions() == [1]
    assert setup.live() == 1
    [fenced] = setup.events("controller.fenced")
    assert fenced.details["write"] == "registering risk-model@2"
    assert fenced.details["holder"] == "first"
    assert fenced.details["trigger"] == trigger.trigger_id
    assert fenced.details["lease_holder"] == ("first" if released else "second")
    assert fenced.details["lease_generation"] == fenced.details["generation"] + (
        2 if released else 1
    )
    assert setup.events("controller.release") == []
    assert setup.events("model.registered")[-1].subject == "model:risk-model@1"
    [run] = run_service.list_runs(setup.ctx, pipeline="risk", limit=1)
    assert run.status == "succeeded"  # the training itself did happen
    assert run.run_id != trigger.run_id


@pytest.mark.slow
@pytest.mark.xdist_group("controller")
@_SQLITE_ONLY
def test_a_holder_that_lost_its_lease_before_promoting_moves_no_alias(
    make_setup: Callable[..., Setup], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = make_setup()
    setup.add_data()
    setup.train_live()
    setup.add_data(seed=1)
    real = promotion_service.promote

    def paused_past_the_lease(*args: Any, **kwargs: Any) -> Any:
        _take_over(setup, "second", after=timedelta(seconds=31))
        return real(*args, **kwargs)

    monkeypatch.setattr(promotion_service, "promote", paused_past_the_lease)
    first = Controller(setup.ctx, holder="first", lease=30)
    # The guard is asked before promoting; a pause right after it is what fencing covers.
    monkeypatch.setattr(first, "_guard", lambda: True)
    assert first.run_once() == []
    [trigger] = list_triggers(setup.ctx)
    assert (trigger.status, trigger.model_version) == ("running", 2)
    assert setup.live() == 1
    assert promotion_service.list_promotions(setup.ctx, model="risk-model") == []
    [fenced] = setup.events("controller.fenced")
    assert fenced.details["write"] == "promoting risk-model@2 to live"


def test_a_trigger_whose_controllers_keep_dying_is_not_taken_over_forever(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on="[]")  # the manual trigger alone
    setup.add_data()
    trigger = request_retrain(setup.ctx, "risk-model")
    at = datetime.now(UTC)
    with setup.ctx.metadata.write() as session:
        # Three controllers, each killed mid-release (the default max_attempts is 3).
        assert session.claim_trigger(trigger.trigger_id, "dead-1", at=at) is not None
        for before, after in [("dead-1", "dead-2"), ("dead-2", "dead-3")]:
            claimed = session.claim_trigger(trigger.trigger_id, after, at=at, take_over_from=before)
            assert claimed is not None
    [given_up] = Controller(setup.ctx, holder="fourth").run_once()
    assert (given_up.trigger_id, given_up.status, given_up.attempts) == (
        trigger.trigger_id,
        "failed",
        4,
    )
    assert "at each attempt" in given_up.decision
    assert model_service.list_models(setup.ctx) == []  # not trained a fourth time
    with setup.ctx.metadata.read() as session:
        [alert] = session.list_alerts("risk-model", status="open")
    assert (alert.kind, alert.details["trigger"]) == (RELEASE_FAILED, trigger.trigger_id)


# -- config triggers: a re-check, never a training -------------------------------------


def _floor(setup: Setup, floor: float) -> Setup:
    config = setup.root / "pathtolive.toml"
    text = config.read_text()
    start = text.index("min_metric = ")
    end = text.index("\n", start)
    config.write_text(f"{text[:start]}min_metric = {floor}{text[end:]}")
    setup.ctx = setup.reopen()
    return setup


def test_a_config_trigger_overtaken_by_another_change_is_superseded_and_covers_nothing(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["config", "new_data"]')
    [recorded] = [t for t in detect_triggers(setup.ctx) if t.kind == "config"]
    assert recorded.status == "done"
    [stale] = [t for t in detect_triggers(_floor(setup, 0.6).ctx) if t.kind == "config"]
    [fresh] = [t for t in detect_triggers(_floor(setup, 0.7).ctx) if t.kind == "config"]
    manual = request_retrain(setup.ctx, "risk-model")

    superseded = handle_trigger(setup.ctx, stale, "ctl")
    assert superseded.status == "done"
    assert superseded.decision.startswith("superseded: the settings changed again")
    assert superseded.model_version is None
    # No version is live: nothing to re-check, and nothing trained.
    checked = handle_trigger(setup.ctx, fresh, "ctl")
    assert checked.decision == "no version of risk-model is live: nothing to re-check"
    assert model_service.list_models(setup.ctx) == []
    assert get_trigger(setup.ctx, manual.trigger_id).status == "pending"
    assert setup.events("gates.checked") == []
