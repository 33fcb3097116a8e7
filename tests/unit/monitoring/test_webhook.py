"""Alert webhooks against a real HTTP receiver on loopback: signatures, what counts as
delivered, a receiver that is down or hangs, the backoff, and secrets kept out of what
is logged or recorded. (The outbox that retries them: tests/unit/service/test_alerts.py.)"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from pathtolive import env
from pathtolive.errors import ConfigError
from pathtolive.monitoring.webhook import (
    ALERT_HEADER,
    DELIVERY_HEADER,
    MAX_RETRY_DELAY,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookClient,
    alert_body,
    retry_delay,
    sign,
    signature_headers,
    verify,
)
from tests.support.webhook import Receiver, free_port, receiving

SECRET = b"s3cr3t-webhook-key-do-not-log"
PAYLOAD = {"alert_id": 17, "model": "risk", "kind": "drift", "key": "drift:mileage"}
BODY = alert_body(PAYLOAD)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving(SECRET) as receiver:
        yield receiver


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


def test_a_client_needs_an_http_url_and_a_secret() -> None:
    with pytest.raises(ConfigError, match="http"):
        WebhookClient("ftp://example.org/hook", SECRET)
    with pytest.raises(ConfigError, match="http"):
        WebhookClient("not a url", SECRET)
    with pytest.raises(ConfigError, match=env.ALERT_WEBHOOK_SECRET):
        WebhookClient("https://example.org/hook", b"")
    with pytest.raises(ValueError, match="positive"):
        WebhookClient("https://example.org/hook", SECRET, timeout=0)


# -- one attempt -------------------------------------------------------------------------


def test_a_2xx_delivers_a_signed_alert_with_its_delivery_id(receiver: Receiver) -> None:
    client = WebhookClient(receiver.url, SECRET)
    result = client.post(17, "d-17", BODY)
    assert (result.delivered, result.outcome) == (True, "HTTP 200")
    [request] = receiver.requests
    assert request.verified
    assert json.loads(request.body) == PAYLOAD
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers[ALERT_HEADER] == "17"
    assert request.headers[DELIVERY_HEADER] == "d-17"


@pytest.mark.parametrize(
    ("status", "delivered", "retry_after"),
    [
        (202, True, None),
        (400, False, None),
        (404, False, None),
        (307, False, None),  # a redirect is not followed with a signed alert
        (429, False, 120.0),
        (500, False, None),
        (503, False, None),
    ],
)
def test_only_a_2xx_delivers(
    receiver: Receiver, status: int, delivered: bool, retry_after: float | None
) -> None:
    receiver.answers = [status]
    result = WebhookClient(receiver.url, SECRET).post(1, "d-1", BODY)
    assert (result.delivered, result.outcome, result.retry_after) == (
        delivered,
        f"HTTP {status}",
        retry_after,
    )
    assert receiver.statuses() == [status]  # one attempt: the client never retries itself


def test_a_receiver_that_is_down_is_not_delivered_to() -> None:
    result = WebhookClient(f"http://127.0.0.1:{free_port()}/hook", SECRET).post(9, "d-9", BODY)
    assert not result.delivered
    assert "Connection" in result.outcome or "refused" in result.outcome


def test_an_attempt_ends_at_its_timeout_while_the_receiver_hangs(receiver: Receiver) -> None:
    receiver.release = threading.Event()
    client = WebhookClient(receiver.url, SECRET, timeout=30.0)
    # The call's own bound is shorter than the client's: it wins.
    result = client.post(3, "d-3", BODY, timeout=0.2)
    assert not result.delivered
    assert "timed out" in result.outcome
    assert receiver.entered.is_set()
    assert receiver.released == []  # the receiver still holds the request


def test_the_secret_never_reaches_the_outcome(receiver: Receiver) -> None:
    url = receiver.url + "/token-in-the-path?key=query-secret"
    receiver.answers = [503]
    client = WebhookClient(url, SECRET)
    failed = client.post(1, "d-1", BODY)
    down = WebhookClient(
        f"http://user:pw@127.0.0.1:{free_port()}/token-in-the-path?key=query-secret", SECRET
    )
    refused = down.post(1, "d-1", BODY)
    for text in (failed.outcome, refused.outcome, repr(client), repr(down), down.target):
        for secret in (SECRET.decode(), "token-in-the-path", "query-secret", "pw"):
            assert secret not in text


# -- the backoff -------------------------------------------------------------------------


def test_the_delay_doubles_with_each_attempt_within_bounds() -> None:
    for attempts in range(1, 8):
        full = 30.0 * 2 ** (attempts - 1)
        for _ in range(20):
            delay = retry_delay(attempts, backoff=30.0)
            assert min(full, MAX_RETRY_DELAY) / 2 <= delay <= min(full, MAX_RETRY_DELAY)
    assert retry_delay(500, backoff=30.0) <= MAX_RETRY_DELAY
    # Retry-After is honoured, up to the longest wait.
    assert retry_delay(1, backoff=1.0, retry_after=120.0) == 120.0
    assert retry_delay(1, backoff=1.0, retry_after=10 * MAX_RETRY_DELAY) == MAX_RETRY_DELAY
    with pytest.raises(ValueError, match="attempt"):
        retry_delay(0, backoff=1.0)
