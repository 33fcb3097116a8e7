"""Prediction latency of a model version, measured in a separate, clean process.

The probe runs in a child forked by a probe server (see
:mod:`pathtolive.service.latency_probe`): one interpreter per calling process, started on
first use, that has imported the probe and the libraries models are loaded with and does
nothing else. A child starts clean, as a new interpreter would, without paying the
interpreter's start-up and imports on every gate check: the controller, the console and a
test run check gates many times in one process.

The server is a plain subprocess (not a multiprocessing fork server, which would import
the caller's ``__main__`` script again in every child). It shares the caller's process
group and ends when the caller does (its input closes). Probes of one process run one at
a time: two at once would time each other's load.

The child reads the stores this context was opened on (given as flags or in the
environment), with this process's environment as it is now.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from pathtolive import env
from pathtolive.entities import ModelVersion
from pathtolive.errors import InvalidInputError
from pathtolive.service.context import ServiceContext
from pathtolive.service.latency_probe import SERVE_FLAG

__all__ = ["measure_latency"]

_TIMEOUT_SECONDS = 600.0


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
    with tempfile.TemporaryDirectory(dir=base, prefix="latency-") as folder:
        sample_path = Path(folder) / "sample.parquet"
        sample.to_parquet(sample_path, index=False)
        request = {
            "workspace": str(ctx.settings.root),
            "ref": version.ref,
            "sample": str(sample_path),
            "result": str(Path(folder) / "result.json"),
            "environ": _probe_environ(ctx),
        }
        outcome = _PROBES.run(request)
    if isinstance(outcome, str):
        raise InvalidInputError(
            f"{version.ref} did not load and answer in a clean process: {outcome}"
        )
    return outcome


class _ProbeServer:
    """The calling process's probe server, started on first use and again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pending = b""

    def run(self, request: dict[str, Any]) -> dict[str, Any] | str:
        """The probe's figures, or the line that says why it failed."""
        with self._lock:
            try:
                process = self._running()
                assert process.stdin is not None
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                child = self._answer(process, "pid")
                code = self._answer(process, "exit", _TIMEOUT_SECONDS)
                if code is None:  # no answer in time: the child is stopped, and says so
                    os.kill(child, signal.SIGKILL)
                    self._answer(process, "exit")
                    return f"no answer within {_TIMEOUT_SECONDS:.0f} s"
            except (OSError, ValueError, _ServerGone) as exc:
                self.close()
                return f"the probe server failed ({exc})"
        result = Path(request["result"])
        if not result.exists():  # the child died without a word (a crash in native code)
            return f"the probe process ended with exit code {code}"
        outcome: dict[str, Any] | str = json.loads(result.read_text(encoding="utf-8"))
        return outcome

    def close(self) -> None:
        """Stop the server (it would end with this process anyway)."""
        process, self._process, self._pending = self._process, None, b""
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the server ends with its input
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self.close()
            self._process = subprocess.Popen(
                [sys.executable, "-m", "pathtolive.service.latency_probe", SERVE_FLAG],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
            )
        return self._process

    def _answer(
        self, process: subprocess.Popen[bytes], key: str, timeout: float | None = None
    ) -> Any:
        """The value of ``key`` in the server's next answer line; None after ``timeout``."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._pending:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                raise _ServerGone(f"it exited with code {process.wait()}")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)[key]


class _ServerGone(Exception):
    pass


_PROBES = _ProbeServer()
"""One probe server per process, as multiprocessing keeps one fork server per process."""
atexit.register(_PROBES.close)


def _probe_environ(ctx: ServiceContext) -> dict[str, str]:
    """The environment of the probe: this process's, with the stores this context was
    opened on, so stores given as flags (not in the environment) are the ones it reads."""
    environ = dict(ctx.settings.environ)
    environ[env.METADATA_URL] = ctx.settings.metadata_url
    environ[env.ARTIFACT_URL] = ctx.settings.artifact_url
    return environ
