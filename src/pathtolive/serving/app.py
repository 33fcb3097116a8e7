"""The live server: one ASGI app answering three prediction protocols.

- native / KServe V1: ``/v1/models``, ``/v1/models/{m}``, ``/v1/models/{m}:predict``,
  ``:explain`` and ``/v1/models/{m}/feedback``;
- MLflow scoring: ``/invocations``, ``/ping``, ``/health``, ``/version``;
- Open Inference Protocol V2: ``/v2``, ``/v2/health/*``, ``/v2/models/{m}[/versions/{v}]``,
  ``…/ready``, ``…/infer``;
- ``/metrics`` (Prometheus), ``/health/live``, ``/health/ready``; OpenAPI at
  ``/openapi.json``.

On a server that needs tokens, :class:`~pathtolive.serving.guard.TokenFirst` checks the
token before any routing: only the health probes (and, with ``public_docs``, the docs and
``/version``) answer without one.

:func:`create_app` only assembles: the :class:`~pathtolive.serving.runtime.Server` behind
the app (started and stopped by the lifespan), one router per protocol from
:mod:`pathtolive.serving.routes`, and the one exception handler that answers every
:class:`~pathtolive.errors.PathToLiveError` in the protocol's own error shape.

Handlers read the body themselves (a validated FastAPI model per request would cost
more than the model's own predict call) and check it against the served version's
signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pathtolive import __version__
from pathtolive.errors import PathToLiveError
from pathtolive.service.context import ServiceContext
from pathtolive.serving import openapi
from pathtolive.serving.guard import DOCS_PATHS, PROBE_PATHS, TokenFirst
from pathtolive.serving.routes import health, mlflow, operations, v1, v2
from pathtolive.serving.routes.base import answer_error
from pathtolive.serving.runtime import Server
from pathtolive.serving.settings import ServeSettings
from pathtolive.tracing import configure_tracing
from pathtolive.tracing import enabled as tracing_enabled
from pathtolive.tracing import flush as flush_spans
from pathtolive.tracing import tracer as tracing_tracer

__all__ = ["CONSOLE_PATH", "create_app"]

CONSOLE_PATH = "/ui"
"""Where ``serve --ui`` mounts the web console."""


def create_app(ctx: ServiceContext, settings: ServeSettings) -> FastAPI:
    """The ASGI app serving whatever the registry of ``ctx`` says is live."""
    server = Server(ctx, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()
            if tracing_enabled():  # the last spans, before a worker process ends
                await asyncio.to_thread(flush_spans)

    app = FastAPI(
        title="pathtolive model server",
        version=__version__,
        description=openapi.DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=openapi.TAGS,
    )
    app.state.server = server  # what routes.base.runtime finds
    app.add_exception_handler(PathToLiveError, answer_error)
    # In this order: it is the order of the paths in the OpenAPI document.
    for router in (health.router, operations.router, v1.router, mlflow.router, v2.router):
        app.include_router(router)
    if settings.ui:
        _mount_console(app, ctx, settings)
    if settings.auth_required:
        # Before routing, so that no route (FastAPI's docs included) answers first.
        open_paths = PROBE_PATHS | DOCS_PATHS if settings.public_docs else PROBE_PATHS
        app.add_middleware(
            TokenFirst,
            server=server,
            open_paths=open_paths | {CONSOLE_PATH} if settings.ui else open_paths,
            open_prefixes=(CONSOLE_PATH + "/",) if settings.ui else (),
        )
    _trace_requests(app, ctx)
    return app


def _trace_requests(app: FastAPI, ctx: ServiceContext) -> None:
    """The server span of each request, outermost (a refused token is traced too), when
    the process traces: off, the request path has no middleware more."""
    configure_tracing(ctx.settings)
    tracer = tracing_tracer()
    if tracer is not None:
        from pathtolive.serving.tracing import TraceRequests

        app.add_middleware(TraceRequests, tracer=tracer, untraced=PROBE_PATHS | {"/metrics"})


def _mount_console(app: FastAPI, ctx: ServiceContext, settings: ServeSettings) -> None:
    """The web console as a sub-app of its own under :data:`CONSOLE_PATH`: its
    middleware (headers, sessions) runs for its paths only, and the prediction routes
    are matched before it."""
    from pathtolive.ui.console import ConsoleSettings, create_console

    console = create_console(
        ctx, ConsoleSettings(host=settings.host, port=settings.port, auth=settings.auth)
    )
    app.mount(CONSOLE_PATH, console, name="console")
