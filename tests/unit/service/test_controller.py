"""The controller's loop through the service layer: the lock that lets one controller act
at a time, rounds until stopped, and edits to the workspace file taken up between rounds.
Real workspaces, real pipelines, real gates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.service.controller import LOCK_NAME, Controller
from pathtolive.service.lease import lease_expires_at
from pathtolive.service.recheck import LIVE_FAILS_GATES
from pathtolive.service.release import ControllerEvent
from pathtolive.service.triggers import get_trigger, request_retrain
from tests.support.controller import Setup

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


def test_the_lease_expiry_the_server_exports_follows_the_controllers_renewals(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    assert lease_expires_at(setup.ctx) is None  # no controller ever ran: no series
    now = datetime.now(UTC)
    clock = [now]
    controller = Controller(setup.ctx, holder="first", lease=30, clock=lambda: clock[0])
    assert controller.renew()
    assert lease_expires_at(setup.ctx) == now + timedelta(seconds=30)
    clock[0] = now + timedelta(seconds=10)
    assert controller.renew()
    assert lease_expires_at(setup.ctx) == now + timedelta(seconds=40)
    # Stopped: nobody renews it, so it lapses where the last renewal left it.
    controller.release()
    assert lease_expires_at(setup.ctx) == now + timedelta(seconds=40)


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

    def edit(text: str) -> None:
        # Saved whole, as editors save: a round that read the file half-written would
        # take up an empty document.
        scratch = config.with_suffix(".toml.tmp")
        scratch.write_text(text)
        scratch.replace(config)

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
        edit(good.replace('live = "approval"', 'live = "auto"'))
        wait_for("reloaded", 1)
        assert live_policy() == "auto"
        # A file that does not read, then a schedule that is not cron: said once each,
        # and the settings in use stay.
        edit(good + "\n[models\n")
        wait_for("error", 1)
        edit(good.replace('on = ["new_data"]', 'on = ["schedule"]\nschedule = "when"'))
        wait_for("error", 2)
        time.sleep(0.3)  # several rounds on the same bad file
        assert live_policy() == "auto"
        edit(good)
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


def test_a_round_clears_the_gate_alerts_of_versions_no_longer_live(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup(on='["config"]')
    now = datetime.now(UTC)
    with setup.ctx.metadata.write() as session:
        failing, _ = session.raise_alert(
            "risk-model",
            LIVE_FAILS_GATES,
            "live_fails_gates:risk-model@1",
            "fails",
            {"version": 1},
            at=now,
        )
        drift, _ = session.raise_alert("risk-model", "drift", "drift", "moved", {}, at=now)
    events: list[ControllerEvent] = []
    Controller(setup.ctx, holder="ctl", clock=lambda: now, on_event=events.append).run_once()
    with setup.ctx.metadata.read() as session:
        still_open = [a.alert_id for a in session.list_alerts("risk-model", status="open")]
    assert still_open == [drift.alert_id]
    [cleared] = setup.events("alert.cleared")
    assert (cleared.details["alert"], cleared.details["reason"]) == (
        failing.alert_id,
        "no version is live now",
    )
    assert "1 alert(s) on versions no longer live cleared" in [e.message for e in events]
