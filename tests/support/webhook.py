"""A webhook receiver on loopback for the tests of alert delivery: it checks every
signature, answers as told, can hang, and can be down (its port closed) and come back
on the same address."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pathtolive.monitoring.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

__all__ = ["Received", "Receiver", "free_port", "receiving"]


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    verified: bool
    status: int


@dataclass
class Receiver:
    """What a receiver got, and how it answers: ``answers`` in turn (then 200); with
    ``release`` set up, each request waits for it (at most ``hold`` seconds) first."""

    url: str
    secret: bytes
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event | None = None
    hold: float = 60.0
    released: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self) -> list[int]:
        with self.lock:
            return [request.status for request in self.requests]

    def header(self, name: str) -> list[str]:
        """The value of header ``name`` in each request received, in order."""
        with self.lock:
            return [
                next(v for k, v in request.headers.items() if k.lower() == name.lower())
                for request in self.requests
            ]


def free_port() -> int:
    """A loopback port nothing listens on (a receiver that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def receiving(secret: bytes, port: int = 0, path: str = "/hooks/alerts") -> Iterator[Receiver]:
    """A receiver listening on ``port`` (any free one by default) until the block ends."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verified = verify(
                body, self.headers.get(TIMESTAMP_HEADER), self.headers.get(SIGNATURE_HEADER), secret
            )
            with receiver.lock:
                status = receiver.answers.pop(0) if receiver.answers else 200
                if not verified:
                    status = 401
                receiver.requests.append(Received(body, dict(self.headers), verified, status))
            receiver.entered.set()
            if receiver.release is not None:
                receiver.released.append(receiver.release.wait(receiver.hold))
            try:
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "120")
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up waiting and closed the connection

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", secret)
    state["receiver"] = receiver
    try:
        yield receiver
    finally:
        if receiver.release is not None:
            receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
