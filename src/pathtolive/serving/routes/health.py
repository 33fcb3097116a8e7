"""The server's own health: ``/health/live`` (the process is up) and ``/health/ready``
(a model is loaded and answering), for load balancers and orchestrators. They never need
a token."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pathtolive.serving.routes.base import ProtocolRoute, json_response, runtime

__all__ = ["router"]

router = APIRouter(route_class=ProtocolRoute, tags=["health"])


@router.get("/health/live", summary="The process is up")
async def health_live() -> Response:
    return json_response({"status": "alive"})


@router.get("/health/ready", summary="A model is loaded and answering")
async def health_ready(request: Request) -> Response:
    ready = runtime(request).snapshot.ready
    return json_response({"status": "ready" if ready else "loading"}, 200 if ready else 503)
