"""MLflow's scoring protocol, so MLflow clients and tools score against this server:
``/invocations`` (JSON or CSV), ``/ping``, ``/health`` and ``/version``.

Several models may be served here, and MLflow's protocol names none: a client picks one
with ``?model=NAME`` or the ``x-model-name`` header, and may leave both out when only one
is served. Failures are answered as MLflow's scoring server answers them,
``{"error_code": ..., "message": ...}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pathtolive import __version__
from pathtolive.errors import NotFoundError
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.signature import Signature
from pathtolive.serving import openapi
from pathtolive.serving.codecs.mlflow import decode_mlflow, encode_mlflow, mlflow_error
from pathtolive.serving.deployment import Snapshot
from pathtolive.serving.routes.base import JSON, MODEL_HEADER, ErrorShape, ProtocolRoute, runtime
from pathtolive.serving.runtime import REQUEST_ID

__all__ = ["router"]


def _requested_model(request: Request) -> str:
    """The model a scoring request names (``?model=``, else ``x-model-name``), or ``""``."""
    return request.query_params.get("model") or request.headers.get(MODEL_HEADER) or ""


class _MlflowRoute(ProtocolRoute):
    """A route answering failures as MLflow's scoring server does."""

    errors = ErrorShape("mlflow", mlflow_error, _requested_model)


router = APIRouter(route_class=_MlflowRoute, tags=["mlflow"])


@router.get("/ping", summary="MLflow health check")
async def ping(request: Request) -> Response:
    ready = runtime(request).snapshot.ready
    return Response(b"\n", status_code=200 if ready else 503, media_type=JSON)


@router.get("/health", summary="MLflow health check")
async def health(request: Request) -> Response:
    return await ping(request)


@router.get("/version", summary="Server version")
async def version() -> Response:
    return Response(__version__.encode(), media_type="text/plain")


@router.post(
    "/invocations",
    summary="MLflow scoring protocol (JSON or CSV); pick a model with ?model= or the "
    "x-model-name header when several are served",
    openapi_extra=openapi.INVOCATIONS,
)
async def invocations(request: Request) -> Response:
    server = runtime(request)
    model = _requested_model(request) or _only_model(server.snapshot)

    def decode(body: bytes, signature: Signature) -> InputBatch:
        batch, _params = decode_mlflow(
            body,
            request.headers.get("content-type"),
            signature,
            unseen_categories=server.settings.unseen_categories,
            max_rows=server.settings.max_rows,
        )
        return batch

    served, prediction, request_id = await server.predict(request, model, "mlflow", decode)
    return Response(
        encode_mlflow(prediction, served.servable.signature),
        media_type=JSON,
        headers={REQUEST_ID: request_id, MODEL_HEADER: f"{model}@{served.version}"},
    )


def _only_model(snapshot: Snapshot) -> str:
    names = sorted(snapshot.deployments)
    if len(names) == 1:
        return names[0]
    if not names:
        raise NotFoundError("no model is served here yet")
    raise NotFoundError(
        "several models are served here; pick one with ?model=NAME or the x-model-name "
        f"header: {', '.join(names)}"
    )
