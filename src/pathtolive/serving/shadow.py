"""The shadow scorer: a shadow version answers the live traffic too, but never to a client.

Each answered request is offered to the shadow version's queue and scored off the request
path: in a thread of its own, after the answer has gone, and dropped (counted in
``pathtolive_shadow_skipped``) when the queue is full, so shadow work can never hold up
live traffic. Whatever has queued meanwhile is scored in one call, so under load the
shadow costs a fraction of the live version's work. Its predictions go to the prediction
log with role ``shadow``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pathtolive.predlog import PredictionLogger
from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.serving.batching import RequestRows, slice_prediction
from pathtolive.serving.deployment import ServedModel
from pathtolive.serving.records import prediction_record

__all__ = ["SHADOW_BATCH", "ShadowRequest", "ShadowScorer"]

logger = logging.getLogger("pathtolive.serving")

SHADOW_BATCH = 256
"""Most queued requests the shadow version scores in one call."""
_DRAIN_SECONDS = 10
"""How long a stopping server waits for the shadow requests it has accepted."""


@dataclass(frozen=True)
class ShadowRequest:
    """A request answered by the live version, to be scored by ``served``, the shadow."""

    served: ServedModel
    batch: InputBatch
    request_id: str
    protocol: str


class ShadowScorer:
    """The queue of requests waiting for their shadow version, and the worker that
    scores them."""

    def __init__(self, log: PredictionLogger | None, capacity: int) -> None:
        self.log = log
        self.capacity = capacity or 1  # asyncio.Queue(0) would have no bound at all
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="pathtolive-shadow")
        self.skipped = 0
        """Requests not scored because the queue was full."""
        self._queue: asyncio.Queue[ShadowRequest] | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the worker on the running event loop."""
        self._queue = asyncio.Queue(self.capacity)
        self._worker = asyncio.get_running_loop().create_task(self._work())

    def offer(self, request: ShadowRequest) -> None:
        """Queues ``request``, or counts it skipped when the queue is full."""
        if self._queue is None:
            return
        try:
            self._queue.put_nowait(request)
        except asyncio.QueueFull:
            self.skipped += 1

    async def drain(self) -> None:
        """Scores and logs the requests already accepted (before the log closes), then
        stops the worker."""
        if self._queue is not None:
            try:
                await asyncio.wait_for(self._queue.join(), timeout=_DRAIN_SECONDS)
            except TimeoutError:
                logger.warning(
                    "shadow scoring did not finish in %d s; stopping anyway", _DRAIN_SECONDS
                )
        if self._worker is not None:
            self._worker.cancel()

    def close(self) -> None:
        """Waits for the scoring thread to finish."""
        self.executor.shutdown(wait=True)

    async def _work(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty() and len(items) < SHADOW_BATCH:
                items.append(self._queue.get_nowait())
            try:
                await self._score(items, loop)
            except Exception:  # the shadow must never disturb serving
                logger.warning("shadow scoring failed", exc_info=True)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _score(self, items: list[ShadowRequest], loop: asyncio.AbstractEventLoop) -> None:
        by_version: dict[int, list[ShadowRequest]] = {}
        for item in items:
            by_version.setdefault(id(item.served), []).append(item)
        for group in by_version.values():
            served = group[0].served
            started = time.perf_counter()
            frame = to_frame([item.batch for item in group], served.servable.signature)
            prediction = await loop.run_in_executor(self.executor, served.batcher.predict, frame)
            if self.log is None:
                continue
            elapsed = time.perf_counter() - started
            offset = 0
            for item in group:
                rows = item.batch.n_rows
                self.log.log(
                    prediction_record(
                        served,
                        item.request_id,
                        item.protocol,
                        "shadow",
                        elapsed,
                        RequestRows(frame, offset, offset + rows),
                        slice_prediction(prediction, offset, offset + rows),
                        item.batch.columns,
                    )
                )
                offset += rows
