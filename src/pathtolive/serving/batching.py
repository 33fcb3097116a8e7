"""Adaptive micro-batching: concurrent requests for one model version share a predict call.

A model's fixed cost per call (input checks, a pass through every tree) dwarfs its cost
per row, so sixteen single-row calls cost nearly sixteen times one sixteen-row call. The
batcher queues requests per model version and predicts them together:

- a request queues its rows and the queue is drained on the loop's next turn, so every
  request that arrived in the same burst joins the same call, and a lone request is
  predicted at once with no wait;
- small calls run on the event loop (no thread hand-off); while one runs, new requests
  wait in their sockets and the next call takes all of them, up to ``max_rows``;
- when other requests are known to be on their way (received but not yet decoded), the
  next call waits for them for at most ``wait_s``.

Each request gets back exactly its own rows: results are sliced by the offsets the rows
had in the combined frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import pandas as pd

from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import Signature
from pathtolive.serving.codecs.base import Prediction

__all__ = ["BatchStats", "Gauge", "MicroBatcher", "RequestRows", "slice_prediction"]

INLINE_ROWS = 256
"""Calls up to this many rows run on the event loop; bigger ones in a worker thread."""


@dataclass
class Gauge:
    """Requests the server has received but not yet handed to a batcher; a batcher
    that sees some waits briefly for them instead of predicting without them."""

    arriving: int = 0


@dataclass
class BatchStats:
    calls: int = 0
    rows: int = 0
    requests: int = 0


@dataclass(frozen=True)
class RequestRows:
    """A request's input rows: ``frame[start:stop]``, where ``frame`` is the frame of the
    call that predicted them (shared with the other requests of that call: the request
    path never slices it; the prediction log does, on its writer thread)."""

    frame: pd.DataFrame
    start: int
    stop: int

    @property
    def span(self) -> tuple[int, int] | None:
        """``(start, stop)``, or None when the request has the whole frame."""
        return None if (self.start, self.stop) == (0, len(self.frame)) else (self.start, self.stop)

    def own(self) -> pd.DataFrame:
        """The request's rows as a frame of their own."""
        return self.frame if self.span is None else self.frame.iloc[self.start : self.stop]


@dataclass
class _Pending:
    batch: InputBatch
    future: asyncio.Future[tuple[Prediction, RequestRows]]


@dataclass(eq=False)
class MicroBatcher:
    """Gathers requests for one model version; ``predict`` is the model's own call."""

    predict: Callable[[pd.DataFrame], Prediction]
    signature: Signature
    executor: Executor
    gauge: Gauge
    wait_s: float = 0.002
    max_rows: int = 2_048
    enabled: bool = True
    stats: BatchStats = field(default_factory=BatchStats)
    _queue: list[_Pending] = field(default_factory=list)
    _draining: bool = False
    _arrived: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    async def submit(self, batch: InputBatch) -> tuple[Prediction, RequestRows]:
        """This batch's prediction and the input rows it was computed from."""
        loop = asyncio.get_running_loop()
        if not self.enabled:
            frame = to_frame([batch], self.signature)
            self._count(1, batch.n_rows)
            return await self._predict(frame, loop), RequestRows(frame, 0, len(frame))
        future: asyncio.Future[tuple[Prediction, RequestRows]] = loop.create_future()
        self._queue.append(_Pending(batch, future))
        if self._arrived is not None:
            self._arrived.set()
        if not self._draining:
            # The drain runs on the loop's next turn, after every request that is ready
            # now has queued its rows: a burst becomes one call without any waiting.
            self._draining = True
            self._task = loop.create_task(self._drain())
        return await future

    async def _predict(self, frame: pd.DataFrame, loop: asyncio.AbstractEventLoop) -> Prediction:
        if len(frame) <= INLINE_ROWS:
            # Cheaper on the loop than the hand-off to a thread and back; requests that
            # arrive meanwhile wait in the socket and join the next call.
            return self.predict(frame)
        return await loop.run_in_executor(self.executor, self.predict, frame)

    def _count(self, requests: int, rows: int) -> None:
        self.stats.calls += 1
        self.stats.rows += rows
        self.stats.requests += requests

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                await self._gather(loop)
                taken: list[_Pending] = []
                rows = 0
                while self._queue and (
                    not taken or rows + self._queue[0].batch.n_rows <= self.max_rows
                ):
                    item = self._queue.pop(0)
                    taken.append(item)
                    rows += item.batch.n_rows
                await self._run(taken, loop)
        finally:
            self._draining = False

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait up to ``wait_s`` while requests are known to be on their way."""
        if self.wait_s <= 0 or self.gauge.arriving == 0:
            return
        if self._arrived is None:
            self._arrived = asyncio.Event()
        deadline = loop.time() + self.wait_s
        while self.gauge.arriving > 0 and self._rows_queued() < self.max_rows:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _rows_queued(self) -> int:
        return sum(item.batch.n_rows for item in self._queue)

    async def _run(self, taken: list[_Pending], loop: asyncio.AbstractEventLoop) -> None:
        try:
            frame = to_frame([item.batch for item in taken], self.signature)
            prediction = await self._predict(frame, loop)
        except Exception as exc:  # handed to every waiting request, which reports it
            for item in taken:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self._count(len(taken), len(frame))
        start = 0
        for item in taken:
            stop = start + item.batch.n_rows
            if not item.future.done():
                rows = RequestRows(frame, start, stop)
                item.future.set_result((slice_prediction(prediction, start, stop), rows))
            start = stop


def slice_prediction(prediction: Prediction, start: int, stop: int) -> Prediction:
    """The rows ``start:stop`` of a prediction."""
    if start == 0 and stop == len(prediction.labels):
        return prediction
    return Prediction(
        labels=prediction.labels[start:stop],
        probabilities=None
        if prediction.probabilities is None
        else prediction.probabilities[start:stop],
        classes=prediction.classes,
    )
