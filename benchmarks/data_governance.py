"""The cost of the data-access audit and of erasure, on SQLite and on PostgreSQL.

Usage:  .venv/bin/python benchmarks/data_governance.py [--rows 100000] [--rounds 15]
            [--postgres URL]

In one run, for each metadata database (a SQLite file, and PostgreSQL when --postgres or
PATHTOLIVE_TEST_POSTGRES_URL names one):
  * ``ws.load`` of a version (rows x 10 columns, and a 1,000-row one): the whole load,
    verified read plus its ``dataset.read`` audit event, against the same read without
    the event (the service's own read path), alternating round by round; the ratio is
    the audit's cost;
  * ``ws.data_access`` ("who read loans@1") after all those reads;
  * ``ws.forget`` of a version read by nobody and of a version read many times (bytes
    deleted, tombstone, audit event);
  * prediction-log retention: ``prune_predictions`` deleting --segments old segments of
    100 rows each (rows, objects and one audit event), against writing them.
It prints each figure and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

from pathtolive import Workspace
from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.service import datasets as dataset_service
from pathtolive.service.predictions import StoreSegmentSink
from pathtolive.service.retention import PruneResult, prune_predictions


def frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {f"x{i}": rng.normal(size=rows) for i in range(8)}
    columns["region"] = rng.choice(["north", "south", "east", "west"], size=rows)
    columns["target"] = rng.integers(0, 2, size=rows)
    return pd.DataFrame(columns)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def read_without_audit(ws: Workspace, ref: str) -> pd.DataFrame:
    """What ``load`` does but for its audit event: the version, its verified local copy,
    the Parquet read."""
    ctx = ws.context
    version = dataset_service.check_readable(dataset_service.get_version(ctx, ref))
    table = pq.read_table(ctx.artifacts.local_path(version.content_hash))
    result: pd.DataFrame = table.to_pandas()
    return result


def bench_retention(label: str, ws: Workspace, segments: int) -> None:
    from sklearn.linear_model import LogisticRegression

    data = frame(2000, 4)
    features = [f"x{i}" for i in range(8)]
    model = LogisticRegression(max_iter=500).fit(data[features], data["target"])
    ws.register_model(model, name="risk", sample=data[features].head(20))
    old = datetime.now(UTC) - timedelta(days=40)
    inputs = data[features].head(100).reset_index(drop=True)

    def write() -> None:
        for index in range(segments):
            logger = PredictionLogger(StoreSegmentSink(ws.context))
            logger.log(
                PredictionRecord(
                    request_id=f"r{index}",
                    at=old + timedelta(minutes=index),
                    model="risk",
                    version=1,
                    trained_on=(),
                    protocol="v1",
                    role="live",
                    latency_ms=1.0,
                    inputs=inputs,
                    outputs=[[0.5, 0.5]] * len(inputs),
                )
            )
            logger.close()

    written = timed(write)
    result: list[PruneResult] = []
    pruned = timed(lambda: result.append(prune_predictions(ws.context, 30)))
    print(
        f"{label:10} retention: {segments} segments written in {written:8.1f} ms, "
        f"pruned in {pruned:8.1f} ms ({pruned / segments:.2f} ms a segment; "
        f"{result[0].segments} segments, {result[0].rows} rows deleted)"
    )


def bench_database(
    label: str, metadata_url: str | None, rows: int, rounds: int, segments: int
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PATHTOLIVE_")}
    environ["PATHTOLIVE_USER"] = "bench"
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace.init(
            Path(folder) / "ws", metadata_url=metadata_url, environ=environ, local_role="admin"
        )
        with ws:
            big = f"big{rows}"
            ws.add_dataset(frame(rows, 1), big)
            ws.add_dataset(frame(1000, 2), "small")
            for ref in (f"{big}@1", "small@1"):
                ws.load(ref)  # the local copy verified once, as any later load finds it
                read_without_audit(ws, ref)
                audited, plain = [], []
                for _ in range(rounds):
                    audited.append(timed(lambda r=ref: ws.load(r, purpose="benchmark")))
                    plain.append(timed(lambda r=ref: read_without_audit(ws, r)))
                a, p = statistics.median(audited), statistics.median(plain)
                print(
                    f"{label:10} load {ref:14} audited {a:8.2f} ms   without the event "
                    f"{p:8.2f} ms   ratio {a / p:5.2f}x   (+{a - p:.2f} ms)"
                )
            reads = len(ws.data_access(f"{big}@1"))
            query = statistics.median(timed(lambda: ws.data_access(f"{big}@1")) for _ in range(5))
            print(f"{label:10} data access of {big}@1 ({reads} reads)      {query:8.2f} ms")
            ws.add_dataset(frame(rows, 1).iloc[: rows // 2], big)  # inside v1's contract
            forget_plain = timed(lambda: ws.forget(f"{big}@2", reason="benchmark"))
            forget_read = timed(lambda: ws.forget(f"{big}@1", reason="benchmark"))
            print(
                f"{label:10} forget {big}@2 (never read) {forget_plain:8.2f} ms   "
                f"{big}@1 (read {reads} times) {forget_read:8.2f} ms"
            )
            bench_retention(label, ws, segments)


def fresh_postgres(url: str, name: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database beside the one ``url`` names (a workspace needs its own), and
    how to drop it."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    fresh = sa.engine.make_url(url).set(database=name)
    return fresh.render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--segments", type=int, default=200)
    parser.add_argument("--postgres", default=os.environ.get("PATHTOLIVE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(machine())
    bench_database("sqlite", None, args.rows, args.rounds, args.segments)
    if args.postgres:
        url, drop = fresh_postgres(args.postgres, f"pathtolive_bench_{os.getpid()}")
        try:
            bench_database("postgresql", url, args.rows, args.rounds, args.segments)
        finally:
            drop()


if __name__ == "__main__":
    main()
