"""The native protocol, KServe V1's shape: ``/v1/models``, ``/v1/models/{m}``,
``/v1/models/{m}:predict`` and ``:explain`` (``instances`` or ``inputs`` →
``predictions``), and ``/v1/models/{m}/feedback`` (the true label of an earlier
prediction, by its request id).

Failures are answered in the native shape, ``{"error": ..., "code": ...}``.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from pathtolive.auth import Permission
from pathtolive.errors import ModelRejectedInputError, PathToLiveError, UnsupportedFormatError
from pathtolive.registry.batch import to_frame
from pathtolive.serving import openapi
from pathtolive.serving.codecs.v1 import decode_feedback, decode_v1, encode_explanation, encode_v1
from pathtolive.serving.routes.base import (
    JSON,
    MODEL_HEADER,
    ProtocolRoute,
    json_response,
    runtime,
)
from pathtolive.serving.runtime import REQUEST_ID, Decoder, Server

if TYPE_CHECKING:
    from pathtolive.registry.explainers import Explanation

__all__ = ["router"]

router = APIRouter(route_class=ProtocolRoute, tags=["v1"])


@router.get("/v1/models", summary="The models served here")
async def v1_models(request: Request) -> Response:
    server = runtime(request)
    server.authorize(request, Permission.READ, "list models")
    return json_response({"models": sorted(server.snapshot.deployments)})


@router.get("/v1/models/{name}", summary="Whether a model is ready")
async def v1_model(request: Request, name: str) -> Response:
    server = runtime(request)
    server.authorize(request, Permission.READ, "read models")
    deployment = server.deployment(name)
    served = deployment.live or deployment.canary
    return json_response(
        {
            "name": name,
            "ready": served is not None,
            "version": None if served is None else str(served.version),
        }
    )


@router.post(
    "/v1/models/{name}:predict",
    summary="Predict (KServe V1: instances or inputs → predictions)",
    openapi_extra=openapi.V1_PREDICT,
)
async def v1_predict(request: Request, name: str) -> Response:
    _check_json(request)
    server = runtime(request)
    served, prediction, request_id = await server.predict(request, name, "v1", _decoder(server))
    return Response(
        encode_v1(prediction, served.servable.signature),
        media_type=JSON,
        headers={REQUEST_ID: request_id, MODEL_HEADER: f"{name}@{served.version}"},
    )


@router.post(
    "/v1/models/{name}:explain",
    summary="Per-feature attributions for each row, with the base value",
    openapi_extra=openapi.V1_PREDICT,
)
async def v1_explain(request: Request, name: str) -> Response:
    _check_json(request)
    server = runtime(request)
    server.authorize(request, Permission.READ, "explain predictions")
    body = await server.body(request)
    served, _ = server.pick(request, name)
    signature = served.servable.signature
    frame = to_frame([_decoder(server)(body, signature)], signature)

    def explain() -> Explanation:
        explainer = served.explainer(lambda: server.background(served))
        return explainer.explain(frame)

    try:
        explanation = await asyncio.to_thread(explain)
    except PathToLiveError:
        raise
    except Exception as exc:
        raise ModelRejectedInputError(
            f"the model could not explain this input: {type(exc).__name__}: {exc}"
        ) from None
    return Response(
        encode_explanation(explanation, model_name=name, model_version=str(served.version)),
        media_type=JSON,
    )


@router.post(
    "/v1/models/{name}/feedback",
    summary="The true label of an earlier prediction, by request id",
    openapi_extra=openapi.FEEDBACK,
)
async def v1_feedback(request: Request, name: str) -> Response:
    from pathtolive.service.predictions import record_feedback_many

    _check_json(request)
    server = runtime(request)
    acting = server.authorize(request, Permission.WRITE, "send feedback")
    items = decode_feedback(await server.body(request))
    server.deployment(name)
    stored = await asyncio.to_thread(
        record_feedback_many,
        acting,
        items,
        model=name,
        max_unlogged=server.settings.feedback_max_unlogged,
    )
    return json_response(
        {"request_id": stored[0].request_id, "stored": True, "rows": len(stored)}, 201
    )


def _decoder(server: Server) -> Decoder:
    return partial(
        decode_v1,
        unseen_categories=server.settings.unseen_categories,
        max_rows=server.settings.max_rows,
    )


def _check_json(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type and content_type.split(";")[0].strip().lower() not in (
        JSON,
        "application/octet-stream",
        "text/plain",
        # What `curl -d` sends unless told otherwise: the body is still JSON.
        "application/x-www-form-urlencoded",
    ):
        raise UnsupportedFormatError(
            f"content type {content_type!r} is not supported here; send {JSON}"
        )
