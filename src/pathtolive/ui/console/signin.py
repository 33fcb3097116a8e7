"""Sign-in with an API token, and sign-out.

The sign-in form posts the token once; the answer is a session cookie (HttpOnly,
SameSite=Strict, Secure behind HTTPS, lasting the session's lifetime) and the token is
never sent again. Signing in and out are audit events with the token's principal as
actor; a wrong token is answered 401 with what to do, and recorded
(``console.sign_in_failed``, actor ``anonymous``, with the client's address and never
the token). Failed sign-ins are limited per address and overall
(:mod:`~pathtolive.ui.console.throttle`): beyond the limit an attempt is answered 429
with ``Retry-After``, before its token is even looked at.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pathtolive.auth import Permission
from pathtolive.errors import AuthenticationError
from pathtolive.service import audit as audit_service
from pathtolive.ui.console.access import SESSION_COOKIE, SIGN_IN_COOKIE, same_secret
from pathtolive.ui.console.page import Form, action, console, read_form, url
from pathtolive.ui.templates import render

__all__ = ["SIGN_IN_PATH", "SIGN_OUT_PATH", "routes", "sign_in", "sign_in_page", "sign_out"]

SIGN_IN_PATH = "/sign-in"
SIGN_OUT_PATH = "/sign-out"


def sign_in_page(request: Request) -> Response:
    if console(request).local is not None:
        return RedirectResponse(url(request, "/"), status_code=303)
    return _form(request, request.query_params.get("next", "/"))


async def sign_in(request: Request) -> Response:
    state = console(request)
    if state.local is not None:
        return RedirectResponse(url(request, "/"), status_code=303)
    form = await read_form(request)
    target = _safe_next(form.get("next", "/"))
    if not same_secret(form.get("sign_in_token"), request.cookies.get(SIGN_IN_COOKIE, "")):
        return _form(request, target, "the sign-in form expired; sign in again", status=403)
    address = state.client_address(request)
    wait = state.throttle.wait(address)
    if wait is not None:
        return _throttled(request, target, wait)
    secret = form.get("token", "").strip()
    if not secret:
        return _form(request, target, "paste an API token to sign in", status=401)
    try:
        cookie, session = state.sessions.open(secret)
    except AuthenticationError as exc:
        failures, wait = state.throttle.failed(address)
        details: dict[str, object] = {"address": address, "failures": failures}
        if wait is not None:
            details["wait_seconds"] = wait
        audit_service.record_anonymous_event(
            state.ctx, "console.sign_in_failed", "console", details
        )
        return _form(request, target, exc.message, status=401)
    audit_service.record_event(
        state.ctx.acting_as(session.actor), "console.signed_in", "console", {}
    )
    response = RedirectResponse(url(request, target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(state.sessions.lifetime),
        path=_cookie_path(request),
        secure=state.secure_cookies(request),
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=_cookie_path(request))
    return response


@action(Permission.READ, "sign out")
def sign_out(request: Request, form: Form) -> Response:
    state = console(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = None if cookie is None else state.sessions.close(cookie)
    if session is not None:
        audit_service.record_event(
            state.ctx.acting_as(session.actor), "console.signed_out", "console", {}
        )
    response = RedirectResponse(url(request, SIGN_IN_PATH), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request))
    return response


def _form(
    request: Request, target: str, error: str | None = None, *, status: int = 200
) -> Response:
    state = console(request)
    nonce = secrets.token_urlsafe(24)
    page = render(
        "console/sign_in.html",
        title="Sign in",
        # The layout without navigation: nobody is signed in yet.
        nav=(),
        active="",
        actor=None,
        visitor=None,
        notices=(),
        error=error,
        next=_safe_next(target),
        sign_in_token=nonce,
        url=lambda path: url(request, path),
    )
    response = HTMLResponse(page, status_code=status)
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        path=_cookie_path(request),
        secure=state.secure_cookies(request),
        httponly=True,
        samesite="strict",
    )
    return response


def _throttled(request: Request, target: str, wait: int) -> Response:
    minutes = f"{wait // 60} min {wait % 60} s" if wait >= 60 else f"{wait} s"
    response = _form(
        request,
        target,
        f"too many failed sign-ins from this address: try again in {minutes}",
        status=429,
    )
    response.headers["retry-after"] = str(wait)
    return response


def _safe_next(target: str) -> str:
    """A path of this console to go to after sign-in; anything else goes home."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _cookie_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")) or "/"


routes: list[BaseRoute] = [
    Route(SIGN_IN_PATH, sign_in_page, methods=["GET"]),
    Route(SIGN_IN_PATH, sign_in, methods=["POST"]),
    Route(SIGN_OUT_PATH, sign_out, methods=["POST"]),
]
