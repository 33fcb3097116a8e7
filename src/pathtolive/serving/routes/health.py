"""The server's own health: ``/health/live`` (the process is up) and ``/health/ready``
(a model is loaded and answering), for load balancers and orchestrators. They never need
a token."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response

from pathtolive.serving.routes.base import ProtocolRoute, json_response, runtime

__all__ = ["router"]

router = APIRouter(route_class=ProtocolRoute, tags=["health"])


@router.get("/health/live", summary="The process is up")
async def health_live() -> Response:
    return json_response({"status": "alive"})


@router.get("/health/ready", summary="A model is loaded and answering")
async def health_ready(request: Request) -> Response:
    """200 once a model answers, else 503. ``failing`` lists the versions the registry
    wants served that do not load (retried with backoff): a ready server with failures
    answers with an older version."""
    server = runtime(request)
    ready = server.snapshot.ready
    now = time.monotonic()
    failing = [
        {
            "model": failed.model,
            "version": failed.version,
            "error": failed.error,
            "attempts": failed.attempts,
            "retry_in_seconds": round(max(failed.retry_at - now, 0.0), 1),
        }
        for failed in server.watcher.failing()
    ]
    body: dict[str, object] = {"status": "ready" if ready else "loading", "failing": failing}
    if not ready:
        body["reason"] = (
            "; ".join(f"{f['model']}@{f['version']} does not load: {f['error']}" for f in failing)
            if failing
            else "no model is loaded yet"
        )
    return json_response(body, 200 if ready else 503)
