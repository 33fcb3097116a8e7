"""The controller: turn triggers into releases, one controller at a time.

A round detects new triggers (:mod:`pathtolive.service.triggers`) and takes each pending
one to a decision (:mod:`pathtolive.service.release`); ``pathtolive watch`` repeats
rounds until stopped, taking up edits to pathtolive.toml between them.

Only the holder of the database lock ``controller`` acts (a lease renewed while it works;
another controller waits, and takes over once the lease expires). A controller that takes
the lease over first resumes the running triggers of holders that no longer hold it, so
a release cut short by a crash or a stop is finished exactly once.

The lease is also a fencing token: its generation grows each time it passes to another
holder, and a release checks holder and generation in the transaction of each of its
writes (:class:`~pathtolive.service.release.Fence`). A controller paused past its lease
(SIGSTOP, a VM frozen, a long GC) that wakes up after another took over cannot register,
record or promote anything: its writes are refused and audited (``controller.fenced``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pathtolive.auth import Permission
from pathtolive.entities import Trigger
from pathtolive.errors import InvalidInputError, PathToLiveError
from pathtolive.monitoring.webhook import DEFAULT_DELIVERY_BUDGET
from pathtolive.service.alerts import deliver_alerts
from pathtolive.service.context import ServiceContext
from pathtolive.service.lease import LOCK_NAME
from pathtolive.service.recheck import clear_moved_on
from pathtolive.service.release import Clock, ControllerEvent, Fence, handle_trigger, utcnow
from pathtolive.service.triggers import detect_triggers, retrain_configs

__all__ = [
    "LOCK_NAME",
    "Controller",
    "default_holder",
]

log = logging.getLogger(__name__)


def default_holder() -> str:
    """``host:pid:random``: unique per controller process, readable in the lock table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Controller:
    """The long-running loop of ``pathtolive watch``.

    Each round (:meth:`run_once`): take or renew the lease ``controller``; when another
    holder has it, do nothing (and say who). Holding it: take over the running triggers
    of holders that no longer hold it (a crash, or a stop mid-release), detect new
    triggers, clear the gate alerts of versions no longer live, then handle the pending
    ones, oldest first; before all that, spend up to
    ``delivery_budget`` seconds on the alerts due in the webhook outbox. While a release runs a
    heartbeat thread renews the lease every third of it. :meth:`run` repeats rounds every
    ``interval`` seconds until ``stop`` is set, then gives the lease up.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        holder: str | None = None,
        interval: float = 10.0,
        lease: float = 30.0,
        clock: Clock = utcnow,
        on_event: Callable[[ControllerEvent], None] | None = None,
        delivery_budget: float = DEFAULT_DELIVERY_BUDGET,
    ) -> None:
        if interval <= 0:
            raise InvalidInputError(f"the controller's interval must be positive, not {interval}")
        if lease <= interval:
            # Renewed once a round: a shorter lease would lapse between rounds.
            raise InvalidInputError(
                f"the controller's lease ({lease:g}s) must be longer than its interval "
                f"({interval:g}s)"
            )
        ctx.require(Permission.WRITE, "run the controller")
        self.ctx = ctx
        self.holder = holder or default_holder()
        self.interval = interval
        self.lease = lease
        self.clock = clock
        self.delivery_budget = delivery_budget
        self.configs = retrain_configs(ctx)
        self.started_at = clock()
        self.waiting_for: str | None = None
        """The holder of the lease while this controller waits for it, else None."""
        self.busy = False
        """True while a release runs (a stop then interrupts it; the trigger resumes)."""
        self._on_event = on_event
        self._reload_refused: str | None = None
        self._delivery_blocked: str | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._holding = False
        self.generation: int | None = None
        """The lease's generation while this controller holds it (its fencing token)."""

    # -- the lease ---------------------------------------------------------------------

    def _emit(self, event: ControllerEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def renew(self) -> bool:
        """Take or renew the lease; False while another holder's lease is live."""
        with self.ctx.metadata.write() as session:
            acquired = session.acquire_lock(LOCK_NAME, self.holder, at=self.clock(), ttl=self.lease)
            other = None if acquired else session.get_lock(LOCK_NAME)
        if acquired is None:
            if self._holding:
                self._lost.set()
            self._holding = False
            self.generation = None
            holder = other.holder if other is not None else "another controller"
            if holder != self.waiting_for:
                until = "" if other is None else f" until {other.expires_at.isoformat()}"
                log.info("controller lock held by %s%s; waiting", holder, until)
                self._emit(ControllerEvent("waiting", f"lock held by {holder}{until}"))
            self.waiting_for = holder
            return False
        if not self._holding:
            self._lost.clear()
            self._emit(
                ControllerEvent(
                    "acquired",
                    f"holding the controller lock as {self.holder} "
                    f"(generation {acquired.generation})",
                )
            )
        self._holding = True
        self.generation = acquired.generation
        self.waiting_for = None
        return True

    def release(self) -> None:
        """Give the lease up (a clean stop): another controller may act at once."""
        with self.ctx.metadata.write() as session:
            session.release_lock(LOCK_NAME, self.holder)
        self._holding = False
        self.generation = None

    def _guard(self) -> bool:
        return not self._lost.is_set() and self.renew()

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease / 3):
                try:
                    if not self.renew():
                        return
                except Exception:  # a database hiccup: try again at the next beat
                    log.warning("could not renew the controller lock", exc_info=True)

        thread = threading.Thread(target=beat, name="controller-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    # -- rounds ------------------------------------------------------------------------

    def run_once(self) -> list[Trigger]:
        """One round; returns the triggers it took to a decision (none while waiting)."""
        if not self.renew():
            return []
        self._deliver_alerts()
        handled: list[Trigger] = []
        with self._heartbeat():
            for trigger in self._orphans():
                if self._stopping():
                    return handled
                handled.append(self._handle(trigger))
            for trigger in detect_triggers(self.ctx, now=self.clock(), since=self.started_at):
                self._emit(ControllerEvent("trigger", trigger.cause, trigger))
            self._clear_moved_on()
            while not self._stopping():
                pending = self._next_pending()
                if pending is None:
                    break
                result = self._handle(pending)
                handled.append(result)
                if result.status in ("pending", "running") and not self._waits(result):
                    break  # lost the lease: the new holder carries on
        return [t for t in handled if t.status in ("done", "failed")]

    def _deliver_alerts(self) -> None:
        """Retry the alerts due in the webhook outbox, within the budget, before releases
        that may take long; a failure to is said and does not stop the round."""
        try:
            delivered = deliver_alerts(self.ctx, budget=self.delivery_budget, now=self.clock())
        except PathToLiveError as exc:
            log.error("alert deliveries not attempted: %s", exc.message)
            return
        if delivered.blocked and delivered.blocked != self._delivery_blocked:
            self._emit(ControllerEvent("alerts", delivered.blocked))  # said once, not per round
        self._delivery_blocked = delivered.blocked
        if delivered.attempted:
            self._emit(
                ControllerEvent(
                    "alerts",
                    f"{len(delivered.delivered)} of {len(delivered.attempted)} alert "
                    f"deliveries made; {len(delivered.pending)} in the outbox",
                )
            )

    def _clear_moved_on(self) -> None:
        """A version that failed changed gates and is no longer live (a person rolled it
        back or approved another): its alert has no cause left."""
        aliases = {config.model: config.alias for config in retrain_configs(self.ctx).values()}
        cleared = clear_moved_on(self.ctx, aliases, at=self.clock())
        if cleared:
            self._emit(
                ControllerEvent("alerts", f"{cleared} alert(s) on versions no longer live cleared")
            )

    def _waits(self, trigger: Trigger) -> bool:
        """Whether ``trigger`` is pending for a later attempt (its release failed)."""
        due = trigger.next_attempt_at
        return trigger.status == "pending" and due is not None and due > self.clock()

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._lost.is_set()

    def _orphans(self) -> list[Trigger]:
        with self.ctx.metadata.read() as session:
            return session.triggers_held()

    def _next_pending(self) -> Trigger | None:
        """The oldest pending trigger that is due (one whose release failed waits for its
        next attempt)."""
        now = self.clock()
        with self.ctx.metadata.read() as session:
            pending = session.list_triggers(status="pending", limit=None)
        due = [t for t in pending if t.next_attempt_at is None or t.next_attempt_at <= now]
        return min(due, key=lambda t: t.trigger_id) if due else None

    def _handle(self, trigger: Trigger) -> Trigger:
        generation = self.generation
        if generation is None:  # the lease went between the round's renewal and now
            return trigger
        fence = Fence(LOCK_NAME, self.holder, generation)

        def guard() -> bool:
            # Lost and taken back since the release began is lost: another may have acted.
            return self._guard() and self.generation == generation

        self.busy = True
        try:
            return handle_trigger(
                self.ctx,
                trigger,
                self.holder,
                clock=self.clock,
                guard=guard,
                notify=self._emit,
                fence=fence,
            )
        finally:
            self.busy = False

    def _reload_settings(self) -> None:
        """Take up edits to pathtolive.toml between rounds, so a changed schedule, policy
        or retraining setting needs no restart. A file that does not read, or whose
        retraining settings are wrong, is reported and the settings in use are kept."""
        try:
            fresh = self.ctx.settings_reread()
            if fresh is None:
                return
            retrain_configs(ServiceContext(fresh))  # validate before adopting
        except PathToLiveError as exc:
            message = f"pathtolive.toml not taken up (the settings in use stay): {exc.message}"
            if message != self._reload_refused:
                self._reload_refused = message
                log.error("%s", message)
                self._emit(ControllerEvent("error", message))
            return
        self._reload_refused = None
        self.ctx.settings = fresh
        self._emit(ControllerEvent("reloaded", "pathtolive.toml changed: its settings are in use"))

    def run(self, stop: threading.Event) -> None:
        """Rounds every ``interval`` seconds until ``stop`` is set; then the lease goes.
        A round that fails (the database away, say) is logged and tried again."""
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    self._reload_settings()
                    self.run_once()
                except PathToLiveError as exc:
                    log.error("controller round failed: %s", exc.message)
                    self._emit(ControllerEvent("error", exc.message))
                except Exception as exc:  # a daemon outlives one bad round; say why
                    log.exception("controller round failed")
                    self._emit(ControllerEvent("error", f"{type(exc).__name__}: {exc}"))
                stop.wait(self.interval)
        finally:
            try:
                self.release()
            finally:
                self._emit(ControllerEvent("stopped", f"{self.holder} stopped"))
