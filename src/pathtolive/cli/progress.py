"""Progress of long commands, on stderr only: stdout (and ``--json``) stays the result.

On a terminal, a transient Rich line shows the stage, a bar, the amount done (bytes or
items), the elapsed time and, once a rate is known, the time left; it disappears when
the command is done. Anywhere else (a pipe, a log file, a test) nothing is shown unless
asked for with ``--progress`` or ``PATHTOLIVE_PROGRESS=on``, and then as plain lines.
``--no-progress`` or ``PATHTOLIVE_PROGRESS=off`` turn it off everywhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pathtolive import env
from pathtolive import progress as progress_events
from pathtolive.cli.output import err_console
from pathtolive.progress import Unit

__all__ = ["Mode", "finish", "mode", "showing_progress"]

Mode = Literal["rich", "lines", "off"]

_ON = ("on", "1", "true", "yes", "always")
_OFF = ("off", "0", "false", "no", "never")
_LINE_EVERY_SECONDS = 1.0
"""Plain lines are for logs: at most one progress line a second per stage."""


def mode(flag: bool | None) -> Mode:
    """How progress is shown: ``flag`` is ``--progress``/``--no-progress`` (None when
    neither was given), then ``PATHTOLIVE_PROGRESS``, then whether stderr is a terminal."""
    setting = os.environ.get(env.PROGRESS, "").strip().lower()
    wanted = flag if flag is not None else (True if setting in _ON else None)
    if flag is False or (flag is None and setting in _OFF):
        return "off"
    if err_console.is_terminal:
        return "rich"
    return "lines" if wanted else "off"


class _Amount(ProgressColumn):
    """The amount done: bytes as "12.3/100.0 MB", items as "3/7", nothing when unsized."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        if task.fields.get("unit") == "bytes":
            return Text(f"{decimal(int(task.completed))}/{decimal(int(task.total))}")
        return Text(f"{int(task.completed)}/{int(task.total)}")


class _RichProgress:
    """One transient line for the current stage; started at the first stage, so a
    command that reports none never touches the terminal."""

    def __init__(self) -> None:
        self._display: Progress | None = None
        self._task: object = None

    def stage(self, description: str, *, total: int | None = None, unit: Unit = "items") -> None:
        if self._display is None:
            self._display = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                _Amount(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
                # Never take over the standard streams: stdout is the command's result.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._display.start()
        if self._task is not None:
            self._display.remove_task(self._task)  # type: ignore[arg-type]
        self._task = self._display.add_task(escape(description), total=total, unit=unit)

    def note(self, description: str) -> None:
        if self._display is not None and self._task is not None:
            self._display.update(self._task, description=escape(description))  # type: ignore[arg-type]

    def advance(self, amount: int) -> None:
        if self._display is not None and self._task is not None:
            self._display.advance(self._task, amount)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None
            self._task = None


class _LineProgress:
    """Plain lines on stderr: each stage as it starts, the amount done and the time left
    at most once a second, and how long each stage took."""

    def __init__(self) -> None:
        self._description: str | None = None
        self._total: int | None = None
        self._unit: Unit = "items"
        self._done = 0
        self._started = 0.0
        self._last_line = 0.0

    def stage(self, description: str, *, total: int | None = None, unit: Unit = "items") -> None:
        self.close()
        self._description, self._total, self._unit, self._done = description, total, unit, 0
        self._started = self._last_line = time.monotonic()
        self._write(f"{description}{self._amount()}")

    def note(self, description: str) -> None:
        if self._description is not None:
            self._description = description

    def advance(self, amount: int) -> None:
        if self._description is None:
            return
        self._done += amount
        now = time.monotonic()
        if now - self._last_line < _LINE_EVERY_SECONDS:
            return
        self._last_line = now
        elapsed = now - self._started
        line = f"{self._description}{self._amount()}, {elapsed:.1f} s elapsed"
        if self._total and self._done:
            left = elapsed * (self._total - self._done) / self._done
            line += f", about {left:.1f} s left"
        self._write(line)

    def close(self) -> None:
        if self._description is not None:
            elapsed = time.monotonic() - self._started
            self._write(f"{self._description}{self._amount()}: done in {elapsed:.1f} s")
        self._description = None

    def _amount(self) -> str:
        if self._total is None:
            return ""
        if self._unit == "bytes":
            return f" ({decimal(self._done)} of {decimal(self._total)})"
        return f" ({self._done} of {self._total})"

    def _write(self, line: str) -> None:
        err_console.print(f"progress: {escape(line)}", soft_wrap=True)


_shown: list[_RichProgress | _LineProgress] = []


@contextmanager
def showing_progress(shown: Mode) -> Iterator[None]:
    """Report the stages of what runs inside the block as ``shown`` says."""
    if shown == "off":
        yield
        return
    listener = _RichProgress() if shown == "rich" else _LineProgress()
    _shown.append(listener)
    try:
        with progress_events.reporting(listener):
            yield
    finally:
        _shown.remove(listener)
        listener.close()


def finish() -> None:
    """End the progress display before the result is printed, so that the two do not
    interleave on a terminal."""
    for listener in _shown:
        listener.close()
