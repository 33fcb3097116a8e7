"""The state behind the live server's app: the stores, the registry watcher, the
micro-batchers, the prediction log and the shadow scorer, and the request path they
share.

:class:`Server` is built once per app. Its :meth:`~Server.start` and :meth:`~Server.stop`
run in the app's lifespan: start replays what a crashed server journaled but never
flushed, then starts the log and the watcher; stop lets accepted shadow requests finish,
flushes the log and waits for the predict threads. The watcher publishes each new
:class:`~pathtolive.serving.deployment.Snapshot` with one assignment, so a request sees
the old deployments or the new, never a mix.

The routes call :meth:`~Server.predict` for the whole request path (authorize, read,
route, validate, predict micro-batched, log, offer to the shadow) and raise every
failure as a :class:`~pathtolive.errors.PathToLiveError` for their protocol to shape.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from fastapi import Request

from pathtolive import env
from pathtolive.auth import Permission
from pathtolive.errors import (
    ModelRejectedInputError,
    NotFoundError,
    PathToLiveError,
    PayloadTooLargeError,
)
from pathtolive.predlog import PredictionLogger, Recovery
from pathtolive.refs import is_number
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.signature import Signature
from pathtolive.service import retention
from pathtolive.service.alerts import outbox_counts
from pathtolive.service.context import ServiceContext
from pathtolive.service.lease import lease_expires_at
from pathtolive.service.predictions import check_request_id
from pathtolive.service.servables import (
    ServableVersion,
    background_sample,
    open_alert_counts,
    record_server_event,
)
from pathtolive.serving.auth import TokenGate
from pathtolive.serving.batching import Gauge
from pathtolive.serving.codecs.base import Prediction
from pathtolive.serving.deployment import Deployment, ServedModel, Snapshot
from pathtolive.serving.guard import ACTOR
from pathtolive.serving.metrics import LogCounts, ServerMetrics
from pathtolive.serving.records import prediction_record
from pathtolive.serving.settings import ServeSettings
from pathtolive.serving.shadow import ShadowRequest, ShadowScorer
from pathtolive.serving.tracing import SPAN
from pathtolive.serving.watcher import LoadEvent, RegistryWatcher

__all__ = ["JOURNAL_DIR", "REQUEST_ID", "ROUTING_KEY", "Decoder", "Server"]

logger = logging.getLogger("pathtolive.serving")

REQUEST_ID = "x-request-id"
"""The header naming a request: the client's if it sends one, else a new id; it keys the
prediction log and feedback."""
ROUTING_KEY = "x-routing-key"
"""The header that pins a caller to one side of a canary split."""
JOURNAL_DIR = retention.JOURNAL_DIR
"""The prediction log's crash journal, under the workspace's state folder."""
RETENTION_EVERY = 3600.0
"""Seconds between two prunes of the prediction log while serving (with
``log_retention_days``)."""

METRICS_SYNC_EVERY = 1.0
"""Seconds between two copies of a worker's own counts (the prediction log's, the shadow
queue's) into the metrics the workers share (``serve --workers N``)."""

Decoder = Callable[[bytes, Signature], InputBatch]
"""A protocol's decoder: the request body to rows validated against a signature."""


