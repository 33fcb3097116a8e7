"""The Open Inference Protocol V2 (KServe V2, Triton HTTP): ``/v2`` (server metadata),
``/v2/health/live`` and ``/ready``, and per model, optionally per version
(``/v2/models/{m}[/versions/{v}]``), its metadata, ``…/ready`` and ``…/infer``, in JSON
or with Triton's binary tensor extension.

Failures are answered in V2's shape, ``{"error": ...}``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pathtolive import __version__
from pathtolive.auth import Permission
from pathtolive.errors import PathToLiveError
from pathtolive.refs import is_number
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.signature import Signature
from pathtolive.serving import openapi
from pathtolive.serving.codecs.v2 import (
    V2Request,
    decode_v2,
    encode_v2,
    v2_error,
    v2_model_metadata,
)
from pathtolive.serving.routes.base import JSON, ErrorShape, ProtocolRoute, json_response, runtime
from pathtolive.serving.runtime import REQUEST_ID

__all__ = ["router"]

_HEADER_LENGTH = "inference-header-content-length"


def _error_body(exc: PathToLiveError) -> bytes:
    return v2_error(exc.message)


class _V2Route(ProtocolRoute):
    """A route answering failures in V2's shape."""

    errors = ErrorShape("v2", _error_body)


router = APIRouter(route_class=_V2Route, tags=["v2"])


@router.get("/v2", summary="Server metadata")
async def v2_server(request: Request) -> Response:
    runtime(request).authorize(request, Permission.READ, "read server metadata")
    return json_response(
        {"name": "pathtolive", "version": __version__, "extensions": ["binary_tensor_data"]}
    )


@router.get("/v2/health/live", summary="Server liveness")
async def v2_live() -> Response:
    return json_response({"live": True})


@router.get("/v2/health/ready", summary="Server readiness")
async def v2_ready(request: Request) -> Response:
    ready = runtime(request).snapshot.ready
    return json_response({"ready": ready}, 200 if ready else 503)


@router.get("/v2/models/{name}", summary="Model metadata")
async def v2_model(request: Request, name: str) -> Response:
    return _metadata(request, name, None)


@router.get("/v2/models/{name}/versions/{version}", summary="Version metadata")
async def v2_model_version(request: Request, name: str, version: str) -> Response:
    return _metadata(request, name, version)


@router.get("/v2/models/{name}/ready", summary="Model readiness")
async def v2_model_is_ready(request: Request, name: str) -> Response:
    return _ready(request, name, None)


@router.get("/v2/models/{name}/versions/{version}/ready", summary="Version readiness")
async def v2_version_is_ready(request: Request, name: str, version: str) -> Response:
    return _ready(request, name, version)


@router.post(
    "/v2/models/{name}/infer",
    summary="Inference (JSON or the binary tensor extension)",
    openapi_extra=openapi.V2_INFER,
)
async def v2_model_infer(request: Request, name: str) -> Response:
    return await _infer(request, name, None)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    summary="Inference on one version",
    openapi_extra=openapi.V2_INFER,
)
async def v2_version_infer(request: Request, name: str, version: str) -> Response:
    return await _infer(request, name, version)


def _metadata(request: Request, name: str, version: str | None) -> Response:
    server = runtime(request)
    server.authorize(request, Permission.READ, "read models")
    served, _ = server.pick(request, name, version)
    deployment = server.deployment(name)
    versions = [str(s.version) for s in deployment.versions() if s is not deployment.shadow]
    return json_response(v2_model_metadata(name, versions, served.servable.signature))


def _ready(request: Request, name: str, version: str | None) -> Response:
    server = runtime(request)
    server.authorize(request, Permission.READ, "read models")
    server.pick(request, name, version)
    return json_response({"name": name, "ready": True})


async def _infer(request: Request, name: str, version: str | None) -> Response:
    server = runtime(request)
    header = request.headers.get(_HEADER_LENGTH)
    header_length = int(header) if header is not None and is_number(header) else None
    parsed: list[V2Request] = []

    def decode(body: bytes, signature: Signature) -> InputBatch:
        decoded = decode_v2(
            body,
            header_length,
            signature,
            unseen_categories=server.settings.unseen_categories,
            max_rows=server.settings.max_rows,
        )
        parsed.append(decoded)
        return decoded.batch

    served, prediction, request_id = await server.predict(
        request, name, "v2", decode, version=version
    )
    v2_request = parsed[0]
    body, json_length = encode_v2(
        prediction,
        served.servable.signature,
        model_name=name,
        model_version=str(served.version),
        request_id=v2_request.request_id or request_id,
        requested_outputs=v2_request.requested_outputs,
    )
    headers = {REQUEST_ID: request_id}
    if json_length is not None:
        headers[_HEADER_LENGTH] = str(json_length)
        return Response(body, media_type="application/octet-stream", headers=headers)
    return Response(body, media_type=JSON, headers=headers)
