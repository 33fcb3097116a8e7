"""Spans kept in memory: the SDK's in-memory exporter behind a provider installed as the
process's tracer for one test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

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


@dataclass
class Collector:
    """An OTLP/HTTP collector on loopback that keeps what it is sent."""

    url: str
    posts: list[tuple[str, str, bytes]]

    def spans(self) -> list[tuple[dict[str, str], Any]]:
        """Every span received, with its resource's attributes."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        found = []
        for _, _, body in self.posts:
            for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                named = {a.key: a.value.string_value for a in resource.resource.attributes}
                found += [(named, s) for scope in resource.scope_spans for s in scope.spans]
        return found


@contextmanager
def collector() -> Iterator[Collector]:
    posts: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posts.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Collector(f"http://127.0.0.1:{server.server_port}", posts)
    finally:
        server.shutdown()
        server.server_close()
