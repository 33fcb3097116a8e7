"""The console's ASGI app: security headers, static files, sign-in, the pages.

:func:`create_console` assembles a Starlette app from the routes of every page module
(:mod:`pathtolive.ui.console.pages`), behind :class:`Guard`, a pure ASGI middleware
that, for every request:

- adds the security headers: a Content-Security-Policy that allows nothing but the
  console's own origin (no inline script or style, no frame, forms posting home only),
  ``nosniff``, no referrer, no framing, no caching of pages;
- in local mode, refuses a request whose ``Host`` is not a loopback name (a page
  elsewhere could otherwise rebind its own name to this machine and read the console);
- refuses a POST a browser says comes from another site;
- finds the visitor (:mod:`pathtolive.ui.console.access`) and leaves it in the scope,
  or sends a browser without a session to the sign-in page.
"""

from __future__ import annotations

import importlib
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathtolive.errors import AuthenticationError, PathToLiveError
from pathtolive.service.context import ServiceContext
from pathtolive.serving.settings import is_loopback
from pathtolive.ui.console import signin
from pathtolive.ui.console.access import SESSION_COOKIE, Sessions, Visitor
from pathtolive.ui.console.page import VISITOR, Console, error_page
from pathtolive.ui.console.pages import PAGES
from pathtolive.ui.console.throttle import SignInThrottle

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "ConsoleSettings",
    "Guard",
    "create_console",
    "page_routes",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)

_LOOPBACK_NAMES = frozenset(("localhost", "127.0.0.1", "::1"))
_OPEN_PREFIXES = ("/static/", signin.SIGN_IN_PATH)


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console listens and whom it lets in."""

    host: str = "127.0.0.1"
    port: int = 8090
    auth: bool | None = None
    """True: visitors sign in with a token; None: only beyond loopback (or on a shared
    database when the environment holds no token)."""
    trust_forwarded_proto: bool = False
    """Behind a proxy that ends HTTPS: believe its ``X-Forwarded-Proto`` (cookies then
    get ``Secure``) and the last address of its ``X-Forwarded-For`` (failed sign-ins are
    then counted per visitor, not for the proxy). Off by default: anyone can send the
    headers."""
    session_hours: float = 8.0
    """How long a session lasts after sign-in."""
    recheck_seconds: float = 2.0
    """How often a session's token is checked against the store again (a revoked token
    ends its sessions within this time)."""
    sign_in_failures: int = 5
    """Failed sign-ins one client address may make within ``sign_in_window_seconds``;
    beyond, its attempts are answered 429 until the oldest leaves the window."""
    sign_in_failures_overall: int = 100
    """Failed sign-ins from all addresses together within the window; beyond, addresses
    that failed in it wait too (those that did not still sign in)."""
    sign_in_window_seconds: float = 300.0

    def sign_in_required(self, ctx: ServiceContext) -> bool:
        """Whether visitors sign in with a token, or act as the local user (as the CLI
        would: a trusted local user, or the environment's token)."""
        if self.auth is not None:
            return self.auth
        if not is_loopback(self.host):
            return True
        return not (ctx.settings.local_users_trusted or ctx.settings.token)


def create_console(ctx: ServiceContext, settings: ConsoleSettings) -> Starlette:
    """The console app for the workspace of ``ctx`` (its stores stay open for the app's
    life; whoever opened ``ctx`` closes it)."""
    local: Visitor | None = None
    if not settings.sign_in_required(ctx):
        # Resolved now: a revoked environment token fails at start, as on the CLI.
        local = Visitor(ctx.actor(), secrets.token_urlsafe(32), signed_in=False)

    def secure(request: Request) -> bool:
        if request.url.scheme == "https":
            return True
        forwarded = request.headers.get("x-forwarded-proto", "")
        return settings.trust_forwarded_proto and forwarded.lower() == "https"

    def client_address(request: Request) -> str:
        if settings.trust_forwarded_proto:
            # The proxy appends the address it saw: the last one is the proxy's word.
            forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
            if forwarded:
                return forwarded
        return request.client.host if request.client is not None else "unknown"

    state = Console(
        ctx=ctx,
        sessions=Sessions(
            ctx,
            lifetime=settings.session_hours * 3600,
            recheck=settings.recheck_seconds,
        ),
        local=local,
        secure_cookies=secure,
        client_address=client_address,
        throttle=SignInThrottle(
            per_address=settings.sign_in_failures,
            overall=settings.sign_in_failures_overall,
            window=settings.sign_in_window_seconds,
        ),
    )
    routes: list[BaseRoute] = [
        Mount(
            "/static",
            # The console's own files, and the charts' stylesheet it shares with the
            # static reports.
            app=StaticFiles(
                packages=[("pathtolive.ui.console", "static"), ("pathtolive.ui", "static")]
            ),
            name="static",
        ),
        *signin.routes,
        *page_routes(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            PathToLiveError: _answer_error,
            HTTPException: _answer_http_error,
        },
    )
    app.state.console = state
    app.add_middleware(Guard, console=state)
    return app


def page_routes() -> list[BaseRoute]:
    """The routes of every page module in :data:`~pathtolive.ui.console.pages.PAGES`."""
    routes: list[BaseRoute] = []
    for name in PAGES:
        module = importlib.import_module(f"pathtolive.ui.console.pages.{name}")
        routes.extend(module.routes)
    return routes


class Guard:
    """Security headers on every answer; the visitor found before any page runs."""

    def __init__(self, app: ASGIApp, *, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not _route_path(scope).startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    async def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.console.local is not None and not _loopback_host(headers.get("host", "")):
            return PlainTextResponse(
                "this console answers on loopback only: open it at http://127.0.0.1:PORT "
                "(or start it with --auth)",
                status_code=421,
            )
        if scope["method"] == "POST" and _cross_site(headers):
            return PlainTextResponse("a form from another site may not act here", status_code=403)
        path = _route_path(scope)
        if path.startswith(_OPEN_PREFIXES):
            return None
        if self.console.local is not None:
            scope[VISITOR] = self.console.local
            return None
        cookie = Request(scope).cookies.get(SESSION_COOKIE)
        session = await run_in_threadpool(self.console.sessions.find, cookie)
        if session is None:
            root = str(scope.get("root_path", ""))
            target = root + signin.SIGN_IN_PATH
            if scope["method"] == "GET" and path != "/":
                target += "?next=" + quote(path, safe="/")
            return RedirectResponse(target, status_code=303)
        scope[VISITOR] = Visitor(session.actor, session.csrf_token, signed_in=True)
        return None


def _route_path(scope: Scope) -> str:
    """The path within the console (a mount leaves its prefix in ``root_path`` and,
    in Starlette today, in ``path`` too)."""
    path = str(scope["path"])
    root = str(scope.get("root_path", ""))
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _loopback_host(host: str) -> bool:
    name = urlsplit(f"//{host}").hostname or ""
    return name in _LOOPBACK_NAMES or is_loopback(name)


def _cross_site(headers: Headers) -> bool:
    """Whether the browser says the request comes from another site (``Sec-Fetch-Site``,
    else an ``Origin`` that is not this host)."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != headers.get("host", "")


async def _answer_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PathToLiveError)
    if isinstance(exc, AuthenticationError) or VISITOR not in request.scope:
        return PlainTextResponse(exc.message, status_code=exc.http_status)
    return error_page(request, exc.http_status, exc.message)


async def _answer_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    if VISITOR not in request.scope:
        return PlainTextResponse(message, status_code=exc.status_code)
    return error_page(request, exc.status_code, message)
