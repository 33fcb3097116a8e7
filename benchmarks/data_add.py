"""`pathtolive data add` vs `dvc add` on the same large Parquet file.

Usage:  .venv/bin/python benchmarks/data_add.py [--size-gib 1] [--rounds 3] [--rss-gib 4]
            [--quick] [--json-out FILE]

Generates a Parquet file of about --size-gib GiB (numeric and categorical columns) in
benchmarks/.work, installs DVC in a throw-away venv there, and in the same run alternates:
  * pathtolive data add  (fresh workspace each round: hash, store, schema, profile)
  * dvc add              (fresh repository each round: md5, copy into its cache)
  * the content-addressing part alone (BLAKE3 hash + store the object)
It prints the median of each and the ratios. With --rss-gib N it also adds an N GiB file
once and reports pathtolive's peak memory, to show the file is streamed, not loaded.
--quick: a 0.25 GiB file, 2 rounds, no --rss-gib file. --json-out FILE: the ratios for
`pathtolive bench`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, machine, measure, median, peer_venv

from pathtolive.benchmarking import Ratio, write_results

ROWS_PER_GROUP = 1_000_000
TARGET_ADD = 1.0  # dvc add / pathtolive data add, at least: no slower
TARGET_CAS = 3.0  # dvc add / pathtolive hash + store, at least
NUMERIC_COLUMNS = 12
CATEGORIES = np.array(["north", "south", "east", "west", "centre"])


def make_parquet(path: Path, size_gib: float, seed: int = 0) -> Path:
    """A Parquet file of roughly ``size_gib`` GiB, written one row group at a time."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    target = size_gib * (1 << 30)
    tmp = path.with_suffix(".tmp")
    writer: pq.ParquetWriter | None = None
    try:
        while True:
            batch = {f"x{i}": rng.normal(i, 1 + i, ROWS_PER_GROUP) for i in range(NUMERIC_COLUMNS)}
            batch["count"] = rng.integers(0, 1000, ROWS_PER_GROUP)
            batch["region"] = CATEGORIES[rng.integers(0, len(CATEGORIES), ROWS_PER_GROUP)]
            table = pa.table(batch)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="snappy")
            writer.write_table(table)
            if tmp.stat().st_size >= target:
                break
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


def pathtolive_add(data: Path, bin_dir: Path) -> tuple[float, float]:
    workspace = Path(tempfile.mkdtemp(prefix="ptl-", dir=WORK))
    env = {**os.environ, "PATHTOLIVE_USER": "bench"}
    try:
        subprocess.run(
            [str(bin_dir / "pathtolive"), "init", str(workspace)],
            check=True,
            env=env,
            capture_output=True,
        )
        result = measure(
            [str(bin_dir / "pathtolive"), "data", "add", str(data), "--name", "big"],
            cwd=workspace,
            env=env,
        )
        return result.seconds, result.peak_rss_mb
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


def dvc_add(data: Path, dvc_bin: Path) -> tuple[float, float]:
    repo = Path(tempfile.mkdtemp(prefix="dvc-", dir=WORK))
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{dvc_bin}:{os.environ['PATH']}"}
    try:
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
        subprocess.run([str(dvc_bin / "dvc"), "init", "-q"], cwd=repo, check=True, env=env)
        os.link(data, repo / data.name)  # in the repo without a copy: DVC copies it itself
        result = measure([str(dvc_bin / "dvc"), "add", "-q", data.name], cwd=repo, env=env)
        return result.seconds, result.peak_rss_mb
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def content_addressing(data: Path) -> float:
    """Hash + store the object into a fresh local store (what `dvc add` does), the way
    `data add` does it: one read that copies and hashes, then the rename into place."""
    from pathtolive.store.artifacts import LocalArtifactStore

    root = Path(tempfile.mkdtemp(prefix="cas-", dir=WORK))
    try:
        store = LocalArtifactStore(root)
        started = time.perf_counter()
        store.stage_file(data).commit()
        return time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rss-gib", type=float, default=0.0, help="also add a file this big once")
    parser.add_argument("--quick", action="store_true", help="0.25 GiB, 2 rounds, no --rss-gib")
    parser.add_argument("--json-out", type=Path, help="write the ratios here (pathtolive bench)")
    args = parser.parse_args()
    if args.quick:
        args.size_gib, args.rounds, args.rss_gib = 0.25, 2, 0.0

    WORK.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    data = make_parquet(WORK / f"big-{args.size_gib:g}gib.parquet", args.size_gib)
    size_gib = data.stat().st_size / (1 << 30)
    print(f"machine: {machine()}")
    print(f"file: {data.name}, {size_gib:.2f} GiB, {pq.ParquetFile(data).metadata.num_rows:,} rows")
    dvc_bin = peer_venv("dvc", ["dvc"])
    version = subprocess.run([str(dvc_bin / "dvc"), "version"], capture_output=True, text=True)
    print(f"dvc: {version.stdout.splitlines()[0] if version.stdout else '?'}")

    # Warm-up, not counted: after it both tools read the file from the page cache, so
    # neither pays the cold read alone.
    pathtolive_add(data, bin_dir)
    dvc_add(data, dvc_bin)
    ptl_times, ptl_rss, dvc_times, dvc_rss, cas_times = [], [], [], [], []
    for round_ in range(args.rounds):
        seconds, rss = pathtolive_add(data, bin_dir)
        ptl_times.append(seconds)
        ptl_rss.append(rss)
        seconds, rss = dvc_add(data, dvc_bin)
        dvc_times.append(seconds)
        dvc_rss.append(rss)
        cas_times.append(content_addressing(data))
        print(
            f"round {round_ + 1}: pathtolive {ptl_times[-1]:.2f} s, dvc {dvc_times[-1]:.2f} s, "
            f"hash+store {cas_times[-1]:.2f} s"
        )

    ptl, dvc, cas = median(ptl_times), median(dvc_times), median(cas_times)
    print()
    print(f"| what ({size_gib:.2f} GiB Parquet) | median s | peak RSS MB |")
    print("| --- | --- | --- |")
    print(f"| dvc add | {dvc:.2f} | {max(dvc_rss):.0f} |")
    print(
        f"| pathtolive data add (hash, store, schema, profile) | {ptl:.2f} | {max(ptl_rss):.0f} |"
    )
    print(f"| pathtolive hash + store only | {cas:.2f} | |")
    print()
    print(f"ratio dvc add / pathtolive data add: {dvc / ptl:.2f}x")
    print(f"ratio dvc add / pathtolive hash+store: {dvc / cas:.2f}x")
    if args.json_out:
        size = f"{size_gib:.2f} GiB Parquet, median s"
        ratios = [
            Ratio.of(f"`data add` vs `dvc add` ({size})", ptl, dvc, unit="s", target=TARGET_ADD),
            Ratio.of(
                f"hash + store only vs `dvc add` ({size})", cas, dvc, unit="s", target=TARGET_CAS
            ),
        ]
        write_results(args.json_out, "data_add", ratios, machine=machine(), quick=args.quick)

    if args.rss_gib:
        big = make_parquet(WORK / f"big-{args.rss_gib:g}gib.parquet", args.rss_gib, seed=1)
        seconds, rss = pathtolive_add(big, bin_dir)
        print(
            f"{big.stat().st_size / (1 << 30):.2f} GiB: pathtolive data add {seconds:.2f} s, "
            f"peak RSS {rss:.0f} MB"
        )


if __name__ == "__main__":
    main()
