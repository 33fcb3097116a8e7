"""Alert webhooks: signed JSON POSTs, sent in the background with retries.

Every POST carries, besides ``Content-Type: application/json``:

- ``X-Pathtolive-Timestamp``: the Unix time (whole seconds) the attempt was made;
- ``X-Pathtolive-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed by the shared
  secret (``PATHTOLIVE_WEBHOOK_SECRET``), of ``f"{timestamp}.".encode() + body``;
- ``X-Pathtolive-Delivery``: an id that stays the same across the retries of one alert,
  so a receiver can drop a duplicate when its answer to an earlier attempt was lost;
- ``X-Pathtolive-Alert``: the alert's id.

The signature covers the timestamp as well as the body, so a captured request cannot be
replayed later: a receiver checks both with :func:`verify`, which refuses a timestamp
further than ``tolerance_s`` (five minutes) from its own clock and compares in constant
time. A receiver in Python::

    from pathtolive.monitoring.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

    if not verify(body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], secret):
        return 401

Elsewhere: recompute ``HMAC-SHA256(secret, timestamp + "." + raw_body)`` and compare it
with the header's hex digest.

:class:`WebhookSender` never makes its caller wait: :meth:`~WebhookSender.send` queues the
alert and a daemon thread delivers it, retrying connection errors, timeouts, 5xx and 429
with exponential backoff and jitter (honouring ``Retry-After``); any other 4xx, and a
redirect, is final. The secret and the URL's path and query (which often hold a token
themselves) never reach the logs.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, Final
from urllib.parse import urlsplit

from pathtolive import env
from pathtolive.errors import ConfigError

__all__ = [
    "ALERT_HEADER",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookSender",
    "sign",
    "signature_headers",
    "verify",
]

SIGNATURE_HEADER: Final = "X-Pathtolive-Signature"
TIMESTAMP_HEADER: Final = "X-Pathtolive-Timestamp"
DELIVERY_HEADER: Final = "X-Pathtolive-Delivery"
ALERT_HEADER: Final = "X-Pathtolive-Alert"

_MAX_DELAY = 60.0
"""Longest wait between two attempts, whatever the backoff or Retry-After says."""
_MAX_RESPONSE_BYTES = 64 * 1024
_TIMESTAMP = re.compile(r"^[0-9]{1,20}$")

logger = logging.getLogger(__name__)


def _key(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(body: bytes, secret: bytes | str) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed by ``secret``.

    A webhook signs ``f"{timestamp}.".encode() + body``, not the body alone: see
    :func:`signature_headers` and :func:`verify`."""
    return "sha256=" + hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def _signed_content(timestamp: int | str, body: bytes) -> bytes:
    return f"{timestamp}.".encode("ascii") + body


def signature_headers(body: bytes, secret: bytes | str, *, timestamp: int) -> dict[str, str]:
    """The timestamp and signature headers of a webhook POST of ``body`` at ``timestamp``
    (Unix seconds)."""
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(_signed_content(timestamp, body), secret),
    }


