"""Audit: the event log, newest first, filtered by actor, action, subject and time, one
page at a time (by keyset: the next page starts below the last event shown); and the
chain's verification, run on request (a POST) with its result."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.auth import Permission
from pathtolive.errors import InvalidInputError
from pathtolive.service import audit as audit_service
from pathtolive.ui.console.page import Form, acting, action, render

__all__ = ["PAGE_SIZE", "audit_page", "routes", "verify"]

PAGE_SIZE = 50
"""Events per page."""

_FILTERS = ("actor", "action", "subject", "since", "until")


def audit_page(request: Request) -> Response:
    return _render(request, verification=None)


@action(Permission.READ, "verify the audit log", back="/audit")
def verify(request: Request, form: Form) -> Response:
    """Walk the whole chain and check it against the signed checkpoints (the same check
    as ``pathtolive audit verify``)."""
    return _render(request, verification=audit_service.verify_audit(acting(request)))


def _render(request: Request, *, verification: Any) -> Response:
    ctx = acting(request)
    query = request.query_params
    before_text = query.get("before", "")
    if before_text and not before_text.isdigit():
        raise InvalidInputError(f"before must be an event number, not {before_text!r}")
    page = audit_service.audit_page(
        ctx,
        actor=query.get("actor") or None,
        action=query.get("action") or None,
        subject=query.get("subject") or None,
        since=_moment(query.get("since", ""), "since"),
        until=_moment(query.get("until", ""), "until"),
        before=int(before_text) if before_text else None,
        limit=PAGE_SIZE,
    )
    kept = [(key, query[key]) for key in _FILTERS if query.get(key)]
    return render(
        request,
        "audit.html",
        title="Audit",
        active="audit",
        page=page,
        filters={key: query.get(key, "") for key in _FILTERS},
        first=None if page.before is None else "?" + urlencode(kept),
        older=None if page.older is None else "?" + urlencode([*kept, ("before", page.older)]),
        verification=verification,
    )


def _moment(text: str, field: str) -> datetime | None:
    """A time from a ``datetime-local`` field (or any ISO 8601 time); UTC unless it says."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"{field} must be a time like 2026-05-04T09:00 (UTC), not {text!r}"
        ) from None


routes: list[BaseRoute] = [
    Route("/audit", audit_page, methods=["GET"], name="audit"),
    Route("/audit/verify", verify, methods=["POST"], name="audit_verify"),
]
