"""Canonical JSON: one byte string per plain value, for hashing params and cache keys.

A *plain* value is what JSON holds without loss: None, bool, int, finite float, str, and
lists and str-keyed dicts of them. Tuples are not plain here: JSON would turn them into
lists, and a step may well behave differently for the two, so they are fingerprinted
through :func:`pathtolive.pipelines.serialize.dumps` instead, which keeps the difference.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pathtolive.hashing import hash_bytes

__all__ = ["canonical_json", "is_plain", "json_digest"]


def is_plain(value: object) -> bool:
    """True when ``value`` survives a JSON round trip unchanged (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is list:
        return all(is_plain(item) for item in value)
    if type(value) is dict:
        return all(isinstance(key, str) and is_plain(item) for key, item in value.items())
    return False


def canonical_json(value: Any) -> bytes:
    """``value`` as compact JSON with sorted keys; ``ValueError`` for NaN or infinity."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode()


def json_digest(value: Any) -> str:
    """BLAKE3 digest of :func:`canonical_json` of ``value``."""
    return hash_bytes(canonical_json(value))
