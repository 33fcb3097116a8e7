"""The console scripts' entry point: the command line, then a quick exit.

When a command has finished, everything it does is done: its threads have ended, its
files are closed, its database connections are returned and closed. What the
interpreter would still do is free every object of every module it imported, which for
the libraries a command imports (NumPy, Arrow, SQLAlchemy) takes a tenth of a second or
more: as long as some commands take in all. So once every exit handler has run, the
process leaves at once, with the command's exit status.

Handlers run in the reverse order of registration: this one, registered before the
command's modules are imported, runs after the handlers of every library the command
imports. The one registered before it (logging's, by the package itself) it runs itself.
"""

from __future__ import annotations

import atexit
import os
import sys
from contextlib import suppress

__all__ = ["main"]

_status: list[int] = [1]  # until the command says otherwise (an uncaught exception is 1)
# The process that runs the command. A child started by spawning (a Dask worker, a
# server's worker) imports the console script, and so this module, again: there the
# handler leaves the exit to the interpreter, with the child's own status.
_command_pid: list[int | None] = [None]


def _leave() -> None:
    if _command_pid[0] != os.getpid():
        return
    # The package imported logging (for its secret masking) before this module: its own
    # exit handler, which flushes and closes the log handlers, would run after this one.
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
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

    _command_pid[0] = os.getpid()
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
