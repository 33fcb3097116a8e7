"""Who is asking: the local user, or a session made from an API token.

Two modes, as on the CLI:

- **local** (loopback, no ``--auth``, and a workspace whose local users are trusted or a
  ``PATHTOLIVE_TOKEN`` in the environment): every request acts as the CLI would, with
  ``[auth] local_role`` or the environment's token. Requests must name a loopback host
  (``Host: 127.0.0.1:…``), so a web page elsewhere cannot reach the console through a
  name it rebinds to this machine.
- **signed in** (beyond loopback, with ``--auth``, or on a shared database without a
  token): a sign-in page takes an API token and answers with a session cookie (HttpOnly,
  SameSite=Strict, Secure behind HTTPS, expiring). The token stays in this process's
  memory only, and is checked against the store again at most every ``recheck`` seconds,
  so a revoked token ends its sessions within that time.

Either way every POST carries the visitor's CSRF token (one per session; one per
process in local mode), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from pathtolive.auth import Actor
from pathtolive.errors import AuthenticationError
from pathtolive.service.context import ServiceContext
from pathtolive.service.servables import authenticate

__all__ = [
    "SESSION_COOKIE",
    "SIGN_IN_COOKIE",
    "Session",
    "Sessions",
    "Visitor",
    "same_secret",
]

SESSION_COOKIE = "pathtolive_session"
SIGN_IN_COOKIE = "pathtolive_sign_in"
"""A random value set by the sign-in page and repeated in its form: a page elsewhere
cannot sign a browser in with the attacker's token (login CSRF)."""


def same_secret(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time that does not tell how much matched."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True)
class Visitor:
    """The principal a request acts for, and the CSRF token its forms carry."""

    actor: Actor
    csrf_token: str
    signed_in: bool
    """True for a session made from a token (it can sign out); False in local mode."""


@dataclass
class Session:
    """A signed-in browser: the token it signed in with (memory only) and its actor."""

    secret: str = field(repr=False)
    actor: Actor
    csrf_token: str = field(repr=False)
    expires_at: float
    checked_at: float


class Sessions:
    """The server-side sessions of one console process, keyed by a digest of the cookie
    (the cookie itself is never kept)."""

    def __init__(self, ctx: ServiceContext, *, lifetime: float, recheck: float) -> None:
        self.ctx = ctx
        self.lifetime = lifetime
        self.recheck = recheck
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, secret: str) -> tuple[str, Session]:
        """A new session for the token ``secret``: the cookie value and the session.
        ``AuthenticationError`` when the token is unknown or revoked."""
        actor = authenticate(self.ctx, secret)
        cookie = secrets.token_urlsafe(32)
        now = time.monotonic()
        session = Session(
            secret=secret,
            actor=actor,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + self.lifetime,
            checked_at=now,
        )
        with self._lock:
            self._drop_expired(now)
            self._sessions[_key(cookie)] = session
        return cookie, session

    def find(self, cookie: str | None) -> Session | None:
        """The live session of ``cookie``, its token checked again when the last check
        is more than ``recheck`` seconds old; None when there is none, it expired, or its
        token was revoked (the session is then gone for good). Reads the store: call it
        from a worker thread."""
        if not cookie:
            return None
        key = _key(cookie)
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and now >= session.expires_at:
                del self._sessions[key]
                session = None
        if session is None or now - session.checked_at < self.recheck:
            return session
        try:
            actor = authenticate(self.ctx, session.secret)
        except AuthenticationError:
            self.close(cookie)
            return None
        session.actor = actor  # a role changed in the store applies from now on
        session.checked_at = now
        return session

    def close(self, cookie: str) -> Session | None:
        """End the session of ``cookie``; the session it was, if any."""
        with self._lock:
            return self._sessions.pop(_key(cookie), None)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]


def _key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()
