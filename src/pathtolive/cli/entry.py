"""The console scripts' entry point: the command line, then a quick exit.

When a command has finished, everything it does is done: its threads have ended, its
files are closed, its database connections are returned and closed. What the
interpreter would still do is free every object of every module it imported, which for
the libraries a command imports (NumPy, Arrow, SQLAlchemy) takes a tenth of a second or
more: as long as some commands take in all. So once every exit handler has run, the
process leaves at once, with the command's exit status.

This module imports nothing of its own before registering that handler: handlers run in
the reverse order of registration, so the first one registered runs last, after those of
every library the command imports.
"""

from __future__ import annotations

import atexit
import os
import sys
from contextlib import suppress

__all__ = ["main"]

_status: list[int] = [1]  # until the command says otherwise (an uncaught exception is 1)


def _leave() -> None:
    # Buffered output is the one thing the skipped teardown would still have written.
    for stream in (sys.stdout, sys.stderr):
        # A closed or broken pipe: there is nothing left to write to.
        with suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(_status[0])


atexit.register(_leave)


def main() -> None:
    """Run the command line (:func:`pathtolive.cli.main.run`) as the console scripts do."""
    from pathtolive.cli.main import run

    try:
        run()
    except SystemExit as exc:
        _status[0] = _exit_status(exc.code)
        raise
    _status[0] = 0


def _exit_status(code: object) -> int:
    """The status the interpreter gives ``sys.exit(code)``: None is 0, an integer is
    itself, anything else (a message, which it prints) is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1
