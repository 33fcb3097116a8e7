"""Profiling a partitioned dataset: in one process vs on a Dask ``LocalCluster``.

Usage:  .venv/bin/python benchmarks/partitioned_profile.py [--size 10] [--partitions 40]
            [--workers 2] [--rounds 1] [--skip-data-add]

Writes a folder of about --size GiB of Parquet partitions (numeric and categorical
columns) in benchmarks/.work, then in the same run profiles it (hash, first pass, merged
per-partition accumulators: :func:`pathtolive.data.partitions.profile_partitions`):

  * here: one partition at a time, in a child process, with its peak memory;
  * on a LocalCluster of --workers single-threaded worker processes, with each worker's
    peak memory and the client's.

Then the whole command a team runs, ``pathtolive data add FOLDER --name events`` (hash,
contract, merged profile, partitions stored in the workspace), each time in a fresh
workspace: here, and with ``--scheduler`` on a fresh LocalCluster of --workers workers,
with the CLI's and each worker's peak memory (--skip-data-add leaves it out).

It prints the medians, the speed-up and the peak memory per process, and checks that both
profiles agree (counts exactly, moments to 1e-9 relative).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, Measurement, machine, measure, median

ROWS_PER_GROUP = 250_000
NUMERIC_COLUMNS = 12
CATEGORIES = np.array(["north", "south", "east", "west", "centre"])
_BYTES_PER_ROW = 8 * (NUMERIC_COLUMNS + 1) + 6  # in memory; the files are smaller


def make_partitions(folder: Path, size_gib: float, partitions: int, seed: int = 0) -> Path:
    """``partitions`` Parquet files of together about ``size_gib`` GiB of values."""
    marker = folder / "_SUCCESS"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = int(size_gib * (1 << 30) / _BYTES_PER_ROW / partitions)
    for number in range(partitions):
        path = folder / f"part-{number:05d}.parquet"
        writer: pq.ParquetWriter | None = None
        written = 0
        while written < rows:
            count = min(ROWS_PER_GROUP, rows - written)
            batch = {f"x{i}": rng.normal(i, 1 + i, count) for i in range(NUMERIC_COLUMNS)}
            batch["count"] = rng.integers(0, 1000, count)
            batch["region"] = CATEGORIES[rng.integers(0, len(CATEGORIES), count)]
            table = pa.table(batch)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression="snappy")
            writer.write_table(table)
            written += count
        if writer is not None:
            writer.close()
    marker.write_text("")
    return folder


def profile_here(folder: Path, out: Path) -> None:
    """The child process of the local measurement: profile, write the profile."""
    from pathtolive.data.partitions import parquet_partitions, profile_partitions

    result = profile_partitions(parquet_partitions(folder))
    out.write_text(json.dumps(result.profile.to_dict()))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profile_on_cluster(folder: Path, workers: int) -> tuple[float, dict[str, Any], list[float]]:
    """Seconds, the profile and each worker's peak memory (MB), on a fresh LocalCluster."""
    from distributed import Client, LocalCluster

    from pathtolive.data.partitions import parquet_partitions, profile_partitions

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(lambda: None)  # workers up before the clock starts
        started = time.perf_counter()
        result = profile_partitions(parquet_partitions(folder), client=client)
        seconds = time.perf_counter() - started
        peaks = list(client.run(_peak_mb).values())
    return seconds, result.profile.to_dict(), peaks


def _environ() -> dict[str, str]:
    return {**os.environ, "PATHTOLIVE_USER": "bench"}


