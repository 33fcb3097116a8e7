"""The gates' latency probe: a child of the probe server vs a new interpreter per probe.

Usage:  .venv/bin/python benchmarks/latency_probe.py [--rounds 5] [--trees 1,60,200]

Registers random forests of each size (scikit-learn's breast-cancer data) in a new
workspace and measures each version's latency the two ways, alternating, --rounds times:
``measure_latency`` (a child forked by the probe server, which this process starts once
and keeps) and the way every probe ran before, a new interpreter running
``python -m pathtolive.service.latency_probe WORKSPACE REF SAMPLE``. Prints the median
wall time of a probe, and the figures each way measured, which should agree: the probe
times the same 200 one-row and 20 batch calls either way; only the start-up differs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

from pathtolive import Workspace
from pathtolive.service.latency import measure_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trees", default="1,60,200")
    args = parser.parse_args()
    frame = load_breast_cancer(as_frame=True).frame
    features, target = frame.drop(columns=["target"]), frame["target"]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "ws"
        sample = Path(folder) / "sample.parquet"
        features.head(100).to_parquet(sample, index=False)
        print(f"machine: {machine()}")
        print()
        print(
            "| forest | probe server s | new interpreter s | ratio | single p95 ms (server / new) |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        with Workspace.init(root) as ws:
            ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
            # The server's one start, paid once by a long-lived caller, not timed.
            warm_up = RandomForestClassifier(n_estimators=1).fit(features, target)
            version = ws.register_model(warm_up, name="warm-up", data="cancer@1")
            measure_latency(ws.context, version, features.head(5))
            for trees in (int(n) for n in args.trees.split(",")):
                model = RandomForestClassifier(n_estimators=trees, n_jobs=1, random_state=0)
                version = ws.register_model(
                    model.fit(features, target), name=f"forest-{trees}", data="cancer@1"
                )
                served, fresh, served_p95, fresh_p95 = [], [], [], []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    figures = measure_latency(ws.context, version, features.head(100))
                    served.append(time.perf_counter() - started)
                    served_p95.append(figures["single_row"]["p95_ms"])
                    started = time.perf_counter()
                    completed = subprocess.run(
                        [sys.executable, "-m", "pathtolive.service.latency_probe",
                         str(root), version.ref, str(sample)],
                        capture_output=True, text=True, check=True, cwd=root,
                    )  # fmt: skip
                    fresh.append(time.perf_counter() - started)
                    fresh_p95.append(json.loads(completed.stdout)["single_row"]["p95_ms"])
                ours, theirs = statistics.median(served), statistics.median(fresh)
                print(
                    f"| {trees} trees | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x | "
                    f"{statistics.median(served_p95):.2f} / {statistics.median(fresh_p95):.2f} |"
                )


if __name__ == "__main__":
    main()