def verify(
    body: bytes,
    timestamp: str | int | None,
    signature: str | None,
    secret: bytes | str,
    *,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` (the ``X-Pathtolive-Signature`` header) signs ``body`` sent
    at ``timestamp`` (the ``X-Pathtolive-Timestamp`` header) with ``secret``, and the
    timestamp is within ``tolerance_s`` seconds of ``now`` (default: the clock), so that
    an old request replayed is refused. Missing or malformed headers are refused too."""
    if timestamp is None or signature is None:
        return False
    text = str(timestamp)
    if _TIMESTAMP.match(text) is None:
        return False
    current = time.time() if now is None else now
    if abs(current - int(text)) > tolerance_s:
        return False
    expected = sign(_signed_content(text, body), secret)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


@dataclass(frozen=True)
class _Delivery:
    alert_id: int
    body: bytes
    delivery_id: str


@dataclass(frozen=True)
class _Attempt:
    delivered: bool
    retry: bool
    outcome: str
    retry_after: float | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new address to send a signed alert to."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookSender:
    """Delivers alerts to ``url`` in a background thread; see the module's docstring.

    ``retries`` is how many times a failed attempt is repeated (so at most
    ``retries + 1`` attempts); the n-th retry waits about ``backoff * 2**(n-1)`` seconds
    (between half and all of it, at random, and at most a minute). ``timeout`` bounds each
    attempt. ``on_result(alert_id, delivered)`` is called from the sender's thread once
    per alert sent, when it was delivered or given up on."""

    def __init__(
        self,
        url: str,
        secret: bytes | str,
        *,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 5.0,
        on_result: Callable[[int, bool], None] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"alert webhook {url!r} is not an http:// or https:// URL")
        if not _key(secret):
            raise ConfigError(
                f"alert webhooks are signed: set {env.ALERT_WEBHOOK_SECRET} to a secret "
                "shared with the receiver"
            )
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("retries and backoff must not be negative, timeout positive")
        self.url = url
        self.target = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        """The URL without user, path or query: what logs may show."""
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._secret = _key(secret)
        self._on_result = on_result
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._queue: SimpleQueue[_Delivery | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._abort = threading.Event()

    def __repr__(self) -> str:
        return f"WebhookSender({self.target!r}, retries={self.retries})"

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the caller's side -------------------------------------------------------------

    def send(self, alert_id: int, payload: Mapping[str, Any]) -> None:
        """Queue ``payload`` (JSON-serialisable; datetimes become strings) for delivery
        and return at once."""
        body = json.dumps(dict(payload), sort_keys=True, default=str).encode("utf-8")
        with self._lock:
            if self._closed:
                raise RuntimeError("the webhook sender is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pathtolive-webhook", daemon=True
                )
                self._thread.start()
            self._queue.put(_Delivery(alert_id, body, uuid.uuid4().hex))

    def close(self, timeout: float = 10.0) -> bool:
        """Stop taking alerts and wait up to ``timeout`` seconds for those queued to be
        delivered or given up on. True when all were; otherwise the rest are given up on
        (reported undelivered) as soon as the attempt under way ends."""
        with self._lock:
            already = self._closed
            self._closed = True
            thread = self._thread
            if not already and thread is not None:
                self._queue.put(None)
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            self._abort.set()
            return False
        return True

    # -- the sender's thread -----------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            delivered = False
            try:
                delivered = not self._abort.is_set() and self._deliver(item)
            except Exception:  # a bug must not stop the deliveries queued after it
                logger.exception("alert %s: webhook delivery failed unexpectedly", item.alert_id)
            self._report(item.alert_id, delivered)

    def _report(self, alert_id: int, delivered: bool) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(alert_id, delivered)
        except Exception:
            logger.exception("alert %s: the webhook's result callback failed", alert_id)

    def _deliver(self, item: _Delivery) -> bool:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            result = self._attempt(item)
            if result.delivered:
                logger.info(
                    "alert %s delivered to %s (attempt %d)", item.alert_id, self.target, attempt
                )
                return True
            if not result.retry or attempt == attempts:
                logger.warning(
                    "alert %s not delivered to %s after %d attempt%s: %s",
                    item.alert_id,
                    self.target,
                    attempt,
                    "" if attempt == 1 else "s",
                    result.outcome,
                )
                return False
            delay = self._delay(attempt, result.retry_after)
            logger.info(
                "alert %s: %s answered %s; retrying in %.1fs",
                item.alert_id,
                self.target,
                result.outcome,
                delay,
            )
            if self._abort.wait(delay):
                logger.warning(
                    "alert %s not delivered to %s: the sender closed", item.alert_id, self.target
                )
                return False
        return False  # pragma: no cover - the loop always returns

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(_MAX_DELAY, self.backoff * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, _MAX_DELAY)

    def _attempt(self, item: _Delivery) -> _Attempt:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pathtolive-webhook",
            DELIVERY_HEADER: item.delivery_id,
            ALERT_HEADER: str(item.alert_id),
            **signature_headers(item.body, self._secret, timestamp=int(time.time())),
        }
        request = urllib.request.Request(self.url, data=item.body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(_MAX_RESPONSE_BYTES)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            try:
                status = int(exc.code)
                retry = status >= 500 or status == 429
                retry_after = _retry_after(exc.headers.get("Retry-After")) if retry else None
                return _Attempt(False, retry, f"HTTP {status}", retry_after)
            finally:
                exc.close()
        except (OSError, http.client.HTTPException) as exc:
            # Connection refused or reset, a timeout, a TLS failure, a broken response.
            reason = getattr(exc, "reason", None) or exc
            return _Attempt(False, True, f"{type(exc).__name__}: {reason}")
        if 200 <= status < 300:
            return _Attempt(True, False, f"HTTP {status}")
        return _Attempt(False, status >= 500, f"HTTP {status}")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the HTTP-date form is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
