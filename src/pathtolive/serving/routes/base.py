"""What every protocol's routes share: the route class that says how its protocol
answers a failure, the one exception handler that answers it, and small HTTP helpers.

Routes raise :class:`~pathtolive.errors.PathToLiveError` and never shape an error
themselves. Starlette keeps exception handlers on the app only (an ``APIRouter`` has
none), and finds one by walking the exception's MRO, so :func:`answer_error` is
registered once, for ``PathToLiveError``, and catches every error of the tree. It asks
the route that raised (FastAPI leaves it in ``scope["route"]``) for its protocol's
:class:`ErrorShape`: each protocol's router is an ``APIRouter`` whose ``route_class`` is a
:class:`ProtocolRoute` carrying the shape as a class attribute. One handler, one
dispatch, and a protocol's shape written once, in its own route module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from pathtolive.errors import PathToLiveError
from pathtolive.redaction import redact
from pathtolive.serving.codecs.v1 import v1_error

if TYPE_CHECKING:
    from pathtolive.serving.runtime import Server

__all__ = [
    "JSON",
    "MODEL_HEADER",
    "NATIVE",
    "ErrorShape",
    "ProtocolRoute",
    "answer_error",
    "json_response",
    "path_model",
    "runtime",
]

JSON = "application/json"
MODEL_HEADER = "x-model-name"
"""The header naming the model (and version, ``name@version``) that answered; MLflow
clients may also send it to pick the model."""


def path_model(request: Request) -> str:
    """The model a request names in its path, or ``""`` for a server-wide route."""
    return str(request.path_params.get("name", ""))


@dataclass(frozen=True)
class ErrorShape:
    """How one protocol answers a failure: its ``protocol`` label in
    ``pathtolive_errors``, the error ``body``, and the ``model`` the request named."""

    protocol: str
    body: Callable[[PathToLiveError], bytes]
    model: Callable[[Request], str] = path_model


NATIVE = ErrorShape("v1", v1_error)
"""The native (KServe V1) shape: health, operations and V1 routes answer in it."""


class ProtocolRoute(APIRoute):
    """A route of one protocol; its class's :attr:`errors` says how that protocol answers
    a failure (the native shape unless a subclass says otherwise)."""

    errors: ClassVar[ErrorShape] = NATIVE


async def answer_error(request: Request, exc: Exception) -> Response:
    """The answer to a :class:`PathToLiveError` raised by a route: its HTTP status, the
    error body of the route's protocol, ``WWW-Authenticate`` on a 401, and one count in
    ``pathtolive_errors``."""
    assert isinstance(exc, PathToLiveError)  # registered for PathToLiveError only
    # A message may quote what a model or a library said, secrets of this process
    # included: the client sees them masked.
    exc.message = redact(exc.message)
    route = request.scope.get("route")
    shape = route.errors if isinstance(route, ProtocolRoute) else NATIVE
    runtime(request).metrics.errors.labels(
        shape.model(request), shape.protocol, exc.code, str(exc.http_status)
    ).inc()
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return Response(shape.body(exc), status_code=exc.http_status, media_type=JSON, headers=headers)


def runtime(request: Request) -> Server:
    """The :class:`~pathtolive.serving.runtime.Server` behind the app that got
    ``request``."""
    server: Server = request.app.state.server
    return server


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON response."""
    return Response(orjson.dumps(data), status_code=status, media_type=JSON)
