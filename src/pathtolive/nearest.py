"""Which known name a misspelt one was meant to be: for "did you mean" in error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "nearest_first"]

_CLOSE_ENOUGH = 0.6
"""difflib's ratio from which a known name is offered as the one meant ("serv" and
"serve" score 0.89, "strickt" and "strict" 0.92); below it the suggestion would be a
guess, and the message lists the known names instead."""


def _likeness(word: str, candidate: str) -> float:
    return difflib.SequenceMatcher(None, word.lower(), candidate.lower()).ratio()


def nearest_first(word: str, candidates: Iterable[str]) -> list[str]:
    """``candidates``, the most like ``word`` first (ties keep their given order)."""
    listed = list(dict.fromkeys(candidates))
    return sorted(listed, key=lambda candidate: -_likeness(word, candidate))


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``word`` was most likely meant to be, or None when none is close."""
    ranked = nearest_first(word, candidates)
    if ranked and _likeness(word, ranked[0]) >= _CLOSE_ENOUGH:
        return ranked[0]
    return None
