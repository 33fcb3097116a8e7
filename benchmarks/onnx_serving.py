"""Serving the same scikit-learn pipeline stored with skops vs exported to ONNX.

Usage:  .venv/bin/python benchmarks/onnx_serving.py [--quick]

Fits two pipelines on scikit-learn's breast-cancer data (30 float columns): a
``StandardScaler`` + ``LogisticRegression``, and a ``GradientBoostingClassifier`` of 100
trees of depth 3. Each is stored the two ways pathtolive stores it (the sklearn flavor's
skops bytes, and the onnx flavor's bytes of the graph ``skl2onnx`` exports) and loaded
back from those bytes, then timed as the server calls it: ``predict_proba`` on a
DataFrame of the signature's columns, one row (2,000 calls) and 1,000 rows (200 calls),
the two flavors alternating call by call so that a noisy neighbour hurts both alike.
Prints p50 and p99 per call, the ratio skops / ONNX (above 1: ONNX is faster), the
artifact sizes, the load times and the largest difference between the two flavors'
probabilities (ONNX computes in float32). ``--quick``: a tenth of the calls.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

from pathtolive.registry import TREE_TYPES, LoadedModel, OnnxFlavor, SklearnFlavor


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    millis = np.asarray(seconds) * 1000.0
    return float(np.percentile(millis, 50)), float(np.percentile(millis, 99))


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _both(
    skops: LoadedModel, onnx: LoadedModel, frames: list[pd.DataFrame], calls: int
) -> tuple[list[float], list[float]]:
    """Seconds per call of each flavor, alternating, after one untimed call each."""
    skops.predict_proba(frames[0])
    onnx.predict_proba(frames[0])
    first: list[float] = []
    second: list[float] = []
    for index in range(calls):
        frame = frames[index % len(frames)]
        first.append(_timed(lambda frame=frame: skops.predict_proba(frame)))
        second.append(_timed(lambda frame=frame: onnx.predict_proba(frame)))
    return first, second


def _load(flavor: SklearnFlavor | OnnxFlavor, data: bytes) -> tuple[LoadedModel, float]:
    flavor.load(data, trusted=TREE_TYPES)  # the first load imports the library: untimed
    started = time.perf_counter()
    loaded = flavor.load(data, trusted=TREE_TYPES)
    return loaded, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the calls")
    args = parser.parse_args()
    single_calls, batch_calls = (200, 20) if args.quick else (2000, 200)

    frame = load_breast_cancer(as_frame=True).frame
    features, target = frame.drop(columns=["target"]), frame["target"]
    pipelines: dict[str, Pipeline] = {
        "scaler + logistic": make_pipeline(StandardScaler(), LogisticRegression()),
        "gradient boosting, 100 trees": make_pipeline(
            GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0)
        ),
    }
    rows = [features.iloc[[index]] for index in range(len(features))]
    batch = features.sample(n=1000, replace=True, random_state=0).reset_index(drop=True)
    import onnxruntime
    import skops

    print(f"machine: {machine()}")
    print(
        f"onnxruntime {onnxruntime.__version__}, skops {skops.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
        + (" (--quick)" if args.quick else "")
    )
    print()
    print(
        "| pipeline | rows per call | calls | skops p50 / p99 ms | ONNX p50 / p99 ms "
        "| skops / ONNX (p50, p99) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    notes: list[str] = []
    for name, pipeline in pipelines.items():
        pipeline.fit(features, target)
        skops_bytes = SklearnFlavor().save(pipeline)
        graph = to_onnx(pipeline, features.to_numpy(np.float32)[:1], options={"zipmap": False})
        onnx_bytes = OnnxFlavor().save(graph)
        skops_model, skops_load = _load(SklearnFlavor(), skops_bytes)
        onnx_model, onnx_load = _load(OnnxFlavor(), onnx_bytes)
        for label, frames, calls in (("1", rows, single_calls), ("1,000", [batch], batch_calls)):
            slow, fast = _both(skops_model, onnx_model, frames, calls)
            skops_p50, skops_p99 = _percentiles(slow)
            onnx_p50, onnx_p99 = _percentiles(fast)
            print(
                f"| {name} | {label} | {calls} | {skops_p50:.3f} / {skops_p99:.3f} "
                f"| {onnx_p50:.3f} / {onnx_p99:.3f} "
                f"| {skops_p50 / onnx_p50:.1f}x, {skops_p99 / onnx_p99:.1f}x |"
            )
        difference = np.abs(
            np.asarray(skops_model.predict_proba(features))
            - np.asarray(onnx_model.predict_proba(features))
        ).max()
        notes.append(
            f"{name}: artifact {len(skops_bytes) / 1024:.0f} KiB skops, "
            f"{len(onnx_bytes) / 1024:.0f} KiB ONNX; load {skops_load * 1000:.1f} ms skops, "
            f"{onnx_load * 1000:.1f} ms ONNX; largest probability difference {difference:.1e}"
        )
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
