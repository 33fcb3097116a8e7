"""Measure a model version's prediction latency in a clean process.

:func:`probe` loads the artifact from the store exactly as serving will (hash checked,
safe format), which also proves the artifact loads and answers, then times single-row
and batch predictions.

It runs in a process forked by a *probe server*: ``python -m
pathtolive.service.latency_probe --serve``, started once per calling process by
:mod:`pathtolive.service.latency`, imports this module and the libraries models are
loaded with, then forks one child per request read from its standard input. A child
starts clean (no model loaded, nothing of the caller's state), as a new interpreter would,
without paying the interpreter's start-up and imports (about two seconds) on every gate
check. The server is single-threaded, and a child never returns to its loop: it writes
its figures (or the line that says why it failed) to the request's result file and exits.

Protocol, one JSON object a line: a request ``{"workspace", "ref", "sample", "result",
"environ"}`` on standard input; the server answers ``{"pid": N}`` when the child is
forked, then ``{"exit": CODE}`` when it has ended. The server ends with its input.

By hand: ``python -m pathtolive.service.latency_probe WORKSPACE MODEL@VERSION
SAMPLE.parquet`` prints the figures as JSON.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
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
BATCH_ROWS = 1000
BATCH_CALLS = 20


def _percentiles(seconds: list[float]) -> dict[str, float]:
    millis = np.asarray(seconds) * 1000.0
    return {
        "p50_ms": float(np.percentile(millis, 50)),
        "p95_ms": float(np.percentile(millis, 95)),
        "p99_ms": float(np.percentile(millis, 99)),
        "calls": len(seconds),
    }


def probe(workspace: Path, ref: str, sample_path: Path) -> dict[str, object]:
    ctx = open_workspace(workspace)
    started = time.perf_counter()
    version = model_service.model_version(ctx, ref)
    model = model_service.load_model(ctx, version)
    load_seconds = time.perf_counter() - started
    sample = pd.read_parquet(sample_path)
    # Freeze what loading allocated, as a server does, so that a full collection does not
    # land inside a timed call.
    gc.collect()
    gc.freeze()
    rows = [sample.iloc[[i % len(sample)]] for i in range(SINGLE_ROW_CALLS)]
    model.predict(rows[0])  # the first call pays one-off costs
    single = []
    for row in rows:
        begin = time.perf_counter()
        model.predict(row)
        single.append(time.perf_counter() - begin)
    batch_frame = sample.sample(n=BATCH_ROWS, replace=len(sample) < BATCH_ROWS, random_state=0)
    batch = []
    for _ in range(BATCH_CALLS):
        begin = time.perf_counter()
        model.predict(batch_frame)
        batch.append(time.perf_counter() - begin)
    ctx.close()
    return {
        "model": version.ref,
        "threads": _thread_counts(),
        "load_seconds": load_seconds,
        "single_row": _percentiles(single),
        "batch_1000": _percentiles(batch),
    }


_PRELOAD = ("skops.io", "sklearn.pipeline", "sklearn.compose", "sklearn.ensemble")
"""Libraries that loading a scikit-learn model imports, imported once by the server when
installed; others are imported by the child that needs them."""


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
        _, status = os.waitpid(pid, 0)
        _answer(answers, {"exit": os.waitstatus_to_exitcode(status)})


def _answer(answers: IO[str], message: dict[str, int]) -> None:
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
        os.chdir(request["workspace"])
        _thread_pools_as_the_environment_says()
        try:
            outcome: object = probe(
                Path(request["workspace"]), request["ref"], Path(request["sample"])
            )
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


_THREAD_VARIABLES = {
    "openmp": ("OMP_NUM_THREADS",),
    "blas": ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"),
}
"""The variables a numeric library reads for its thread count, by threadpoolctl's API
name, first match wins."""


def _thread_pools_as_the_environment_says() -> None:
    """Give the numeric libraries' thread pools the sizes this child's environment asks
    for. The server loaded those libraries, and they read their thread counts from its
    environment then; a new interpreter would read the child's (a caller that shares the
    machine with a server may ask for one thread, so that OpenMP threads do not spin
    against each other for the cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it (no scikit-learn), pools keep the server's sizes
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    limits = {}
    for api, names in _THREAD_VARIABLES.items():
        asked = next((os.environ[name] for name in names if name in os.environ), "")
        limits[api] = int(asked) if asked.isdigit() and int(asked) > 0 else cores or 1
    threadpool_limits(limits=limits)


def main(argv: list[str]) -> None:
    if argv == [SERVE_FLAG]:
        serve(sys.stdin, sys.stdout)
        return
    workspace, ref, sample = argv
    sys.stdout.write(json.dumps(probe(Path(workspace), ref, Path(sample))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
