"""Alerts and their webhook outbox: at-least-once delivery, never in the caller's way.

An alert opened on a model with an ``alert_webhook`` goes into the outbox in the
transaction that opens it, with a delivery id kept for good. :func:`deliver_alerts`
(called by every ``monitor`` run and every ``watch`` round) makes one attempt for each
due delivery, the longest overdue first and a few at a time, and stops starting
attempts when its time budget is spent: what is left stays in the outbox for the next
call. Each attempt is counted, and its next one scheduled, *before* it is made, so an
attempt that times out, or a process that dies during one, is counted too. Only a 2xx
takes an alert out of the outbox; every other answer waits ``alert_backoff``, doubled
per attempt (at most an hour, at least the receiver's ``Retry-After``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pathtolive import env
from pathtolive.auth import Actor, Permission
from pathtolive.entities import Alert
from pathtolive.errors import InvalidInputError, PathToLiveError
from pathtolive.monitoring.config import MonitoringConfig
from pathtolive.monitoring.report import alert_dict
from pathtolive.monitoring.webhook import (
    DEFAULT_DELIVERY_BUDGET,
    MAX_RETRY_DELAY,
    WebhookClient,
    alert_body,
    retry_delay,
)
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "DeliveryRound",
    "clear_alerts_of",
    "deliver_alerts",
    "list_alerts",
    "open_alert",
    "outbox_counts",
    "queue_delivery",
]

logger = logging.getLogger("pathtolive.monitoring")

_PARALLEL = 4
"""Attempts under way at once: a receiver that hangs holds up one of them, not the rest."""
_BATCH = 200
"""Due deliveries read per call; the rest wait for the next one."""
_LAST_WORD = 1.0
"""Seconds past the budget given to an attempt under way to record its outcome."""


@dataclass
class DeliveryRound:
    """What one :func:`deliver_alerts` call did, and the outbox it left."""

    attempted: list[int] = field(default_factory=list)
    delivered: list[int] = field(default_factory=list)
    pending: list[Alert] = field(default_factory=list)
    """The outbox after the call, oldest alert first."""
    blocked: str | None = None
    """Why nothing could be attempted (no secret to sign with), when so."""


def queue_delivery(session: MetadataSession, alert: Alert, *, at: datetime) -> None:
    """Put a newly opened alert into the outbox, in the caller's transaction: due at once,
    with a delivery id of its own that every attempt carries."""
    session.queue_delivery(alert.alert_id, uuid.uuid4().hex, at=at)


def open_alert(
    session: MetadataSession,
    actor: Actor,
    model: str,
    kind: str,
    key: str,
    message: str,
    details: Mapping[str, Any],
    *,
    at: datetime,
    webhook: bool,
) -> tuple[Alert, bool]:
    """Open the alert ``key`` on ``model`` (or refresh it while open); one newly opened is
    audited and, with a ``webhook``, put into the outbox, all in the caller's transaction
    (no alert is opened and then lost). Returns the alert as it stands and whether it was
    newly opened."""
    alert, opened = session.raise_alert(model, kind, key, message, details, at=at)
    if opened:
        if webhook:
            queue_delivery(session, alert, at=at)
            alert = session.get_alert(alert.alert_id) or alert
        record(
            session,
            actor,
            "alert.opened",
            f"model:{model}",
            {"alert": alert.alert_id, "key": key, "message": message},
        )
    return alert, opened


def clear_alerts_of(
    session: MetadataSession,
    actor: Actor,
    model: str,
    kinds: Collection[str],
    *,
    at: datetime,
    why: Mapping[str, Any],
    keep: Collection[str] = (),
) -> list[Alert]:
    """Clear (and audit, with ``why``) the open alerts of ``kinds`` on ``model`` but those
    whose key is in ``keep``."""
    cleared = session.clear_alerts(model, keep=keep, kinds=kinds, at=at)
    for alert in cleared:
        record(
            session,
            actor,
            "alert.cleared",
            f"model:{model}",
            {"alert": alert.alert_id, "key": alert.key, **why},
        )
    return cleared


def list_alerts(
    ctx: ServiceContext,
    model: str | None = None,
    *,
    status: str | None = None,
    pending_delivery: bool = False,
    limit: int | None = 50,
) -> list[Alert]:
    """Alerts, newest first, with where their webhook delivery stands."""
    ctx.require(Permission.READ, "list alerts")
    if status is not None and status not in ("open", "cleared"):
        raise InvalidInputError(f"--status {status!r}: give open or cleared")
    if limit is not None and limit < 1:
        raise InvalidInputError(f"--limit {limit}: give a positive number")
    with ctx.metadata.read() as session:
        return session.list_alerts(
            model, status=status, limit=limit, pending_delivery=pending_delivery
        )


def outbox_counts(ctx: ServiceContext, models: Collection[str] = ()) -> dict[str, int]:
    """Alerts waiting in the outbox per model, of ``models`` (every model when empty)."""
    with ctx.metadata.read() as session:
        counts = session.outbox_counts()
    return {model: n for model, n in counts.items() if not models or model in models}


def deliver_alerts(
    ctx: ServiceContext, *, budget: float = DEFAULT_DELIVERY_BUDGET, now: datetime | None = None
) -> DeliveryRound:
    """One attempt for each delivery due at ``now`` (default: the clock), for at most
    about ``budget`` seconds; see the module's docstring."""
    ctx.require(Permission.WRITE, "deliver alerts")
    if budget < 0:
        raise InvalidInputError(f"a delivery budget of {budget:g}s: give 0 or more seconds")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    outcome = DeliveryRound()
    secret = ctx.settings.environ.get(env.ALERT_WEBHOOK_SECRET, "")
    with ctx.metadata.read() as session:
        due = session.due_deliveries(at=at, limit=_BATCH) if budget > 0 else []
    if due and not secret:
        # Unsigned alerts could be forged by anyone who can reach the receiver.
        outcome.blocked = (
            f"alerts wait in the outbox: set {env.ALERT_WEBHOOK_SECRET} to the secret the "
            "webhook shares with its receiver"
        )
        due = []  # said by the caller: once by `watch`, on each run by `monitor`
    if due:
        _Deliveries(ctx, secret, at, time.monotonic() + budget, outcome).run(due)
    with ctx.metadata.read() as session:
        outcome.pending = sorted(
            session.list_alerts(pending_delivery=True), key=lambda a: a.alert_id
        )
    return outcome


