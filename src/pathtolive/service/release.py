"""The release of one trigger: claim it, train, register, gate, promote — once.

A release runs the model's ``[models.NAME.retrain]`` pipeline on the latest version of
its dataset, registers the result, runs the gates and applies the alias's promotion
policy: the alias moves (``auto``) or a promotion waits for an approver. Every decision is
an audit event naming its cause.

Handling is idempotent: a trigger goes ``pending`` → ``running`` → ``done``/``failed``
once, and each step of a release is recorded as it completes, so a controller that takes
over a trigger whose holder died resumes it instead of redoing it:

- no model version yet: the pipeline runs again (its step cache makes finished steps
  free). A version is registered and recorded on its trigger in one transaction, so a
  holder that died never leaves a registered version its trigger does not name, and the
  successor needs nothing but the trigger to find it (whoever it runs as);
- a version recorded: only the promotion is left; one that happened already (the alias
  points at the version, or its promotion is pending) is recognised, not repeated.

A ``config`` trigger trains nothing: its release re-checks the version under the alias
against the changed gates (:mod:`pathtolive.service.recheck`), and is never covered by
another release, which would not re-check the live version.

A release fails when its run or a step of it raises (a failing gate is a decision, not a
failure). A failed release is tried again, with exponential backoff, up to the model's
``retrain.max_attempts``; after the last attempt the trigger is ``failed`` and an alert
(kind ``release_failed``) opens, cleared by the model's next release that goes through.
Each retry and the giving up are audited.

Fencing: a release runs under a :class:`Fence`, the controller lease's holder and
generation (which grows each time the lease passes to another holder). Every write of the
release — claiming, registering the version and recording it on the trigger, promoting,
finishing — checks in its own transaction that the lease is still that holder's in that
generation; a controller that lost its lease (paused past it, say) has its write refused
with :class:`~pathtolive.errors.LostLockError` and audited as ``controller.fenced``.
Before each step the release also asks its :data:`Guard` whether its holder still holds
the lease, to stop early; either way the trigger stays as the new holder left it.

:class:`ControllerEvent` lives here, beside the release that emits most of its kinds: the
controller's loop (:mod:`pathtolive.service.controller`) imports the release, never the
reverse, and the faces read one vocabulary of events from both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pathtolive import tracing
from pathtolive.auth import Actor, Permission
from pathtolive.entities import ModelVersion, Trigger
from pathtolive.errors import (
    ConflictError,
    LostLockError,
    NotFoundError,
    PathToLiveError,
    VerificationFailedError,
)
from pathtolive.monitoring.config import RetrainConfig
from pathtolive.service import gates as gate_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service import runs as run_service
from pathtolive.service.alerts import clear_alerts_of, open_alert
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.monitor import monitoring_config
from pathtolive.service.recheck import LIVE_FAILS_GATES, recheck_live
from pathtolive.service.triggers import get_trigger, record_decision, retrain_config
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "RELEASE_FAILED",
    "Clock",
    "ControllerEvent",
    "EventKind",
    "Fence",
    "Guard",
    "handle_trigger",
    "utcnow",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Where the controller reads the time: :func:`utcnow`, or a fixed clock in tests."""

Guard = Callable[[], bool]
"""Asked before each step of a release: may its holder still act (renewing the lease)?"""


RELEASE_FAILED = "release_failed"
"""The kind of the alert a trigger opens when its release failed its last attempt."""


def utcnow() -> datetime:
    """The wall clock, in UTC: the default :data:`Clock`."""
    return datetime.now(UTC)


# -- events ----------------------------------------------------------------------------


EventKind = Literal[
    "waiting",
    "acquired",
    "trigger",
    "started",
    "resumed",
    "training",
    "registered",
    "finished",
    "retrying",
    "fenced",
    "error",
    "stopped",
    "reloaded",
    "alerts",
]
"""What a :class:`ControllerEvent` reports: a release says ``started``, ``resumed``,
``training``, ``registered``, ``retrying``, ``fenced`` and ``finished``; the controller's
loop the others."""


@dataclass(frozen=True)
class ControllerEvent:
    """Something the controller did or saw, for a face to show as it happens."""

    kind: EventKind
    message: str
    trigger: Trigger | None = None


# -- handling a trigger ----------------------------------------------------------------


