"""Where a long operation says how far it has got.

A service operation names its stages (``stage("measuring latency")``) and, for work whose
size is known, advances through it (``stage("reading loans.csv", total=size,
unit="bytes")`` then ``advance(n)``). Who listens is chosen by the caller for the
current context: the command line shows the stages on stderr (see
:mod:`pathtolive.cli.progress`); a notebook, a server or a test hears nothing, since the
default reporter is silent. The reporter lives in a context variable, so an operation
takes no extra parameter to report and two threads' operations do not mix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal, Protocol

__all__ = ["Progress", "Unit", "advance", "note", "reporting", "scaled", "stage"]

Unit = Literal["bytes", "items"]


class Progress(Protocol):
    """A listener for the stages of the operation in progress."""

    def stage(self, description: str, *, total: int | None = None, unit: Unit = "items") -> None:
        """A new stage begins (the previous one, if any, is done); ``total`` is its size
        when known, in ``unit``."""

    def advance(self, amount: int) -> None:
        """``amount`` more of the current stage's total is done."""


class _Silent:
    def stage(self, description: str, *, total: int | None = None, unit: Unit = "items") -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


_SILENT = _Silent()
_current: ContextVar[Progress | None] = ContextVar("pathtolive_progress", default=None)


def _listener() -> Progress:
    return _current.get() or _SILENT


@contextmanager
def reporting(progress: Progress) -> Iterator[Progress]:
    """Send the stages of what runs inside the block to ``progress``."""
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)


def stage(description: str, *, total: int | None = None, unit: Unit = "items") -> None:
    """Tell the current listener that a stage begins."""
    _listener().stage(description, total=total, unit=unit)


def advance(amount: int) -> None:
    """Tell the current listener that ``amount`` more of the stage is done."""
    _listener().advance(amount)


def note(description: str) -> None:
    """Describe the current stage anew (``scoring: 3 of 8 partitions``) without starting
    another: its amount done and its time carry on. A listener without a ``note`` method
    keeps the description it had."""
    renote = getattr(_listener(), "note", None)
    if callable(renote):
        renote(description)


class _Scaled:
    def __init__(self, inner: Progress, factor: float) -> None:
        self._inner = inner
        self._factor = factor
        self._carry = 0.0

    def stage(self, description: str, *, total: int | None = None, unit: Unit = "items") -> None:
        self._inner.stage(description, total=total, unit=unit)

    def note(self, description: str) -> None:
        renote = getattr(self._inner, "note", None)
        if callable(renote):
            renote(description)

    def advance(self, amount: int) -> None:
        self._carry += amount * self._factor
        whole = int(self._carry)
        self._carry -= whole
        self._inner.advance(whole)


@contextmanager
def scaled(factor: float) -> Iterator[None]:
    """Inside the block, each ``advance(n)`` counts as ``n * factor``: a stage sized in
    bytes whose work is counted in rows advances by each row's share of the bytes."""
    with reporting(_Scaled(_listener(), factor)):
        yield