class Server:
    """The state behind the app: stores, the registry watcher, batchers, the log."""

    def __init__(self, ctx: ServiceContext, settings: ServeSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.snapshot = Snapshot()
        self.gauge = Gauge()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="pathtolive-predict")
        self.log: PredictionLogger | None = None
        if settings.log_predictions:
            from pathtolive.service.encryption import journal_sealing
            from pathtolive.service.predictions import StoreSegmentSink

            keyring, seal = journal_sealing(ctx.artifacts)
            self.log = PredictionLogger(
                StoreSegmentSink(ctx),
                buffer_rows=settings.log_buffer_rows,
                flush_seconds=settings.log_flush_seconds,
                sample=settings.log_sample,
                pii_mode=settings.pii,
                salt=_salt(ctx),
                journal=ctx.settings.state_dir / JOURNAL_DIR if settings.log_journal else None,
                fsync=settings.log_fsync,
                keyring=keyring,
                seal_journal=seal,
            )
        self.shadow = ShadowScorer(self.log, settings.shadow_queue)
        self.tokens = TokenGate(ctx, settings.auth_required)
        self.watcher = RegistryWatcher(
            ctx=ctx,
            interval=settings.poll_interval,
            make_served=self._make_served,
            publish=self._publish,
            on_event=self._on_load_event,
            models=settings.models,
            extra_pii=settings.pii_columns,
            retry_s=settings.load_retry_seconds,
            retry_max_s=settings.load_retry_max_seconds,
        )
        self.metrics = ServerMetrics(
            self._log_counts,
            lambda: self.shadow.skipped,
            self._open_alerts,
            lambda: [(failed.model, failed.version) for failed in self.watcher.failing()],
            self._outbox_pending,
            self._lease_expiry,
        )
        self._backgrounds: dict[tuple[str, int], pd.DataFrame | None] = {}
        self._pruner: asyncio.Task[None] | None = None
        self._syncer: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the shadow scorer, replays what a crashed server journaled, then starts
        the log and the registry watcher; audited as ``serve.started``."""
        self.shadow.start()
        details: dict[str, Any] = {
            "auth": self.settings.auth_required,
            "models": list(self.settings.models),
        }
        if self.settings.log_retention_days is not None:
            # Before the replay: a journal older than the retention is deleted, not logged.
            await asyncio.to_thread(self._prune_log)
            self._pruner = asyncio.create_task(self._prune_periodically())
        if self.log is not None:
            # Before serving: what a crashed server journaled but never flushed.
            recovery = await asyncio.to_thread(self._recover_log, self.log)
            if recovery.files or recovery.failed_files:
                details["recovered"] = dataclasses.asdict(recovery)
            self.log.start()
        self.watcher.start()
        if self.metrics.multiprocess:
            # Another worker may answer the scrape: keep this one's counts in the shared files.
            self._syncer = asyncio.create_task(self._sync_metrics_periodically())
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

    def _prune_log(self) -> None:
        try:
            retention.prune_predictions(self.ctx, self.settings.log_retention_days, by_server=True)
        except Exception:  # never stop serving over it; the next prune tries again
            logger.exception("pruning the prediction log failed")

    async def _prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY)
            await asyncio.to_thread(self._prune_log)

    async def _sync_metrics_periodically(self) -> None:
        while True:
            await asyncio.sleep(METRICS_SYNC_EVERY)
            self.metrics.sync()

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
        """Stops following the registry, finishes accepted shadow work, flushes the log
        and waits for the predict threads; audited as ``serve.stopped``."""
        self.watcher.stop()
        if self._pruner is not None:
            self._pruner.cancel()
        # Shadow requests already accepted are scored and logged before the log closes.
        await self.shadow.drain()
        written = 0
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
            written = self.log.stats.written_rows
        self.executor.shutdown(wait=True)
        self.shadow.close()
        if self._syncer is not None:
            self._syncer.cancel()
        self.metrics.close()
        await asyncio.to_thread(
            record_server_event,
            self.ctx,
            "serve.stopped",
            f"server:{self.settings.host}:{self.settings.port}",
            {"logged_rows": written},
        )

    def _publish(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot  # one assignment: requests see the old or the new
        serving: list[tuple[str, str, str]] = []
        for deployment in snapshot.deployments.values():
            for role in ("live", "canary", "shadow"):
                served: ServedModel | None = getattr(deployment, role)
                if served is not None:
                    serving.append((served.name, str(served.version), role))
                    if self.log is not None:
                        self.log.set_pii(served.name, served.version, served.servable.pii_columns)
        self.metrics.set_serving(serving)
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
        try:
            return open_alert_counts(self.ctx, self.settings.models or ())
        except PathToLiveError:
            logger.warning("cannot read open alerts for /metrics", exc_info=True)
            return {}

    def _outbox_pending(self) -> dict[str, int]:
        """Alerts waiting in the webhook outbox per model, read when Prometheus scrapes
        (one grouped count on an index; never on a request's path)."""
        try:
            return outbox_counts(self.ctx, self.settings.models or ())
        except PathToLiveError:
            logger.warning("cannot read the alert outbox for /metrics", exc_info=True)
            return {}

    def _lease_expiry(self) -> float | None:
        """When the controller's lease lapses (Unix time), read when Prometheus scrapes:
        the server shows whether a controller still runs, which has no endpoint of its own."""
        try:
            expires = lease_expires_at(self.ctx)
        except PathToLiveError:
            logger.warning("cannot read the controller's lease for /metrics", exc_info=True)
            return None
        return None if expires is None else expires.timestamp()

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
        """The context acting as the request's token holder, if it may ``permission``."""
        actor = request.scope.get(ACTOR)  # authenticated before routing (serving.guard)
        if actor is None:
            actor = self.tokens.check(request.headers.get("authorization"), permission, doing)
        else:
            self.tokens.permit(actor, permission, doing)
        return self.ctx.acting_as(actor)

    async def body(self, request: Request) -> bytes:
        """The request's body, refused as soon as it passes the server's limit."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and is_number(declared) and int(declared) > limit:
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
        """What is served of model ``name``; ``NotFoundError`` when nothing answers."""
        deployment = self.snapshot.deployments.get(name)
        if deployment is None or (deployment.live is None and deployment.canary is None):
            served = ", ".join(sorted(self.snapshot.deployments)) or "none yet"
            raise NotFoundError(f"no model {name!r} is served here; served: {served}")
        return deployment

    def pick(
        self, request: Request, name: str, version: str | None = None
    ) -> tuple[ServedModel, str]:
        """The version to answer, and its role: ``version`` when the request names one,
        else the canary split's choice (sticky per ``x-routing-key``)."""
        deployment = self.deployment(name)
        if version is not None:
            served = deployment.version(int(version)) if is_number(version) else None
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
        decode: Decoder,
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
            sent_id = request.headers.get(REQUEST_ID)
            if sent_id:  # an empty one is as good as none: the server makes one up
                check_request_id(sent_id)  # refused before scoring, as feedback would refuse it
            body = await self.body(request)
            served, role = self.pick(request, name, version)
            batch = decode(body, served.servable.signature)
            self.gauge.arriving -= 1
            queued = True
            try:
                prediction, rows = await served.batcher.submit(batch)
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
        request_id = sent_id or uuid.uuid4().hex
        elapsed = time.perf_counter() - started
        version_label = str(served.version)
        self.metrics.requests.labels(name, version_label, protocol, role, "200").inc()
        self.metrics.latency.labels(name, version_label, protocol).observe(elapsed)
        if self.log is not None:
            self.log.log(
                prediction_record(
                    served, request_id, protocol, role, elapsed, rows, prediction, batch.columns
                )
            )
        deployment = self.snapshot.deployments.get(name)
        if deployment is not None and deployment.shadow is not None:
            self.shadow.offer(ShadowRequest(deployment.shadow, batch, request_id, protocol))
        span = request.scope.get(SPAN)
        if span is not None:  # the request is traced (see pathtolive.serving.tracing)
            span.set_attributes(
                {
                    "pathtolive.model": name,
                    "pathtolive.model.version": served.version,
                    "pathtolive.role": role,
                    "pathtolive.rows": batch.n_rows,
                    "pathtolive.request_id": request_id,
                }
            )
        return served, prediction, request_id

    def background(self, served: ServedModel) -> pd.DataFrame | None:
        """The rows ``served``'s explainer weighs attributions against, read once."""
        key = (served.name, served.version)
        if key not in self._backgrounds:
            self._backgrounds[key] = background_sample(self.ctx, served.servable)
        return self._backgrounds[key]


def _salt(ctx: ServiceContext) -> bytes | None:
    secret = ctx.settings.environ.get(env.PII_SALT)
    return secret.encode() if secret else None


def _too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the body has {size} bytes, over the server's limit of {limit}; send smaller batches"
    )