@dataclass(frozen=True)
class Fence:
    """The lease a release acts under: ``holder`` of the lock ``lock`` in ``generation``
    (its fencing token, as the controller took it when the release began)."""

    lock: str
    holder: str
    generation: int

    def check(self, session: MetadataSession, trigger: Trigger, write: str) -> None:
        """In the transaction of a write: refuse it when the lease is no longer this."""
        if session.holds_lock(self.lock, self.holder, self.generation):
            return
        current = session.get_lock(self.lock)
        now = "nobody" if current is None else f"{current.holder} (generation {current.generation})"
        raise LostLockError(
            f"{write} for trigger {trigger.trigger_id} refused: this controller "
            f"({self.holder}, generation {self.generation}) lost the controller lease, now "
            f"held by {now}; the holder of the lease carries the trigger on",
            details={
                "fenced": True,
                "write": write,
                "holder": self.holder,
                "generation": self.generation,
                "trigger": trigger.trigger_id,
                "lease_holder": None if current is None else current.holder,
                "lease_generation": None if current is None else current.generation,
            },
        )


@dataclass(frozen=True)
class _Outcome:
    status: Literal["done", "failed"]
    decision: str
    error: str | None = None
    promoted: bool = False
    """The release moved the alias to its version."""


def handle_trigger(
    ctx: ServiceContext,
    trigger: Trigger,
    holder: str,
    *,
    clock: Clock = utcnow,
    guard: Guard | None = None,
    notify: Callable[[ControllerEvent], None] | None = None,
    fence: Fence | None = None,
) -> Trigger:
    """Take ``trigger`` to a decision under ``holder``: claim it (or take it over from a
    holder that died), train, register, gate and promote, recording each step; returns
    the trigger as it ends. ``guard`` is asked before each step whether ``holder`` may
    still act (it renews the lease); when it says no the trigger is left running for the
    controller that holds the lock now. With ``fence`` every write checks, in its own
    transaction, that the lease is still the fence's, and a refused write is audited. A
    failed release goes back to pending for a later attempt while attempts remain. A
    trigger done or failed is returned as it is."""
    actor = ctx.require(Permission.WRITE, "run releases")
    say = notify or (lambda event: None)
    with tracing.span(
        "release",
        {
            "pathtolive.model": trigger.model,
            "pathtolive.trigger": trigger.trigger_id,
            "pathtolive.trigger.kind": trigger.kind,
        },
    ) as span:
        try:
            ended = _handle(ctx, actor, trigger, holder, clock, guard, say, fence)
        except LostLockError as exc:
            if isinstance(exc.details, dict) and exc.details.get("fenced"):
                _record_fenced(ctx, actor, trigger, exc)
                say(ControllerEvent("fenced", exc.message, trigger))
            log.warning("lost the controller lock while handling trigger %s", trigger.trigger_id)
            ended = get_trigger(ctx, trigger.trigger_id)
        span.set_attributes(
            {
                "pathtolive.trigger.status": ended.status,
                "pathtolive.release.decision": ended.decision,
                **({} if ended.run_id is None else {"pathtolive.run_id": ended.run_id}),
                **(
                    {}
                    if ended.model_version is None
                    else {"pathtolive.model.version": ended.model_version}
                ),
            }
        )
    return ended


def _handle(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    holder: str,
    clock: Clock,
    guard: Guard | None,
    say: Callable[[ControllerEvent], None],
    fence: Fence | None,
) -> Trigger:
    current = _claim(ctx, actor, trigger, holder, clock=clock, fence=fence)
    if current is None:
        return get_trigger(ctx, trigger.trigger_id)
    if current.holder != holder or current.status != "running":
        return current
    # Worked on before (by a holder that died, or by this one before an error): a
    # version recorded on it is not trained again.
    resumed = trigger.status == "running"
    if resumed:
        whose = "continued" if trigger.holder == holder else f"taken over from {trigger.holder}"
        say(ControllerEvent("resumed", whose, current))
    else:
        say(ControllerEvent("started", current.cause, current))
    try:
        if resumed and trigger.holder != holder and _attempts_spent(ctx, current):
            # Its controllers died mid-release at every attempt (killed for memory, say):
            # a release that takes its controller down is not tried forever either.
            outcome = _Outcome(
                "failed",
                "release failed: its controller stopped before it finished, at each attempt",
                f"taken over from {trigger.holder} with no attempt left",
            )
        else:
            outcome = _release(
                ctx, actor, current, holder, clock=clock, guard=guard, say=say, fence=fence
            )
    except LostLockError:
        # A PathToLiveError too, but not a failed release: the new holder resumes it.
        raise
    except PathToLiveError as exc:
        outcome = _Outcome("failed", f"release failed: {exc.message}", exc.message)
    except Exception as exc:  # a bug must not leave the trigger running forever
        log.exception("trigger %s failed unexpectedly", current.trigger_id)
        text = f"{type(exc).__name__}: {exc}"
        outcome = _Outcome("failed", f"release failed: {text}", text)
    _check(guard)
    retry_in = _retry_delay(ctx, current) if outcome.status == "failed" else None
    with ctx.metadata.write() as session:
        if fence is not None:
            fence.check(session, current, "finishing")
        if retry_in is not None:
            _retry(session, actor, current, outcome, at=clock(), delay=retry_in)
        else:
            _finish(
                session,
                actor,
                current,
                outcome,
                at=clock(),
                webhook=monitoring_config(ctx, current.model).alert_webhook is not None,
            )
        finished = session.get_trigger(current.trigger_id)
    assert finished is not None
    if retry_in is not None:
        say(ControllerEvent("retrying", finished.decision, finished))
    else:
        say(ControllerEvent("finished", finished.decision, finished))
    return finished


