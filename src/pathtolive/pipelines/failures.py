"""How a failing step is reported: one line for the run's summary, the traceback from the
user's code down for its record; the same words whether the step ran here or on a worker."""

from __future__ import annotations

import traceback
from collections.abc import Collection
from types import TracebackType

from pathtolive.redaction import redact

__all__ = ["one_line", "traceback_text"]


def one_line(exc: BaseException) -> str:
    """``ValueError: the first line of its message``, with secrets masked."""
    text = redact(str(exc)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def traceback_text(exc: BaseException, skipped: Collection[str]) -> str:
    """The traceback of ``exc`` starting at the first frame outside the files ``skipped``
    (pathtolive's own frames that ran the step say nothing to the reader)."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in skipped:
        tb = tb.tb_next
    return redact("".join(traceback.format_exception(type(exc), exc, tb)))
