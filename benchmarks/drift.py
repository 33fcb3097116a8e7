"""Data drift: pathtolive's drift engine vs Evidently's data drift report, same data.

Usage:  .venv/bin/python benchmarks/drift.py [--rows 1000000] [--rounds 3] [--quick]
            [--json-out FILE]

Writes a reference and a current table of --rows rows x 25 columns (20 numeric of
several shapes, 5 text columns of 4 to 40 categories) as Parquet files in
benchmarks/.work; in the current table three columns move (``n03``: mean + 0.3 sd,
``n11``: 1.5x the spread, ``c2``: other category shares), the rest are drawn afresh from
the same distributions. Evidently 0.7 is installed in a throw-away venv there (with
pandas < 3, which it needs). Then, alternating round by round, each in its own process
(peak memory is that process's own, imports included; see ``_harness.measure``):

  * pathtolive, stored profile: the reference's profile is already stored (as ``data
    add`` keeps it; computed before the clock starts). Timed: the current file read
    column by column, batch by batch, into a CurrentSketch, then compare — what the
    monitor does with the prediction log's segments.
  * pathtolive, from scratch: the same, after profiling the reference file too.
  * Evidently: both files read into pandas, then ``Report([DataDriftPreset()]).run``
    with the numeric and categorical columns declared (its default methods at this
    size: normed Wasserstein > 0.1 for numbers, Jensen-Shannon > 0.1 for categories),
    and the result read back (``snapshot.dict()``). Timed: reading + report.

It prints the median times, the peak memory, the columns each flagged, and the ratios
against the targets (10x faster than Evidently from scratch, 50x with a stored profile,
the same three columns flagged). --quick: 100,000 rows, 2 rounds. --json-out FILE: the
ratios for `pathtolive bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, machine, measure, peer_venv

from pathtolive.benchmarking import Ratio, write_results

EVIDENTLY = "evidently==0.7.23"
NUMERIC = [f"n{i:02d}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
SHIFTED = ["c2", "n03", "n11"]
GROUP_ROWS = 1 << 17
TARGET_SCRATCH = 10.0
TARGET_STORED = 50.0

# -- the data ------------------------------------------------------------------------------


def _numeric(rng: np.random.Generator, index: int, rows: int, shifted: bool) -> np.ndarray:
    """Column ``index``: normal, lognormal, uniform, exponential or integer, by index."""
    shape = index % 5
    if shape == 0:
        return rng.normal(10 * index, 1 + index, rows)
    if shape == 1:
        return rng.lognormal(1.0, 0.6, rows)
    if shape == 2:
        return rng.uniform(-index, index, rows)
    if shape == 3:
        loc, scale = float(index), 2.0
        return rng.normal(loc + (0.3 * scale if shifted and index == 3 else 0), scale, rows)
    return rng.integers(0, 50 + index, rows).astype(np.int64)


def _categories(index: int) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([f"cat{index}_{k:02d}" for k in range(4 + 9 * index)])
    weights = 1.0 / np.arange(1, len(values) + 1)
    return values, weights / weights.sum()


def make_table(rows: int, seed: int, *, shifted: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for index, name in enumerate(NUMERIC):
        values = _numeric(rng, index, rows, shifted)
        if shifted and name == "n11":
            values = values.mean() + (values - values.mean()) * 1.5
        columns[name] = values
    for index, name in enumerate(CATEGORICAL):
        values, weights = _categories(index)
        if shifted and name == "c2":
            weights = weights[::-1]  # the rare categories become the common ones
        codes = rng.choice(len(values), rows, p=weights)
        columns[name] = pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32)), pa.array(values)
        ).dictionary_decode()
    return pa.table(columns)


def write_data(rows: int) -> tuple[Path, Path]:
    from pathtolive.data.canonical import WRITER_SETTINGS

    folder = WORK / f"drift-{rows}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / "reference.parquet", folder / "current.parquet")
    for path, seed, shifted in zip(paths, (1, 2), (False, True), strict=True):
        if path.exists():
            continue
        table = make_table(rows, seed, shifted=shifted)
        tmp = path.with_suffix(".tmp")
        # Both written as pathtolive writes a dataset version's canonical file; the
        # prediction log's segments are zstd Parquet too.
        with pq.ParquetWriter(tmp, table.schema, **WRITER_SETTINGS) as writer:
            writer.write_table(table, row_group_size=GROUP_ROWS)
        tmp.rename(path)
    return paths


# -- the children --------------------------------------------------------------------------

PATHTOLIVE_CHILD = """
import json, resource, sys, time
from pathlib import Path
mode, reference, current, stored = sys.argv[1:5]
from pathtolive.data.profile import Profile
from pathtolive.data.profiling import compute_profile
from pathtolive.monitoring.drift import CurrentSketch, compare, iter_segment_batches
profile = Profile.from_dict(json.loads(Path(stored).read_text()))
started, cpu = time.perf_counter(), time.process_time()
if mode == "scratch":
    profile = compute_profile(Path(reference))
