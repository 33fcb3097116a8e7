"""The release of one trigger: claim it, train, register, gate, promote — once.

A release runs the model's ``[models.NAME.retrain]`` pipeline on the latest version of
its dataset, registers the result, runs the gates and applies the alias's promotion
policy: the alias moves (``auto``) or a promotion waits for an approver. Every decision is
an audit event naming its cause.

Handling is idempotent: a trigger goes ``pending`` → ``running`` → ``done``/``failed``
once, and each step of a release is recorded as it completes, so a controller that takes
over a trigger whose holder died resumes it instead of redoing it:

- no model version yet: the pipeline runs again (its step cache makes finished steps
  free) — unless the dead holder had registered a version already and died before
  recording it: that version is found (from a pipeline run of the model's pipeline by
  the same principal, started after the trigger was created, that no other trigger
  recorded) and adopted;
- a version recorded: only the promotion is left; one that happened already (the alias
  points at the version, or its promotion is pending) is recognised, not repeated.

Before each step the release asks its :data:`Guard` whether its holder still holds the
controller's lease; when it does not, :class:`~pathtolive.errors.LostLockError` ends the
release and the trigger stays ``running`` for the new holder.

:class:`ControllerEvent` lives here, beside the release that emits most of its kinds: the
controller's loop (:mod:`pathtolive.service.controller`) imports the release, never the
reverse, and the faces read one vocabulary of events from both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

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
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.triggers import get_trigger, retrain_config

__all__ = [
    "Clock",
    "ControllerEvent",
    "EventKind",
    "Guard",
    "handle_trigger",
    "utcnow",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Where the controller reads the time: :func:`utcnow`, or a fixed clock in tests."""

Guard = Callable[[], bool]
"""Asked before each step of a release: may its holder still act (renewing the lease)?"""


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
    "error",
    "stopped",
    "reloaded",
    "alerts",
]
"""What a :class:`ControllerEvent` reports: a release says ``started``, ``resumed``,
``training``, ``registered`` and ``finished``; the controller's loop the others."""


@dataclass(frozen=True)
class ControllerEvent:
    """Something the controller did or saw, for a face to show as it happens."""

    kind: EventKind
    message: str
    trigger: Trigger | None = None


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
    clock: Clock = utcnow,
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
        raise LostLockError(
            "the controller lock passed to another holder; it resumes the trigger, which "
            "stays running"
        )


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
    config = retrain_config(ctx, trigger.model)
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
                trusted=config.trust,
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
