"""Controlled promotion: gates, then the alias's policy (auto, approval, four-eyes);
approvals with separation of duties; withdrawal; rollback. Every decision is audited.

Two promotions racing for one alias leave one winner: a promotion records which version
was live when its gates ran (the champion it beat), and applying it checks, inside a write
transaction (the store serialises writers), that this is still so. The loser is refused
and told to check again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pathtolive import tracing
from pathtolive.auth import Actor, Permission, same_principal
from pathtolive.entities import AliasMove, Promotion, StoredGateReport
from pathtolive.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    VerificationFailedError,
)
from pathtolive.faces import spelled
from pathtolive.gates import GateReport
from pathtolive.service import audit as audit_service
from pathtolive.service import gates as gate_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.metadata import MetadataSession

__all__ = [
    "PromotionOutcome",
    "approval_objection",
    "approval_objections",
    "approve",
    "decided_promotions",
    "decline",
    "latest_reports",
    "list_promotions",
    "pending_page",
    "promote",
    "rollback",
    "withdraw",
]


_ROLLBACK = "rollback"


@dataclass(frozen=True)
class PromotionOutcome:
    promotion: Promotion
    applied: bool
    report: GateReport

    def _repr_html_(self) -> str | None:
        """In Jupyter, the gate report the promotion was decided on."""
        return self.report._repr_html_()


def promote(
    ctx: ServiceContext,
    ref: str,
    alias: str = "live",
    *,
    reason: str = "",
    override: str | None = None,
    within: Callable[[MetadataSession], None] | None = None,
    holdout: str | None = None,
    target: str | None = None,
) -> PromotionOutcome:
    """Run the gates on ``ref``, then apply the alias's policy: move the alias now
    (``auto``) or leave a pending promotion for an approver. Failing gates refuse the
    promotion unless an admin gives ``override`` (a reason, recorded). ``holdout`` and
    ``target`` name what the gates judge on (see :func:`gate_service.check_gates`). ``within`` is
    called first in the transaction that records the promotion (the controller checks
    its lease there); an exception it raises leaves the alias and promotions as they
    were."""
    with tracing.span(
        "promotion", {"pathtolive.model.ref": ref, "pathtolive.alias": alias}
    ) as span:
        outcome = _promote(
            ctx,
            ref,
            alias,
            reason=reason,
            override=override,
            within=within,
            holdout=holdout,
            target=target,
        )
        span.set_attributes(_promotion_attributes(outcome.promotion))
    return outcome


def _promotion_attributes(promotion: Promotion) -> tracing.Attributes:
    return {
        "pathtolive.model": promotion.model,
        "pathtolive.model.version": promotion.version,
        "pathtolive.promotion.policy": promotion.policy,
        "pathtolive.promotion.status": promotion.status,
    }


def _promote(
    ctx: ServiceContext,
    ref: str,
    alias: str,
    *,
    reason: str,
    override: str | None,
    within: Callable[[MetadataSession], None] | None,
    holdout: str | None,
    target: str | None,
) -> PromotionOutcome:
    actor = ctx.require(Permission.WRITE, "request promotions")
    model_service.check_alias(alias)
    version = model_service.model_version(ctx, ref)
    if override is not None:
        ctx.require(Permission.ADMIN, "override failing gates")
    try:
        ctx.artifacts.get_bytes(version.artifact_digest)
    except IntegrityError as exc:
        _refuse(ctx, actor, version.ref, alias, f"artifact fails its hash check: {exc.message}")
        raise
    report = gate_service.check_gates(ctx, version.ref, holdout=holdout, target=target)
    if not report.passed and override is None:
        failed = "; ".join(f"{r.gate}: {r.detail}" for r in report.failures)
        _refuse(ctx, actor, version.ref, alias, f"gates failed: {failed}")
        raise VerificationFailedError(
            f"{version.ref} may not go {alias}: {report.summary()} ({failed}); improve the "
            "model, or an admin may promote it with "
            + spelled('--override "reason"', 'override="reason"')
        )
    policy = gate_service.gate_config(ctx, version.model).promotion.policy_for(alias)
    with ctx.metadata.read() as session:
        if session.alias_version(version.model, alias) == version.version:
            raise ConflictError(f"{version.ref} is {alias} already")
        stored = session.latest_gate_report(version.model, version.version)
        # The version the gates compared against (for `live`), else the alias now: the
        # promotion stands only while that is still what the alias points at.
        champion = (
            stored.report.get("champion_version")
            if stored is not None and alias == "live"
            else session.alias_version(version.model, alias)
        )
        if session.pending_promotion(version.model, version.version, alias) is not None:
            raise ConflictError(
                f"{version.ref} already has a pending promotion to {alias}; approve or "
                "withdraw it first"
            )
    now = datetime.now(UTC)
    with ctx.metadata.write() as session:
        if within is not None:
            within(session)
        if session.alias_version(version.model, alias) != champion:
            raise ConflictError(
                f"{alias} of {version.model!r} moved while the gates of {version.ref} ran; "
                "promote again to check it against the new one"
            )
        promotion_id = session.insert_promotion(
            version.model,
            version.version,
            alias=alias,
            policy=policy,
            status="applied" if policy == "auto" else "pending",
            requested_by=actor.name,
            requested_at=now,
            reason=reason,
            override_reason=override,
            gate_report_id=None if stored is None else stored.report_id,
        )
        details = {
            "policy": policy,
            "reason": reason,
            "gates_passed": report.passed,
            "holdout": report.holdout.get("dataset"),
            "promotion": promotion_id,
            "expected_live": champion,
        }
        if override is not None:
            details["override"] = override
            record(
                session,
                actor,
                "promotion.overridden",
                f"model:{version.ref}#{alias}",
                {"reason": override, "failed": [r.gate for r in report.failures]},
            )
        record(session, actor, "promotion.requested", f"model:{version.ref}#{alias}", details)
        if policy == "auto":
            _apply(
                session,
                actor,
                version.model,
                version.version,
                alias,
                champion,
                f"promotion {promotion_id} (auto)",
            )
            session.decide_promotion(
                promotion_id, status="applied", decided_by=actor.name, decided_at=now
            )
        promotion = session.get_promotion(promotion_id)
    assert promotion is not None
    if policy == "auto":
        audit_service.checkpoint_if_configured(ctx)
    return PromotionOutcome(promotion, policy == "auto", report)


def _apply(
    session: MetadataSession,
    actor: Actor,
    model: str,
    version: int,
    alias: str,
    expected: int | None,
    why: str,
) -> None:
    current = session.alias_version(model, alias)
    if current != expected:
        raise ConflictError(
            f"{alias} of {model!r} is version {current} now, not {expected} as when the "
            f"gates ran; check the gates of {model}@{version} again and promote again"
        )
    before = session.move_alias(
        model, alias, version, at=datetime.now(UTC), actor=actor.name, reason=why
    )
    record(
        session,
        actor,
        "alias.moved",
        f"model:{model}#{alias}",
        {"from": before, "to": version, "reason": why},
    )


def _refuse(ctx: ServiceContext, actor: Actor, ref: str, alias: str, why: str) -> None:
    with ctx.metadata.write() as session:
        record(session, actor, "promotion.refused", f"model:{ref}#{alias}", {"why": why})


def approve(ctx: ServiceContext, ref: str, alias: str = "live", *, comment: str = "") -> Promotion:
    """Approve the pending promotion of ``ref`` to ``alias`` and apply it. Under
    ``four-eyes`` the approver must be neither who ran the training nor who asked."""
    with tracing.span(
        "promotion.approval", {"pathtolive.model.ref": ref, "pathtolive.alias": alias}
    ) as span:
        promotion = _approve(ctx, ref, alias, comment=comment)
        span.set_attributes(_promotion_attributes(promotion))
    return promotion


def _approve(ctx: ServiceContext, ref: str, alias: str, *, comment: str) -> Promotion:
    actor = ctx.require(Permission.APPROVE, "approve promotions")
    version = model_service.model_version(ctx, ref)
    with ctx.metadata.read() as session:
        pending = session.pending_promotion(version.model, version.version, alias)
        run = session.get_run(version.run_id)
    if pending is None:
        raise NotFoundError(
            f"{version.ref} has no pending promotion to {alias}; "
            + spelled("'pathtolive promotions list'", "ws.promotions()")
            + " shows them"
        )
    if pending.policy == "four-eyes":
        why = _four_eyes_objection(actor, None if run is None else run.actor, pending)
        if why is not None:
            with ctx.metadata.write() as session:
                session.add_approval(
                    pending.promotion_id,
                    approver=actor.name,
                    decision="refused",
                    comment=why,
                    at=datetime.now(UTC),
                )
                record(
                    session,
                    actor,
                    "promotion.approval_refused",
                    f"model:{version.ref}#{alias}",
                    {"why": why},
                )
            raise PermissionDeniedError(f"{actor.name} may not approve {version.ref}: {why}")
    stored = None
    with ctx.metadata.read() as session:
        if pending.gate_report_id is not None:
            stored = session.gate_report(pending.gate_report_id)
    expected = None if stored is None else stored.report.get("champion_version")
    now = datetime.now(UTC)
    with ctx.metadata.write() as session:
        locked = session.get_promotion(pending.promotion_id, lock=True)
        if locked is None or locked.status != "pending":
            raise ConflictError(f"promotion {pending.promotion_id} was decided already")
        session.add_approval(
            pending.promotion_id, approver=actor.name, decision="approved", comment=comment, at=now
        )
        record(
            session,
            actor,
            "promotion.approved",
            f"model:{version.ref}#{alias}",
            {"promotion": pending.promotion_id, "policy": pending.policy, "comment": comment},
        )
        _apply(
            session,
            actor,
            version.model,
            version.version,
            alias,
            expected,
            f"promotion {pending.promotion_id} approved by {actor.name}",
        )
        session.decide_promotion(
            pending.promotion_id, status="applied", decided_by=actor.name, decided_at=now
        )
        applied = session.get_promotion(pending.promotion_id)
    assert applied is not None
    audit_service.checkpoint_if_configured(ctx)
    return applied


def approval_objection(ctx: ServiceContext, pending: Promotion) -> str | None:
    """Why ``ctx``'s actor may not approve ``pending`` (its role, or four-eyes: it trained
    the model or asked for the promotion), or None when it may; what :func:`approve`
    would refuse, told before anyone tries."""
    actor = ctx.actor()
    if not actor.can(Permission.APPROVE):
        return f"{actor.name} ({actor.role.value}) may not approve promotions"
    if pending.policy != "four-eyes":
        return None
    version = model_service.model_version(ctx, pending.ref)
    with ctx.metadata.read() as session:
        run = session.get_run(version.run_id)
    return _four_eyes_objection(actor, None if run is None else run.actor, pending)


def approval_objections(ctx: ServiceContext, pending: list[Promotion]) -> dict[int, str | None]:
    """:func:`approval_objection` of each of ``pending``, by promotion id, with the
    authors of their versions read in one query (a page of requests costs no query per
    request)."""
    actor = ctx.actor()
    if not actor.can(Permission.APPROVE):
        refused = f"{actor.name} ({actor.role.value}) may not approve promotions"
        return {p.promotion_id: refused for p in pending}
    ctx.require(Permission.READ, "read promotions")
    four_eyes = [p.promotion_id for p in pending if p.policy == "four-eyes"]
    with ctx.metadata.read() as session:
        authors = session.promotion_authors(four_eyes) if four_eyes else {}
    return {
        p.promotion_id: _four_eyes_objection(actor, authors.get(p.promotion_id), p)
        if p.policy == "four-eyes"
        else None
        for p in pending
    }


def _four_eyes_objection(actor: Actor, author: str | None, pending: Promotion) -> str | None:
    """Why ``actor`` may not be the second pair of eyes on ``pending``, or None.

    A local user names itself (``PATHTOLIVE_USER``), so only a token's principal counts;
    names compare case-insensitively and Unicode-normalised (``Bob``, ``bob`` and ``bob``
    in full-width letters are one person)."""
    if not actor.authenticated:
        return (
            f"{actor.name} acts without a token, and four-eyes counts only an approver "
            "a token vouches for; set PATHTOLIVE_TOKEN to an approver's token"
        )
    if same_principal(actor.name, author):
        return f"{actor.name} trained it; four-eyes needs another approver"
    if same_principal(actor.name, pending.requested_by):
        return f"{actor.name} asked for its promotion; four-eyes needs another approver"
    return None


def decline(ctx: ServiceContext, ref: str, alias: str = "live", *, reason: str) -> Promotion:
    """Refuse the pending promotion of ``ref`` to ``alias``, saying why (an approver); the
    alias stays where it is and the request is closed."""
    actor = ctx.require(Permission.APPROVE, "refuse promotions")
    reason = reason.strip()
    if not reason:
        raise InvalidInputError(
            f"say why the promotion is refused ({spelled('--reason', 'reason=...')})"
        )
    version = model_service.model_version(ctx, ref)
    now = datetime.now(UTC)
    with ctx.metadata.write() as session:
        pending = session.pending_promotion(version.model, version.version, alias)
        if pending is None:
            raise NotFoundError(f"{version.ref} has no pending promotion to {alias}")
        locked = session.get_promotion(pending.promotion_id, lock=True)
        if locked is None or locked.status != "pending":
            raise ConflictError(f"promotion {pending.promotion_id} was decided already")
        session.add_approval(
            pending.promotion_id, approver=actor.name, decision="refused", comment=reason, at=now
        )
        session.decide_promotion(
            pending.promotion_id, status="refused", decided_by=actor.name, decided_at=now
        )
        record(
            session,
            actor,
            "promotion.declined",
            f"model:{version.ref}#{alias}",
            {"promotion": pending.promotion_id, "reason": reason},
        )
        declined = session.get_promotion(pending.promotion_id)
    assert declined is not None
    return declined


def withdraw(ctx: ServiceContext, ref: str, alias: str = "live") -> Promotion:
    """Withdraw a pending promotion (its requester, or an admin)."""
    actor = ctx.require(Permission.READ, "withdraw promotions")
    version = model_service.model_version(ctx, ref)
    with ctx.metadata.write() as session:
        pending = session.pending_promotion(version.model, version.version, alias)
        if pending is None:
            raise NotFoundError(f"{version.ref} has no pending promotion to {alias}")
        if not same_principal(actor.name, pending.requested_by) and not actor.can(Permission.ADMIN):
            raise PermissionDeniedError(
                f"{actor.name} may not withdraw a promotion {pending.requested_by} asked for"
            )
        session.decide_promotion(
            pending.promotion_id,
            status="withdrawn",
            decided_by=actor.name,
            decided_at=datetime.now(UTC),
        )
        record(
            session,
            actor,
            "promotion.withdrawn",
            f"model:{version.ref}#{alias}",
            {"promotion": pending.promotion_id},
        )
        withdrawn = session.get_promotion(pending.promotion_id)
    assert withdrawn is not None
    return withdrawn


def list_promotions(
    ctx: ServiceContext, *, status: str | None = None, model: str | None = None
) -> list[Promotion]:
    ctx.require(Permission.READ, "read promotions")
    with ctx.metadata.read() as session:
        return session.list_promotions(status=status, model=model)


def pending_page(ctx: ServiceContext, *, offset: int, limit: int) -> tuple[list[Promotion], int]:
    """``limit`` pending promotions from ``offset``, oldest request first, and how many
    are pending."""
    ctx.require(Permission.READ, "read promotions")
    with ctx.metadata.read() as session:
        page = session.promotion_page(status="pending", offset=offset, limit=limit)
        return page, session.count_promotions(status="pending")


def latest_reports(ctx: ServiceContext, promotions: list[Promotion]) -> dict[int, StoredGateReport]:
    """The latest gate report of the version each of ``promotions`` asks to move, by
    promotion id (left out when the version has none), read at once."""
    ctx.require(Permission.READ, "read gate reports")
    with ctx.metadata.read() as session:
        return session.latest_gate_reports(promotions)


def decided_promotions(ctx: ServiceContext, *, limit: int) -> list[Promotion]:
    """The ``limit`` promotions decided last, newest first."""
    ctx.require(Permission.READ, "read promotions")
    with ctx.metadata.read() as session:
        return session.decided_promotions(limit=limit)


def rollback(
    ctx: ServiceContext, model: str, alias: str = "live", *, reason: str = ""
) -> AliasMove:
    """Move ``alias`` back to the version it pointed at before its last move. No gates:
    that version was live already. Approvers and admins may roll back."""
    with tracing.span(
        "promotion.rollback", {"pathtolive.model": model, "pathtolive.alias": alias}
    ) as span:
        moved = _rollback(ctx, model, alias, reason=reason)
        if moved.to_version is not None:
            span.set_attribute("pathtolive.model.version", moved.to_version)
    return moved


def _rollback(ctx: ServiceContext, model: str, alias: str, *, reason: str) -> AliasMove:
    actor = ctx.require(Permission.APPROVE, "roll back")
    with ctx.metadata.write() as session:
        if session.model_id(model) is None:
            raise NotFoundError(f"no model {model!r}")
        current = session.alias_version(model, alias)
        # The move that made ``current`` live, not counting rollbacks: rolling back twice
        # walks further back instead of toggling between two versions.
        arrivals = [
            h
            for h in session.alias_history(model, alias)
            if h.to_version == current and not h.reason.startswith(_ROLLBACK)
        ]
        previous = arrivals[-1].from_version if arrivals and current is not None else None
        if previous is None:
            raise ConflictError(f"{model}@{alias} has no earlier version to roll back to")
        why = f"{_ROLLBACK} from {current}" + (f": {reason}" if reason else "")
        session.move_alias(
            model, alias, previous, at=datetime.now(UTC), actor=actor.name, reason=why
        )
        record(
            session,
            actor,
            "promotion.rolled_back",
            f"model:{model}#{alias}",
            {"from": current, "to": previous, "reason": reason},
        )
        moved = session.alias_history(model, alias)[-1]
    audit_service.checkpoint_if_configured(ctx)
    return moved
