"""Releases through the service layer: under each policy, failures, a lost lock, and a
controller that dies at each step of a release and is resumed exactly once. Real
workspaces, real pipelines, real gates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import release as release_module
from pathtolive.service.controller import Controller
from pathtolive.service.release import handle_trigger
from pathtolive.service.triggers import get_trigger, list_triggers, request_retrain
from tests.support.controller import Setup

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
        (release_module, "_record_version", False),
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
