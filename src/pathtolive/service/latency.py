"""Prediction latency of a model version, measured in a separate, clean process.

The probe runs in a child forked by a probe server (see
:mod:`pathtolive.service.latency_probe`): one interpreter per calling process, started on
first use, that has imported the probe and the libraries models are loaded with and does
nothing else. A child starts clean, as a new interpreter would, without paying the
interpreter's start-up and imports on every gate check: the controller, the console and a
test run check gates many times in one process.

- The server is a plain subprocess, not a multiprocessing fork server: that one would
  import the caller's ``__main__`` script again in every child.
- It starts with the environment and working directory of the context it first probes
  for, and again whenever what an interpreter reads only at start-up differs
  (``PYTHON*`` and the numeric libraries' thread counts, for example the
  ``OMP_NUM_THREADS=1`` a caller sets when it shares the machine with a server); the
  rest of the environment, and the folder, travel with each request.
- It shares the caller's process group (killing the group kills it) and ends when the
  caller does (its input closes). A forked caller does not share its parent's server.
- Probes of one process run one at a time: two at once would time each other's load.
- A server that dies or garbles an answer is replaced and the probe tried once more;
  only a second failure is reported, as a model that did not load and answer.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from pathtolive import env
from pathtolive.entities import ModelVersion
from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.format import first_line
from pathtolive.redaction import redact
from pathtolive.service.context import ServiceContext
from pathtolive.service.gc import work_folder_prefix
from pathtolive.service.latency_probe import SERVE_FLAG

__all__ = ["latency_budget", "measure_latency", "start_probe_server"]

_TIMEOUT_SECONDS = 600.0
_ANSWER_GRACE_SECONDS = 60.0
"""How long past a probe's own limit the server may take to answer before it is
considered gone (it stops the child itself at the limit)."""
_START_UP_PREFIXES = ("PYTHON", "OMP_", "KMP_", "GOMP_", "OPENBLAS_", "MKL_", "BLIS_")
"""Environment variables read when an interpreter or a numeric library starts."""


def measure_latency(
    ctx: ServiceContext, version: ModelVersion, sample: pd.DataFrame
) -> dict[str, Any]:
    """p50/p95/p99 of single-row and 1000-row predictions, from a clean process that
    loads the artifact from the store as serving will. A model that fails to load or to
    answer there is reported as an :class:`InvalidInputError` naming the failure."""
    if sample.empty:
        raise InvalidInputError("latency needs at least one row of input to predict on")
    base = ctx.settings.state_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=work_folder_prefix("latency")) as folder:
        sample_path = Path(folder) / "sample.parquet"
        sample.to_parquet(sample_path, index=False)
        request = {
            "workspace": str(ctx.settings.root),
            "ref": version.ref,
            "sample": str(sample_path),
            "result": str(Path(folder) / "result.json"),
            "environ": _probe_environ(ctx),
            "cwd": os.getcwd(),
            "timeout": _TIMEOUT_SECONDS,
            "budget_seconds": latency_budget(ctx.settings.environ),
        }
        outcome = _PROBES.run(request)
    if isinstance(outcome, str):
        raise InvalidInputError(
            f"{version.ref} did not load and answer in a clean process: {outcome}"
        )
    return outcome


def latency_budget(environ: Mapping[str, str]) -> float | None:
    """The probe's timing budget from ``PATHTOLIVE_LATENCY_BUDGET_SECONDS``; None (the
    probe's defaults) when unset; a :class:`ConfigError` when it is not seconds."""
    raw = environ.get(env.LATENCY_BUDGET, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError(
            f"{env.LATENCY_BUDGET}={raw!r} is not a number of seconds; set it to 0 or more "
            "(0 times only the fewest calls), or unset it for the defaults"
        )
    return seconds


def start_probe_server(ctx: ServiceContext) -> None:
    """Start the probe server for ``ctx`` now, without waiting for it: its imports (two to
    three seconds) then overlap the caller's work before its first probe. It only
    imports; nothing is timed until a probe is asked for."""
    _PROBES.start({"environ": _probe_environ(ctx), "cwd": os.getcwd()})


class _ServerGone(Exception):
    pass


class _ProbeServer:
    """The calling process's probe server, started on first use and again when it died
    or when the start-up part of the environment changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_for: dict[str, str] = {}
        self._log: IO[bytes] | None = None
        self._pending = b""

    def run(self, request: dict[str, Any]) -> dict[str, Any] | str:
        """The probe's figures, or the line that says why it failed."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    answer = self._exchange(request)
                    break
                except (_ServerGone, OSError, ValueError, KeyError) as exc:
                    why = self._last_words() or redact(first_line(exc))
                    self.close()
                    if attempt == 2:
                        return f"the probe server failed twice ({why})"
                except BaseException:  # an interrupt: stop the probe, start clean next time
                    self.close()
                    raise
        if answer["timed_out"]:
            return f"no answer within {request['timeout']:.0f} s"
        result = Path(request["result"])
        if not result.exists():  # the child died without a word (a crash in native code)
            return f"the probe process ended with exit code {answer['exit']}"
        outcome: dict[str, Any] | str = json.loads(result.read_text(encoding="utf-8"))
        return outcome

    def start(self, request: dict[str, Any]) -> None:
        """The server for ``request``'s start-up environment, started if it is not running."""
        with self._lock:
            self._running(request)

    def close(self) -> None:
        """Stop the server, and a probe it is running (it would end with this process
        anyway)."""
        process, self._process, self._pending = self._process, None, b""
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()  # the server ends with its input
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def forget(self) -> None:
        """In a forked child: let go of the parent's server without touching it (its
        pipes closed here, so the child does not keep it alive)."""
        self._lock = threading.Lock()
        process, self._process, self._pending = self._process, None, b""
        if process is not None:
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        process = self._running(request)
        assert process.stdin is not None
        process.stdin.write(json.dumps(request).encode() + b"\n")
        process.stdin.flush()
        child = int(self._answer(process, _ANSWER_GRACE_SECONDS)["pid"])
        try:
            limit = float(request["timeout"]) + _ANSWER_GRACE_SECONDS
            ended = self._answer(process, limit)
        except BaseException:
            # The server is failing or this process is interrupted: stop the child before
            # the server (which, while alive, is the one that would reap it).
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            raise
        return {"exit": int(ended["exit"]), "timed_out": bool(ended["timed_out"])}

    def _running(self, request: dict[str, Any]) -> subprocess.Popen[bytes]:
        start_up = _start_up_part(request["environ"])
        alive = self._process is not None and self._process.poll() is None
        if alive and start_up == self._started_for:
            assert self._process is not None
            return self._process
        self.close()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pathtolive.service.latency_probe", SERVE_FLAG],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=request["environ"],
            cwd=request["cwd"],
            bufsize=0,
        )
        self._started_for = start_up
        return self._process

    def _answer(self, process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
        """The server's next answer line; :class:`_ServerGone` when it ended, or said
        nothing within ``timeout``."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._pending:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise _ServerGone(f"no answer within {timeout:.0f} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise _ServerGone(f"it exited with code {process.wait()}")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _last_words(self) -> str:
        """The last line the server wrote to its standard error, if any, secrets masked
        (it goes into the gate report, kept for every reader)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return redact(lines[-1]) if lines else ""


_SET_ON_IMPORT = {"KMP_DUPLICATE_LIB_OK": "True", "KMP_INIT_AT_FORK": "FALSE"}
"""What importing scikit-learn sets in ``os.environ`` when unset: the server imports it
too, so a caller that imported it since the server started needs no new server."""


def _start_up_part(environ: dict[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(_START_UP_PREFIXES) and _SET_ON_IMPORT.get(name) != value
    }


_PROBES = _ProbeServer()
"""The process's probe server: a resource of the process, as multiprocessing's fork
server is, not a setting."""
atexit.register(_PROBES.close)
os.register_at_fork(after_in_child=_PROBES.forget)


def _probe_environ(ctx: ServiceContext) -> dict[str, str]:
    """The environment of the probe: the context's, with the stores it was opened on, so
    stores given as flags (not in the environment) are the ones the probe reads."""
    environ = dict(ctx.settings.environ)
    environ[env.METADATA_URL] = ctx.settings.metadata_url
    environ[env.ARTIFACT_URL] = ctx.settings.artifact_url
    return environ
