"""Spans kept in memory: the SDK's in-memory exporter behind a provider installed as the
process's tracer for one test."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pathtolive import tracing


class Spans:
    """The spans ended while traced, in the order they ended."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def all(self) -> tuple[ReadableSpan, ...]:
        return tuple(self._exporter.get_finished_spans())

    def clear(self) -> None:
        self._exporter.clear()

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.all() if span.name == name]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        assert parent.context is not None
        return [
            span
            for span in self.all()
            if span.parent is not None and span.parent.span_id == parent.context.span_id
        ]

    def wait_for(self, name: str, count: int = 1) -> Sequence[ReadableSpan]:
        """The spans named ``name`` once there are ``count``: a server ends a request's
        span in its own thread, just after the client has read the answer."""
        deadline = time.monotonic() + 30
        while len(self.named(name)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        found = self.named(name)
        assert len(found) >= count, [span.name for span in self.all()]
        return found


@contextmanager
def traced() -> Iterator[Spans]:
    """This process traces into memory inside the block, and stops tracing after it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield Spans(exporter)
    finally:
        tracing.install(None)
        provider.shutdown()