def data_add(folder: Path, workers: int) -> tuple[Measurement, list[float]]:
    """``pathtolive data add`` of the folder into a fresh workspace: here with
    ``workers`` 0, else on a fresh LocalCluster of that many single-threaded processes.
    Its measurement and each worker's peak memory (MB)."""
    from distributed import Client, LocalCluster

    from pathtolive import Workspace

    root = Path(tempfile.mkdtemp(prefix="ptl-data-add-", dir=WORK))
    Workspace.init(root, environ=_environ()).close()
    cmd = [str(Path(sys.executable).parent / "pathtolive"), "data", "add", str(folder)]
    cmd += ["--name", "events"]
    try:
        if not workers:
            return measure(cmd, cwd=root, env=_environ()), []
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=40,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(lambda: None)
            scheduler = ["--scheduler", cluster.scheduler_address]
            measured = measure(cmd + scheduler, cwd=root, env=_environ())
            return measured, list(client.run(_peak_mb).values())
    finally:
        shutil.rmtree(root, ignore_errors=True)  # its copy of the partitions


def _agree(one: Any, other: Any, where: str = "") -> list[str]:
    if isinstance(one, dict):
        return [d for key in one for d in _agree(one[key], other.get(key), f"{where}.{key}")]
    if isinstance(one, list):
        if len(one) != len(other):
            return [where]
        return [
            d
            for i, pair in enumerate(zip(one, other, strict=True))
            for d in _agree(*pair, f"{where}[{i}]")
        ]
    if where.endswith((".mean", ".std")) and one is not None:
        return [] if math.isclose(one, other, rel_tol=1e-9) else [where]
    return [] if one == other else [where]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        profile_here(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=10.0, help="GiB of values")
    parser.add_argument("--partitions", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-data-add", action="store_true", help="profiles only")
    args = parser.parse_args()
    folder = make_partitions(
        WORK / f"partitions-{args.size:g}gib-{args.partitions}", args.size, args.partitions
    )
    out = WORK / "partitioned-profile.json"
    local_seconds: list[float] = []
    local_peaks: list[float] = []
    cluster_seconds: list[float] = []
    worker_peaks: list[float] = []
    cluster_profile: dict[str, Any] = {}
    for _ in range(args.rounds):
        here = measure([sys.executable, __file__, "--child", str(folder), str(out)], cwd=Path.cwd())
        local_seconds.append(here.seconds)
        local_peaks.append(here.peak_rss_mb)
        seconds, cluster_profile, peaks = profile_on_cluster(folder, args.workers)
        cluster_seconds.append(seconds)
        worker_peaks.extend(peaks)
    differences = _agree(json.loads(out.read_text()), cluster_profile)
    local, remote = median(local_seconds), median(cluster_seconds)
    print(f"{datetime.now(UTC):%Y-%m-%d}, {machine()}, Python {sys.version.split()[0]}")
    print(f"data: {args.size:g} GiB of values in {args.partitions} partitions at {folder}")
    print(f"here:    {local:8.2f} s  peak {max(local_peaks):8.0f} MB (one process)")
    print(
        f"cluster: {remote:8.2f} s  peak {max(worker_peaks):8.0f} MB per worker "
        f"({args.workers} workers), client {_peak_mb():.0f} MB"
    )
    print(f"speed-up {local / remote:.2f}x; profiles agree: {not differences}")
    if differences:
        print("differ at: " + ", ".join(differences[:10]))
        sys.exit(1)
    if args.skip_data_add:
        return
    added_here: list[Measurement] = []
    added_there: list[Measurement] = []
    added_peaks: list[float] = []
    for _ in range(args.rounds):
        added_here.append(data_add(folder, 0)[0])
        measured, peaks = data_add(folder, args.workers)
        added_there.append(measured)
        added_peaks.extend(peaks)
    here_s = median([m.seconds for m in added_here])
    there_s = median([m.seconds for m in added_there])
    print(
        f"data add here:    {here_s:8.2f} s  peak "
        f"{max(m.peak_rss_mb for m in added_here):8.0f} MB (one process)"
    )
    print(
        f"data add cluster: {there_s:8.2f} s  peak {max(added_peaks):8.0f} MB per worker "
        f"({args.workers} workers), CLI {max(m.peak_rss_mb for m in added_there):.0f} MB"
    )
    print(f"data add speed-up {here_s / there_s:.2f}x")


if __name__ == "__main__":
    main()
