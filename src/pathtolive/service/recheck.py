"""Re-checking the live version when the settings it went live under change.

A ``config`` trigger (:mod:`pathtolive.service.triggers`) fires when a model's gate or
promotion settings change in pathtolive.toml. Its release trains nothing: it runs the
gates, as they are now, on the version under the model's retrain alias (``live``) and,
when that version no longer passes, opens an alert of kind :data:`LIVE_FAILS_GATES` that
says which gates fail. The alias never moves here: taking a version out of service is a
person's call (a rollback, or promoting a version that passes), so the alert is the whole
answer. A re-check that passes clears the model's alerts of that kind, as does a release
that promotes another version to the alias.

A trigger whose settings changed again before it was handled is superseded: the later
trigger re-checks the settings in force, so one change is never judged by another's
gates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pathtolive.auth import Actor, Permission
from pathtolive.config import WORKSPACE_FILE
from pathtolive.entities import Trigger
from pathtolive.gates.config import judging_digest
from pathtolive.service import gates as gate_service
from pathtolive.service.alerts import clear_alerts_of, open_alert
from pathtolive.service.context import ServiceContext
from pathtolive.service.monitor import monitoring_config
from pathtolive.service.triggers import config_digest_of
from pathtolive.store.metadata import MetadataSession

__all__ = ["LIVE_FAILS_GATES", "Recheck", "clear_moved_on", "recheck_live"]

LIVE_FAILS_GATES = "live_fails_gates"
"""The kind of the alert a version under its alias opens when changed gates fail it."""


@dataclass(frozen=True)
class Recheck:
    """What the re-check of a ``config`` trigger decided; ``passed`` is None when nothing
    was checked (superseded, or no version under the alias)."""

    decision: str
    passed: bool | None = None
    alert: int | None = None
    """The id of the alert opened (or still open) when the version fails."""


def recheck_live(
    ctx: ServiceContext,
    actor: Actor,
    trigger: Trigger,
    alias: str,
    *,
    at: datetime,
    within: Callable[[MetadataSession], None] | None = None,
) -> Recheck:
    """Run the current gates on the version of ``trigger.model`` under ``alias``; open an
    alert when it fails them (in a transaction that first calls ``within``, the release's
    fence), clear the earlier ones when it passes. Errors as
    :func:`~pathtolive.service.gates.check_gates` raises them."""
    model = trigger.model
    current = judging_digest(model, ctx.settings.document.get("models", {}))
    if config_digest_of(trigger) != current:
        return Recheck(
            f"superseded: the settings changed again ({current[:12]} now); the trigger "
            "for that change re-checks them"
        )
    with ctx.metadata.read() as session:
        number = session.alias_version(model, alias)
    if number is None:
        return Recheck(f"no version of {model} is {alias}: nothing to re-check")
    ref = f"{model}@{number}"
    report = gate_service.check_gates(ctx, ref)
    webhook = monitoring_config(ctx, model).alert_webhook is not None
    with ctx.metadata.write() as session:
        if within is not None:
            within(session)
        if report.passed:
            clear_alerts_of(
                session,
                actor,
                model,
                [LIVE_FAILS_GATES],
                at=at,
                why={"by_trigger": trigger.trigger_id},
            )
            return Recheck(f"{ref} ({alias}) passes the changed gates; it stays {alias}", True)
        failures = "; ".join(f"{r.gate}: {r.detail}" for r in report.failures)
        message = (
            f"{ref} ({alias}) no longer passes the gates changed in {WORKSPACE_FILE}: "
            f"{failures}. It stays {alias}: roll it back or promote a version that passes"
        )
        details = {
            "version": number,
            "alias": alias,
            "trigger": trigger.trigger_id,
            "failed": [r.gate for r in report.failures],
            "config_digest": current,
        }
        key = f"{LIVE_FAILS_GATES}:{ref}"
        alert, _ = open_alert(
            session, actor, model, LIVE_FAILS_GATES, key, message, details, at=at, webhook=webhook
        )
    return Recheck(
        f"{ref} ({alias}) fails the changed gates ({failures}); alert {alert.alert_id} "
        f"open, {alias} unchanged",
        False,
        alert.alert_id,
    )


def clear_moved_on(ctx: ServiceContext, aliases: Mapping[str, str], *, at: datetime) -> int:
    """Clear the :data:`LIVE_FAILS_GATES` alerts of versions no longer under their model's
    alias (``aliases``: model to alias): rolled back, or replaced by a person's approval.
    Reads first; writes only when there is one to clear. Returns how many were cleared."""
    actor = ctx.require(Permission.WRITE, "clear alerts")
    cleared = 0
    for model, alias in aliases.items():
        with ctx.metadata.read() as session:
            alerts = session.list_alerts(model, status="open", limit=None)
            current = session.alias_version(model, alias)
        failing = [a for a in alerts if a.kind == LIVE_FAILS_GATES]
        if all(a.details.get("version") == current for a in failing):
            continue
        keep = [a.key for a in failing if a.details.get("version") == current]
        now = "no version" if current is None else f"{model}@{current}"
        with ctx.metadata.write() as session:
            gone = clear_alerts_of(
                session,
                actor,
                model,
                [LIVE_FAILS_GATES],
                at=at,
                keep=keep,
                why={"reason": f"{now} is {alias} now"},
            )
        cleared += len(gone)
    return cleared