class _Deliveries:
    """The attempts of one call, made by a few daemon threads (an attempt that outlives
    the budget must not keep the process alive: its outcome is recorded if it comes in
    time, and otherwise the delivery is already counted and due again later)."""

    def __init__(
        self,
        ctx: ServiceContext,
        secret: str,
        at: datetime,
        deadline: float,
        outcome: DeliveryRound,
    ) -> None:
        self.ctx = ctx
        self.secret = secret
        self.at = at
        self.deadline = deadline
        self.outcome = outcome
        self.lock = threading.Lock()
        self.queue: deque[Alert] = deque()
        self.clients: dict[str, tuple[WebhookClient, timedelta] | None] = {}
        self.started = time.monotonic()

    def _now(self) -> datetime:
        """The call's time (``now``, which tests may set) moved on by the time spent."""
        return self.at + timedelta(seconds=time.monotonic() - self.started)

    def run(self, due: list[Alert]) -> None:
        self.queue.extend(due)
        threads = [
            threading.Thread(target=self._work, name="pathtolive-webhook", daemon=True)
            for _ in range(min(_PARALLEL, len(due)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, self.deadline + _LAST_WORD - time.monotonic()))

    def _work(self) -> None:
        while time.monotonic() < self.deadline:
            with self.lock:
                if not self.queue:
                    return
                alert = self.queue.popleft()
            try:
                self._attempt(alert)
            except Exception:  # one alert's trouble must not stop the others' turns
                logger.exception("alert %s: webhook delivery failed unexpectedly", alert.alert_id)

    def _client(self, model: str) -> tuple[WebhookClient, timedelta] | None:
        with self.lock:
            if model not in self.clients:
                self.clients[model] = self._configured(model)
            return self.clients[model]

    def _configured(self, model: str) -> tuple[WebhookClient, timedelta] | None:
        try:
            config = MonitoringConfig.from_toml(model, self.ctx.settings.document.get("models", {}))
            if config.alert_webhook is None:
                return None
            return WebhookClient(config.alert_webhook, self.secret), config.alert_backoff
        except PathToLiveError as exc:
            logger.error("alerts of %s wait in the outbox: %s", model, exc.message)
            return None

    def _attempt(self, alert: Alert) -> None:
        configured = self._client(alert.model)
        if configured is None:
            # No webhook for the model (any more): it waits until there is one, out of
            # the way of the deliveries that can be made.
            with self.ctx.metadata.write() as session:
                session.record_delivery(
                    alert.alert_id,
                    at=self.at,
                    delivered=False,
                    error=f"no alert_webhook set for {alert.model}",
                    retry_at=self.at + timedelta(seconds=MAX_RETRY_DELAY),
                )
            return
        client, backoff = configured
        attempts = alert.delivery_attempts + 1
        base = backoff.total_seconds()
        retry_at = self.at + timedelta(seconds=retry_delay(attempts, backoff=base))
        with self.ctx.metadata.write() as session:
            claimed = session.claim_delivery(alert.alert_id, at=self.at, retry_at=retry_at)
        if claimed is None or claimed.delivery_id is None:
            return  # delivered or claimed meanwhile, by another process
        with self.lock:
            self.outcome.attempted.append(alert.alert_id)
        body = alert_body({"alert": alert_dict(claimed), "source": "pathtolive"})
        remaining = max(0.1, self.deadline - time.monotonic())
        result = client.post(alert.alert_id, claimed.delivery_id, body, timeout=remaining)
        finished = self._now()
        if result.delivered:
            logger.info("alert %s delivered to %s", alert.alert_id, client.target)
            with self.ctx.metadata.write() as session:
                session.record_delivery(alert.alert_id, at=finished, delivered=True)
            with self.lock:
                self.outcome.delivered.append(alert.alert_id)
            return
        wait = retry_delay(attempts, backoff=base, retry_after=result.retry_after)
        logger.warning(
            "alert %s not delivered to %s (attempt %d): %s; retried in %.0fs",
            alert.alert_id,
            client.target,
            attempts,
            result.outcome,
            wait,
        )
        with self.ctx.metadata.write() as session:
            session.record_delivery(
                alert.alert_id,
                at=finished,
                delivered=False,
                error=result.outcome,
                retry_at=finished + timedelta(seconds=wait),
            )