def _attempts_spent(ctx: ServiceContext, trigger: Trigger) -> bool:
    """Whether ``trigger`` (just claimed) is on an attempt beyond its model's
    ``max_attempts``."""
    try:
        config = retrain_config(ctx, trigger.model)
    except PathToLiveError:
        return False  # the release itself says what is wrong with the settings
    return trigger.attempts > config.max_attempts


def _retry_delay(ctx: ServiceContext, trigger: Trigger) -> timedelta | None:
    """How long until the failed release of ``trigger`` is tried again; None to give up
    (no attempt left, or the model's retraining settings are gone or wrong)."""
    try:
        config = retrain_config(ctx, trigger.model)
    except PathToLiveError:
        return None
    return config.retry_delay(trigger.attempts)


def _retry(
    session: MetadataSession,
    actor: Actor,
    trigger: Trigger,
    outcome: _Outcome,
    *,
    at: datetime,
    delay: timedelta,
) -> None:
    due = at + delay
    decision = (
        f"{outcome.decision}; attempt {trigger.attempts + 1} at {due.isoformat(timespec='seconds')}"
    )
    session.retry_trigger(
        trigger.trigger_id,
        next_attempt_at=due,
        decision=decision,
        error=outcome.error or outcome.decision,
    )
    record(
        session,
        actor,
        "controller.retry",
        f"model:{trigger.model}",
        {
            "trigger": trigger.trigger_id,
            "cause": trigger.cause,
            "attempt": trigger.attempts,
            "next_attempt_at": due.isoformat(),
            "error": outcome.error or outcome.decision,
        },
    )


def _finish(
    session: MetadataSession,
    actor: Actor,
    trigger: Trigger,
    outcome: _Outcome,
    *,
    at: datetime,
    webhook: bool,
) -> None:
    """Close ``trigger`` with ``outcome``; a failure opens a ``release_failed`` alert (into
    the webhook outbox when the model has a ``webhook``), a success clears them."""
    decision = outcome.decision
    if outcome.status == "failed" and trigger.attempts > 1:
        decision = f"{decision} (gave up after {trigger.attempts} attempts)"
    session.finish_trigger(
        trigger.trigger_id, outcome.status, at=at, decision=decision, error=outcome.error
    )
    record_decision(session, actor, trigger, outcome.status, decision, attempts=trigger.attempts)
    if outcome.status != "failed":
        # A release that went through answers the failed ones before it; one that moved
        # the alias, the alerts on the version that had it.
        kinds = [RELEASE_FAILED, *([LIVE_FAILS_GATES] if outcome.promoted else [])]
        why = {"by_trigger": trigger.trigger_id}
        clear_alerts_of(session, actor, trigger.model, kinds, at=at, why=why)
        return
    key = f"{RELEASE_FAILED}:{trigger.trigger_id}"
    message = f"release of trigger {trigger.trigger_id} failed: {decision}"
    details = {"trigger": trigger.trigger_id, "cause": trigger.cause, "attempts": trigger.attempts}
    open_alert(
        session, actor, trigger.model, RELEASE_FAILED, key, message, details, at=at, webhook=webhook
    )


def _record_fenced(ctx: ServiceContext, actor: Actor, trigger: Trigger, exc: LostLockError) -> None:
    """The refused write of a controller that lost its lease, on the record (in a
    transaction of its own: the refused one rolled back)."""
    details = dict(exc.details) if isinstance(exc.details, dict) else {}
    details.pop("fenced", None)
    with ctx.metadata.write() as session:
        record(session, actor, "controller.fenced", f"model:{trigger.model}", details)


def _check(guard: Guard | None) -> None:
    if guard is not None and not guard():
        raise LostLockError(
            "the controller lock passed to another holder; it resumes the trigger, which "
            "stays running"
        )


