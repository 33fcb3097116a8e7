"""The token check in front of the router, on a server that needs tokens.

A route that looks its model up before it checks the token tells a client without one
which models are served (``/invocations``' "pick one of: ..."), and routes FastAPI adds
itself (``/docs``, ``/redoc``, ``/openapi.json``) check nothing. So the check comes first,
for every path but the liveness and readiness probes (and the docs and ``/version`` with
``serve --public-docs``): no token, no routing, whatever the path. The actor found is
left in the request's scope, and :meth:`~pathtolive.serving.runtime.Server.authorize`
then checks only its role, so a request still looks its token up once.

A pure ASGI middleware, not Starlette's ``BaseHTTPMiddleware``: it adds no task and no
body wrapping to the prediction path.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from pathtolive.errors import PathToLiveError
from pathtolive.serving.codecs.mlflow import mlflow_error
from pathtolive.serving.codecs.v1 import v1_error
from pathtolive.serving.codecs.v2 import v2_error

if TYPE_CHECKING:
    from pathtolive.serving.runtime import Server

__all__ = ["ACTOR", "DOCS_PATHS", "PROBE_PATHS", "TokenFirst"]

ACTOR = "pathtolive.actor"
"""The key of the authenticated :class:`~pathtolive.auth.Actor` in the ASGI scope."""

PROBE_PATHS = frozenset(
    ("/health/live", "/health/ready", "/ping", "/health", "/v2/health/live", "/v2/health/ready")
)
"""Liveness and readiness probes: load balancers and orchestrators call them without a
token, and they tell nothing but up or not."""

DOCS_PATHS = frozenset(("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/version"))
"""What ``serve --public-docs`` opens besides the probes."""

_MLFLOW_PATHS = frozenset(("/invocations", "/ping", "/health", "/version"))


class TokenFirst:
    """Answers 401, in the protocol's own error shape, to a request without a valid token
    before it is routed; lets ``open_paths`` through unchecked."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        server: Server,
        open_paths: Collection[str],
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.server = server
        self.open_paths = frozenset(open_paths)
        # The web console's paths: it signs its visitors in itself (sessions, not bearer
        # tokens).
        self.open_prefixes = open_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self.open_paths or path.startswith(self.open_prefixes):
            await self.app(scope, receive, send)
            return
        try:
            scope[ACTOR] = self.server.tokens.authenticate(
                Headers(scope=scope).get("authorization")
            )
        except PathToLiveError as exc:
            await self._refuse(scope, send, exc)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, exc: PathToLiveError) -> None:
        protocol, body = _shape(scope["path"])
        # No model label: the path is the client's, and a client without a token must not
        # grow the metrics' label set.
        self.server.metrics.errors.labels("", protocol, exc.code, str(exc.http_status)).inc()
        payload = body(exc)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if exc.http_status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": exc.http_status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _shape(path: str) -> tuple[str, Callable[[PathToLiveError], bytes]]:
    """The protocol a path belongs to, and its error body (as the routes answer)."""
    if path == "/v2" or path.startswith("/v2/"):
        return "v2", lambda exc: v2_error(exc.message)
    if path in _MLFLOW_PATHS:
        return "mlflow", mlflow_error
    return "v1", v1_error
