"""API token secrets: made here, shown once, stored only as a SHA-256 hash.

Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force,
unlike a password.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["TOKEN_PREFIX", "hash_token", "new_token", "new_token_id"]

TOKEN_PREFIX = "ptl_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    return "tok_" + secrets.token_hex(6)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
