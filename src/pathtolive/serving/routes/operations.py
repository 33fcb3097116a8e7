"""What operators read from a running server: ``/metrics`` for Prometheus (requests,
latency, errors, batches, model loads, the prediction log's counts, open alerts). Its
failures, a missing or refused token, are answered in the native error shape."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pathtolive.auth import Permission
from pathtolive.serving.metrics import CONTENT_TYPE
from pathtolive.serving.routes.base import ProtocolRoute, runtime

__all__ = ["router"]

router = APIRouter(route_class=ProtocolRoute, tags=["health"])


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    server = runtime(request)
    server.authorize(request, Permission.READ, "read metrics")
    return Response(server.metrics.render(), media_type=CONTENT_TYPE)
