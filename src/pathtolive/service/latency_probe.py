"""Measure a model version's prediction latency in a clean process.

:func:`pathtolive.service.latency.measure_latency` runs :func:`probe` in a process forked
from a fork server that has imported this module. It loads the artifact from the store
exactly as serving will (hash checked, safe format), which also proves the artifact loads
and answers, then times single-row and batch predictions. By hand:
``python -m pathtolive.service.latency_probe WORKSPACE MODEL@VERSION SAMPLE.parquet``
prints the same figures as JSON.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pathtolive.service import models as model_service
from pathtolive.service.workspace import open_workspace

__all__ = ["main", "probe"]

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
        "load_seconds": load_seconds,
        "single_row": _percentiles(single),
        "batch_1000": _percentiles(batch),
    }


def main(argv: list[str]) -> None:
    workspace, ref, sample = argv
    sys.stdout.write(json.dumps(probe(Path(workspace), ref, Path(sample))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