def _claim(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    holder: str,
    *,
    clock: Clock,
    fence: Fence | None,
) -> Trigger | None:
    if trigger.status in ("done", "failed"):
        return trigger
    if trigger.status == "running" and trigger.holder == holder:
        return trigger
    with ctx.metadata.write() as session:
        if fence is not None:
            fence.check(session, trigger, "claiming")
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
    fence: Fence | None,
) -> _Outcome:
    config = retrain_config(ctx, trigger.model)
    if trigger.kind == "config":
        _check(guard)
        return _recheck(ctx, actor, trigger, config, clock=clock, fence=fence)
    version = _recorded_version(ctx, trigger)
    if version is None:
        _check(guard)
        for covered in _cover_pending(ctx, actor, trigger, holder, clock=clock, fence=fence):
            say(ControllerEvent("finished", covered.decision, covered))
        data = _latest_data(ctx, config)
        say(ControllerEvent("training", f"{config.pipeline} on {data}", trigger))

        def record_on_trigger(session: MetadataSession, registered: ModelVersion) -> None:
            if fence is not None:
                fence.check(session, trigger, f"registering {registered.ref}")
            _record_version(session, actor, trigger, registered)

        try:
            result = run_service.run_pipeline(
                ctx,
                config.pipeline,
                # Without a named parameter: the pipeline's one data parameter.
                data=data if config.parameter is None else {config.parameter: data},
                params=dict(config.params),
                register=trigger.model,
                trusted=config.trust,
                on_register=record_on_trigger,
            )
        except LostLockError:
            raise
        except PathToLiveError as exc:
            return _Outcome("failed", f"run failed: {exc.message}", exc.message)
        except Exception as exc:  # the pipeline's own code raised
            text = f"{type(exc).__name__}: {exc}"
            return _Outcome("failed", f"run failed: {text}", text)
        assert result.model_version is not None
        version = result.model_version
    say(ControllerEvent("registered", version.ref, trigger))
    _check(guard)
    return _promote(ctx, trigger, version, config, fence)


def _recheck(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    config: RetrainConfig,
    *,
    clock: Clock,
    fence: Fence | None,
) -> _Outcome:
    checked = recheck_live(
        ctx,
        actor,
        trigger,
        config.alias,
        at=clock(),
        within=None
        if fence is None
        else lambda session: fence.check(session, trigger, "recording the re-check"),
    )
    return _Outcome("done", checked.decision)


def _recorded_version(ctx: ServiceContext, trigger: Trigger) -> ModelVersion | None:
    if trigger.model_version is None:
        return None
    with ctx.metadata.read() as session:
        return session.get_model_version(trigger.model, trigger.model_version)


def _record_version(
    session: MetadataSession, actor: Actor, trigger: Trigger, version: ModelVersion
) -> None:
    """Name ``version`` on ``trigger``, in the transaction that registers it."""
    session.update_trigger(trigger.trigger_id, run_id=version.run_id, model_version=version.version)
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
            "data": None if run is None else dict(run.inputs),
            # The code it was trained on: what a code trigger is answered with.
            "code": None
            if run is None
            else {
                "commit": run.code_commit,
                "dirty": run.code_dirty,
                "pipelines_hash": run.pipelines_hash,
            },
        },
    )


def _cover_pending(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    holder: str,
    *,
    clock: Clock,
    fence: Fence | None,
) -> list[Trigger]:
    """Pending triggers of the same model are answered by this release, which trains on
    the newest data: end them as covered by it instead of training again for each (a
    trigger waiting to be tried again too)."""
    covered: list[Trigger] = []
    with ctx.metadata.write() as session:
        if fence is not None:
            fence.check(session, trigger, "covering pending triggers")
        for other in session.list_triggers(trigger.model, status="pending", limit=None):
            if other.kind == "config":
                continue  # answered by a re-check of the live version, not by a release
            claimed = session.claim_trigger(other.trigger_id, holder, at=clock(), early=True)
            if claimed is None:
                continue
            decision = f"covered by trigger {trigger.trigger_id}"
            session.finish_trigger(other.trigger_id, "done", at=clock(), decision=decision)
            record_decision(session, actor, other, "done", decision)
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
    ctx: ServiceContext,
    trigger: Trigger,
    version: ModelVersion,
    config: RetrainConfig,
    fence: Fence | None,
) -> _Outcome:
    alias = config.alias
    policy = gate_service.gate_config(ctx, trigger.model).promotion.policy_for(alias)
    done = _promotion_state(ctx, version, alias, policy)
    if done is not None:
        return done
    reason = f"trigger {trigger.trigger_id} ({trigger.kind}): {trigger.cause}"
    try:
        outcome = promotion_service.promote(
            ctx,
            version.ref,
            alias,
            reason=reason,
            within=None
            if fence is None
            else lambda session: fence.check(
                session, trigger, f"promoting {version.ref} to {alias}"
            ),
        )
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
        return _Outcome("done", f"promoted {version.ref} to {alias} ({policy})", promoted=True)
    return _Outcome("done", f"{version.ref} awaits approval for {alias} ({policy})")


def _promotion_state(
    ctx: ServiceContext, version: ModelVersion, alias: str, policy: str
) -> _Outcome | None:
    with ctx.metadata.read() as session:
        if session.alias_version(version.model, alias) == version.version:
            return _Outcome("done", f"promoted {version.ref} to {alias} ({policy})", promoted=True)
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