profiled = time.perf_counter()
sketch = CurrentSketch(profile)
for batch in iter_segment_batches([current], sketch.columns):
    sketch.add(batch)
result = compare(profile, sketch)
elapsed = time.perf_counter() - started
print(json.dumps({
    "seconds": elapsed,
    "cpu_seconds": time.process_time() - cpu,
    "profile_seconds": profiled - started,
    "drifted": sorted(result.drifted),
    "reasons": {f.feature: list(f.reasons) for f in result.features if f.drifted},
}))
"""

EVIDENTLY_CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
reference, current = sys.argv[1:3]
numeric, categorical = json.loads(sys.argv[3]), json.loads(sys.argv[4])
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
started, cpu = time.perf_counter(), time.process_time()
ref = pd.read_parquet(reference)
cur = pd.read_parquet(current)
read = time.perf_counter()
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
snapshot = Report([DataDriftPreset()]).run(
    Dataset.from_pandas(cur, data_definition=definition),
    Dataset.from_pandas(ref, data_definition=definition),
)
data = snapshot.dict()
elapsed = time.perf_counter() - started
drifted, methods = [], {}
for metric in data["metrics"]:
    config = metric.get("config", {})
    if config.get("type", "").endswith("ValueDrift"):
        column, threshold = config["column"], config.get("threshold")
        value, method = metric["value"], config.get("method", "")
        methods[column] = method
        p_value = "p_value" in method
        if (value < threshold) if p_value else (value >= threshold):
            drifted.append(column)
import evidently
print(json.dumps({
    "seconds": elapsed,
    "cpu_seconds": time.process_time() - cpu,
    "read_seconds": read - started,
    "drifted": sorted(drifted),
    "methods": sorted(set(methods.values())),
    "version": evidently.__version__,
}))
"""


