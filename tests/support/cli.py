"""Drive the command line: in this process (the default), or as a real process.

A CLI call in this process runs ``pathtolive.cli.main.run(argv)`` as the console script
would, with its own working directory, environment, standard streams, logging handlers,
warning filters and process-wide gate catalog (a workspace's pipeline modules may
register gates when they are imported), all put back afterwards; its exit code is the
``SystemExit`` it ends with. That skips the interpreter's start-up (about a second per
call: pandas, SQLAlchemy and scikit-learn imports), which made up most of the functional
suite's time.

What only a real process shows — the installed entry points, signals (Ctrl-C, SIGTERM),
servers and watchers that run until stopped, crashes — goes through :func:`run_process`
or a process the test starts itself; such tests carry the ``subprocess`` marker, and
``subprocess(cli=True)`` switches the ``cli`` fixture to real processes too.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Result", "run_in_process", "run_process"]

_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_process(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    input: str | None = None,
) -> Result:
    """``python -m pathtolive ARGS`` in a new interpreter."""
    completed = subprocess.run(
        [sys.executable, "-m", "pathtolive", *map(str, args)],
        cwd=cwd,
        env=dict(environ),
        capture_output=True,
        text=True,
        input=input,
        timeout=_TIMEOUT_SECONDS,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def run_in_process(
    args: Sequence[str | Path],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    input: str | None = None,
) -> Result:
    """The console script's entry point called in this process, as if it were a new one."""
    from pathtolive.cli.main import run

    with _as_a_new_process(cwd, environ, input) as (stdout, stderr):
        try:
            run([str(arg) for arg in args])
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc, stderr)
    return Result(code, stdout.getvalue(), stderr.getvalue())


def _exit_code(exc: SystemExit, stderr: io.StringIO) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    stderr.write(f"{exc.code}\n")  # what the interpreter does with sys.exit("message")
    return 1


class _Stdin(io.StringIO):
    """Standard input with a file descriptor's answer to ``isatty``, as a pipe gives."""

    def isatty(self) -> bool:
        return False


@contextmanager
def _as_a_new_process(
    cwd: Path, environ: Mapping[str, str], input: str | None
) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    from pathtolive.gates import DEFAULT_CATALOG

    saved_gates = {name: DEFAULT_CATALOG.get(name) for name in DEFAULT_CATALOG.names()}
    saved_environ = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)  # first: a folder that is not there changes nothing else
        _set_environ(environ)
        sys.stdin, sys.stdout, sys.stderr = _Stdin(input or ""), stdout, stderr
        # The entry point configures logging (basicConfig) as a new process would: on a
        # root logger without handlers, writing to this call's stderr.
        root.handlers = []
        with warnings.catch_warnings():
            _default_warning_filters()
            yield stdout, stderr
    finally:
        for name in DEFAULT_CATALOG.names():
            if name not in saved_gates:
                DEFAULT_CATALOG.unregister(name)
        for gate in saved_gates.values():
            DEFAULT_CATALOG.register(gate, replace=True)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        _set_environ(saved_environ)


def _set_environ(environ: Mapping[str, str]) -> None:
    """Make ``os.environ`` equal ``environ`` key by key, never empty in between: a server
    thread of the test may read it meanwhile."""
    for name in [name for name in os.environ if name not in environ]:
        del os.environ[name]
    for name, value in environ.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def _default_warning_filters() -> None:
    """The filters a new interpreter starts with (the test run turns warnings into
    errors; a CLI process prints them)."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
        warnings.filterwarnings("ignore", category=category)
    warnings.filterwarnings("ignore", category=ResourceWarning)
    warnings.showwarning = _print_warning


def _print_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
