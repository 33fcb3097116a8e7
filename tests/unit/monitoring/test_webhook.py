"""Alert webhooks against a real HTTP receiver on loopback: signatures, retries, a
receiver that fails or hangs, and secrets kept out of the logs."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pathtolive import env
from pathtolive.errors import ConfigError
from pathtolive.monitoring.webhook import (
    ALERT_HEADER,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    sign,
    signature_headers,
    verify,
)

SECRET = b"s3cr3t-webhook-key-do-not-log"
PAYLOAD = {"alert_id": 17, "model": "risk", "kind": "drift", "key": "drift:mileage"}


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    verified: bool
    status: int


@dataclass
class Receiver:
    """A webhook receiver that checks every signature and answers ``answers`` in turn
    (then 200). With ``release`` set up, each request waits for it before answering."""

    url: str
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event | None = None
    released: list[bool] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def statuses(self) -> list[int]:
        with self.lock:
            return [request.status for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            verified = verify(
                body, self.headers.get(TIMESTAMP_HEADER), self.headers.get(SIGNATURE_HEADER), SECRET
            )
            with receiver.lock:
                status = receiver.answers.pop(0) if receiver.answers else 200
                if not verified:
                    status = 401
                receiver.requests.append(Received(body, dict(self.headers), verified, status))
            receiver.entered.set()
            if receiver.release is not None:
                receiver.released.append(receiver.release.wait(60))
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts")
    state["receiver"] = receiver
    try:
        yield receiver
    finally:
        if receiver.release is not None:
            receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


class Results:
    """An ``on_result`` callback that records what it is told."""

    def __init__(self, expected: int = 1) -> None:
        self.expected = expected
        self.items: list[tuple[int, bool]] = []
        self.done = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, alert_id: int, delivered: bool) -> None:
        with self._lock:
            self.items.append((alert_id, delivered))
            if len(self.items) >= self.expected:
                self.done.set()


def _sender(url: str, results: Results, **kwargs: Any) -> WebhookSender:
    options: dict[str, Any] = {"retries": 5, "backoff": 0.001, "timeout": 30.0}
    options.update(kwargs)
    return WebhookSender(url, SECRET, on_result=results, **options)


# -- signing -----------------------------------------------------------------------------


def test_sign_is_an_hmac_sha256_hex_digest() -> None:
    signature = sign(b"body", SECRET)
    assert signature.startswith("sha256=")
    assert len(signature) == len("sha256=") + 64
    assert sign(b"body", SECRET.decode()) == signature
    assert sign(b"body!", SECRET) != signature
    assert sign(b"body", b"other") != signature


def test_verify_checks_body_secret_and_timestamp() -> None:
    body = json.dumps(PAYLOAD).encode()
    headers = signature_headers(body, SECRET, timestamp=1_800_000_000)
    timestamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert timestamp == "1800000000"
    # The signature covers the timestamp too: the body alone does not match it.
    assert signature == sign(b"1800000000." + body, SECRET)
    assert signature != sign(body, SECRET)
    now = 1_800_000_100.0
    assert verify(body, timestamp, signature, SECRET, now=now)
    assert verify(body, 1_800_000_000, signature, SECRET.decode(), now=now)
    assert not verify(body + b" ", timestamp, signature, SECRET, now=now)
    assert not verify(body, timestamp, signature, b"wrong", now=now)
    assert not verify(body, "1800000001", signature, SECRET, now=now)  # replayed, new time
    assert not verify(body, timestamp, signature, SECRET, now=1_800_000_301.0)  # too old
    assert not verify(body, timestamp, signature, SECRET, now=1_799_999_699.0)  # from the future
    assert verify(body, timestamp, signature, SECRET, now=1_800_000_600.0, tolerance_s=600)
    for bad in (None, "", "+1800000000", " 1800000000", "1.8e9", "abc"):
        assert not verify(body, bad, signature, SECRET, now=now)
    for bad_signature in (None, "", "sha256=00", signature.upper(), "sha256=é" + signature[8:]):
        assert not verify(body, timestamp, bad_signature, SECRET, now=now)


def test_a_sender_needs_an_http_url_and_a_secret() -> None:
    with pytest.raises(ConfigError, match="http"):
        WebhookSender("ftp://example.org/hook", SECRET)
    with pytest.raises(ConfigError, match="http"):
        WebhookSender("not a url", SECRET)
    with pytest.raises(ConfigError, match=env.ALERT_WEBHOOK_SECRET):
        WebhookSender("https://example.org/hook", b"")
    with pytest.raises(ValueError, match="negative"):
        WebhookSender("https://example.org/hook", SECRET, retries=-1)


# -- delivery ----------------------------------------------------------------------------


def test_an_alert_arrives_once_signed_after_two_failed_attempts(receiver: Receiver) -> None:
    receiver.answers = [503, 503]
    results = Results()
    sender = _sender(receiver.url, results)
    sender.send(17, PAYLOAD)
    assert results.done.wait(60)
    assert sender.close(timeout=30)
    assert results.items == [(17, True)]
    assert receiver.statuses() == [503, 503, 200]
    assert all(request.verified for request in receiver.requests)
    delivered = receiver.requests[-1]
    assert json.loads(delivered.body) == PAYLOAD
    assert delivered.headers["Content-Type"] == "application/json"
    assert delivered.headers[ALERT_HEADER] == "17"
    # One delivery id across the retries, so that a receiver can drop duplicates.
    assert len({request.headers[DELIVERY_HEADER] for request in receiver.requests}) == 1


def test_a_receiver_that_always_fails_is_given_up_on(receiver: Receiver) -> None:
    receiver.answers = [503] * 10
    results = Results()
    sender = _sender(receiver.url, results, retries=2)
    sender.send(5, PAYLOAD)
    assert results.done.wait(60)
    sender.close(timeout=30)
    assert results.items == [(5, False)]
    assert receiver.statuses() == [503, 503, 503]


@pytest.mark.parametrize(
    ("answers", "delivered", "statuses"),
    [
        ([400], False, [400]),
        ([404], False, [404]),
        ([307], False, [307]),  # a redirect is not followed with a signed alert
        ([429], True, [429, 200]),
        ([500, 502], True, [500, 502, 200]),
    ],
)
def test_which_answers_are_retried(
    receiver: Receiver, answers: list[int], delivered: bool, statuses: list[int]
) -> None:
    receiver.answers = list(answers)
    results = Results()
    sender = _sender(receiver.url, results, retries=3)
    sender.send(1, PAYLOAD)
    assert results.done.wait(60)
    sender.close(timeout=30)
    assert results.items == [(1, delivered)]
    assert receiver.statuses() == statuses


def test_connection_errors_are_retried_then_given_up_on(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.INFO, logger="pathtolive")
    results = Results()
    sender = _sender(f"http://127.0.0.1:{port}/hook", results, retries=2)
    sender.send(9, PAYLOAD)
    assert results.done.wait(60)
    sender.close(timeout=30)
    assert results.items == [(9, False)]
    assert "not delivered" in caplog.text
    assert "after 3 attempts" in caplog.text


def test_send_returns_while_the_receiver_hangs(receiver: Receiver) -> None:
    release = receiver.release = threading.Event()
    results = Results(expected=3)
    sender = _sender(receiver.url, results)
    for alert_id in (1, 2, 3):
        sender.send(alert_id, PAYLOAD)
    # Every send() came back while the receiver holds the first request: nothing can
    # have been answered yet.
    assert receiver.entered.wait(60)
    assert results.items == []
    release.set()
    assert results.done.wait(60)
    sender.close(timeout=30)
    assert results.items == [(1, True), (2, True), (3, True)]
    assert receiver.released == [True, True, True]


def test_close_drains_the_queue_then_refuses_more(receiver: Receiver) -> None:
    receiver.answers = [503]
    results = Results(expected=3)
    sender = _sender(receiver.url, results)
    for alert_id in (1, 2, 3):
        sender.send(alert_id, PAYLOAD)
    assert sender.close(timeout=60)
    assert results.items == [(1, True), (2, True), (3, True)]
    with pytest.raises(RuntimeError, match="closed"):
        sender.send(4, PAYLOAD)
    assert sender.close(timeout=1)
    assert WebhookSender(receiver.url, SECRET).close(timeout=1)  # never sent anything


def test_close_gives_up_on_what_a_hanging_receiver_holds_up(receiver: Receiver) -> None:
    release = receiver.release = threading.Event()
    results = Results(expected=2)
    sender = _sender(receiver.url, results)
    sender.send(1, PAYLOAD)
    sender.send(2, PAYLOAD)
    assert receiver.entered.wait(60)
    assert not sender.close(timeout=0.01)  # the receiver holds the first alert
    release.set()
    assert results.done.wait(60)
    # The attempt under way finishes; the alert behind it is given up on, not sent.
    assert results.items == [(1, True), (2, False)]
    assert receiver.statuses() == [200]


def test_a_failing_callback_does_not_stop_the_deliveries(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    results = Results(expected=2)
    calls: list[int] = []

    def on_result(alert_id: int, delivered: bool) -> None:
        calls.append(alert_id)
        if len(calls) == 1:
            raise RuntimeError("the store is down")
        results(alert_id, delivered)

    sender = WebhookSender(receiver.url, SECRET, backoff=0.001, on_result=on_result)
    sender.send(1, PAYLOAD)
    sender.send(2, PAYLOAD)
    assert sender.close(timeout=60)
    assert calls == [1, 2]
    assert results.items == [(2, True)]
    assert "callback failed" in caplog.text


def test_the_secret_never_reaches_the_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answers = [503, 503, 400]
    url = receiver.url + "/token-in-the-path?key=query-secret"
    results = Results(expected=2)
    sender = _sender(url, results, retries=3)
    sender.send(1, PAYLOAD)
    sender.send(2, PAYLOAD)
    assert sender.close(timeout=60)
    assert results.items == [(1, False), (2, True)]
    assert caplog.records, "the sender logs its attempts"
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    for secret in (SECRET.decode(), "token-in-the-path", "query-secret"):
        assert secret not in logged
        assert secret not in repr(sender)
    assert sender.target in caplog.text
