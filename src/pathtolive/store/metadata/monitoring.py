"""Queries on what monitoring and the controller keep: alerts, retraining triggers and
leases (named locks with an expiry, so that only one controller acts at a time).

Races are settled by the database, not by the caller: at most one alert per (model, key)
is open (a partial unique index), a trigger's ``dedupe_key`` is unique and inserting it
twice is a no-op (``INSERT … ON CONFLICT DO NOTHING``), a trigger is claimed by a
compare-and-set update, and a lease row is read ``FOR UPDATE`` on PostgreSQL (SQLite's
``BEGIN IMMEDIATE`` already serialises writers) before it is renewed or taken over.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import Select, Table, TextClause, and_, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from pathtolive.entities import Alert, Lease, Trigger
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, in_chunks, utc, utc_or_none

__all__ = [
    "ALERT_STATUSES",
    "TRIGGER_STATUSES",
    "UNSET",
    "MonitoringQueries",
    "Unset",
]

ALERT_STATUSES: Final = ("open", "cleared")
TRIGGER_STATUSES: Final = ("pending", "running", "done", "failed")

_Q = TypeVar("_Q", bound=Select[Any])

# The predicate of the partial unique index on open alerts, as a literal: PostgreSQL
# matches ``ON CONFLICT … WHERE`` to the index only when it can prove the implication,
# which it cannot with a bound parameter.
_OPEN: Final = text("status = 'open'")


class Unset(enum.Enum):
    """The type of :data:`UNSET`: "leave this field as it is" in a partial update."""

    UNSET = "unset"


UNSET: Final = Unset.UNSET


class MonitoringQueries(Queries):
    def _for_update(self, query: _Q) -> _Q:
        # SQLite locks the whole database for a writer instead of rows.
        if self.connection.dialect.name == "postgresql":
            return query.with_for_update()
        return query

    def _insert_or_nothing(
        self,
        table: Table,
        values: Mapping[str, Any],
        *,
        conflict: list[str],
        conflict_where: TextClause | None = None,
        returning: str = "id",
    ) -> Any:
        """``INSERT … ON CONFLICT (conflict) DO NOTHING RETURNING returning``: the new
        row's key, or None when a row with the same unique key exists (or was inserted by a
        concurrent transaction, which PostgreSQL waits for instead of failing)."""
        dialect = postgresql if self.connection.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=conflict, index_where=conflict_where)
            .returning(table.c[returning])
        )
        return self.connection.scalar(statement)

    # -- alerts ------------------------------------------------------------------------

    def _alert(self, row: Any) -> Alert:
        return Alert(
            alert_id=int(row.id),
            model=row.model,
            kind=row.kind,
            key=row.key,
            status=row.status,
            message=row.message,
            details=json.loads(row.details_json),
            opened_at=utc(row.opened_at),
            last_seen_at=utc(row.last_seen_at),
            cleared_at=utc_or_none(row.cleared_at),
            delivered_at=utc_or_none(row.delivered_at),
            delivery_attempts=int(row.delivery_attempts),
            delivery_id=row.delivery_id,
            delivery_due_at=utc_or_none(row.delivery_due_at),
            delivery_error=row.delivery_error,
        )

    def _open_alert_query(self, model: str, key: str) -> Select[Any]:
        alerts = t.alerts
        return self._for_update(
            select(alerts).where(
                alerts.c.model == model, alerts.c.key == key, alerts.c.status == "open"
            )
        )

    def raise_alert(
        self,
        model: str,
        kind: str,
        key: str,
        message: str,
        details: Mapping[str, Any],
        *,
        at: datetime,
    ) -> tuple[Alert, bool]:
        """Open an alert on ``model`` for ``key``, or, when one is open already, refresh
        its ``last_seen_at``, ``message`` and ``details``. Returns the alert and whether
        it was newly opened (only then is it worth telling anyone)."""
        alerts = t.alerts
        row = self.connection.execute(self._open_alert_query(model, key)).first()
        if row is None:
            alert_id = self._insert_or_nothing(
                alerts,
                {
                    "model": model,
                    "kind": kind,
                    "key": key,
                    "status": "open",
                    "message": message,
                    "details_json": dumps(dict(details)),
                    "opened_at": at,
                    "last_seen_at": at,
                    "delivery_attempts": 0,
                },
                conflict=["model", "key"],
                conflict_where=_OPEN,
            )
            if alert_id is not None:
                alert = self.get_alert(int(alert_id))
                assert alert is not None
                return alert, True
            # Another transaction opened it in the meantime: refresh that one.
            row = self.connection.execute(self._open_alert_query(model, key)).one()
        self.connection.execute(
            update(alerts)
            .where(alerts.c.id == row.id)
            .values(last_seen_at=at, message=message, details_json=dumps(dict(details)))
        )
        alert = self.get_alert(int(row.id))
        assert alert is not None
        return alert, False

    def clear_alerts(
        self,
        model: str,
        *,
        keep: Collection[str],
        kinds: Collection[str] | None = None,
        at: datetime,
    ) -> list[Alert]:
        """Clear the open alerts of ``model`` (only those of ``kinds`` when given) whose
        key is not in ``keep``: the problems the latest check no longer sees. Returns
        the alerts cleared, oldest first."""
        alerts = t.alerts
        query = self._for_update(
            select(alerts)
            .where(alerts.c.model == model, alerts.c.status == "open")
            .order_by(alerts.c.id)
        )
        if kinds is not None:
            query = query.where(alerts.c.kind.in_(sorted(set(kinds))))
        kept = set(keep)
        ids = [int(row.id) for row in self.connection.execute(query) if row.key not in kept]
        for chunk in in_chunks(ids):
            self.connection.execute(
                update(alerts).where(alerts.c.id.in_(chunk)).values(status="cleared", cleared_at=at)
            )
        cleared = []
        for alert_id in ids:
            alert = self.get_alert(alert_id)
            assert alert is not None
            cleared.append(alert)
        return cleared

    def get_alert(self, alert_id: int) -> Alert | None:
        row = self.connection.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).first()
        return None if row is None else self._alert(row)

    def list_alerts(
        self,
        model: str | None = None,
        *,
        status: str | None = None,
        limit: int | None = None,
        pending_delivery: bool = False,
    ) -> list[Alert]:
        """Alerts, newest first, optionally of one model, in one status, only those in
        the webhook outbox (``pending_delivery``), at most ``limit``."""
        query = _newest_first(t.alerts, model, status, limit)
        if pending_delivery:
            query = query.where(_outstanding())
        return [self._alert(row) for row in self.connection.execute(query)]

    # -- the webhook outbox ------------------------------------------------------------

    def queue_delivery(self, alert_id: int, delivery_id: str, *, at: datetime) -> None:
        """Put the alert in the outbox, due at ``at``, under ``delivery_id`` (an alert
        queued again keeps the id it was first queued with; a delivered one stays
        delivered)."""
        alerts = t.alerts
        self.connection.execute(
            update(alerts)
            .where(alerts.c.id == alert_id, alerts.c.delivered_at.is_(None))
            .values(
                delivery_id=func.coalesce(alerts.c.delivery_id, delivery_id),
                delivery_due_at=_utc(at),
            )
        )

    def due_deliveries(self, *, at: datetime, limit: int | None = None) -> list[Alert]:
        """The alerts in the outbox whose next attempt is due at ``at``: the longest
        overdue first, so that each gets its turn."""
        alerts = t.alerts
        query = (
            select(alerts)
            .where(_outstanding(), alerts.c.delivery_due_at <= _utc(at))
            .order_by(alerts.c.delivery_due_at, alerts.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return [self._alert(row) for row in self.connection.execute(query)]

    def claim_delivery(self, alert_id: int, *, at: datetime, retry_at: datetime) -> Alert | None:
        """Count an attempt to deliver the alert, made at ``at``, and move its next
        attempt to ``retry_at`` before it is made: a process that dies or hangs during
        the attempt leaves it counted and due again later. None when the delivery is not
        due at ``at`` (delivered, or claimed by another process in the meantime)."""
        alerts = t.alerts
        result = self.connection.execute(
            update(alerts)
            .where(alerts.c.id == alert_id, _outstanding(), alerts.c.delivery_due_at <= _utc(at))
            .values(
                delivery_attempts=alerts.c.delivery_attempts + 1,
                delivery_due_at=_utc(retry_at),
            )
        )
        return self.get_alert(alert_id) if result.rowcount == 1 else None

    def record_delivery(
        self,
        alert_id: int,
        *,
        at: datetime,
        delivered: bool,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """The outcome of an attempt (counted by :meth:`claim_delivery`). Delivered: the
        alert leaves the outbox, and the first delivery's time is kept. Not delivered:
        ``error`` is kept, and the next attempt moves to ``retry_at`` when given."""
        alerts = t.alerts
        values: dict[str, Any]
        if delivered:
            values = {
                "delivered_at": func.coalesce(alerts.c.delivered_at, _utc(at)),
                "delivery_due_at": None,
                "delivery_error": None,
            }
            self.connection.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))
            return
        values = {"delivery_error": error}
        if retry_at is not None:
            values["delivery_due_at"] = _utc(retry_at)
        self.connection.execute(
            update(alerts).where(alerts.c.id == alert_id, _outstanding()).values(**values)
        )

    def outbox_counts(self) -> dict[str, int]:
        """Alerts waiting in the outbox, per model."""
        alerts = t.alerts
        query = select(alerts.c.model, func.count()).where(_outstanding()).group_by(alerts.c.model)
        return {str(model): int(count) for model, count in self.connection.execute(query)}

    # -- triggers ----------------------------------------------------------------------

    def _trigger(self, row: Any) -> Trigger:
        return Trigger(
            trigger_id=int(row.id),
            model=row.model,
            kind=row.kind,
            cause=row.cause,
            dedupe_key=row.dedupe_key,
            status=row.status,
            created_at=utc(row.created_at),
            created_by=row.created_by,
            started_at=utc_or_none(row.started_at),
            finished_at=utc_or_none(row.finished_at),
            holder=row.holder,
            run_id=row.run_id,
            model_version=None if row.model_version is None else int(row.model_version),
            decision=row.decision,
            error=row.error,
            attempts=int(row.attempts),
            next_attempt_at=utc_or_none(row.next_attempt_at),
        )

    def insert_trigger(
        self, model: str, kind: str, cause: str, dedupe_key: str, *, at: datetime, by: str
    ) -> Trigger | None:
        """A new ``pending`` trigger; None when one with ``dedupe_key`` exists already
        (creating a trigger is idempotent, also when two callers race)."""
        trigger_id = self._insert_or_nothing(
            t.triggers,
            {
                "model": model,
                "kind": kind,
                "cause": cause,
                "dedupe_key": dedupe_key,
                "status": "pending",
                "created_at": at,
                "created_by": by,
                "decision": "",
                "attempts": 0,
            },
            conflict=["dedupe_key"],
        )
        return None if trigger_id is None else self.get_trigger(int(trigger_id))

    def claim_trigger(
        self,
        trigger_id: int,
        holder: str,
        *,
        at: datetime,
        take_over_from: str | None = None,
        early: bool = False,
    ) -> Trigger | None:
        """Mark a ``pending`` trigger ``running`` under ``holder`` and count the attempt;
        None when it is not pending (another controller claimed it first) or waits for
        its next attempt (``next_attempt_at`` after ``at``, unless ``early``: a release
        that answers it covers it before then).

        With ``take_over_from``, claim instead a ``running`` trigger still held by that
        holder (a controller whose lease expired: crash recovery); None when it is not."""
        triggers = t.triggers
        statement = update(triggers).where(triggers.c.id == trigger_id)
        if take_over_from is None:
            statement = statement.where(triggers.c.status == "pending")
            if not early:
                due = triggers.c.next_attempt_at
                statement = statement.where(due.is_(None) | (due <= at))
        else:
            statement = statement.where(
                triggers.c.status == "running", triggers.c.holder == take_over_from
            )
        result = self.connection.execute(
            statement.values(
                status="running",
                holder=holder,
                started_at=at,
                attempts=triggers.c.attempts + 1,
                next_attempt_at=None,
            )
        )
        if result.rowcount != 1:
            return None
        return self.get_trigger(trigger_id)

    def update_trigger(
        self,
        trigger_id: int,
        *,
        run_id: str | Unset | None = UNSET,
        model_version: int | Unset | None = UNSET,
        decision: str | Unset = UNSET,
        error: str | Unset | None = UNSET,
    ) -> None:
        """Record how far a trigger got; fields left :data:`UNSET` keep their value."""
        given: dict[str, object] = {
            "run_id": run_id,
            "model_version": model_version,
            "decision": decision,
            "error": error,
        }
        values = {name: value for name, value in given.items() if value is not UNSET}
        if values:
            self.connection.execute(
                update(t.triggers).where(t.triggers.c.id == trigger_id).values(**values)
            )

    def finish_trigger(
        self,
        trigger_id: int,
        status: str,
        *,
        at: datetime,
        decision: str,
        error: str | None = None,
    ) -> None:
        """End a trigger as ``done`` or ``failed`` with its ``decision``."""
        if status not in ("done", "failed"):
            raise ValueError(f"a trigger finishes 'done' or 'failed', not {status!r}")
        self.connection.execute(
            update(t.triggers)
            .where(t.triggers.c.id == trigger_id)
            .values(status=status, finished_at=at, decision=decision, error=error)
        )

    def retry_trigger(
        self,
        trigger_id: int,
        *,
        next_attempt_at: datetime,
        decision: str,
        error: str,
    ) -> None:
        """Put a ``running`` trigger whose release failed back to ``pending``, to be
        claimed again from ``next_attempt_at`` on; its attempts are kept."""
        self.connection.execute(
            update(t.triggers)
            .where(t.triggers.c.id == trigger_id)
            .values(
                status="pending",
                holder=None,
                next_attempt_at=next_attempt_at,
                decision=decision,
                error=error,
            )
        )

    def get_trigger(self, trigger_id: int) -> Trigger | None:
        row = self.connection.execute(
            select(t.triggers).where(t.triggers.c.id == trigger_id)
        ).first()
        return None if row is None else self._trigger(row)

    def list_triggers(
        self,
        model: str | None = None,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int | None = 50,
    ) -> list[Trigger]:
        """Triggers, newest first, optionally of one model, in one status, of one kind."""
        query = _newest_first(t.triggers, model, status, limit)
        if kind is not None:
            query = query.where(t.triggers.c.kind == kind)
        return [self._trigger(row) for row in self.connection.execute(query)]

    def triggers_held(self, holder_prefix: str | None = None) -> list[Trigger]:
        """The ``running`` triggers, oldest first, optionally only those whose holder
        starts with ``holder_prefix``: a restarted controller takes over those whose
        holder's lease has expired (:meth:`claim_trigger` with ``take_over_from``)."""
        query = select(t.triggers).where(t.triggers.c.status == "running").order_by(t.triggers.c.id)
        if holder_prefix is not None:
            query = query.where(self._starts_with(t.triggers.c.holder, holder_prefix))
        return [self._trigger(row) for row in self.connection.execute(query)]

    # -- leases ------------------------------------------------------------------------

    def acquire_lock(self, name: str, holder: str, *, at: datetime, ttl: float) -> Lease | None:
        """Hold the lock ``name`` for ``ttl`` seconds from ``at``: take it when free,
        released or expired, renew it when ``holder`` has it already. Returns the lease
        held (its ``generation`` grows on each take, never on a renewal); None while
        another holder's lease is live. Two callers racing for a free lock: exactly one
        wins."""
        if ttl <= 0:
            raise ValueError(f"a lease lasts a positive number of seconds, not {ttl}")
        locks = t.locks
        expires_at = at + timedelta(seconds=ttl)
        while True:
            inserted = self._insert_or_nothing(
                locks,
                {
                    "name": name,
                    "holder": holder,
                    "acquired_at": at,
                    "expires_at": expires_at,
                    "generation": 1,
                    "released": False,
                },
                conflict=["name"],
                returning="name",
            )
            if inserted is not None:
                return Lease(name, holder, at, expires_at, 1)
            row = self.connection.execute(
                self._for_update(select(locks).where(locks.c.name == name))
            ).first()
            if row is not None:
                break
            # Deleted between the two statements (possible only where writers are not
            # serialised): insert again.
        if row.holder == holder and not row.released:
            self.connection.execute(
                update(locks).where(locks.c.name == name).values(expires_at=expires_at)
            )
            return Lease(name, holder, utc(row.acquired_at), expires_at, int(row.generation))
        if not row.released and utc(row.expires_at) > utc(at):
            return None
        generation = int(row.generation) + 1
        self.connection.execute(
            update(locks)
            .where(locks.c.name == name)
            .values(
                holder=holder,
                acquired_at=at,
                expires_at=expires_at,
                generation=generation,
                released=False,
            )
        )
        return Lease(name, holder, at, expires_at, generation)

    def release_lock(self, name: str, holder: str) -> None:
        """Give the lock up, if ``holder`` holds it (else nothing happens). The row stays,
        marked released, so the next holder's generation is still a greater one."""
        self.connection.execute(
            update(t.locks)
            .where(t.locks.c.name == name, t.locks.c.holder == holder)
            .values(released=True)
        )

    def get_lock(self, name: str) -> Lease | None:
        """Who holds (or last held, when expired) the lock ``name``; None when it is free
        (never taken, or released)."""
        row = self.connection.execute(select(t.locks).where(t.locks.c.name == name)).first()
        if row is None or row.released:
            return None
        return Lease(
            name=row.name,
            holder=row.holder,
            acquired_at=utc(row.acquired_at),
            expires_at=utc(row.expires_at),
            generation=int(row.generation),
        )

    def lock_expires_at(self, name: str) -> datetime | None:
        """When the lock ``name`` lapses unless renewed, released or not (a released one
        lapsed at the latest then); None when it was never taken. What monitoring compares
        with the clock: a lease nobody renews is a controller that stopped or hangs."""
        row = self.connection.execute(
            select(t.locks.c.expires_at).where(t.locks.c.name == name)
        ).first()
        return None if row is None else utc(row.expires_at)

    def holds_lock(self, name: str, holder: str, generation: int) -> bool:
        """Whether ``holder`` still holds the lock ``name`` in ``generation`` (the fencing
        check, made in the transaction of the write it guards): False once another holder
        took it, even if this one took it back since. An expired lease nobody took is
        still held: nobody else can have acted under it."""
        locks = t.locks
        row = self.connection.execute(
            self._for_update(select(locks).where(locks.c.name == name))
        ).first()
        return (
            row is not None
            and not row.released
            and row.holder == holder
            and int(row.generation) == generation
        )


def _outstanding() -> Any:
    """The alerts in the outbox: a delivery asked for and not yet answered 2xx."""
    return and_(t.alerts.c.delivery_due_at.is_not(None), t.alerts.c.delivered_at.is_(None))


def _utc(at: datetime) -> datetime:
    # Stored in UTC: SQLite compares the text, which has no zone.
    return at.astimezone(UTC)


def _newest_first(
    table: Table, model: str | None, status: str | None, limit: int | None
) -> Select[Any]:
    """The rows of ``table`` (alerts or triggers), newest first, optionally of one model,
    in one status, at most ``limit``."""
    query = select(table).order_by(table.c.id.desc())
    if model is not None:
        query = query.where(table.c.model == model)
    if status is not None:
        query = query.where(table.c.status == status)
    return query if limit is None else query.limit(limit)
