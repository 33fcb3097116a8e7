"""The live server: one ASGI app answering three prediction protocols.

- native / KServe V1: ``/v1/models``, ``/v1/models/{m}``, ``/v1/models/{m}:predict``,
  ``:explain`` and ``/v1/models/{m}/feedback``;
- MLflow scoring: ``/invocations``, ``/ping``, ``/health``, ``/version``;
- Open Inference Protocol V2: ``/v2``, ``/v2/health/*``, ``/v2/models/{m}[/versions/{v}]``,
  ``…/ready``, ``…/infer``;
- ``/metrics`` (Prometheus), ``/health/live``, ``/health/ready``; OpenAPI at
  ``/openapi.json``.

Handlers read the body themselves (a validated FastAPI model per request would cost
more than the model's own predict call) and check it against the served version's
signature. Every failure is a :class:`PathToLiveError` answered with its 4xx/5xx in the
protocol's own error shape.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd
from fastapi import FastAPI, Request, Response

from pathtolive import __version__, env
from pathtolive.auth import Permission
from pathtolive.errors import (
    InvalidInputError,
    ModelRejectedInputError,
    NotFoundError,
    PathToLiveError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)
from pathtolive.predlog import PredictionLogger, PredictionRecord, Recovery
from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import Signature
from pathtolive.service.context import ServiceContext
from pathtolive.service.serving import ServableVersion, background_sample, record_server_event
from pathtolive.serving import openapi, protocols
from pathtolive.serving.auth import TokenGate
from pathtolive.serving.batching import Gauge, slice_prediction
from pathtolive.serving.deployment import Deployment, ServedModel, Snapshot
from pathtolive.serving.metrics import CONTENT_TYPE, LogCounts, ServerMetrics
from pathtolive.serving.protocols import Prediction
from pathtolive.serving.settings import ServeSettings
from pathtolive.serving.watcher import LoadEvent, RegistryWatcher

__all__ = ["MAX_FEEDBACK_LABELS", "Server", "create_app"]

logger = logging.getLogger("pathtolive.serving")

JSON = "application/json"
REQUEST_ID = "x-request-id"
ROUTING_KEY = "x-routing-key"
MODEL_HEADER = "x-model-name"
V2_HEADER_LENGTH = "inference-header-content-length"
SHADOW_BATCH = 256
"""Most queued requests the shadow version scores in one call."""
JOURNAL_DIR = "journal"
"""The prediction log's crash journal, under the workspace's state folder."""

Decoder = Callable[[bytes, ServedModel], Any]


@dataclass(frozen=True)
class _Shadowed:
    served: ServedModel
    batch: InputBatch
    request_id: str
    protocol: str


class Server:
    """The state behind the app: stores, the registry watcher, batchers, the log."""

    def __init__(self, ctx: ServiceContext, settings: ServeSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.snapshot = Snapshot()
        self.gauge = Gauge()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="pathtolive-predict")
        self.shadow_executor = ThreadPoolExecutor(1, thread_name_prefix="pathtolive-shadow")
        self.shadow_skipped = 0
        self.shadow_queue: asyncio.Queue[_Shadowed] | None = None
        self.log: PredictionLogger | None = None
        if settings.log_predictions:
            from pathtolive.service.predictions import StoreSegmentSink

            self.log = PredictionLogger(
                StoreSegmentSink(ctx),
                buffer_rows=settings.log_buffer_rows,
                flush_seconds=settings.log_flush_seconds,
                sample=settings.log_sample,
                pii_mode=settings.pii,
                salt=_salt(ctx),
                journal=ctx.settings.state_dir / JOURNAL_DIR if settings.log_journal else None,
                fsync=settings.log_fsync,
            )
        self.metrics = ServerMetrics(
            self._log_counts, lambda: self.shadow_skipped, self._open_alerts
        )
        self.tokens = TokenGate(ctx, settings.auth_required)
        self.watcher = RegistryWatcher(
            ctx=ctx,
            interval=settings.poll_interval,
            make_served=self._make_served,
            publish=self._publish,
            on_event=self._on_load_event,
            models=settings.models,
            extra_pii=settings.pii_columns,
        )
        self._backgrounds: dict[tuple[str, int], pd.DataFrame | None] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self.shadow_queue = asyncio.Queue(self.settings.shadow_queue or 1)
        self._tasks.append(asyncio.get_running_loop().create_task(self._shadow_worker()))
        details: dict[str, Any] = {
            "auth": self.settings.auth_required,
            "models": list(self.settings.models),
        }
        if self.log is not None:
            # Before serving: what a crashed server journaled but never flushed.
            recovery = await asyncio.to_thread(self._recover_log, self.log)
            if recovery.files or recovery.failed_files:
                details["recovered"] = dataclasses.asdict(recovery)
            self.log.start()
        self.watcher.start()
        await asyncio.to_thread(
            record_server_event,
            self.ctx,
            "serve.started",
            f"server:{self.settings.host}:{self.settings.port}",
            details,
        )

    def _recover_log(self, log: PredictionLogger) -> Recovery:
        try:
            return log.recover(self._logged_rows, self._signature)
        except Exception:  # never keep the server from starting; the files stay
            logger.exception("replaying the prediction log's journal failed")
            return Recovery(failed_files=1)

    def _signature(self, model: str, version: int) -> Signature | None:
        from pathtolive.service.models import model_version

        found = model_version(self.ctx, f"{model}@{version}")
        return None if found.signature is None else Signature.from_dict(found.signature)

    def _logged_rows(
        self, model: str, version: int, first: datetime, last: datetime
    ) -> pd.DataFrame:
        """What the log holds of ``model@version`` between two times, inclusive."""
        from pathtolive.service.predictions import read_prediction_log

        return read_prediction_log(
            self.ctx, model, version=version, since=first, until=last + timedelta(microseconds=1)
        )

    async def stop(self) -> None:
        self.watcher.stop()
        if self.shadow_queue is not None:
            # Shadow requests already accepted are scored and logged before the log closes.
            try:
                await asyncio.wait_for(self.shadow_queue.join(), timeout=10)
            except TimeoutError:
                logger.warning("shadow scoring did not finish in 10 s; stopping anyway")
        for task in self._tasks:
            task.cancel()
        written = 0
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
            written = self.log.stats.written_rows
        self.executor.shutdown(wait=True)
        self.shadow_executor.shutdown(wait=True)
        await asyncio.to_thread(
            record_server_event,
            self.ctx,
            "serve.stopped",
            f"server:{self.settings.host}:{self.settings.port}",
            {"logged_rows": written},
        )

    def _publish(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot  # one assignment: requests see the old or the new
        self.metrics.serving.clear()
        for deployment in snapshot.deployments.values():
            for role in ("live", "canary", "shadow"):
                served: ServedModel | None = getattr(deployment, role)
                if served is not None:
                    self.metrics.serving.labels(served.name, str(served.version), role).set(1)
                    if self.log is not None:
                        self.log.set_pii(served.name, served.version, served.servable.pii_columns)
        self.metrics.ready.set(1 if snapshot.ready else 0)

    def _make_served(self, servable: ServableVersion) -> ServedModel:
        return ServedModel.create(
            servable,
            executor=self.executor,
            gauge=self.gauge,
            batching=self.settings.batching,
            wait_s=self.settings.batch_wait_ms / 1000,
            max_rows=self.settings.max_batch_rows,
        )

    def _on_load_event(self, event: LoadEvent) -> None:
        self.metrics.model_loads.labels(event.model, str(event.version), event.outcome).inc()

    def _open_alerts(self) -> dict[tuple[str, str], int]:
        """Open alerts per model and kind, read from the registry when Prometheus scrapes
        (the monitor raises them; the server only shows them)."""
        counts: dict[tuple[str, str], int] = {}
        try:
            with self.ctx.metadata.read() as session:
                alerts = session.list_alerts(status="open")
        except PathToLiveError:
            logger.warning("cannot read open alerts for /metrics", exc_info=True)
            return counts
        for alert in alerts:
            if not self.settings.models or alert.model in self.settings.models:
                key = (alert.model, alert.kind)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def _log_counts(self) -> LogCounts | None:
        if self.log is None:
            return None
        stats = self.log.stats
        return LogCounts(
            logged_rows=stats.logged_rows,
            written_rows=stats.written_rows,
            dropped_rows=stats.dropped_rows,
            sampled_out=stats.sampled_out,
            write_errors=stats.write_errors,
        )

    # -- the request path ------------------------------------------------------------

    def authorize(self, request: Request, permission: Permission, doing: str) -> ServiceContext:
        actor = self.tokens.check(request.headers.get("authorization"), permission, doing)
        return self.ctx.acting_as(actor)

    async def body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(int(declared), limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def deployment(self, name: str) -> Deployment:
        deployment = self.snapshot.deployments.get(name)
        if deployment is None or (deployment.live is None and deployment.canary is None):
            served = ", ".join(sorted(self.snapshot.deployments)) or "none yet"
            raise NotFoundError(f"no model {name!r} is served here; served: {served}")
        return deployment

    def pick(
        self, request: Request, name: str, version: str | None = None
    ) -> tuple[ServedModel, str]:
        deployment = self.deployment(name)
        if version is not None:
            served = deployment.version(int(version)) if version.isdigit() else None
            if served is None or (served is deployment.shadow and served is not deployment.live):
                raise NotFoundError(
                    f"version {version} of {name!r} is not served here; served: "
                    + ", ".join(
                        str(s.version) for s in deployment.versions() if s is not deployment.shadow
                    )
                )
            return served, "live" if served is deployment.live else "canary"
        routed = deployment.route(request.headers.get(ROUTING_KEY))
        if routed is None:
            raise NotFoundError(f"no version of {name!r} is ready yet")
        return routed

    async def predict(
        self,
        request: Request,
        name: str,
        protocol: str,
        decode: Callable[[bytes, ServedModel], InputBatch],
        *,
        version: str | None = None,
    ) -> tuple[ServedModel, Prediction, str]:
        """Authorize, read, route, validate, predict (micro-batched), log and shadow.
        Returns the version that answered, its prediction and the request id."""
        started = time.perf_counter()
        self.gauge.arriving += 1
        queued = False
        try:
            self.authorize(request, Permission.READ, "call the model")
            body = await self.body(request)
            served, role = self.pick(request, name, version)
            batch = decode(body, served)
            self.gauge.arriving -= 1
            queued = True
            try:
                prediction, frame = await served.batcher.submit(batch)
            except PathToLiveError:
                raise
            except Exception as exc:
                logger.warning(
                    "%s@%d could not score a request", name, served.version, exc_info=True
                )
                raise ModelRejectedInputError(
                    f"the model could not score this input: {type(exc).__name__}: {exc}"
                ) from None
        finally:
            if not queued:
                self.gauge.arriving -= 1
        request_id = request.headers.get(REQUEST_ID) or uuid.uuid4().hex
        elapsed = time.perf_counter() - started
        version_label = str(served.version)
        self.metrics.requests.labels(name, version_label, protocol, role, "200").inc()
        self.metrics.latency.labels(name, version_label, protocol).observe(elapsed)
        if self.log is not None:
            self.log.log(
                _record(
                    served, request_id, protocol, role, elapsed, frame, prediction, batch.columns
                )
            )
        shadow = self.snapshot.deployments.get(name)
        if shadow is not None and shadow.shadow is not None and self.shadow_queue is not None:
            try:
                self.shadow_queue.put_nowait(_Shadowed(shadow.shadow, batch, request_id, protocol))
            except asyncio.QueueFull:
                self.shadow_skipped += 1
        return served, prediction, request_id

    async def _shadow_worker(self) -> None:
        """Scores queued requests on the shadow version, off the request path: its own
        thread, after the answer has gone, and dropped (counted) when it falls behind.
        Whatever has queued meanwhile is scored in one call, so under load the shadow
        costs a fraction of the live version's work."""
        assert self.shadow_queue is not None
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.shadow_queue.get()]
            while not self.shadow_queue.empty() and len(items) < SHADOW_BATCH:
                items.append(self.shadow_queue.get_nowait())
            try:
                await self._score_shadow(items, loop)
            except Exception:  # the shadow must never disturb serving
                logger.warning("shadow scoring failed", exc_info=True)
            finally:
                for _ in items:
                    self.shadow_queue.task_done()

    async def _score_shadow(self, items: list[_Shadowed], loop: asyncio.AbstractEventLoop) -> None:
        by_version: dict[int, list[_Shadowed]] = {}
        for item in items:
            by_version.setdefault(id(item.served), []).append(item)
        for group in by_version.values():
            served = group[0].served
            started = time.perf_counter()
            frame = to_frame([item.batch for item in group], served.servable.signature)
            prediction = await loop.run_in_executor(
                self.shadow_executor, served.batcher.predict, frame
            )
            if self.log is None:
                continue
            elapsed = time.perf_counter() - started
            offset = 0
            for item in group:
                rows = item.batch.n_rows
                self.log.log(
                    _record(
                        served,
                        item.request_id,
                        item.protocol,
                        "shadow",
                        elapsed,
                        frame.iloc[offset : offset + rows],
                        slice_prediction(prediction, offset, offset + rows),
                        item.batch.columns,
                    )
                )
                offset += rows

    def background(self, served: ServedModel) -> pd.DataFrame | None:
        key = (served.name, served.version)
        if key not in self._backgrounds:
            self._backgrounds[key] = background_sample(self.ctx, served.servable)
        return self._backgrounds[key]


