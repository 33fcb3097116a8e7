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

from pathtolive.auth import Permission, same_principal
from pathtolive.entities import Model, Promotion, StoredGateReport
from pathtolive.errors import InvalidInputError
from pathtolive.gates import GateReport
from pathtolive.service import models as model_service
from pathtolive.service import promotion as promotion_service
from pathtolive.ui.console.page import Form, acting, action, notify, redirect, render, visitor

__all__ = [
    "PAGE_SIZE",
    "PendingRequest",
    "approve",
    "promotions",
    "refuse",
    "roll_back",
    "routes",
    "withdraw",
]

PATH = "/promotions"
PAGE_SIZE = 20
"""Pending requests per page (each shows its gate report)."""
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
    # One page of pending requests, their gate reports and four-eyes objections each
    # read at once: the page's queries do not grow with the number of requests.
    ctx = acting(request)
    actor = visitor(request).actor
    offset = _offset(request)
    page, total = promotion_service.pending_page(ctx, offset=offset, limit=PAGE_SIZE)
    reports = promotion_service.latest_reports(ctx, page)
    objections = (
        promotion_service.approval_objections(ctx, page) if actor.can(Permission.APPROVE) else {}
    )
    pending = [
        PendingRequest(
            promotion=p,
            report=_report(reports.get(p.promotion_id)),
            may_withdraw=same_principal(actor.name, p.requested_by) or actor.can(Permission.ADMIN),
            objection=objections.get(p.promotion_id),
        )
        for p in page
    ]
    live_models: list[Model] = [m for m in model_service.list_models(ctx) if "live" in m.aliases]
    return render(
        request,
        "promotions.html",
        title="Promotions",
        active="promotions",
        pending=pending,
        pending_total=total,
        first_shown=offset + 1,
        newer=f"?offset={max(0, offset - PAGE_SIZE)}" if offset > 0 else None,
        older=f"?offset={offset + PAGE_SIZE}" if offset + PAGE_SIZE < total else None,
        decided=promotion_service.decided_promotions(ctx, limit=DECIDED_SHOWN),
        live_models=live_models,
    )


def _offset(request: Request) -> int:
    text = request.query_params.get("offset", "0") or "0"
    if not text.isdigit():
        raise InvalidInputError(f"offset must be a whole number, not {text!r:.20}")
    return int(text)


def _report(stored: StoredGateReport | None) -> GateReport | None:
    return None if stored is None else GateReport.from_dict(stored.report)


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
