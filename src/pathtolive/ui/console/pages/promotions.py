"""Promotions: pending requests with their gate reports, and the decisions on them.

Approve, refuse (with a reason), withdraw and roll back call the same service
operations as ``pathtolive approve``, ``promotions refuse``, ``promotions withdraw`` and
``rollback``, acting for the visitor, so the audit trail holds the same events whichever
face was used, and four-eyes refuses the same people (the author, the requester) with
the same reason. The buttons show only to roles that may use them; the server checks
again.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.auth import Actor, Permission, same_principal
from pathtolive.entities import Model, Promotion
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.gates import GateReport
from pathtolive.service import gates as gate_service
from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.service.context import ServiceContext
from pathtolive.ui.console.page import Form, acting, action, notify, redirect, render, visitor

__all__ = [
    "PendingRequest",
    "approve",
    "promotions",
    "refuse",
    "roll_back",
    "routes",
    "withdraw",
]

PATH = "/promotions"
DECIDED_SHOWN = 20
"""Decided promotions listed under the pending ones, newest first."""


@dataclass(frozen=True)
class PendingRequest:
    """A pending promotion, its gate report, and what the visitor may do with it."""

    promotion: Promotion
    report: GateReport | None
    may_withdraw: bool
    objection: str | None
    """Why the visitor may not approve it (shown beside the button: the server refuses
    it the same way), or None."""


def promotions(request: Request) -> Response:
    ctx = acting(request)
    actor = visitor(request).actor
    every = promotion_service.list_promotions(ctx)
    pending = [_pending(ctx, p, actor) for p in every if p.status == "pending"]
    decided = sorted(
        (p for p in every if p.status != "pending"),
        key=lambda p: p.decided_at or p.requested_at,
        reverse=True,
    )[:DECIDED_SHOWN]
    live_models: list[Model] = [m for m in model_service.list_models(ctx) if "live" in m.aliases]
    return render(
        request,
        "promotions.html",
        title="Promotions",
        active="promotions",
        pending=pending,
        decided=decided,
        live_models=live_models,
    )


def _pending(ctx: ServiceContext, promotion: Promotion, actor: Actor) -> PendingRequest:
    try:
        stored = gate_service.latest_report(ctx, promotion.ref)
        report: GateReport | None = GateReport.from_dict(stored.report)
    except NotFoundError:
        report = None
    asked = same_principal(actor.name, promotion.requested_by)
    return PendingRequest(
        promotion=promotion,
        report=report,
        may_withdraw=asked or actor.can(Permission.ADMIN),
        objection=promotion_service.approval_objection(ctx, promotion)
        if actor.can(Permission.APPROVE)
        else None,
    )


def _target(form: Form) -> tuple[str, str]:
    ref = form.get("ref", "").strip()
    if not ref:
        raise InvalidInputError("the form names no model version (ref)")
    return ref, model_service.check_alias(form.get("alias", "live").strip() or "live")


@action(Permission.APPROVE, "approve promotions", back=PATH)
def approve(request: Request, form: Form) -> Response:
    ref, alias = _target(form)
    applied = promotion_service.approve(
        acting(request), ref, alias, comment=form.get("comment", "").strip()
    )
    notify(request, f"Approved: {applied.ref} is now {alias}.")
    return redirect(request, PATH)


@action(Permission.APPROVE, "refuse promotions", back=PATH)
def refuse(request: Request, form: Form) -> Response:
    ref, alias = _target(form)
    declined = promotion_service.decline(acting(request), ref, alias, reason=form.get("reason", ""))
    notify(request, f"Refused: {declined.ref} stays out of {alias}.")
    return redirect(request, PATH)


@action(Permission.READ, "withdraw promotions", back=PATH)
def withdraw(request: Request, form: Form) -> Response:
    ref, alias = _target(form)
    withdrawn = promotion_service.withdraw(acting(request), ref, alias)
    notify(request, f"Withdrawn: the request to move {alias} to {withdrawn.ref}.")
    return redirect(request, PATH)


@action(Permission.APPROVE, "roll back", back=PATH)
def roll_back(request: Request, form: Form) -> Response:
    model = form.get("model", "").strip()
    if not model:
        raise InvalidInputError("the form names no model")
    alias = model_service.check_alias(form.get("alias", "live").strip() or "live")
    move = promotion_service.rollback(
        acting(request), model, alias, reason=form.get("reason", "").strip()
    )
    notify(
        request,
        f"Rolled back: {model}@{alias} went from @{move.from_version} to @{move.to_version}.",
    )
    return redirect(request, PATH)


routes: list[BaseRoute] = [
    Route(PATH, promotions, methods=["GET"], name="promotions"),
    Route(f"{PATH}/approve", approve, methods=["POST"]),
    Route(f"{PATH}/refuse", refuse, methods=["POST"]),
    Route(f"{PATH}/withdraw", withdraw, methods=["POST"]),
    Route(f"{PATH}/rollback", roll_back, methods=["POST"]),
]
