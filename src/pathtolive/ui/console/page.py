"""What every console page uses: rendering with the visitor, acting for it, its links.

A page module (see :mod:`pathtolive.ui.console.pages`) writes plain Starlette endpoints:

- a GET endpoint is a sync function ``(request) -> Response`` (Starlette runs it in a
  worker thread: the service calls read the store) that calls the service layer with
  :func:`acting` and answers :func:`render`;
- a POST endpoint is decorated with :func:`action`, which reads the form, checks the
  CSRF token and the visitor's permission (a refusal is answered 403 and audited) and
  turns a refused operation into an error page with its status.

Links go through ``url('/path')`` in templates (and :func:`url` in Python), so the pages
work at ``/`` and mounted under ``/ui``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pathtolive.auth import Permission
from pathtolive.errors import PathToLiveError, PermissionDeniedError
from pathtolive.service import audit as audit_service
from pathtolive.service.context import ServiceContext
from pathtolive.ui.console.access import Sessions, Visitor, same_secret
from pathtolive.ui.console.throttle import SignInThrottle
from pathtolive.ui.templates import render as render_template

__all__ = [
    "MAX_FORM_BYTES",
    "NAV",
    "VISITOR",
    "Console",
    "Form",
    "Handler",
    "acting",
    "action",
    "console",
    "error_page",
    "model_url",
    "notify",
    "read_form",
    "redirect",
    "render",
    "url",
    "version_url",
    "visitor",
]

VISITOR = "pathtolive.console.visitor"
"""The key of the request's :class:`~pathtolive.ui.console.access.Visitor` in the scope."""

MAX_FORM_BYTES = 64 * 1024
"""The largest form body a POST may send (a reason, a few fields)."""

NAV: tuple[tuple[str, str, str], ...] = (
    ("overview", "Overview", "/"),
    ("models", "Models", "/models"),
    ("promotions", "Promotions", "/promotions"),
    ("datasets", "Datasets", "/datasets"),
    ("runs", "Runs", "/runs"),
    ("monitoring", "Monitoring", "/monitoring"),
    ("audit", "Audit", "/audit"),
)
"""``(key, label, path)`` of every page in the navigation; a page passes its key as
``active`` to :func:`render`. A model version's page is reached from its model's."""

Form = Mapping[str, str]
"""A POST's fields (the last value of a repeated field)."""

Handler = Callable[[Request, Form], Response]


@dataclass
class Console:
    """What the console app holds for its pages (``request.app.state.console``)."""

    ctx: ServiceContext
    sessions: Sessions
    local: Visitor | None
    """The local user's visitor in local mode; None when visitors sign in."""
    secure_cookies: Callable[[Request], bool]
    client_address: Callable[[Request], str]
    """The visitor's address (the proxy's view of it when the proxy is trusted)."""
    throttle: SignInThrottle
    _notices: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def notify(self, visitor: Visitor, text: str) -> None:
        with self._lock:
            notices = self._notices.setdefault(visitor.csrf_token, [])
            notices.append(text)
            del notices[:-5]

    def notices(self, visitor: Visitor) -> list[str]:
        with self._lock:
            return self._notices.pop(visitor.csrf_token, [])


def console(request: Request) -> Console:
    found = request.app.state.console
    assert isinstance(found, Console)
    return found


def visitor(request: Request) -> Visitor:
    """Who the request acts for (set by the app before any page runs)."""
    found = request.scope[VISITOR]
    assert isinstance(found, Visitor)
    return found


def acting(request: Request) -> ServiceContext:
    """The service context acting for the request's visitor: pass it to service calls."""
    return console(request).ctx.acting_as(visitor(request).actor)


def url(request: Request, path: str) -> str:
    """``path`` of the console as a link from this request (the console may be mounted)."""
    return str(request.scope.get("root_path", "")) + path


def model_url(name: str) -> str:
    """The path of a model's page."""
    return f"/models/{quote(name, safe='')}"


def version_url(name: str, version: int) -> str:
    """The path of a model version's page."""
    return f"{model_url(name)}/versions/{version}"


def notify(request: Request, text: str) -> None:
    """Show ``text`` once on the visitor's next page (after an action's redirect)."""
    console(request).notify(visitor(request), text)


def redirect(request: Request, path: str) -> RedirectResponse:
    """See Other: after an action, the browser loads ``path`` with a GET."""
    return RedirectResponse(url(request, path), status_code=303)


def render(
    request: Request,
    template: str,
    *,
    title: str,
    active: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Template ``console/<template>`` as a page of the console, with the visitor (its
    name, role, permissions and CSRF token), the navigation and the pending notices."""
    who = visitor(request)
    page = render_template(
        f"console/{template}",
        title=title,
        active=active,
        nav=NAV,
        visitor=who,
        actor=who.actor,
        csrf_token=who.csrf_token,
        can_write=who.actor.can(Permission.WRITE),
        can_approve=who.actor.can(Permission.APPROVE),
        can_admin=who.actor.can(Permission.ADMIN),
        notices=console(request).notices(who),
        url=lambda path: url(request, path),
        model_url=lambda name: url(request, model_url(name)),
        version_url=lambda name, version: url(request, version_url(name, version)),
        **context,
    )
    return HTMLResponse(page, status_code=status)


def error_page(request: Request, status: int, message: str, back: str = "/") -> HTMLResponse:
    """A page saying what went wrong, with a way back."""
    active = next((key for key, _, path in NAV if path == back), "")
    return render(
        request,
        "error.html",
        title="Refused" if status in (401, 403) else "Error",
        active=active,
        status=status,
        message=message,
        back=back,
    )


def action(
    permission: Permission, doing: str, *, back: str = "/"
) -> Callable[[Handler], Callable[[Request], Any]]:
    """Make ``handler(request, form)`` a POST endpoint that only runs for a request with
    the visitor's CSRF token, from a visitor whose role holds ``permission`` (``doing``
    names the operation in the refusal). A refusal is answered 403 and audited with the
    visitor as actor; a :class:`~pathtolive.errors.PathToLiveError` of the operation is
    answered with its status and message, and a link to ``back``."""

    def wrap(handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            form = await read_form(request)
            who = visitor(request)
            if not same_secret(form.get("csrf_token"), who.csrf_token):
                why = "the form's CSRF token is missing or wrong; reload the page and try again"
                await run_in_threadpool(_audit_refusal, request, doing, why)
                return error_page(request, 403, why, back)
            if not who.actor.can(permission):
                refusal = PermissionDeniedError(
                    f"{who.actor.name} ({who.actor.role.value}) may not {doing}"
                )
                await run_in_threadpool(_audit_refusal, request, doing, refusal.message)
                return error_page(request, refusal.http_status, refusal.message, back)
            try:
                return await run_in_threadpool(handler, request, form)
            except PathToLiveError as exc:
                return error_page(request, exc.http_status, exc.message, back)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def read_form(request: Request) -> dict[str, str]:
    """The URL-encoded fields of a POST (at most :data:`MAX_FORM_BYTES`)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _audit_refusal(request: Request, doing: str, why: str) -> None:
    audit_service.record_event(
        acting(request),
        "console.refused",
        f"console:{request.url.path}",
        {"doing": doing, "why": why},
    )
