"""Bearer tokens on the server's endpoints.

A token is looked up once and its answer kept for ``ttl`` seconds, so a busy server does
not read the database on every request; a revoked token stops working within ``ttl``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pathtolive.auth import Actor, Permission, roles_allowed
from pathtolive.errors import AuthenticationError, PathToLiveError, PermissionDeniedError
from pathtolive.service.context import ServiceContext
from pathtolive.service.servables import authenticate

__all__ = ["TokenGate"]


@dataclass(eq=False)
class TokenGate:
    """Checks ``Authorization: Bearer <token>`` when ``required``; otherwise every
    request acts as whoever started the server."""

    ctx: ServiceContext
    required: bool
    ttl: float = 5.0
    _cache: dict[str, tuple[float, Actor | PathToLiveError]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, header: str | None, permission: Permission, doing: str) -> Actor:
        """The actor the ``Authorization`` header names, if it may ``permission``."""
        if not self.required:
            return self.ctx.actor()
        actor = self.authenticate(header)
        self.permit(actor, permission, doing)
        return actor

    def authenticate(self, header: str | None) -> Actor:
        """The actor a required ``Authorization: Bearer`` header names;
        ``AuthenticationError`` without a valid one."""
        if not header:
            raise AuthenticationError(
                "this server needs a token: send 'Authorization: Bearer <token>' "
                "(create one with 'pathtolive tokens create')"
            )
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        return self._actor(secret)

    @staticmethod
    def permit(actor: Actor, permission: Permission, doing: str) -> None:
        """``PermissionDeniedError`` unless ``actor``'s role allows ``permission``."""
        if not actor.can(permission):
            needed = " or ".join(role.value for role in roles_allowed(permission))
            raise PermissionDeniedError(
                f"{actor.name} ({actor.role.value}) may not {doing}: it needs the role {needed}"
            )

    def _actor(self, secret: str) -> Actor:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(secret)
        if cached is None or now - cached[0] > self.ttl:
            answer: Actor | PathToLiveError
            try:
                answer = authenticate(self.ctx, secret)
            except AuthenticationError as exc:
                answer = exc
            with self._lock:
                if len(self._cache) > 10_000:  # a flood of made-up tokens must not grow it
                    self._cache.clear()
                self._cache[secret] = (now, answer)
            cached = (now, answer)
        result = cached[1]
        if isinstance(result, PathToLiveError):
            raise result
        return result
