"""Measure a model version's prediction latency in a clean process.

:func:`probe` loads the artifact from the store exactly as serving will (hash checked,
safe format), which also proves the artifact loads and answers, then times single-row
and batch predictions. The load it reports is the artifact's own: a first, untimed load
imports whatever the flavor's library needs (a server pays that once, at start-up), the
second is timed, so the figure means the same for every flavor. Alongside wall time it
measures the CPU seconds of a call (the cost of serving) and the resident memory a loaded
model holds (``memory_bytes``), apart from what importing its flavor's libraries took
the first time (``import_bytes``, shared by every model of that flavor in a server).

It runs in a process forked by a *probe server*: ``python -m
pathtolive.service.latency_probe --serve``, started by :mod:`pathtolive.service.latency`
once per calling process, imports this module and the libraries scikit-learn models are
loaded with, then forks one child per request read from its standard input. A child
starts clean (no model loaded, nothing of the caller's state), as a new interpreter
would, without paying the interpreter's start-up and imports (about two seconds) on every
gate check. It takes the caller's environment and working directory (``sys.path[0]``
too, as ``python -m`` would have set it); what an interpreter reads only at start-up
(``PYTHON*``, the numeric libraries' thread counts) is why the caller starts a new server
when that part of its environment changes. The server is single-threaded, and a child
never returns to its loop: it writes its figures (or the line that says why it failed)
to the request's result file and exits.

The server owns the time limit: it stops a child that runs past the request's
``timeout`` (it is the child's parent, so no other process can have taken the pid).

Protocol, one JSON object a line: a request ``{"workspace", "ref", "sample", "result",
"environ", "cwd", "timeout"}`` on standard input; the server answers ``{"pid": N}`` when
the child is forked, then ``{"exit": CODE, "timed_out": BOOL}`` when it has ended. The
server ends with its input.

By hand: ``python -m pathtolive.service.latency_probe WORKSPACE MODEL@VERSION
SAMPLE.parquet`` prints the figures as JSON.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from pathtolive.service import models as model_service
from pathtolive.service.workspace import open_workspace

__all__ = ["SERVE_FLAG", "main", "probe", "serve"]

SERVE_FLAG = "--serve"
SINGLE_ROW_CALLS = 200
BATCH_CALL_ROWS = 1000
BATCH_CALLS = 20
MIN_SINGLE_ROW_CALLS = 60
MIN_BATCH_CALLS = 5
SINGLE_ROW_BUDGET_SECONDS = 1.5
BATCH_BUDGET_SECONDS = 1.0
"""A series stops at its full count of calls, or once it has its minimum count and has
spent its budget, as ``timeit``'s autorange does: a fast model gets every call, a slow
one (a 300-tree forest at 20 ms a row) is not timed for several seconds at every gate
check. Sixty calls still put three above the 95th percentile."""

_PRELOAD = ("skops.io", "sklearn.pipeline", "sklearn.compose", "sklearn.ensemble")
"""Libraries that loading a scikit-learn model imports, imported once by the server when
installed; others are imported by the child that needs them."""
_WAIT_STEP_SECONDS = 0.005


def _percentiles(seconds: list[float]) -> dict[str, float]:
    millis = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": float(np.percentile(millis, 50)),
        "p95_ms": float(np.percentile(millis, 95)),
        "p99_ms": float(np.percentile(millis, 99)),
        "calls": len(seconds),
    }


def _resident_bytes() -> int:
    """This process's resident memory now (from ``/proc``; the peak where there is none)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def probe(
    workspace: Path, ref: str, sample_path: Path, budget_seconds: float | None = None
) -> dict[str, object]:
    """Load ``ref`` twice (the second load timed and its memory counted) and time its
    predictions on rows of the sample: each series stops at its full count of calls, or
    once it has its fewest and has spent ``budget_seconds`` (by default the series' own
    budget)."""
    ctx = open_workspace(workspace)
    version = model_service.model_version(ctx, ref)
    gc.collect()
    # Memory when loaded. The first load imports what the flavor needs (libraries the
    # server did not preload) and stays loaded while the second is measured, so the
    # second's growth is the model's own memory, not pages freed by an earlier copy.
    resident_before = _resident_bytes()
    first = model_service.load_model(ctx, version)  # imports what the flavor needs, untimed
    gc.collect()
    resident_first = _resident_bytes()
    started = time.perf_counter()
    model = model_service.load_model(ctx, version)
    load_seconds = time.perf_counter() - started
    gc.collect()
    model_bytes = max(_resident_bytes() - resident_first, 0)
    import_bytes = max(resident_first - resident_before - model_bytes, 0)
    del first
    sample = pd.read_parquet(sample_path)
    # Freeze what loading allocated, as a server does, so that a full collection does not
    # land inside a timed call.
    gc.collect()
    gc.freeze()
    rows = [sample.iloc[[i % len(sample)]] for i in range(SINGLE_ROW_CALLS)]
    model.predict(rows[0])  # the first call pays one-off costs
    single, single_cpu = _timed_calls(
        model.predict,
        rows,
        MIN_SINGLE_ROW_CALLS,
        SINGLE_ROW_BUDGET_SECONDS if budget_seconds is None else budget_seconds,
    )
    batch_frame = sample.sample(
        n=BATCH_CALL_ROWS, replace=len(sample) < BATCH_CALL_ROWS, random_state=0
    )
    batch, batch_cpu = _timed_calls(
        model.predict,
        [batch_frame] * BATCH_CALLS,
        MIN_BATCH_CALLS,
        BATCH_BUDGET_SECONDS if budget_seconds is None else budget_seconds,
    )
    ctx.close()
    return {
        "model": version.ref,
        "threads": _thread_counts(),
        "load_seconds": load_seconds,
        "memory_bytes": model_bytes,
        "import_bytes": import_bytes,
        "single_row": {**_percentiles(single), "cpu_seconds_per_call": single_cpu},
        "batch_1000": {**_percentiles(batch), "cpu_seconds_per_call": batch_cpu},
    }


