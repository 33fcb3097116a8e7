"""Alert webhooks: signed JSON POSTs, one attempt at a time.

Every POST carries, besides ``Content-Type: application/json``:

- ``X-Pathtolive-Timestamp``: the Unix time (whole seconds) the attempt was made;
- ``X-Pathtolive-Signature``: ``sha256=`` and the hex HMAC-SHA256, keyed by the shared
  secret (``PATHTOLIVE_WEBHOOK_SECRET``), of ``f"{timestamp}.".encode() + body``;
- ``X-Pathtolive-Delivery``: an id that stays the same across every attempt to deliver
  one alert (it is kept in the database), so a receiver drops a duplicate when its answer
  to an earlier attempt was lost;
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

Only a 2xx delivers an alert; a redirect is not followed. :class:`WebhookClient` makes
one attempt per call and never waits between attempts: undelivered alerts wait in the
database's outbox, retried by every ``monitor`` run and ``watch`` round after
:func:`retry_delay` (exponential backoff with jitter, honouring ``Retry-After``). The
secret and the URL's path and query (which often hold a token themselves) never reach
the logs or the recorded errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from pathtolive import env
from pathtolive.errors import ConfigError

if TYPE_CHECKING:
    import urllib.request

__all__ = [
    "ALERT_HEADER",
    "DEFAULT_DELIVERY_BUDGET",
    "DELIVERY_HEADER",
    "MAX_RETRY_DELAY",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryResult",
    "WebhookClient",
    "alert_body",
    "retry_delay",
    "sign",
    "signature_headers",
    "verify",
]

SIGNATURE_HEADER: Final = "X-Pathtolive-Signature"
TIMESTAMP_HEADER: Final = "X-Pathtolive-Timestamp"
DELIVERY_HEADER: Final = "X-Pathtolive-Delivery"
ALERT_HEADER: Final = "X-Pathtolive-Alert"

DEFAULT_DELIVERY_BUDGET: Final = 5.0
"""Seconds a ``monitor`` run or a ``watch`` round spends on webhook deliveries at most."""
MAX_RETRY_DELAY: Final = 3600.0
"""Longest wait between two attempts, whatever the backoff or Retry-After says."""
_MAX_RESPONSE_BYTES = 64 * 1024
_TIMESTAMP = re.compile(r"^[0-9]{1,20}$")


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
class DeliveryResult:
    """What one attempt got: ``delivered`` only on a 2xx; ``outcome`` says what came
    back (``HTTP 503``, ``TimeoutError: timed out``) and never holds the URL or secret;
    ``retry_after`` is the receiver's ``Retry-After`` in seconds, when it gave one."""

    delivered: bool
    outcome: str
    retry_after: float | None = None


def _opener_without_redirects() -> urllib.request.OpenerDirector:
    """An opener that takes a redirect for an answer, not a new address to send a signed
    alert to. The HTTP client (with ssl) is imported here, when a webhook is configured:
    the commands that only read this module's settings do not load it."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect())


class WebhookClient:
    """Posts signed alerts to ``url``, one attempt per call; see the module's docstring.

    ``timeout`` bounds each attempt (a call may bound it further). The client neither
    waits nor retries: the outbox (:mod:`pathtolive.service.alerts`) decides when an
    alert is tried again, with :func:`retry_delay`."""

    def __init__(self, url: str, secret: bytes | str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"alert webhook {url!r} is not an http:// or https:// URL")
        if not _key(secret):
            raise ConfigError(
                f"alert webhooks are signed: set {env.ALERT_WEBHOOK_SECRET} to a secret "
                "shared with the receiver"
            )
        if timeout <= 0:
            raise ValueError("a webhook's timeout must be positive")
        self.url = url
        self.target = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        """The URL without user, path or query: what logs may show."""
        self.timeout = timeout
        self._secret = _key(secret)
        self._opener = _opener_without_redirects()

    def __repr__(self) -> str:
        return f"WebhookClient({self.target!r})"

    def post(
        self, alert_id: int, delivery_id: str, body: bytes, *, timeout: float | None = None
    ) -> DeliveryResult:
        """One signed POST of ``body`` (JSON) for the alert, under ``delivery_id``."""
        import http.client
        import urllib.error
        import urllib.request

        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pathtolive-webhook",
            DELIVERY_HEADER: delivery_id,
            ALERT_HEADER: str(alert_id),
            **signature_headers(body, self._secret, timestamp=int(time.time())),
        }
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        limit = self.timeout if timeout is None else min(self.timeout, timeout)
        try:
            with self._opener.open(request, timeout=limit) as response:
                response.read(_MAX_RESPONSE_BYTES)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            try:
                status = int(exc.code)
                return DeliveryResult(
                    False, f"HTTP {status}", _retry_after(exc.headers.get("Retry-After"))
                )
            finally:
                exc.close()
        except (OSError, http.client.HTTPException) as exc:
            # Connection refused or reset, a timeout, a TLS failure, a broken response.
            reason = getattr(exc, "reason", None) or exc
            return DeliveryResult(False, f"{type(exc).__name__}: {reason}")
        return DeliveryResult(200 <= status < 300, f"HTTP {status}")


def alert_body(payload: Mapping[str, Any]) -> bytes:
    """``payload`` as the JSON a webhook POSTs (datetimes become strings)."""
    return json.dumps(dict(payload), sort_keys=True, default=str).encode("utf-8")


def retry_delay(
    attempts: int,
    *,
    backoff: float,
    retry_after: float | None = None,
    longest: float = MAX_RETRY_DELAY,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: ``backoff`` doubled for
    each attempt before it (between half and all of it, at random, so that alerts that
    failed together are not retried in one burst), at least the receiver's
    ``Retry-After``, and at most ``longest``."""
    if attempts < 1:
        raise ValueError(f"a delay follows an attempt; attempts = {attempts}")
    delay = min(longest, backoff * 2.0 ** min(attempts - 1, 60)) * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, longest)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the HTTP-date form is ignored)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
