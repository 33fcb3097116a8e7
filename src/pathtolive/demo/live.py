"""The live side of the demo: ``pathtolive serve`` as a child process, and clients that
talk to it over real HTTP (the standard library's ``http.client``, one keep-alive
connection per thread).

The server is always stopped: :meth:`ServerProcess.stop` sends SIGTERM (a clean stop:
requests in flight finish, the prediction log is written), waits, and kills it if it
does not go; the demo calls it however it ends, and an ``atexit`` hook does too should
the interpreter leave some other way.
"""

from __future__ import annotations

import atexit
import http.client
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pathtolive.errors import VerificationFailedError

__all__ = ["Answer", "Client", "ServerProcess", "TrafficStream", "free_port", "score_each"]

_HOST = "127.0.0.1"
_REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Answer:
    """One request's outcome: HTTP status (0 when the connection failed), the version that
    answered (``x-model-name``, like ``garage-risk@1``), the request id (``x-request-id``,
    what feedback refers to), the decoded body, the time it took, when it finished
    (monotonic seconds) and the error, if any."""

    status: int
    model: str
    request_id: str
    body: Any
    seconds: float
    at: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error


class Client:
    """One keep-alive HTTP connection to the server; reconnects after a failure."""

    def __init__(self, port: int, *, timeout: float = _REQUEST_TIMEOUT) -> None:
        self.port = port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: Mapping[str, Any]) -> Answer:
        return self._send("POST", path, json.dumps(body).encode())

    def get(self, path: str) -> Answer:
        return self._send("GET", path, None)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(self, method: str, path: str, payload: bytes | None) -> Answer:
        started = time.monotonic()
        headers = {"content-type": "application/json"} if payload is not None else {}
        try:
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    _HOST, self.port, timeout=self.timeout
                )
            self._connection.request(method, path, body=payload, headers=headers)
            response = self._connection.getresponse()
            raw = response.read()
            status = response.status
            model = response.getheader("x-model-name") or ""
            request_id = response.getheader("x-request-id") or ""
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            ended = time.monotonic()
            error = f"{type(exc).__name__}: {exc}"
            return Answer(0, "", "", None, ended - started, ended, error)
        ended = time.monotonic()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        return Answer(status, model, request_id, body, ended - started, ended)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """``python -m pathtolive serve`` in the workspace ``root`` on a free loopback port,
    following the registry every ``poll_interval`` seconds; its stderr goes to ``log``."""

    root: Path
    environ: Mapping[str, str]
    log: Path
    poll_interval: float = 0.5
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def start(self, *, timeout: float = 120.0) -> None:
        """Start it and wait until ``/health/ready`` answers 200 (a model is loaded)."""
        command = [
            sys.executable,
            "-m",
            "pathtolive",
            "serve",
            "--host",
            _HOST,
            "--port",
            str(self.port),
            "--poll-interval",
            str(self.poll_interval),
        ]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as stderr:
            # A session of its own: Ctrl-C in the terminal reaches the demo, which stops
            # the server itself, in order.
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=dict(self.environ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        atexit.register(self.stop)
        client = Client(self.port, timeout=5.0)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise VerificationFailedError(
                        f"the server exited with code {self.process.returncode} before it was "
                        f"ready; its log is {self.log}:\n{self._tail()}"
                    )
                if client.get("/health/ready").status == 200:
                    return
                time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise VerificationFailedError(
            f"the server was not ready within {timeout:g} s; its log is {self.log}"
        )

    def stop(self, *, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; the exit code (None if never
        started). Safe to call twice."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)
        return process.returncode

    def _tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def score_each(
    port: int,
    path: str,
    bodies: Sequence[Mapping[str, Any]],
    *,
    workers: int = 4,
    on_answer: Callable[[], None] | None = None,
) -> list[Answer]:
    """POST every body to ``path``, one request each, from ``workers`` threads with a
    connection each; the answers in the order of ``bodies``. ``on_answer`` is called
    (from the worker threads) after each request."""
    answers: list[Answer | None] = [None] * len(bodies)

    def work(offset: int) -> None:
        client = Client(port)
        try:
            for index in range(offset, len(bodies), workers):
                answers[index] = client.post(path, bodies[index])
                if on_answer is not None:
                    on_answer()
        finally:
            client.close()

    threads = [
        threading.Thread(target=work, args=(offset,), name=f"demo-client-{offset}", daemon=True)
        for offset in range(min(workers, len(bodies)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [answer for answer in answers if answer is not None]


class TrafficStream:
    """A steady stream of one-row predictions from ``workers`` background threads, each
    request as soon as the last one is answered, cycling through ``bodies`` until
    :meth:`stop`. Every answer is kept with the index of the body it answered."""

    def __init__(
        self, port: int, path: str, bodies: Sequence[Mapping[str, Any]], *, workers: int = 2
    ) -> None:
        if not bodies:
            raise ValueError("a traffic stream needs at least one request body")
        self.port = port
        self.path = path
        self.bodies = bodies
        self.workers = workers
        self._answers: list[tuple[int, Answer]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for offset in range(self.workers):
            thread = threading.Thread(
                target=self._run, args=(offset,), name=f"demo-traffic-{offset}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> list[tuple[int, Answer]]:
        """Stop sending (each thread finishes its request in flight); every (body index,
        answer) pair, in the order the answers came."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        return self.snapshot()

    def snapshot(self) -> list[tuple[int, Answer]]:
        with self._lock:
            return list(self._answers)

    def wait_for(self, model: str, count: int, *, timeout: float) -> bool:
        """Wait until ``count`` answers came from ``model``; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(answer.model == model for _, answer in self.snapshot()) >= count:
                return True
            time.sleep(0.05)
        return False

    def _run(self, offset: int) -> None:
        client = Client(self.port)
        index = offset
        try:
            while not self._stop.is_set():
                body = index % len(self.bodies)
                answer = client.post(self.path, self.bodies[body])
                with self._lock:
                    self._answers.append((body, answer))
                index += self.workers
        finally:
            client.close()
