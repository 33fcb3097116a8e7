"""What a step prints and logs, kept with its record, bounded to the last part.

Captured: writes to ``sys.stdout`` and ``sys.stderr`` (``print``, warnings) and ``logging``
records at or above their logger's level (the root logger's is WARNING unless the code
configures logging, e.g. ``logging.basicConfig(level=logging.INFO)``). Not captured: what
native libraries or subprocesses write to the file descriptors directly.

Only the last :data:`LOG_LIMIT` characters are kept: a step that prints a progress line per
row must not fill the metadata store, and the end is where the error is.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import TextIO

from pathtolive.redaction import redact

__all__ = ["LOG_LIMIT", "Tail", "capture_logs"]

LOG_LIMIT = 64 * 1024
"""Characters of a step's output kept: the last 64 Ki."""

_FORMAT = "%(levelname)s %(name)s: %(message)s"


class Tail:
    """The last ``limit`` characters written, and how many were dropped before them."""

    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self.limit = limit
        self.dropped = 0
        self._chunks: deque[str] = deque()
        self._size = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Append ``text``, dropping the oldest characters beyond the limit."""
        if not text:
            return
        with self._lock:
            self._chunks.append(text)
            self._size += len(text)
            while self._size > self.limit:
                excess = self._size - self.limit
                first = self._chunks[0]
                if len(first) <= excess:
                    self._chunks.popleft()
                    self._size -= len(first)
                    self.dropped += len(first)
                else:
                    self._chunks[0] = first[excess:]
                    self._size -= excess
                    self.dropped += excess

    def text(self) -> str:
        """What was kept, after a note of how much was dropped, if any; secrets of the
        environment and URL passwords the step printed are masked (the record is shared
        with every reader of the workspace)."""
        with self._lock:
            kept = redact("".join(self._chunks))
            dropped = self.dropped
        if dropped:
            return f"[... {dropped} earlier characters dropped ...]\n{kept}"
        return kept


class _Tee(io.TextIOBase):
    """A text stream that writes to the tail and, when echoing, to the real stream."""

    def __init__(self, tail: Tail, echo: TextIO | None) -> None:
        super().__init__()
        self._tail = tail
        self._echo = echo

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._tail.write(text)
        if self._echo is not None:
            self._echo.write(text)
        return len(text)

    def flush(self) -> None:
        if self._echo is not None:
            self._echo.flush()


class _TailHandler(logging.Handler):
    def __init__(self, tail: Tail) -> None:
        super().__init__(logging.NOTSET)
        self._tail = tail
        self.setFormatter(logging.Formatter(_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._tail.write(self.format(record) + "\n")
        except Exception:  # logging must never break the step; the stdlib does the same
            self.handleError(record)


@contextmanager
def capture_logs(tail: Tail, *, echo: bool = False) -> Iterator[Tail]:
    """Capture output and log records written in the ``with`` block into ``tail``.

    ``echo`` also writes the output to the real streams, for a user watching a run. Log
    records reach the handlers the program configured either way, as they always do.
    """
    stdout = _Tee(tail, sys.stdout if echo else None)
    stderr = _Tee(tail, sys.stderr if echo else None)
    handler = _TailHandler(tail)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            yield tail
    finally:
        root.removeHandler(handler)