def _record(
    served: ServedModel,
    request_id: str,
    protocol: str,
    role: str,
    elapsed: float,
    frame: pd.DataFrame,
    prediction: Prediction,
    columns: dict[str, Any] | None = None,
) -> PredictionRecord:
    outputs: list[Any] = (
        prediction.probabilities.tolist()
        if prediction.probabilities is not None
        else prediction.labels.tolist()
    )
    return PredictionRecord(
        request_id=request_id,
        at=datetime.now(UTC),
        model=served.name,
        version=served.version,
        trained_on=served.servable.trained_on,
        protocol=protocol,
        role=role,
        latency_ms=elapsed * 1000,
        inputs=frame,
        outputs=outputs,
        columns=columns,
    )


def _salt(ctx: ServiceContext) -> bytes | None:
    secret = ctx.settings.environ.get(env.PII_SALT)
    return secret.encode() if secret else None


def _too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the body has {size} bytes, over the server's limit of {limit}; send smaller batches"
    )


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def _error_headers(exc: PathToLiveError) -> dict[str, str] | None:
    return {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None


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


MAX_FEEDBACK_LABELS = 10_000
"""Most labels one feedback request may give (``labels``, one per row)."""
_FEEDBACK_SHAPES = (
    'send {"request_id": "<the x-request-id of the prediction>", "label": <value>, '
    '"row": <its row in the request, 0 if left out>} or {"request_id": "<...>", '
    "\"labels\": [<row 0's label>, <row 1's>, ...]}"
)


def _feedback_items(data: object) -> list[tuple[Any, Any, int]]:
    """The ``(request_id, label, row)`` items of a feedback body: one label for one row
    (``label``, ``row`` 0 unless given) or a label per row in order (``labels``). The
    request id and labels are checked when they are stored; the shape is checked here,
    so every refusal of a shape shows the shapes accepted."""
    from pathtolive.service.predictions import check_feedback_row, json_kind

    if not isinstance(data, dict):
        raise _feedback_refused(f"the body is {json_kind(data)}, not a JSON object")
    unknown = sorted(set(data) - {"request_id", "label", "labels", "row"})
    if unknown:
        raise _feedback_refused(f"unknown field {', '.join(map(repr, unknown))[:200]}")
    if "request_id" not in data:
        raise _feedback_refused("the request_id is missing")
    if ("label" in data) == ("labels" in data):
        both = "label" in data
        raise _feedback_refused("give label or labels, not both" if both else "no label given")
    request_id = data["request_id"]
    if "label" in data:
        try:
            row = check_feedback_row(data.get("row", 0))
        except InvalidInputError as exc:
            raise _feedback_refused(exc.message) from None
        return [(request_id, data["label"], row)]
    if "row" in data:
        raise _feedback_refused("row goes with one label; labels are for rows 0, 1, ... in order")
    labels = data["labels"]
    if not isinstance(labels, list) or not 1 <= len(labels) <= MAX_FEEDBACK_LABELS:
        given = f"{len(labels)}" if isinstance(labels, list) else json_kind(labels)
        raise _feedback_refused(
            f"labels must be a list of 1 to {MAX_FEEDBACK_LABELS} labels, not {given}"
        )
    return [(request_id, label, row) for row, label in enumerate(labels)]


def _feedback_refused(problem: str) -> InvalidInputError:
    return InvalidInputError(f"{problem}; {_FEEDBACK_SHAPES}")


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

    app = FastAPI(
        title="pathtolive model server",
        version=__version__,
        description=openapi.DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=openapi.TAGS,
    )
    app.state.server = server

    def v1_error(exc: PathToLiveError, name: str, protocol: str = "v1") -> Response:
        server.metrics.errors.labels(name, protocol, exc.code).inc()
        return _json({"error": exc.message, "code": exc.code}, exc.http_status, _error_headers(exc))

    def v2_error(exc: PathToLiveError, name: str) -> Response:
        server.metrics.errors.labels(name, "v2", exc.code).inc()
        return Response(
            protocols.v2_error(exc.message),
            status_code=exc.http_status,
            media_type=JSON,
            headers=_error_headers(exc),
        )

    def mlflow_error(exc: PathToLiveError, name: str) -> Response:
        server.metrics.errors.labels(name, "mlflow", exc.code).inc()
        return Response(
            protocols.mlflow_error(exc),
            status_code=exc.http_status,
            media_type=JSON,
            headers=_error_headers(exc),
        )

    def guarded(
        handler: Callable[[], Awaitable[Response]],
        on_error: Callable[[PathToLiveError], Response],
    ) -> Awaitable[Response]:
        async def run() -> Response:
            try:
                return await handler()
            except PathToLiveError as exc:
                return on_error(exc)

        return run()

    # -- health and metrics -----------------------------------------------------------

    @app.get("/health/live", tags=["health"], summary="The process is up")
    async def health_live() -> Response:
        return _json({"status": "alive"})

    @app.get("/health/ready", tags=["health"], summary="A model is loaded and answering")
    async def health_ready() -> Response:
        ready = server.snapshot.ready
        return _json({"status": "ready" if ready else "loading"}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        async def handler() -> Response:
            server.authorize(request, Permission.READ, "read metrics")
            return Response(server.metrics.render(), media_type=CONTENT_TYPE)

        return await guarded(handler, lambda exc: v1_error(exc, ""))

    # -- native / KServe V1 -----------------------------------------------------------

    @app.get("/v1/models", tags=["v1"], summary="The models served here")
    async def v1_models(request: Request) -> Response:
        async def handler() -> Response:
            server.authorize(request, Permission.READ, "list models")
            return _json({"models": sorted(server.snapshot.deployments)})

        return await guarded(handler, lambda exc: v1_error(exc, ""))

    @app.get("/v1/models/{name}", tags=["v1"], summary="Whether a model is ready")
    async def v1_model(request: Request, name: str) -> Response:
        async def handler() -> Response:
            server.authorize(request, Permission.READ, "read models")
            deployment = server.deployment(name)
            served = deployment.live or deployment.canary
            return _json(
                {
                    "name": name,
                    "ready": served is not None,
                    "version": None if served is None else str(served.version),
                }
            )

        return await guarded(handler, lambda exc: v1_error(exc, name))

    def v1_decode(body: bytes, served: ServedModel) -> InputBatch:
        return protocols.decode_v1(
            body,
            served.servable.signature,
            unseen_categories=settings.unseen_categories,
            max_rows=settings.max_rows,
        )

    @app.post(
        "/v1/models/{name}:predict",
        tags=["v1"],
        summary="Predict (KServe V1: instances or inputs → predictions)",
        openapi_extra=openapi.V1_PREDICT,
    )
    async def v1_predict(request: Request, name: str) -> Response:
        async def handler() -> Response:
            _check_json(request)
            served, prediction, request_id = await server.predict(request, name, "v1", v1_decode)
            return Response(
                protocols.encode_v1(prediction, served.servable.signature),
                media_type=JSON,
                headers={REQUEST_ID: request_id, MODEL_HEADER: f"{name}@{served.version}"},
            )

        return await guarded(handler, lambda exc: v1_error(exc, name))

    @app.post(
        "/v1/models/{name}:explain",
        tags=["v1"],
        summary="Per-feature attributions for each row, with the base value",
        openapi_extra=openapi.V1_PREDICT,
    )
    async def v1_explain(request: Request, name: str) -> Response:
        async def handler() -> Response:
            _check_json(request)
            server.authorize(request, Permission.READ, "explain predictions")
            body = await server.body(request)
            served, _ = server.pick(request, name)
            batch = v1_decode(body, served)
            frame = to_frame([batch], served.servable.signature)

            def explain() -> Any:
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
            rows = [
                {
                    "attributions": dict(
                        zip(explanation.features, map(float, values), strict=True)
                    ),
                    "base_value": float(base),
                    "prediction": float(output),
                }
                for values, base, output in zip(
                    explanation.values,
                    explanation.base_values,
                    explanation.predictions,
                    strict=True,
                )
            ]
            return _json(
                {
                    "model_name": name,
                    "model_version": str(served.version),
                    "method": explanation.method,
                    "output": explanation.output,
                    "explanations": rows,
                }
            )

        return await guarded(handler, lambda exc: v1_error(exc, name))

    @app.post(
        "/v1/models/{name}/feedback",
        tags=["v1"],
        summary="The true label of an earlier prediction, by request id",
        openapi_extra=openapi.FEEDBACK,
    )
    async def v1_feedback(request: Request, name: str) -> Response:
        async def handler() -> Response:
            from pathtolive.service.predictions import record_feedback_many

            _check_json(request)
            acting = server.authorize(request, Permission.WRITE, "send feedback")
            body = await server.body(request)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise InvalidInputError(f"the body is not valid JSON: {exc}") from None
            items = _feedback_items(data)
            server.deployment(name)
            stored = await asyncio.to_thread(record_feedback_many, acting, items, model=name)
            return _json(
                {"request_id": stored[0].request_id, "stored": True, "rows": len(stored)}, 201
            )

        return await guarded(handler, lambda exc: v1_error(exc, name))

    # -- MLflow scoring -----------------------------------------------------------------

    @app.get("/ping", tags=["mlflow"], summary="MLflow health check")
    async def ping() -> Response:
        ready = server.snapshot.ready
        return Response(b"\n", status_code=200 if ready else 503, media_type=JSON)

    @app.get("/health", tags=["mlflow"], summary="MLflow health check")
    async def health() -> Response:
        return await ping()

    @app.get("/version", tags=["mlflow"], summary="Server version")
    async def version() -> Response:
        return Response(__version__.encode(), media_type="text/plain")

    @app.post(
        "/invocations",
        tags=["mlflow"],
        summary="MLflow scoring protocol (JSON or CSV); pick a model with ?model= or the "
        "x-model-name header when several are served",
        openapi_extra=openapi.INVOCATIONS,
    )
    async def invocations(request: Request) -> Response:
        name = request.query_params.get("model") or request.headers.get(MODEL_HEADER) or ""

        async def handler() -> Response:
            model = name or _only_model(server.snapshot)

            def decode(body: bytes, served: ServedModel) -> InputBatch:
                batch, _params = protocols.decode_mlflow(
                    body,
                    request.headers.get("content-type"),
                    served.servable.signature,
                    unseen_categories=settings.unseen_categories,
                    max_rows=settings.max_rows,
                )
                return batch

            served, prediction, request_id = await server.predict(request, model, "mlflow", decode)
            return Response(
                protocols.encode_mlflow(prediction, served.servable.signature),
                media_type=JSON,
                headers={REQUEST_ID: request_id, MODEL_HEADER: f"{model}@{served.version}"},
            )

        return await guarded(handler, lambda exc: mlflow_error(exc, name))

    # -- Open Inference Protocol V2 ----------------------------------------------------

    @app.get("/v2", tags=["v2"], summary="Server metadata")
    async def v2_server(request: Request) -> Response:
        async def handler() -> Response:
            server.authorize(request, Permission.READ, "read server metadata")
            return _json(
                {"name": "pathtolive", "version": __version__, "extensions": ["binary_tensor_data"]}
            )

        return await guarded(handler, lambda exc: v2_error(exc, ""))

    @app.get("/v2/health/live", tags=["v2"], summary="Server liveness")
    async def v2_live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", tags=["v2"], summary="Server readiness")
    async def v2_ready() -> Response:
        ready = server.snapshot.ready
        return _json({"ready": ready}, 200 if ready else 503)

    async def v2_metadata(request: Request, name: str, version: str | None) -> Response:
        async def handler() -> Response:
            server.authorize(request, Permission.READ, "read models")
            served, _ = server.pick(request, name, version)
            deployment = server.deployment(name)
            versions = [str(s.version) for s in deployment.versions() if s is not deployment.shadow]
            return _json(protocols.v2_model_metadata(name, versions, served.servable.signature))

        return await guarded(handler, lambda exc: v2_error(exc, name))

    async def v2_model_ready(request: Request, name: str, version: str | None) -> Response:
        async def handler() -> Response:
            server.authorize(request, Permission.READ, "read models")
            server.pick(request, name, version)
            return _json({"name": name, "ready": True})

        return await guarded(handler, lambda exc: v2_error(exc, name))

    async def v2_infer(request: Request, name: str, version: str | None) -> Response:
        async def handler() -> Response:
            header = request.headers.get(V2_HEADER_LENGTH)
            header_length = int(header) if header is not None and header.isdigit() else None
            parsed: list[protocols.V2Request] = []

            def decode(body: bytes, served: ServedModel) -> InputBatch:
                decoded = protocols.decode_v2(
                    body,
                    header_length,
                    served.servable.signature,
                    unseen_categories=settings.unseen_categories,
                    max_rows=settings.max_rows,
                )
                parsed.append(decoded)
                return decoded.batch

            served, prediction, request_id = await server.predict(
                request, name, "v2", decode, version=version
            )
            v2_request = parsed[0]
            body, json_length = protocols.encode_v2(
                prediction,
                served.servable.signature,
                model_name=name,
                model_version=str(served.version),
                request_id=v2_request.request_id or request_id,
                requested_outputs=v2_request.requested_outputs,
            )
            headers = {REQUEST_ID: request_id}
            if json_length is not None:
                headers[V2_HEADER_LENGTH] = str(json_length)
                return Response(body, media_type="application/octet-stream", headers=headers)
            return Response(body, media_type=JSON, headers=headers)

        return await guarded(handler, lambda exc: v2_error(exc, name))

    @app.get("/v2/models/{name}", tags=["v2"], summary="Model metadata")
    async def v2_model(request: Request, name: str) -> Response:
        return await v2_metadata(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}", tags=["v2"], summary="Version metadata")
    async def v2_model_version(request: Request, name: str, version: str) -> Response:
        return await v2_metadata(request, name, version)

    @app.get("/v2/models/{name}/ready", tags=["v2"], summary="Model readiness")
    async def v2_model_is_ready(request: Request, name: str) -> Response:
        return await v2_model_ready(request, name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready", tags=["v2"], summary="Version readiness")
    async def v2_version_is_ready(request: Request, name: str, version: str) -> Response:
        return await v2_model_ready(request, name, version)

    @app.post(
        "/v2/models/{name}/infer",
        tags=["v2"],
        summary="Inference (JSON or the binary tensor extension)",
        openapi_extra=openapi.V2_INFER,
    )
    async def v2_model_infer(request: Request, name: str) -> Response:
        return await v2_infer(request, name, None)

    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        tags=["v2"],
        summary="Inference on one version",
        openapi_extra=openapi.V2_INFER,
    )
    async def v2_version_infer(request: Request, name: str, version: str) -> Response:
        return await v2_infer(request, name, version)

    return app


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
