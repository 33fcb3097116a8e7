"""Gate evaluation on a large holdout: paired bootstrap, baseline comparison, slices.

Usage:  .venv/bin/python benchmarks/gates.py [--rows 100000] [--resamples 1000]

Builds a binary task of --rows holdout rows with three models' scores (candidate, live
champion, baseline) and a 6-category slice column, then runs every built-in gate that
needs the holdout (floor, beat live, beat baseline, slices) with --resamples paired
bootstrap resamples, three times; prints the median and the per-metric cost. The peer is
the same evaluation done with a loop over resamples calling scikit-learn's roc_auc_score,
timed on a tenth of the resamples and scaled up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

from pathtolive.gates import GateConfig, GateContext, Predictions, run_gates


def make_holdout(
    rows: int, seed: int = 0
) -> tuple[np.ndarray, dict[str, np.ndarray], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    signal = y + rng.normal(0, 1.0, rows)
    scores = {
        "candidate": 1 / (1 + np.exp(-(signal + rng.normal(0, 0.6, rows)))),
        "champion": 1 / (1 + np.exp(-(signal + rng.normal(0, 0.8, rows)))),
        "baseline": 1 / (1 + np.exp(-(signal + rng.normal(0, 1.2, rows)))),
    }
    regions = pd.DataFrame({"region": rng.choice(list("ABCDEF"), rows)})
    return y, scores, regions


def proba(score: np.ndarray) -> Predictions:
    return Predictions(proba=np.column_stack([1 - score, score]), labels=(score > 0.5).astype(int))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    y, scores, regions = make_holdout(args.rows)
    config = GateConfig.from_toml(
        "bench",
        {
            "bench": {
                "metric": "roc_auc",
                "gates": {
                    "min_metric": 0.5,
                    "beat_live_by": 0.0,
                    "baseline": "logistic",
                    "beat_baseline_by": 0.0,
                    "slices": ["region"],
                    "max_slice_drop": 0.05,
                    "resamples": args.resamples,
                },
            }
        },
    )
    timings = []
    report = None
    for _ in range(args.rounds):
        context = GateContext(
            config=config,
            task="binary",
            metric="roc_auc",
            y_true=y,
            candidate=proba(scores["candidate"]),
            champion=proba(scores["champion"]),
            baseline=proba(scores["baseline"]),
            classes=(0, 1),
            slices=regions,
            data_validation="passed",
            artifact_bytes=1,
            latency={},
            loads_and_answers=True,
            explanations=True,
        )
        started = time.perf_counter()
        report = run_gates(context, version=1, created_at=datetime.now(UTC))
        timings.append(time.perf_counter() - started)
    assert report is not None
    ours = statistics.median(timings)

    rng = np.random.default_rng(0)
    loop_resamples = max(args.resamples // 10, 10)
    started = time.perf_counter()
    for _ in range(loop_resamples):
        rows = rng.integers(0, args.rows, args.rows)
        for name in ("candidate", "champion", "baseline"):
            roc_auc_score(y[rows], scores[name][rows])
    loop = (time.perf_counter() - started) * args.resamples / loop_resamples

    print(f"machine: {machine()}")
    print(f"holdout {args.rows:,} rows, {args.resamples} paired resamples, 3 models, roc_auc")
    for result in report.results:
        print(f"  {result.verdict:4} {result.gate}: {result.detail}")
    print()
    print("| what | median s |")
    print("| --- | ---: |")
    print(f"| pathtolive run_gates (floor, beat live, beat baseline, slices, ...) | {ours:.2f} |")
    print(f"| loop over resamples with sklearn roc_auc_score (3 models, scaled) | {loop:.1f} |")
    print(f"ratio loop / pathtolive: {loop / ours:.1f}x")


if __name__ == "__main__":
    main()