def run_measured(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``: its JSON answer (last line out) plus its own peak RSS in MB (see
    ``_harness.measure``)."""
    try:
        result = measure(cmd, cwd=Path.cwd())
    except RuntimeError as exc:
        raise SystemExit(str(exc)[-3000:]) from None
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    answer["rss_mb"] = result.peak_rss_mb
    return answer


# -- the run -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 2 rounds")
    parser.add_argument("--json-out", type=Path, help="write the ratios here (pathtolive bench)")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rounds = 100_000, 2

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    reference, current = write_data(args.rows)
    print(f"machine: {machine()}, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    print(
        f"data: reference and current {args.rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} "
        f"columns ({len(NUMERIC)} numeric, {len(CATEGORICAL)} categorical), shifted: "
        f"{', '.join(SHIFTED)}; {reference.stat().st_size / 2**20:.0f} + "
        f"{current.stat().st_size / 2**20:.0f} MiB Parquet (written in "
        f"{time.perf_counter() - started:.1f} s, or reused)"
    )

    from pathtolive.data.profiling import compute_profile

    stored = reference.with_suffix(".profile.json")
    if not stored.exists():
        stored.write_text(json.dumps(compute_profile(reference).to_dict()))
    evidently_bin = peer_venv("evidently", [EVIDENTLY, "pandas<3", "pyarrow"])

    ours = [sys.executable, "-c", PATHTOLIVE_CHILD]
    theirs = [
        str(evidently_bin / "python"),
        "-c",
        EVIDENTLY_CHILD,
        str(reference),
        str(current),
        json.dumps(NUMERIC),
        json.dumps(CATEGORICAL),
    ]
    runs: dict[str, list[dict[str, Any]]] = {"stored": [], "scratch": [], "evidently": []}
    # One warm-up of each, not counted: after it every side reads from the page cache.
    run_measured([*ours, "stored", str(reference), str(current), str(stored)])
    run_measured(theirs)
    for round_ in range(args.rounds):
        for mode in ("stored", "scratch"):
            runs[mode].append(
                run_measured([*ours, mode, str(reference), str(current), str(stored)])
            )
        runs["evidently"].append(run_measured(theirs))
        print(
            f"round {round_ + 1}: stored profile {runs['stored'][-1]['seconds']:.3f} s, "
            f"from scratch {runs['scratch'][-1]['seconds']:.3f} s, "
            f"evidently {runs['evidently'][-1]['seconds']:.2f} s"
        )

    def median(mode: str, key: str = "seconds") -> float:
        return statistics.median(run[key] for run in runs[mode])

    def peak(mode: str) -> float:
        return max(run["rss_mb"] for run in runs[mode])

    def flagged(mode: str) -> str:
        sets = {tuple(run["drifted"]) for run in runs[mode]}
        return " / ".join(", ".join(names) or "none" for names in sorted(sets))

    evidently = runs["evidently"][0]
    evidently_s = median("evidently")
    print()
    print(
        f"Evidently {evidently['version']} (methods: {', '.join(evidently['methods'])}), "
        f"median of {args.rounds} rounds"
    )
    print()
    print(f"| what ({args.rows:,} x 25, 3 shifted) | median s | CPU s | peak RSS MB | flagged |")
    print("| --- | ---: | ---: | ---: | --- |")
    rows = (
        ("evidently", "Evidently `DataDriftPreset` (read both files + report)"),
        ("scratch", "pathtolive from scratch (profile the reference file + sketch + compare)"),
        ("stored", "pathtolive with the stored profile (sketch the current file + compare)"),
    )
    for mode, label in rows:
        print(
            f"| {label} | {median(mode):.3f} | {median(mode, 'cpu_seconds'):.2f} | "
            f"{peak(mode):.0f} | {flagged(mode)} |"
        )
    reading, profiling = median("evidently", "read_seconds"), median("scratch", "profile_seconds")
    print(f"of which: Evidently reading the files into pandas {reading:.2f} s, ", end="")
    print(f"pathtolive profiling the reference {profiling:.2f} s")
    print()
    same = all({tuple(run["drifted"]) for run in runs[mode]} == {tuple(SHIFTED)} for mode in runs)
    for mode, label, target in (
        ("scratch", "from scratch", TARGET_SCRATCH),
        ("stored", "stored profile", TARGET_STORED),
    ):
        ratio = evidently_s / median(mode)
        cpu_ratio = median("evidently", "cpu_seconds") / median(mode, "cpu_seconds")
        verdict = "met" if ratio >= target else "missed"
        print(
            f"Evidently / pathtolive {label}: {ratio:.1f}x wall, {cpu_ratio:.1f}x CPU "
            f"(target {target:g}x: {verdict})"
        )
    print(f"same three columns flagged ({', '.join(SHIFTED)}) by all: {'yes' if same else 'no'}")
    if args.json_out:
        size = f"{args.rows:,} x 25, median s"
        ratios = [
            Ratio.of(
                f"{label} vs Evidently `DataDriftPreset` ({size})",
                median(mode),
                evidently_s,
                unit="s",
                target=target,
            )
            for mode, label, target in (
                ("scratch", "from scratch", TARGET_SCRATCH),
                ("stored", "stored profile", TARGET_STORED),
            )
        ]
        ratios.append(
            Ratio(f"same columns flagged ({', '.join(SHIFTED)})", None, None, None, met=same)
        )
        write_results(args.json_out, "drift", ratios, machine=machine(), quick=args.quick)
    print()
    print("pathtolive's reasons (stored profile, first round):")
    for name, reasons in runs["stored"][0]["reasons"].items():
        print(textwrap.indent(f"{name}: {'; '.join(reasons)}", "  "))
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
