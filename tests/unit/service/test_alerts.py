"""The alert outbox through the service layer, against real receivers on loopback: a
receiver that is down keeps the alerts in the outbox until it is back, a receiver that
hangs costs a call its budget and no more, every attempt is counted, and each alert
gets its turn. A real workspace and metadata store (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive import env
from pathtolive.entities import Alert
from pathtolive.errors import InvalidInputError, PermissionDeniedError
from pathtolive.monitoring.webhook import ALERT_HEADER, DELIVERY_HEADER, MAX_RETRY_DELAY
from pathtolive.service.alerts import deliver_alerts, list_alerts, outbox_counts, queue_delivery
from pathtolive.service.context import ServiceContext
from pathtolive.service.controller import Controller
from pathtolive.service.release import ControllerEvent
from tests.support.cli import Result, run_in_process
from tests.support.controller import Setup
from tests.support.webhook import free_port, receiving

SECRET = b"outbox-test-secret"
T0 = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(seconds=2 * MAX_RETRY_DELAY)
"""Past the longest backoff: everything in the outbox is due again."""


def _with_webhook(setup: Setup, url: str, backoff: str = "30s") -> ServiceContext:
    config = setup.root / "pathtolive.toml"
    config.write_text(
        config.read_text()
        + f'\n[models.risk-model.monitoring]\nalert_webhook = "{url}"\n'
        + f'alert_backoff = "{backoff}"\n'
    )
    return setup.reopen({**setup.environ, env.ALERT_WEBHOOK_SECRET: SECRET.decode()})


def _raise(ctx: ServiceContext, count: int, first: int = 0) -> list[int]:
    """``count`` alerts opened at T0 and queued, as the monitor does."""
    ids = []
    with ctx.metadata.write() as session:
        for number in range(first, first + count):
            alert, _ = session.raise_alert(
                "risk-model", "drift", f"drift:f{number}", f"drift in f{number}", {}, at=T0
            )
            queue_delivery(session, alert, at=T0)
            ids.append(alert.alert_id)
    return ids


def _alerts(ctx: ServiceContext, ids: list[int]) -> list[Alert]:
    with ctx.metadata.read() as session:
        found = [session.get_alert(alert_id) for alert_id in ids]
    assert all(alert is not None for alert in found)
    return [alert for alert in found if alert is not None]


def test_alerts_wait_in_the_outbox_while_the_receiver_is_down_then_are_delivered(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    port = free_port()
    ctx = _with_webhook(setup, f"http://127.0.0.1:{port}/hooks/alerts")
    ids = _raise(ctx, 5)

    down = deliver_alerts(ctx, now=T0)
    # Every alert got its one attempt, counted, with the error and a later next attempt.
    assert sorted(down.attempted) == ids
    assert down.delivered == []
    assert [a.alert_id for a in down.pending] == ids
    stored = _alerts(ctx, ids)
    assert [a.delivery_attempts for a in stored] == [1] * 5
    assert all(a.delivery == "pending" and a.delivered_at is None for a in stored)
    assert all(a.delivery_due_at is not None and a.delivery_due_at > T0 for a in stored)
    assert all(a.delivery_error and "refused" in a.delivery_error.lower() for a in stored)
    assert outbox_counts(ctx) == {"risk-model": 5}
    assert [a.alert_id for a in list_alerts(ctx, pending_delivery=True)] == ids[::-1]
    delivery_ids = {a.alert_id: a.delivery_id for a in stored}
    assert len(set(delivery_ids.values())) == 5
    assert None not in delivery_ids.values()

    with receiving(SECRET, port) as receiver:
        # Not yet due: the backoff holds them back.
        assert deliver_alerts(ctx, now=T0).attempted == []
        assert receiver.requests == []
        back = deliver_alerts(ctx, now=LATER)
    assert sorted(back.delivered) == ids
    assert back.pending == []
    assert outbox_counts(ctx) == {}
    assert all(request.verified for request in receiver.requests)
    # Each alert arrived under the delivery id it was given when it was opened.
    sent = dict(
        zip(map(int, receiver.header(ALERT_HEADER)), receiver.header(DELIVERY_HEADER), strict=True)
    )
    assert sent == delivery_ids
    delivered = _alerts(ctx, ids)
    assert [a.delivery_attempts for a in delivered] == [2] * 5
    assert all(a.delivery == "delivered" and a.delivery_error is None for a in delivered)
    # Delivered is final: a later call sends nothing.
    assert deliver_alerts(ctx, now=LATER + timedelta(days=1)).attempted == []


def test_a_hanging_receiver_costs_the_budget_and_every_alert_gets_its_turn(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    with receiving(SECRET) as receiver:
        receiver.release = threading.Event()
        ctx = _with_webhook(setup, receiver.url)
        ids = _raise(ctx, 7)
        first = deliver_alerts(ctx, budget=1.0, now=T0)
        # The call came back while the receiver still holds its requests: no answer
        # was ever given, so none can be delivered.
        assert first.delivered == []
        assert 1 <= len(first.attempted) < len(ids)
        counted = {a.alert_id: a.delivery_attempts for a in _alerts(ctx, ids)}
        assert counted == {i: 1 if i in first.attempted else 0 for i in ids}
        for alert in _alerts(ctx, first.attempted):
            assert alert.delivery_due_at is not None
            assert alert.delivery_due_at > T0
        # The next calls try those never tried before those tried already.
        turns = [first.attempted]
        when = T0
        while len({i for turn in turns for i in turn}) < len(ids):
            when += timedelta(seconds=1)
            turn = deliver_alerts(ctx, budget=1.0, now=when).attempted
            assert turn
            assert not set(turn) & {i for done in turns for i in done}
            turns.append(turn)
        receiver.release.set()
    # Every alert was tried exactly once so far, and is still in the outbox.
    assert sorted(i for turn in turns for i in turn) == ids
    assert [a.delivery_attempts for a in _alerts(ctx, ids)] == [1] * len(ids)
    assert outbox_counts(ctx) == {"risk-model": len(ids)}


def test_without_a_secret_alerts_wait_and_the_call_says_why(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    with receiving(SECRET) as receiver:
        ctx = _with_webhook(setup, receiver.url)
        ids = _raise(ctx, 2)
        unsigned = setup.reopen()  # no PATHTOLIVE_WEBHOOK_SECRET
        blocked = deliver_alerts(unsigned, now=T0)
        assert blocked.blocked is not None
        assert env.ALERT_WEBHOOK_SECRET in blocked.blocked
        assert blocked.attempted == []
        assert receiver.requests == []
        assert [a.delivery_attempts for a in _alerts(ctx, ids)] == [0, 0]
        assert sorted(deliver_alerts(ctx, now=T0).delivered) == ids


def test_an_alert_of_a_model_without_a_webhook_waits_out_of_the_others_way(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    with receiving(SECRET) as receiver:
        ctx = _with_webhook(setup, receiver.url)
        with ctx.metadata.write() as session:
            # Queued while the model had a webhook; its setting is gone since.
            orphan, _ = session.raise_alert("old-model", "drift", "drift:x", "x", {}, at=T0)
            queue_delivery(session, orphan, at=T0 - timedelta(days=1))
        ids = _raise(ctx, 2)
        done = deliver_alerts(ctx, now=T0)
    assert sorted(done.delivered) == ids
    assert [a.alert_id for a in done.pending] == [orphan.alert_id]
    [waiting] = _alerts(ctx, [orphan.alert_id])
    assert waiting.delivery_attempts == 0
    assert waiting.delivery_error == "no alert_webhook set for old-model"
    assert waiting.delivery_due_at is not None
    assert waiting.delivery_due_at > T0
    assert deliver_alerts(ctx, now=T0 + timedelta(minutes=1)).attempted == []


def test_delivering_needs_write_and_a_budget_of_zero_or_more(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    with pytest.raises(PermissionDeniedError):
        deliver_alerts(setup.as_role("viewer"))
    with pytest.raises(InvalidInputError, match="budget"):
        deliver_alerts(setup.ctx, budget=-1)
    with pytest.raises(InvalidInputError, match="open or cleared"):
        list_alerts(setup.ctx, status="closed")


# -- the faces: monitor, alerts list, triggers list, watch ------------------------------


def _cli(setup: Setup, *args: str) -> Result:
    environ = {**setup.environ, env.ALERT_WEBHOOK_SECRET: SECRET.decode()}
    return run_in_process(list(args), cwd=setup.root, environ=environ)


def test_monitor_prints_its_report_then_leaves_what_it_cannot_deliver_in_the_outbox(
    make_setup: Callable[..., Setup],
) -> None:
    setup = make_setup()
    setup.add_data()
    setup.train_live()
    port = free_port()
    # A tiny backoff: the next run finds them due again.
    ctx = _with_webhook(setup, f"http://127.0.0.1:{port}/hooks/alerts", backoff="0.01s")
    ids = _raise(ctx, 3)

    down = _cli(setup, "monitor", "risk-model", "--json", "--delivery-budget", "3")
    assert down.code == 0, down.stderr
    report = down.json()  # stdout holds the report alone
    # The report went out before any attempt: the alerts were waiting, untried.
    assert {
        a["alert_id"]: (a["delivery"]["state"], a["delivery"]["attempts"]) for a in report["alerts"]
    } == dict.fromkeys(ids, ("pending", 0))
    assert "0 of 3 attempt(s) delivered; 3 alert(s) in the outbox" in down.stderr
    stored = _alerts(ctx, ids)
    assert [a.delivery_attempts for a in stored] == [1, 1, 1]

    listed = _cli(setup, "alerts", "list", "--pending", "--json")
    assert listed.code == 0, listed.stderr
    assert [(a["alert_id"], a["delivery_attempts"]) for a in listed.json()] == [
        (alert_id, 1) for alert_id in reversed(ids)
    ]
    assert all("refused" in a["delivery_error"].lower() for a in listed.json())
    shown = _cli(setup, "alerts", "list", "risk-model")
    assert shown.code == 0, shown.stderr
    assert shown.stdout.count("pending (1 attempt, last") == 3
    triggers = _cli(setup, "triggers", "list")
    assert triggers.code == 0, triggers.stderr
    assert "3 alert(s) in the webhook outbox" in triggers.stdout
    assert "see 'pathtolive alerts list --pending'" in triggers.stdout

    with receiving(SECRET, port) as receiver:
        back = _cli(setup, "monitor", "risk-model")
    assert back.code == 0, back.stderr
    assert "3 of 3 attempt(s) delivered; 0 alert(s) in the outbox" in back.stderr
    sent = dict(
        zip(map(int, receiver.header(ALERT_HEADER)), receiver.header(DELIVERY_HEADER), strict=True)
    )
    assert sent == {a.alert_id: a.delivery_id for a in stored}
    assert _cli(setup, "alerts", "list", "--pending", "--json").json() == []
    assert "webhook delivered" in _cli(setup, "monitor", "risk-model").stdout
    assert "outbox" not in _cli(setup, "triggers", "list").stdout

    # A receiver that takes the requests and never answers: the run still ends, with
    # its report, every attempt counted and the alerts due again later.
    with receiving(SECRET, port) as receiver:
        receiver.release = threading.Event()
        hung = _raise(ctx, 2, first=3)
        slow = _cli(setup, "monitor", "risk-model", "--delivery-budget", "1")
        assert receiver.entered.is_set()
        receiver.release.set()
    assert slow.code == 0, slow.stderr
    assert "drift in f3" in slow.stdout
    assert "0 of 2 attempt(s) delivered; 2 alert(s) in the outbox" in slow.stderr
    waiting = _alerts(ctx, hung)
    assert [a.delivery_attempts for a in waiting] == [1, 1]
    assert all(a.delivery == "pending" and a.delivery_due_at is not None for a in waiting)


def test_a_watch_round_delivers_what_is_due(make_setup: Callable[..., Setup]) -> None:
    setup = make_setup()
    with receiving(SECRET) as receiver:
        receiver.answers = [503]
        ctx = _with_webhook(setup, receiver.url)
        ids = _raise(ctx, 2)
        events: list[ControllerEvent] = []
        controller = Controller(ctx, holder="outbox", clock=lambda: T0, on_event=events.append)
        try:
            controller.run_once()
            assert [e.message for e in events if e.kind == "alerts"] == [
                "1 of 2 alert deliveries made; 1 in the outbox"
            ]
            controller.clock = lambda: LATER
            controller.run_once()
        finally:
            controller.release()
    assert receiver.statuses() == [503, 200, 200]
    assert outbox_counts(ctx) == {}
    assert sorted(a.delivery_attempts for a in _alerts(ctx, ids)) == [1, 2]
