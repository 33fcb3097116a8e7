"""The controller: turn triggers into releases.

A trigger is a reason to retrain a model — a new version of its training data, an open
drift or decay alert, a cron slot, a person asking — kept in the metadata database with
a unique ``dedupe_key``, so that detecting the same reason twice creates nothing. A
release runs the model's ``[models.NAME.retrain]`` pipeline on the latest version of its
dataset, registers the result, runs the gates and applies the alias's promotion policy:
the alias moves (``auto``) or a promotion waits for an approver. Every trigger and every
decision is an audit event naming its cause.

Only the holder of the database lock ``controller`` acts (a lease renewed while it works;
another controller waits, and takes over once the lease expires). Handling is idempotent:
a trigger goes ``pending`` → ``running`` → ``done``/``failed`` once, and each step of a
release is recorded as it completes, so a controller that takes over a trigger whose
holder died resumes it instead of redoing it:

- no model version yet: the pipeline runs again (its step cache makes finished steps
  free) — unless the dead holder had registered a version already and died before
  recording it: that version is found (from a pipeline run of the model's pipeline by
  the same principal, started after the trigger was created, that no other trigger
  recorded) and adopted;
- a version recorded: only the promotion is left; one that happened already (the alias
  points at the version, or its promotion is pending) is recognised, not repeated.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cronsim import CronSim, CronSimError

from pathtolive.auth import Actor, Permission
from pathtolive.entities import Alert, ModelVersion, Trigger
from pathtolive.errors import (
    ConfigError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PathToLiveError,
    VerificationFailedError,
)
from pathtolive.monitoring.config import RetrainConfig
from pathtolive.service import gates as gate_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import runs as run_service
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "LOCK_NAME",
    "Controller",
    "ControllerEvent",
    "default_holder",
    "detect_triggers",
    "get_trigger",
    "handle_trigger",
    "last_schedule_slot",
    "list_triggers",
    "request_retrain",
    "retrain_configs",
]

log = logging.getLogger(__name__)

LOCK_NAME = "controller"
"""The name of the lease in the metadata database that only one controller holds."""

_ALERT_TRIGGERS: Mapping[str, str] = {
    "drift": "drift",
    "prediction_drift": "drift",
    "decay": "decay",
}
"""Alert kinds and the ``on`` entry (trigger kind) that answers them."""

Clock = Callable[[], datetime]
Guard = Callable[[], bool]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LostLockError(Exception):
    """The controller no longer holds its lease: another one may act now, so this one
    leaves the trigger as it is (running) for the new holder to resume."""


# -- configuration ---------------------------------------------------------------------


def retrain_configs(ctx: ServiceContext) -> dict[str, RetrainConfig]:
    """The ``[models.NAME.retrain]`` settings of every model that has them, by model;
    a schedule that is not valid cron is a :class:`ConfigError` here, not at 3 a.m."""
    models = ctx.settings.document.get("models", {})
    if not isinstance(models, Mapping):
        raise ConfigError("'models' in pathtolive.toml must be a table, like [models.NAME]")
    configs: dict[str, RetrainConfig] = {}
    for name in models:
        config = RetrainConfig.from_toml(str(name), models)
        if config is None:
            continue
        if config.schedule is not None:
            _cron(config)
        configs[config.model] = config
    return configs


def _retrain_config(ctx: ServiceContext, model: str) -> RetrainConfig:
    config = RetrainConfig.from_toml(model, ctx.settings.document.get("models", {}))
    if config is None:
        raise ConfigError(
            f"model {model!r} has no retraining settings; add [models.{model}.retrain] with "
            'pipeline = "NAME" and dataset = "NAME" to pathtolive.toml'
        )
    return config


def _cron(config: RetrainConfig) -> str:
    assert config.schedule is not None
    try:
        CronSim(config.schedule, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ConfigError(
            f"models.{config.model}.retrain.schedule = {config.schedule!r} is not valid cron "
            f"({exc}); five fields: minute hour day-of-month month day-of-week, like "
            '"0 3 * * 1"'
        ) from None
    return config.schedule


def last_schedule_slot(schedule: str, now: datetime) -> datetime | None:
    """The most recent time at or before ``now`` that the cron ``schedule`` names, in
    UTC (the schedule is read in UTC); None when there is none in the last 50 years."""
    at = now.astimezone(UTC).replace(second=0, microsecond=0)
    # CronSim steps back one second first: starting just after ``at`` makes a slot at
    # ``at`` itself count.
    try:
        slot = next(CronSim(schedule, at + timedelta(seconds=1), reverse=True))
    except StopIteration:
        return None
    return slot.astimezone(UTC)


# -- reading ---------------------------------------------------------------------------


def list_triggers(
    ctx: ServiceContext,
    model: str | None = None,
    *,
    status: str | None = None,
    limit: int | None = 50,
) -> list[Trigger]:
    """Triggers, newest first."""
    ctx.require(Permission.READ, "read triggers")
    with ctx.metadata.read() as session:
        return session.list_triggers(model, status=status, limit=limit)


def get_trigger(ctx: ServiceContext, trigger_id: int) -> Trigger:
    ctx.require(Permission.READ, "read triggers")
    with ctx.metadata.read() as session:
        trigger = session.get_trigger(trigger_id)
    if trigger is None:
        raise NotFoundError(f"no trigger {trigger_id}; 'pathtolive triggers list' shows them")
    return trigger


# -- creating triggers -----------------------------------------------------------------


def _insert(
    session: MetadataSession,
    actor: Actor,
    model: str,
    kind: str,
    cause: str,
    dedupe_key: str,
    *,
    at: datetime,
    extra: Mapping[str, Any] | None = None,
) -> Trigger | None:
    trigger = session.insert_trigger(model, kind, cause, dedupe_key, at=at, by=actor.name)
    if trigger is not None:
        record(
            session,
            actor,
            "controller.trigger",
            f"model:{model}",
            {
                "trigger": trigger.trigger_id,
                "kind": kind,
                "cause": cause,
                "dedupe_key": dedupe_key,
                **(extra or {}),
            },
        )
    return trigger


def request_retrain(ctx: ServiceContext, model: str, *, reason: str = "") -> Trigger:
    """A manual trigger: retrain ``model`` the next time the controller looks."""
    actor = ctx.require(Permission.WRITE, "ask for a retrain")
    _retrain_config(ctx, model)
    cause = f"manual retrain by {actor.name}" + (f": {reason}" if reason else "")
    with ctx.metadata.write() as session:
        trigger = _insert(
            session, actor, model, "manual", cause, f"manual:{uuid.uuid4().hex}", at=_utcnow()
        )
    assert trigger is not None  # a fresh uuid never collides
    return trigger


def detect_triggers(
    ctx: ServiceContext, *, now: datetime | None = None, since: datetime | None = None
) -> list[Trigger]:
    """Look for reasons to retrain every model with retraining settings, and record each
    new one as a pending trigger; returns those created by this call (a reason seen
    before creates nothing).

    - ``new_data``: the newest version of the retrain dataset is newer than every version
      of it that trained the model's version under the configured alias (``live``; the
      model's latest version when nothing has the alias; any data when the model has no
      version yet). One trigger per model and dataset version.
    - ``drift`` / ``decay``: an open alert of that kind on the model (``drift`` answers
      ``prediction_drift`` alerts too); one trigger per alert, its message as the cause.
    - ``schedule``: the most recent cron slot at or before ``now``, once per slot. Slots
      before ``since`` (when the controller started) never fire unless an earlier slot of
      the model did, so a first start brings no backlog; after a restart at most the one
      slot missed most recently fires.
    """
    actor = ctx.require(Permission.WRITE, "start releases")
    now = _utcnow() if now is None else now
    since = now if since is None else since
    created: list[Trigger] = []
    for config in retrain_configs(ctx).values():
        # Looked for in a read transaction: a write (which queues behind every other
        # writer) only when there is a reason not recorded yet.
        with ctx.metadata.read() as session:
            recent = session.list_triggers(config.model, limit=_RECENT)
            reasons = list(_reasons(session, config, recent, now=now, since=since))
        known = {t.dedupe_key for t in recent}
        fresh = [reason for reason in reasons if reason[2] not in known]
        if not fresh:
            continue
        with ctx.metadata.write() as session:
            for kind, cause, key, extra in fresh:
                trigger = _insert(
                    session, actor, config.model, kind, cause, key, at=now, extra=extra
                )
                if trigger is not None:
                    created.append(trigger)
    return created


_Reason = tuple[str, str, str, dict[str, Any]]
"""kind, cause, dedupe key, details for the audit event."""

_RECENT = 500
"""How many of a model's latest triggers a detection round reads (to skip known reasons
and to find the last schedule slot fired)."""


def _reasons(
    session: MetadataSession,
    config: RetrainConfig,
    recent: list[Trigger],
    *,
    now: datetime,
    since: datetime,
) -> Iterator[_Reason]:
    if "new_data" in config.on:
        found = _new_data(session, config)
        if found is not None:
            yield found
    wanted = {kind for kind, answer in _ALERT_TRIGGERS.items() if answer in config.on}
    if wanted:
        alerts = session.list_alerts(config.model, status="open")
        for alert in sorted(alerts, key=lambda a: a.alert_id):
            if alert.kind in wanted:
                yield _alert_reason(alert)
    if "schedule" in config.on and config.schedule is not None:
        found = _schedule(config, recent, now=now, since=since)
        if found is not None:
            yield found


def _new_data(session: MetadataSession, config: RetrainConfig) -> _Reason | None:
    latest = session.latest_version(config.dataset)
    if latest is None:
        return None
    reference = _reference_version(session, config)
    trained: list[int] = []
    if reference is not None:
        run = session.get_run(reference.run_id)
        for ref in (run.inputs if run is not None else {}).values():
            name, _, number = ref.partition("@")
            if name == config.dataset and number.isdigit():
                trained.append(int(number))
    if trained and latest.version <= max(trained):
        return None
    if reference is None:
        against = f"{config.model} has no version yet"
    elif trained:
        against = f"{reference.ref} was trained on {config.dataset}@{max(trained)}"
    else:
        against = f"{reference.ref} was not trained on {config.dataset}"
    cause = f"new data {latest.ref} ({against})"
    key = f"new_data:{config.model}:{latest.ref}"
    return "new_data", cause, key, {"dataset": latest.ref}


def _reference_version(session: MetadataSession, config: RetrainConfig) -> ModelVersion | None:
    """The version new data is judged against: the one under the alias, else the latest."""
    number = session.alias_version(config.model, config.alias)
    if number is not None:
        return session.get_model_version(config.model, number)
    versions = session.list_model_versions(config.model)
    return max(versions, key=lambda v: v.version) if versions else None


def _alert_reason(alert: Alert) -> _Reason:
    kind = _ALERT_TRIGGERS[alert.kind]
    return kind, alert.message, f"alert:{alert.alert_id}", {"alert": alert.alert_id}


def _schedule(
    config: RetrainConfig, recent: list[Trigger], *, now: datetime, since: datetime
) -> _Reason | None:
    slot = last_schedule_slot(_cron(config), now)
    if slot is None:
        return None
    # Slots before the last schedule trigger (or, before the first, before the controller
    # started) are past: the dedupe key stops a slot firing twice, this stops a backlog.
    fired = [t.created_at for t in recent if t.kind == "schedule"]
    floor = max(fired) if fired else since
    if slot < floor.astimezone(UTC).replace(second=0, microsecond=0):
        return None
    cause = f"schedule {config.schedule!r}: slot {slot.isoformat()}"
    key = f"schedule:{config.model}:{slot.isoformat()}"
    return "schedule", cause, key, {"slot": slot.isoformat()}


# -- handling a trigger ----------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    status: Literal["done", "failed"]
    decision: str
    error: str | None = None


def handle_trigger(
    ctx: ServiceContext,
    trigger: Trigger,
    holder: str,
    *,
    clock: Clock = _utcnow,
    guard: Guard | None = None,
    notify: Callable[[ControllerEvent], None] | None = None,
) -> Trigger:
    """Take ``trigger`` to a decision under ``holder``: claim it (or take it over from a
    holder that died), train, register, gate and promote, recording each step; returns
    the trigger as it ends. ``guard`` is asked before each step whether ``holder`` may
    still act (it renews the lease); when it says no the trigger is left running for the
    controller that holds the lock now. A trigger done or failed is returned as it is."""
    actor = ctx.require(Permission.WRITE, "run releases")
    say = notify or (lambda event: None)
    current = _claim(ctx, actor, trigger, holder, clock=clock)
    if current is None:
        return get_trigger(ctx, trigger.trigger_id)
    if current.holder != holder or current.status != "running":
        return current
    # Worked on before (by a holder that died, or by this one before an error): a
    # version it registered may be there without being recorded yet.
    resumed = trigger.status == "running"
    if resumed:
        whose = "continued" if trigger.holder == holder else f"taken over from {trigger.holder}"
        say(ControllerEvent("resumed", whose, current))
    else:
        say(ControllerEvent("started", current.cause, current))
    try:
        try:
            outcome = _release(
                ctx, actor, current, holder, clock=clock, guard=guard, say=say, resumed=resumed
            )
        except PathToLiveError as exc:
            outcome = _Outcome("failed", f"release failed: {exc.message}", exc.message)
        except LostLockError:
            raise
        except Exception as exc:  # a bug must not leave the trigger running forever
            log.exception("trigger %s failed unexpectedly", current.trigger_id)
            text = f"{type(exc).__name__}: {exc}"
            outcome = _Outcome("failed", f"release failed: {text}", text)
        _check(guard)
    except LostLockError:
        log.warning("lost the controller lock while handling trigger %s", current.trigger_id)
        return get_trigger(ctx, current.trigger_id)
    with ctx.metadata.write() as session:
        session.finish_trigger(
            current.trigger_id,
            outcome.status,
            at=clock(),
            decision=outcome.decision,
            error=outcome.error,
        )
        record(
            session,
            actor,
            "controller.decision",
            f"model:{current.model}",
            {
                "trigger": current.trigger_id,
                "kind": current.kind,
                "cause": current.cause,
                "status": outcome.status,
                "decision": outcome.decision,
            },
        )
        finished = session.get_trigger(current.trigger_id)
    assert finished is not None
    say(ControllerEvent("finished", finished.decision, finished))
    return finished


def _check(guard: Guard | None) -> None:
    if guard is not None and not guard():
        raise LostLockError


def _claim(
    ctx: ServiceContext, actor: Actor, trigger: Trigger, holder: str, *, clock: Clock
) -> Trigger | None:
    if trigger.status in ("done", "failed"):
        return trigger
    if trigger.status == "running" and trigger.holder == holder:
        return trigger
    with ctx.metadata.write() as session:
        if trigger.status == "pending":
            return session.claim_trigger(trigger.trigger_id, holder, at=clock())
        claimed = session.claim_trigger(
            trigger.trigger_id, holder, at=clock(), take_over_from=trigger.holder
        )
        if claimed is not None:
            record(
                session,
                actor,
                "controller.resumed",
                f"model:{trigger.model}",
                {
                    "trigger": trigger.trigger_id,
                    "cause": trigger.cause,
                    "from": trigger.holder,
                    "attempt": claimed.attempts,
                    "model_version": trigger.model_version,
                },
            )
        return claimed


def _release(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    holder: str,
    *,
    clock: Clock,
    guard: Guard | None,
    say: Callable[[ControllerEvent], None],
    resumed: bool,
) -> _Outcome:
    config = _retrain_config(ctx, trigger.model)
    version = _recorded_version(ctx, trigger)
    if version is None and resumed:
        version = _adoptable_version(ctx, actor, trigger, config)
        if version is not None:
            _check(guard)
            _record_version(ctx, actor, trigger, version, adopted=True)
    if version is None:
        _check(guard)
        for covered in _cover_pending(ctx, actor, trigger, holder, clock=clock):
            say(ControllerEvent("finished", covered.decision, covered))
        data = _latest_data(ctx, config)
        say(ControllerEvent("training", f"{config.pipeline} on {data}", trigger))
        try:
            result = run_service.run_pipeline(
                ctx,
                config.pipeline,
                # Without a named parameter: the pipeline's one data parameter.
                data=data if config.parameter is None else {config.parameter: data},
                params=dict(config.params),
                register=trigger.model,
            )
        except PathToLiveError as exc:
            return _Outcome("failed", f"run failed: {exc.message}", exc.message)
        except Exception as exc:  # the pipeline's own code raised
            text = f"{type(exc).__name__}: {exc}"
            return _Outcome("failed", f"run failed: {text}", text)
        assert result.model_version is not None
        version = result.model_version
        _check(guard)
        _record_version(ctx, actor, trigger, version, adopted=False, data=data)
    say(ControllerEvent("registered", version.ref, trigger))
    _check(guard)
    return _promote(ctx, trigger, version, config)


def _recorded_version(ctx: ServiceContext, trigger: Trigger) -> ModelVersion | None:
    if trigger.model_version is None:
        return None
    with ctx.metadata.read() as session:
        return session.get_model_version(trigger.model, trigger.model_version)


def _adoptable_version(
    ctx: ServiceContext, actor: Actor, trigger: Trigger, config: RetrainConfig
) -> ModelVersion | None:
    """A version registered for ``trigger`` by a holder that died before recording it:
    the newest from a pipeline run of the model's pipeline by this principal, started
    after the trigger was created, that no other trigger has recorded."""
    with ctx.metadata.read() as session:
        others = {
            t.model_version
            for t in session.list_triggers(trigger.model, limit=None)
            if t.trigger_id != trigger.trigger_id and t.model_version is not None
        }
        since = trigger.created_at
        candidates = []
        for version in session.list_model_versions(trigger.model):
            if version.version in others or version.source != "run":
                continue
            run = session.get_run(version.run_id)
            if (
                run is not None
                and run.kind == "pipeline"
                and run.pipeline == config.pipeline
                and run.actor == actor.name
                and run.started_at >= since
            ):
                candidates.append(version)
    return max(candidates, key=lambda v: v.version) if candidates else None


def _record_version(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    version: ModelVersion,
    *,
    adopted: bool,
    data: str | None = None,
) -> None:
    with ctx.metadata.write() as session:
        session.update_trigger(
            trigger.trigger_id, run_id=version.run_id, model_version=version.version
        )
        run = session.get_run(version.run_id)
        record(
            session,
            actor,
            "controller.release",
            f"model:{trigger.model}",
            {
                "trigger": trigger.trigger_id,
                "cause": trigger.cause,
                "version": version.version,
                "run": version.run_id,
                "data": data if run is None else dict(run.inputs),
                "adopted": adopted,
            },
        )


def _cover_pending(
    ctx: ServiceContext, actor: Actor, trigger: Trigger, holder: str, *, clock: Clock
) -> list[Trigger]:
    """Pending triggers of the same model are answered by this release, which trains on
    the newest data: end them as covered by it instead of training again for each."""
    covered: list[Trigger] = []
    with ctx.metadata.write() as session:
        for other in session.list_triggers(trigger.model, status="pending", limit=None):
            claimed = session.claim_trigger(other.trigger_id, holder, at=clock())
            if claimed is None:
                continue
            decision = f"covered by trigger {trigger.trigger_id}"
            session.finish_trigger(other.trigger_id, "done", at=clock(), decision=decision)
            record(
                session,
                actor,
                "controller.decision",
                f"model:{other.model}",
                {
                    "trigger": other.trigger_id,
                    "kind": other.kind,
                    "cause": other.cause,
                    "status": "done",
                    "decision": decision,
                },
            )
            ended = session.get_trigger(other.trigger_id)
            assert ended is not None
            covered.append(ended)
    return covered


def _latest_data(ctx: ServiceContext, config: RetrainConfig) -> str:
    with ctx.metadata.read() as session:
        latest = session.latest_version(config.dataset)
    if latest is None:
        raise NotFoundError(
            f"dataset {config.dataset!r} (models.{config.model}.retrain.dataset) has no "
            "version to train on; 'pathtolive data add' adds one"
        )
    return latest.ref


def _promote(
    ctx: ServiceContext, trigger: Trigger, version: ModelVersion, config: RetrainConfig
) -> _Outcome:
    alias = config.alias
    policy = gate_service.gate_config(ctx, trigger.model).promotion.policy_for(alias)
    done = _promotion_state(ctx, version, alias, policy)
    if done is not None:
        return done
    reason = f"trigger {trigger.trigger_id} ({trigger.kind}): {trigger.cause}"
    try:
        outcome = promotion_service.promote(ctx, version.ref, alias, reason=reason)
    except VerificationFailedError as exc:
        summary = _gate_failures(ctx, version) or exc.message
        return _Outcome("done", f"gates failed for {version.ref}: {summary}")
    except ConflictError as exc:
        # Promoted or requested already (a race, or a resumed release): say what stands.
        done = _promotion_state(ctx, version, alias, policy)
        if done is not None:
            return done
        return _Outcome("failed", f"promotion failed: {exc.message}", exc.message)
    if outcome.applied:
        return _Outcome("done", f"promoted {version.ref} to {alias} ({policy})")
    return _Outcome("done", f"{version.ref} awaits approval for {alias} ({policy})")


def _promotion_state(
    ctx: ServiceContext, version: ModelVersion, alias: str, policy: str
) -> _Outcome | None:
    with ctx.metadata.read() as session:
        if session.alias_version(version.model, alias) == version.version:
            return _Outcome("done", f"promoted {version.ref} to {alias} ({policy})")
        pending = session.pending_promotion(version.model, version.version, alias)
    if pending is not None:
        return _Outcome("done", f"{version.ref} awaits approval for {alias} ({pending.policy})")
    return None


def _gate_failures(ctx: ServiceContext, version: ModelVersion) -> str:
    with ctx.metadata.read() as session:
        stored = session.latest_gate_report(version.model, version.version)
    if stored is None:
        return ""
    failed = [r for r in stored.report.get("results", []) if r.get("verdict") == "fail"]
    return "; ".join(f"{r.get('gate')}: {r.get('detail')}" for r in failed)


# -- the loop --------------------------------------------------------------------------


EventKind = Literal[
    "waiting",
    "acquired",
    "trigger",
    "started",
    "resumed",
    "training",
    "registered",
    "finished",
    "error",
    "stopped",
    "reloaded",
]


@dataclass(frozen=True)
class ControllerEvent:
    """Something the controller did or saw, for a face to show as it happens."""

    kind: EventKind
    message: str
    trigger: Trigger | None = None


def default_holder() -> str:
    """``host:pid:random``: unique per controller process, readable in the lock table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Controller:
    """The long-running loop of ``pathtolive watch``.

    Each round (:meth:`run_once`): take or renew the lease ``controller``; when another
    holder has it, do nothing (and say who). Holding it: take over the running triggers
    of holders that no longer hold it (a crash, or a stop mid-release), detect new
    triggers, then handle the pending ones, oldest first. While a release runs a
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
        clock: Clock = _utcnow,
        on_event: Callable[[ControllerEvent], None] | None = None,
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
        self.configs = retrain_configs(ctx)
        self.started_at = clock()
        self.waiting_for: str | None = None
        """The holder of the lease while this controller waits for it, else None."""
        self.busy = False
        """True while a release runs (a stop then interrupts it; the trigger resumes)."""
        self._on_event = on_event
        self._reload_refused: str | None = None
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._holding = False

    # -- the lease ---------------------------------------------------------------------

    def _emit(self, event: ControllerEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def renew(self) -> bool:
        """Take or renew the lease; False while another holder's lease is live."""
        with self.ctx.metadata.write() as session:
            acquired = session.acquire_lock(LOCK_NAME, self.holder, at=self.clock(), ttl=self.lease)
            other = None if acquired else session.get_lock(LOCK_NAME)
        if not acquired:
            if self._holding:
                self._lost.set()
            self._holding = False
            holder = other.holder if other is not None else "another controller"
            if holder != self.waiting_for:
                until = "" if other is None else f" until {other.expires_at.isoformat()}"
                log.info("controller lock held by %s%s; waiting", holder, until)
                self._emit(ControllerEvent("waiting", f"lock held by {holder}{until}"))
            self.waiting_for = holder
            return False
        if not self._holding:
            self._lost.clear()
            self._emit(ControllerEvent("acquired", f"holding the controller lock as {self.holder}"))
        self._holding = True
        self.waiting_for = None
        return True

    def release(self) -> None:
        """Give the lease up (a clean stop): another controller may act at once."""
        with self.ctx.metadata.write() as session:
            session.release_lock(LOCK_NAME, self.holder)
        self._holding = False

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
        handled: list[Trigger] = []
        with self._heartbeat():
            for trigger in self._orphans():
                if self._stopping():
                    return handled
                handled.append(self._handle(trigger))
            for trigger in detect_triggers(self.ctx, now=self.clock(), since=self.started_at):
                self._emit(ControllerEvent("trigger", trigger.cause, trigger))
            while not self._stopping():
                pending = self._next_pending()
                if pending is None:
                    break
                result = self._handle(pending)
                handled.append(result)
                if result.status in ("pending", "running"):
                    break  # lost the lease: the new holder carries on
        return [t for t in handled if t.status in ("done", "failed")]

    def _stopping(self) -> bool:
        return self._stop.is_set() or self._lost.is_set()

    def _orphans(self) -> list[Trigger]:
        with self.ctx.metadata.read() as session:
            return session.triggers_held()

    def _next_pending(self) -> Trigger | None:
        with self.ctx.metadata.read() as session:
            pending = session.list_triggers(status="pending", limit=None)
        return min(pending, key=lambda t: t.trigger_id) if pending else None

    def _handle(self, trigger: Trigger) -> Trigger:
        self.busy = True
        try:
            return handle_trigger(
                self.ctx,
                trigger,
                self.holder,
                clock=self.clock,
                guard=self._guard,
                notify=self._emit,
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
