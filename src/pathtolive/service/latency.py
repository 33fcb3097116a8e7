"""Prediction latency of a model version, measured in a separate, clean process.

The probe (:mod:`pathtolive.service.latency_probe`) runs in a process forked from a
multiprocessing *fork server*: one interpreter per calling process, started on first use,
that has imported the probe and the libraries models need and has done nothing else. A
probe child therefore starts clean (no model loaded, no thread running, no state of the
caller), as a new interpreter would, but without paying the interpreter's start-up and
imports (about a second and a half) on every gate check: the controller, the console and
a test run check gates many times in one process.

The child loads the artifact from the store exactly as serving will (hash checked, safe
format), which also proves that the artifact loads and answers, then times single-row
and batch predictions. It reads the stores this context was opened on (given as flags or
in the environment), and runs with this process's environment as it is now, not as it was
when the fork server started.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pandas as pd

from pathtolive import env
from pathtolive.entities import ModelVersion
from pathtolive.errors import InvalidInputError
from pathtolive.service.context import ServiceContext

__all__ = ["measure_latency"]

_TIMEOUT_SECONDS = 600
_PRELOAD = ("pathtolive.service.latency_probe",)
"""Imported once by the fork server (with pandas, the registry and the flavors), so that
probe children start with them."""

_start_lock = threading.Lock()


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
        path = Path(folder) / "sample.parquet"
        sample.to_parquet(path, index=False)
        outcome = _run_probe(ctx.settings.root, version.ref, path, _probe_environ(ctx))
    if isinstance(outcome, str):
        raise InvalidInputError(
            f"{version.ref} did not load and answer in a clean process: {outcome}"
        )
    return outcome


def _run_probe(root: Path, ref: str, sample: Path, environ: dict[str, str]) -> dict[str, Any] | str:
    """The probe's figures, or the line that says why it failed."""
    context = _fork_server()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_probe_child,
        args=(sender, str(root), ref, str(sample), environ),
        name="pathtolive-latency-probe",
        daemon=True,
    )
    child.start()
    sender.close()
    try:
        if not receiver.poll(_TIMEOUT_SECONDS):
            child.kill()
            return f"no answer within {_TIMEOUT_SECONDS} s"
        try:
            outcome: dict[str, Any] | str = receiver.recv()
        except EOFError:  # the child died without a word (a crash in native code, a kill)
            child.join()
            return f"the probe process ended with exit code {child.exitcode}"
        return outcome
    finally:
        receiver.close()
        child.join()
        child.close()


def _fork_server() -> Any:
    with _start_lock:
        context = multiprocessing.get_context("forkserver")
        # The preload list is read when the server starts, on first use.
        context.set_forkserver_preload(list(_PRELOAD))
        return context


def _probe_child(
    sender: Connection, root: str, ref: str, sample: str, environ: dict[str, str]
) -> None:
    from pathtolive.service.latency_probe import probe

    os.environ.clear()
    os.environ.update(environ)
    os.chdir(root)
    # What the model prints is not the caller's output (a new process's was captured).
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    os.close(quiet)
    try:
        outcome: dict[str, Any] | str = probe(Path(root), ref, Path(sample))
    except BaseException as exc:  # every failure is the answer: it did not load or answer
        outcome = traceback.format_exception_only(exc)[-1].strip()
    sender.send(outcome)
    sender.close()


def _probe_environ(ctx: ServiceContext) -> dict[str, str]:
    """The environment of the probe: this process's, with the stores this context was
    opened on, so stores given as flags (not in the environment) are the ones it reads."""
    environ = dict(ctx.settings.environ)
    environ[env.METADATA_URL] = ctx.settings.metadata_url
    environ[env.ARTIFACT_URL] = ctx.settings.artifact_url
    return environ