def _timed_calls(
    predict: Any, inputs: list[pd.DataFrame], least: int, budget_seconds: float
) -> tuple[list[float], float]:
    """The seconds of each call of ``predict`` on ``inputs`` in turn, stopping early once
    ``least`` calls are timed and ``budget_seconds`` are spent; and the mean CPU seconds
    of a call (every thread of the process: a library's worker threads count, as they
    would on the server's machine)."""
    seconds: list[float] = []
    spent = 0.0
    cpu_started = time.process_time()
    for frame in inputs:
        begin = time.perf_counter()
        predict(frame)
        took = time.perf_counter() - begin
        seconds.append(took)
        spent += took
        if len(seconds) >= least and spent >= budget_seconds:
            break
    return seconds, (time.process_time() - cpu_started) / len(seconds)


def serve(requests: IO[str], answers: IO[str]) -> None:
    """Fork a child per request line until ``requests`` ends (see the module docs)."""
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # never returns
        _answer(answers, {"pid": pid})
        code, timed_out = _wait(pid, float(request["timeout"]))
        _answer(answers, {"exit": code, "timed_out": timed_out})


def _wait(pid: int, timeout: float) -> tuple[int, bool]:
    """The child's exit code, stopping it once ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        time.sleep(_WAIT_STEP_SECONDS)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), True


def _answer(answers: IO[str], message: dict[str, int | bool]) -> None:
    answers.write(json.dumps(message) + "\n")
    answers.flush()


def _child(request: dict[str, Any]) -> None:
    code = 1
    try:
        # What the model prints must not reach the server's answers.
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        os.environ.clear()
        os.environ.update(request["environ"])
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]  # as `python -m` in the caller's folder would set it
        workspace, sample = Path(request["workspace"]), Path(request["sample"])
        try:
            budget = request.get("budget_seconds")
            outcome: object = probe(workspace, request["ref"], sample, budget)
            code = 0
        except BaseException as exc:  # every failure is the answer: it did not load or answer
            outcome = traceback.format_exception_only(exc)[-1].strip()
        result = Path(request["result"])
        partial = result.with_suffix(".partial")
        partial.write_text(json.dumps(outcome), encoding="utf-8")
        partial.rename(result)
    finally:
        os._exit(code)


def _thread_counts() -> dict[str, int]:
    """The most threads each kind of numeric library loaded here may use (what the
    figures were measured with)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    counts: dict[str, int] = {}
    for pool in threadpool_info():
        api = str(pool["user_api"])
        counts[api] = max(counts.get(api, 0), int(pool["num_threads"]))
    return counts


def main(argv: list[str]) -> None:
    if argv == [SERVE_FLAG]:
        serve(sys.stdin, sys.stdout)
        return
    workspace, ref, sample = argv
    sys.stdout.write(json.dumps(probe(Path(workspace), ref, Path(sample))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
