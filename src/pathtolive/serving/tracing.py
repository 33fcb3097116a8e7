"""A server span per request, when the process traces (see :mod:`pathtolive.tracing`).

A pure ASGI middleware, installed only when tracing is on: off, the request path has
no middleware more, and the handler one lookup in the scope. The span continues the
trace of the caller's W3C ``traceparent`` header (and keeps its ``tracestate``), is named
after the route that answered (``POST /v1/models/{name}:predict``), and carries the
status code, the protocol and the model the path names; the handler adds, on the span
it finds under :data:`SPAN` in the scope, what only it knows (the version that answered,
the rows, the request id that keys the prediction log). The response names the span in
a ``traceresponse`` header (W3C Trace Context level 2), so a caller that sent no
``traceparent`` can still find the trace.

Probes and ``/metrics`` are not traced: a load balancer's and Prometheus's polling
would bury the requests worth reading.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pathtolive.serving.routes.base import ProtocolRoute

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

__all__ = ["SPAN", "TRACE_RESPONSE", "TraceRequests"]

SPAN = "pathtolive.span"
"""The key of the request's server span in the ASGI scope (absent when not traced)."""
TRACE_RESPONSE = b"traceresponse"
_CARRIED = (b"traceparent", b"tracestate")


class TraceRequests:
    """Opens the server span of each HTTP request but those to ``untraced`` paths."""

    def __init__(self, app: ASGIApp, *, tracer: Tracer, untraced: Collection[str]) -> None:
        from opentelemetry.trace import SpanKind, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.app = app
        self.tracer = tracer
        self.untraced = frozenset(untraced)
        self.propagator = TraceContextTextMapPropagator()
        self.server = SpanKind.SERVER
        self.error = StatusCode.ERROR

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.untraced:
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in _CARRIED
        }
        method = scope["method"]
        with self.tracer.start_as_current_span(
            method,
            context=self.propagator.extract(carrier),
            kind=self.server,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            scope[SPAN] = span
            context = span.get_span_context()
            named = (
                f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
            ).encode("ascii")
            answered: list[int] = []

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    answered.append(message["status"])
                    headers = [*message.get("headers", ()), (TRACE_RESPONSE, named)]
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                if span.is_recording():  # not when the trace is sampled out
                    status = answered[0] if answered else 500  # unanswered: the handler's 500
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(self.error)
                    _name_after_route(span, scope, method)


def _name_after_route(span: Span, scope: Scope, method: str) -> None:
    """The route's template names the span (low cardinality, as OpenTelemetry asks); the
    protocol comes from the route's class, the model from the path."""
    route: Any = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        span.update_name(f"{method} {template}")
        span.set_attribute("http.route", template)
    if isinstance(route, ProtocolRoute):
        span.set_attribute("pathtolive.protocol", route.errors.protocol)
    model = scope.get("path_params", {}).get("name")
    if isinstance(model, str) and model:
        span.set_attribute("pathtolive.model", model)
