"""The MetadataStore contract for alerts, retraining triggers and leases."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
import sqlalchemy as sa

from pathtolive.store.metadata import MetadataStore
from pathtolive.store.metadata import tables as t

NOW = datetime(2026, 11, 30, 3, 0, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

T = TypeVar("T")


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    store = MetadataStore(metadata_url)
    store.upgrade()
    yield store
    store.close()


def _race(count: int, action: Callable[[int], T]) -> list[T]:
    """Run ``action(i)`` for each i in as many threads at once; the results in order."""
    barrier = threading.Barrier(count)

    def run(number: int) -> T:
        barrier.wait(timeout=30)
        return action(number)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# -- alerts ------------------------------------------------------------------------------


def test_raise_alert_opens_once_then_refreshes_the_open_one(store: MetadataStore) -> None:
    with store.write() as session:
        first, opened = session.raise_alert(
            "risk", "drift", "drift:mileage", "PSI 0.31", {"psi": 0.31}, at=NOW
        )
    assert opened
    assert (first.model, first.kind, first.key, first.status) == (
        "risk",
        "drift",
        "drift:mileage",
        "open",
    )
    assert (first.message, first.details) == ("PSI 0.31", {"psi": 0.31})
    assert first.opened_at == first.last_seen_at == NOW
    assert (first.cleared_at, first.delivered_at, first.delivery_attempts) == (None, None, 0)
    with store.write() as session:
        again, opened = session.raise_alert(
            "risk", "drift", "drift:mileage", "PSI 0.4", {"psi": 0.4}, at=NOW + MINUTE
        )
    assert not opened
    assert again.alert_id == first.alert_id
    assert (again.message, again.details) == ("PSI 0.4", {"psi": 0.4})
    assert (again.opened_at, again.last_seen_at) == (NOW, NOW + MINUTE)
    with store.write() as session:
        other, opened = session.raise_alert("risk", "drift", "drift:age", "PSI 0.2", {}, at=NOW)
        same_key_other_model, opened_too = session.raise_alert(
            "churn", "drift", "drift:mileage", "PSI 0.5", {}, at=NOW
        )
    assert opened
    assert opened_too
    assert len({first.alert_id, other.alert_id, same_key_other_model.alert_id}) == 3
    with store.read() as session:
        assert len(session.list_alerts(status="open")) == 3


def test_clear_alerts_clears_the_open_ones_not_kept(store: MetadataStore) -> None:
    with store.write() as session:
        mileage, _ = session.raise_alert("risk", "drift", "drift:mileage", "m", {}, at=NOW)
        age, _ = session.raise_alert("risk", "drift", "drift:age", "a", {}, at=NOW)
        decay, _ = session.raise_alert("risk", "decay", "decay:roc_auc", "d", {}, at=NOW)
        churn, _ = session.raise_alert("churn", "drift", "drift:age", "c", {}, at=NOW)
    later = NOW + 5 * MINUTE
    with store.write() as session:
        cleared = session.clear_alerts("risk", keep={"drift:mileage"}, kinds=["drift"], at=later)
    assert [(a.alert_id, a.status, a.cleared_at) for a in cleared] == [
        (age.alert_id, "cleared", later)
    ]
    with store.write() as session:
        # Nothing left to clear among the drift alerts; the decay alert is cleared next.
        assert session.clear_alerts("risk", keep=["drift:mileage"], kinds=["drift"], at=later) == []
        cleared = session.clear_alerts("risk", keep=["drift:mileage"], at=later)
    assert [a.alert_id for a in cleared] == [decay.alert_id]
    with store.read() as session:
        assert [a.alert_id for a in session.list_alerts("risk", status="open")] == [
            mileage.alert_id
        ]
        kept = session.get_alert(churn.alert_id)
    assert kept is not None
    assert kept.status == "open"


def test_a_cleared_key_opens_a_new_alert_when_it_comes_back(store: MetadataStore) -> None:
    with store.write() as session:
        first, _ = session.raise_alert("risk", "decay", "decay:roc_auc", "drop", {}, at=NOW)
        session.clear_alerts("risk", keep=(), at=NOW + MINUTE)
        second, opened = session.raise_alert(
            "risk", "decay", "decay:roc_auc", "drop again", {}, at=NOW + 2 * MINUTE
        )
    assert opened
    assert second.alert_id != first.alert_id
    with store.read() as session:
        alerts = session.list_alerts("risk")
    assert [(a.alert_id, a.status) for a in alerts] == [
        (second.alert_id, "open"),
        (first.alert_id, "cleared"),
    ]


def test_the_database_refuses_a_second_open_alert_per_key(store: MetadataStore) -> None:
    # The store never tries; the index is the safety net behind it, on every backend.
    row = {
        "model": "risk",
        "kind": "drift",
        "key": "drift:mileage",
        "message": "",
        "details_json": "{}",
        "opened_at": NOW,
        "last_seen_at": NOW,
        "delivery_attempts": 0,
    }
    with store.engine.begin() as connection:
        connection.execute(sa.insert(t.alerts).values(status="cleared", **row))
        connection.execute(sa.insert(t.alerts).values(status="cleared", **row))
        connection.execute(sa.insert(t.alerts).values(status="open", **row))
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(sa.insert(t.alerts).values(status="open", **row))


def test_concurrent_raises_open_one_alert(store: MetadataStore) -> None:
    def raise_one(number: int) -> tuple[int, bool]:
        with store.write() as session:
            alert, opened = session.raise_alert(
                "risk", "drift", "drift:mileage", f"seen by {number}", {}, at=NOW
            )
        return alert.alert_id, opened

    results = _race(4, raise_one)
    assert len({alert_id for alert_id, _ in results}) == 1
    assert sorted(opened for _, opened in results) == [False, False, False, True]


def test_list_alerts_filters_newest_first_with_a_limit(store: MetadataStore) -> None:
    with store.write() as session:
        ids = [
            session.raise_alert("risk", "drift", f"drift:c{n}", "", {}, at=NOW)[0].alert_id
            for n in range(4)
        ]
        session.raise_alert("churn", "decay", "decay:f1", "", {}, at=NOW)
        session.clear_alerts("risk", keep={"drift:c0", "drift:c1"}, at=NOW)
    with store.read() as session:
        assert [a.alert_id for a in session.list_alerts("risk")] == ids[::-1]
        assert [a.alert_id for a in session.list_alerts("risk", limit=2)] == ids[:1:-1]
        assert [a.alert_id for a in session.list_alerts("risk", status="cleared")] == ids[:1:-1]
        assert [a.model for a in session.list_alerts(status="open")] == ["churn", "risk", "risk"]
        assert len(session.list_alerts()) == 5
        assert session.list_alerts("nothing") == []
        assert session.get_alert(10_000) is None


# -- the webhook outbox ------------------------------------------------------------------


def _outbox(store: MetadataStore, *keys: str) -> list[int]:
    """Alerts opened at NOW on ``risk`` and queued for delivery, one per key, in order."""
    ids = []
    with store.write() as session:
        for number, key in enumerate(keys):
            alert, _ = session.raise_alert("risk", "drift", key, key, {}, at=NOW)
            session.queue_delivery(alert.alert_id, f"delivery-{key}", at=NOW + number * MINUTE)
            ids.append(alert.alert_id)
    return ids


def test_a_queued_alert_is_due_until_delivered_and_keeps_its_delivery_id(
    store: MetadataStore,
) -> None:
    [alert_id] = _outbox(store, "drift:age")
    with store.write() as session:
        plain, _ = session.raise_alert("risk", "decay", "decay:auc", "no webhook", {}, at=NOW)
    with store.read() as session:
        assert session.due_deliveries(at=NOW - MINUTE) == []
        [due] = session.due_deliveries(at=NOW)
        assert session.outbox_counts() == {"risk": 1}
        assert [a.alert_id for a in session.list_alerts(pending_delivery=True)] == [alert_id]
        not_queued = session.get_alert(plain.alert_id)
    assert (due.alert_id, due.delivery_id, due.delivery, due.delivery_attempts) == (
        alert_id,
        "delivery-drift:age",
        "pending",
        0,
    )
    assert not_queued is not None
    assert not_queued.delivery == ""

    # An attempt is counted and the next one scheduled before it is made.
    with store.write() as session:
        claimed = session.claim_delivery(alert_id, at=NOW, retry_at=NOW + 2 * MINUTE)
        assert session.claim_delivery(alert_id, at=NOW, retry_at=NOW + 2 * MINUTE) is None
    assert claimed is not None
    assert (claimed.delivery_attempts, claimed.delivery_due_at) == (1, NOW + 2 * MINUTE)
    with store.write() as session:
        session.record_delivery(
            alert_id, at=NOW, delivered=False, error="HTTP 503", retry_at=NOW + 3 * MINUTE
        )
        # Queued again (say by a second monitor): the id it was first given stays.
        session.queue_delivery(alert_id, "another-id", at=NOW + 3 * MINUTE)
    with store.read() as session:
        assert session.due_deliveries(at=NOW + 2 * MINUTE) == []
        [failed] = session.due_deliveries(at=NOW + 3 * MINUTE)
    assert (failed.delivery_attempts, failed.delivery_error, failed.delivery_id) == (
        1,
        "HTTP 503",
        "delivery-drift:age",
    )

    with store.write() as session:
        assert session.claim_delivery(alert_id, at=NOW + 3 * MINUTE, retry_at=NOW + 9 * MINUTE)
        session.record_delivery(alert_id, at=NOW + 4 * MINUTE, delivered=True)
        session.record_delivery(alert_id, at=NOW + 5 * MINUTE, delivered=True)
        session.queue_delivery(alert_id, "again", at=NOW + 6 * MINUTE)
    with store.read() as session:
        delivered = session.get_alert(alert_id)
        assert session.due_deliveries(at=NOW + 60 * MINUTE) == []
        assert session.outbox_counts() == {}
        assert session.list_alerts(pending_delivery=True) == []
    assert delivered is not None
    assert (
        delivered.delivery,
        delivered.delivered_at,
        delivered.delivery_attempts,
        delivered.delivery_due_at,
        delivered.delivery_error,
    ) == ("delivered", NOW + 4 * MINUTE, 2, None, None)


def test_due_deliveries_come_longest_overdue_first(store: MetadataStore) -> None:
    first, second, third = _outbox(store, "drift:a", "drift:b", "drift:c")
    later = NOW + 10 * MINUTE
    with store.write() as session:
        # The first was tried and failed: the others, never tried, now come before it.
        session.claim_delivery(first, at=NOW, retry_at=NOW + 5 * MINUTE)
    with store.read() as session:
        assert [a.alert_id for a in session.due_deliveries(at=later)] == [second, third, first]
        assert [a.alert_id for a in session.due_deliveries(at=later, limit=2)] == [second, third]
        assert session.outbox_counts() == {"risk": 3}


def test_one_of_two_racing_claims_wins(store: MetadataStore) -> None:
    [alert_id] = _outbox(store, "drift:age")

    def claim(_: int) -> bool:
        with store.write() as session:
            return session.claim_delivery(alert_id, at=NOW, retry_at=NOW + MINUTE) is not None

    assert sorted(_race(4, claim)) == [False, False, False, True]
    with store.read() as session:
        alert = session.get_alert(alert_id)
    assert alert is not None
    assert alert.delivery_attempts == 1


# -- triggers ----------------------------------------------------------------------------


def test_insert_trigger_is_idempotent_on_its_dedupe_key(store: MetadataStore) -> None:
    with store.write() as session:
        trigger = session.insert_trigger(
            "risk", "new_data", "loans@4 was added", "new_data:loans@4", at=NOW, by="ada"
        )
    assert trigger is not None
    assert (trigger.model, trigger.kind, trigger.cause, trigger.dedupe_key) == (
        "risk",
        "new_data",
        "loans@4 was added",
        "new_data:loans@4",
    )
    assert (trigger.status, trigger.created_at, trigger.created_by, trigger.attempts) == (
        "pending",
        NOW,
        "ada",
        0,
    )
    assert (trigger.started_at, trigger.finished_at, trigger.holder) == (None, None, None)
    assert (trigger.run_id, trigger.model_version, trigger.decision, trigger.error) == (
        None,
        None,
        "",
        None,
    )
    with store.write() as session:
        again = session.insert_trigger(
            "risk", "new_data", "again", "new_data:loans@4", at=NOW + MINUTE, by="bob"
        )
        # The refused insert leaves the transaction usable.
        other = session.insert_trigger("risk", "manual", "by hand", "manual:1", at=NOW, by="bob")
    assert again is None
    assert other is not None
    with store.read() as session:
        assert [tr.dedupe_key for tr in session.list_triggers()] == [
            "manual:1",
            "new_data:loans@4",
        ]
        assert [tr.dedupe_key for tr in session.list_triggers(kind="new_data")] == [
            "new_data:loans@4"
        ]
        assert session.list_triggers("churn", kind="manual") == []
        stored = session.get_trigger(trigger.trigger_id)
    assert stored == trigger
    assert (stored.vector, other.vector) == ("data", "manual")


def test_concurrent_inserts_of_one_trigger_create_it_once(store: MetadataStore) -> None:
    def insert(number: int) -> int | None:
        with store.write() as session:
            trigger = session.insert_trigger(
                "risk", "drift", f"from {number}", "alert:17", at=NOW, by="controller"
            )
        return None if trigger is None else trigger.trigger_id

    results = _race(4, insert)
    assert sum(result is not None for result in results) == 1
    with store.read() as session:
        assert len(session.list_triggers()) == 1


def test_claim_update_and_finish_a_trigger(store: MetadataStore) -> None:
    with store.write() as session:
        created = session.insert_trigger(
            "risk", "schedule", "cron", "schedule:risk:2026-11-30T03:00", at=NOW, by="ctl"
        )
    assert created is not None
    trigger_id = created.trigger_id
    with store.write() as session:
        claimed = session.claim_trigger(trigger_id, "ctl-a", at=NOW + MINUTE)
        assert session.claim_trigger(trigger_id, "ctl-b", at=NOW + MINUTE) is None
    assert claimed is not None
    assert (claimed.status, claimed.holder, claimed.started_at, claimed.attempts) == (
        "running",
        "ctl-a",
        NOW + MINUTE,
        1,
    )
    with store.write() as session:
        session.update_trigger(trigger_id, run_id="run_42")
        session.update_trigger(trigger_id, model_version=7, decision="gates running")
        session.update_trigger(trigger_id)  # nothing given, nothing changes
    with store.read() as session:
        progress = session.get_trigger(trigger_id)
    assert progress is not None
    assert (progress.run_id, progress.model_version, progress.decision, progress.error) == (
        "run_42",
        7,
        "gates running",
        None,
    )
    with store.write() as session:
        session.update_trigger(trigger_id, error="flaky", model_version=None)
        session.update_trigger(trigger_id, error=None)
    with store.read() as session:
        cleared = session.get_trigger(trigger_id)
    assert cleared is not None
    assert (cleared.run_id, cleared.model_version, cleared.error) == ("run_42", None, None)
    with store.write() as session:
        session.finish_trigger(
            trigger_id, "done", at=NOW + 2 * MINUTE, decision="promoted risk@7 to live (auto)"
        )
        with pytest.raises(ValueError, match="done"):
            session.finish_trigger(trigger_id, "running", at=NOW, decision="")
    with store.read() as session:
        done = session.get_trigger(trigger_id)
    assert done is not None
    assert (done.status, done.finished_at, done.decision, done.error) == (
        "done",
        NOW + 2 * MINUTE,
        "promoted risk@7 to live (auto)",
        None,
    )
    with store.write() as session:
        assert session.claim_trigger(trigger_id, "ctl-b", at=NOW) is None


def test_failed_trigger_keeps_its_error(store: MetadataStore) -> None:
    with store.write() as session:
        created = session.insert_trigger("risk", "decay", "AUC fell", "alert:3", at=NOW, by="c")
        assert created is not None
        session.claim_trigger(created.trigger_id, "c", at=NOW)
        session.finish_trigger(
            created.trigger_id,
            "failed",
            at=NOW + MINUTE,
            decision="gates failed: min_metric",
            error="Traceback ...",
        )
    with store.read() as session:
        failed = session.get_trigger(created.trigger_id)
        assert session.get_trigger(10_000) is None
    assert failed is not None
    assert (failed.status, failed.decision, failed.error) == (
        "failed",
        "gates failed: min_metric",
        "Traceback ...",
    )


def test_concurrent_claims_of_one_trigger_have_one_winner(store: MetadataStore) -> None:
    with store.write() as session:
        created = session.insert_trigger("risk", "manual", "", "manual:x", at=NOW, by="ada")
    assert created is not None

    def claim(number: int) -> bool:
        with store.write() as session:
            return session.claim_trigger(created.trigger_id, f"ctl-{number}", at=NOW) is not None

    assert sorted(_race(4, claim)) == [False, False, False, True]


def test_list_triggers_filters_newest_first_with_a_limit(store: MetadataStore) -> None:
    with store.write() as session:
        ids = []
        for number in range(5):
            model = "churn" if number == 2 else "risk"
            trigger = session.insert_trigger(
                model, "manual", "", f"manual:{number}", at=NOW, by="a"
            )
            assert trigger is not None
            ids.append(trigger.trigger_id)
        session.claim_trigger(ids[0], "ctl", at=NOW)
    with store.read() as session:
        assert [tr.trigger_id for tr in session.list_triggers()] == ids[::-1]
        assert [tr.trigger_id for tr in session.list_triggers("risk", limit=2)] == [ids[4], ids[3]]
        assert [tr.trigger_id for tr in session.list_triggers(status="running")] == [ids[0]]
        assert [tr.trigger_id for tr in session.list_triggers("churn")] == [ids[2]]
        assert len(session.list_triggers(limit=None)) == 5
        assert session.list_triggers("risk", status="done") == []


def test_a_restarted_controller_takes_over_the_triggers_of_a_dead_one(
    store: MetadataStore,
) -> None:
    with store.write() as session:
        ids = []
        for number in range(3):
            trigger = session.insert_trigger(
                "risk", "manual", "", f"manual:{number}", at=NOW, by="a"
            )
            assert trigger is not None
            ids.append(trigger.trigger_id)
        session.claim_trigger(ids[0], "controller:host-1:111", at=NOW)
        session.claim_trigger(ids[1], "controller:host_2:222", at=NOW)
    with store.read() as session:
        assert [tr.trigger_id for tr in session.triggers_held()] == ids[:2]
        assert [tr.trigger_id for tr in session.triggers_held("controller:host-1")] == ids[:1]
        # The prefix is a plain prefix: "_" and "%" match only themselves.
        assert session.triggers_held("controller:host_") == session.triggers_held(
            "controller:host_2"
        )
        assert session.triggers_held("controller:host%") == []
    with store.write() as session:
        # Only a running trigger still held by the dead holder can be taken over, once.
        assert (
            session.claim_trigger(ids[0], "controller:new", at=NOW, take_over_from="someone")
            is None
        )
        assert (
            session.claim_trigger(ids[2], "controller:new", at=NOW, take_over_from="controller")
            is None
        )
        taken = session.claim_trigger(
            ids[0], "controller:new", at=NOW + MINUTE, take_over_from="controller:host-1:111"
        )
        assert (
            session.claim_trigger(
                ids[0], "controller:other", at=NOW, take_over_from="controller:host-1:111"
            )
            is None
        )
    assert taken is not None
    assert (taken.status, taken.holder, taken.attempts, taken.started_at) == (
        "running",
        "controller:new",
        2,
        NOW + MINUTE,
    )


# -- leases ------------------------------------------------------------------------------


def test_acquire_renew_refuse_and_take_over_an_expired_lock(store: MetadataStore) -> None:
    with store.read() as session:
        assert session.get_lock("controller") is None
    with store.write() as session:
        assert session.acquire_lock("controller", "a", at=NOW, ttl=30)
        assert not session.acquire_lock("controller", "b", at=NOW + timedelta(seconds=29), ttl=30)
        # Renewing keeps the acquisition time and pushes the expiry.
        assert session.acquire_lock("controller", "a", at=NOW + timedelta(seconds=20), ttl=30)
        assert not session.acquire_lock("controller", "b", at=NOW + timedelta(seconds=49), ttl=30)
        assert session.acquire_lock("other", "b", at=NOW, ttl=30)
    with store.read() as session:
        lease = session.get_lock("controller")
    assert lease is not None
    assert (lease.name, lease.holder, lease.acquired_at, lease.expires_at) == (
        "controller",
        "a",
        NOW,
        NOW + timedelta(seconds=50),
    )
    with store.write() as session:
        assert session.acquire_lock("controller", "b", at=NOW + timedelta(seconds=50), ttl=10.5)
        assert not session.acquire_lock("controller", "a", at=NOW + timedelta(seconds=51), ttl=30)
    with store.read() as session:
        taken = session.get_lock("controller")
    assert taken is not None
    assert (taken.holder, taken.acquired_at, taken.expires_at) == (
        "b",
        NOW + timedelta(seconds=50),
        NOW + timedelta(seconds=60.5),
    )


def test_release_lock_frees_it_only_for_its_holder(store: MetadataStore) -> None:
    with store.write() as session:
        assert session.acquire_lock("controller", "a", at=NOW, ttl=60)
        session.release_lock("controller", "b")
        session.release_lock("nothing", "a")
    with store.read() as session:
        lease = session.get_lock("controller")
    assert lease is not None
    assert lease.holder == "a"
    with store.write() as session:
        session.release_lock("controller", "a")
        assert session.get_lock("controller") is None
        assert session.acquire_lock("controller", "b", at=NOW + MINUTE, ttl=60)
        with pytest.raises(ValueError, match="positive"):
            session.acquire_lock("controller", "b", at=NOW, ttl=0)


def test_a_locks_expiry_follows_its_renewals_and_outlives_its_release(
    store: MetadataStore,
) -> None:
    with store.read() as session:
        assert session.lock_expires_at("controller") is None
    with store.write() as session:
        assert session.acquire_lock("controller", "a", at=NOW, ttl=30)
        assert session.lock_expires_at("controller") == NOW + timedelta(seconds=30)
        assert session.acquire_lock("controller", "a", at=NOW + MINUTE, ttl=30)
        assert session.lock_expires_at("controller") == NOW + MINUTE + timedelta(seconds=30)
        # Released: nobody renews it any more, so its expiry stays where it was.
        session.release_lock("controller", "a")
        assert session.lock_expires_at("controller") == NOW + MINUTE + timedelta(seconds=30)
        assert session.lock_expires_at("other") is None


@pytest.mark.parametrize("taken", [False, True], ids=["free", "expired"])
def test_concurrent_acquires_have_exactly_one_winner(store: MetadataStore, taken: bool) -> None:
    if taken:
        with store.write() as session:
            assert session.acquire_lock("controller", "dead", at=NOW - MINUTE, ttl=1)

    def acquire(number: int) -> bool:
        with store.write() as session:
            return session.acquire_lock("controller", f"ctl-{number}", at=NOW, ttl=30) is not None

    results = _race(2, acquire)
    assert sorted(results) == [False, True]
    with store.read() as session:
        lease = session.get_lock("controller")
    assert lease is not None
    assert lease.holder == f"ctl-{results.index(True)}"


def test_the_generation_grows_on_each_take_and_fences_a_former_holder(
    store: MetadataStore,
) -> None:
    with store.write() as session:
        first = session.acquire_lock("controller", "a", at=NOW, ttl=30)
        renewed = session.acquire_lock("controller", "a", at=NOW + timedelta(seconds=20), ttl=30)
    assert first is not None
    assert renewed is not None
    assert first.generation == renewed.generation  # a renewal is the same lease
    with store.write() as session:
        assert session.holds_lock("controller", "a", first.generation)
        # Expired, and nobody took it: still a's (nobody else can have acted under it).
        assert session.holds_lock("controller", "a", first.generation)
        taken = session.acquire_lock("controller", "b", at=NOW + 2 * MINUTE, ttl=30)
    assert taken is not None
    assert taken.generation == first.generation + 1
    with store.write() as session:
        assert not session.holds_lock("controller", "a", first.generation)
        assert session.holds_lock("controller", "b", taken.generation)
        # Released: nobody holds it, and the next take is a greater generation still,
        # also when the former holder takes it back.
        session.release_lock("controller", "b")
        assert not session.holds_lock("controller", "b", taken.generation)
        back = session.acquire_lock("controller", "a", at=NOW + 2 * MINUTE, ttl=30)
    assert back is not None
    assert back.generation == taken.generation + 1
    with store.read() as session:
        assert not session.holds_lock("controller", "a", first.generation)
        assert session.holds_lock("controller", "a", back.generation)
        assert not session.holds_lock("nothing", "a", 1)
        lease = session.get_lock("controller")
    assert lease is not None
    assert (lease.holder, lease.generation) == ("a", back.generation)


def test_a_trigger_put_back_for_a_retry_waits_for_its_time(store: MetadataStore) -> None:
    with store.write() as session:
        created = session.insert_trigger("risk", "manual", "", "manual:retry", at=NOW, by="a")
        assert created is not None
        assert session.claim_trigger(created.trigger_id, "ctl", at=NOW) is not None
        session.retry_trigger(
            created.trigger_id,
            next_attempt_at=NOW + 3 * MINUTE,
            decision="release failed: boom; attempt 2 of 3 at 03:03",
            error="boom",
        )
    with store.read() as session:
        waiting = session.get_trigger(created.trigger_id)
    assert waiting is not None
    assert (waiting.status, waiting.holder, waiting.attempts, waiting.next_attempt_at) == (
        "pending",
        None,
        1,
        NOW + 3 * MINUTE,
    )
    with store.write() as session:
        assert session.claim_trigger(created.trigger_id, "ctl", at=NOW + 2 * MINUTE) is None
        again = session.claim_trigger(created.trigger_id, "ctl", at=NOW + 3 * MINUTE)
    assert again is not None
    assert (again.status, again.attempts, again.next_attempt_at) == ("running", 2, None)
