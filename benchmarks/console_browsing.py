"""Server time of the console's Datasets, Runs and Audit pages on a large workspace.

Usage:  .venv/bin/python benchmarks/console_browsing.py [--metadata-url URL] [--rounds 20]

Builds a workspace with 100 versions of a 20-column dataset, 1,000 pipeline runs (10
params, 2 final metrics, one step and a 1,000-point logged series each) and 100,000
audit events, then requests each page --rounds times through the console's ASGI app in
this process (Starlette's TestClient: no network, the page's own work and the app's
middleware) and prints the median and p95 per page. Without --metadata-url the metadata
is SQLite; pass a PostgreSQL URL to measure there (its database is used as it is).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine

from pathtolive import env
from pathtolive.entities import Metric, Run, RunStep
from pathtolive.service import datasets as dataset_service
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.workspace import init_workspace, open_workspace
from pathtolive.ui.console.app import ConsoleSettings, create_console

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette asks for httpx's successor
    from starlette.testclient import TestClient

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def add_data_versions(
    ctx: ServiceContext, versions: int, name: str = "big", *, columns: int = 20
) -> None:
    """``versions`` versions of a dataset of 2,000 rows, each shifted a little."""
    rng = np.random.default_rng(0)
    for i in range(versions):
        frame = pd.DataFrame({f"c{j}": rng.normal(i / 50, 1, 2000) for j in range(columns)})
        dataset_service.add_dataset(ctx, frame, name, policy="warn")


def add_runs(ctx: ServiceContext, runs: int, versions: int, name: str = "big") -> list[str]:
    """``runs`` pipeline runs (10 params, 2 final metrics, one step and a 1,000-point
    logged series each) reading versions 1 to ``versions`` of ``name``; their ids."""
    rng = np.random.default_rng(1)
    ids = []
    with ctx.metadata.write() as session:
        for i in range(runs):
            run = Run(
                run_id=f"{i:08d}" + "c" * 24,
                kind="pipeline",
                pipeline=f"p{i % 5}",
                status="succeeded",
                actor="ada",
                started_at=T0 + timedelta(minutes=i),
                finished_at=T0 + timedelta(minutes=i),
                code_commit=None,
                code_dirty=False,
                code_diff_hash=None,
                pipelines_hash=None,
                environment_digest=None,
                params={f"k{j}": i % (j + 2) for j in range(10)},
                inputs={"data": f"{name}@{i % versions + 1}"},
                outputs={"metrics": {"auc": float(rng.random()), "f1": float(rng.random())}},
            )
            session.insert_run(run)
            step = RunStep(0, "fit", "k" * 64, False, None, "succeeded", T0, 1.0, "", None)
            session.add_step(run.run_id, step)
            session.add_metrics(
                run.run_id, [Metric("loss", 1 / (k + 1), k, 0.0) for k in range(1000)]
            )
            ids.append(run.run_id)
    return ids


def add_audit_events(ctx: ServiceContext, events: int) -> None:
    """``events`` chained audit events, 10,000 to a transaction."""
    actor = ctx.actor()
    for start in range(0, events, 10_000):
        with ctx.metadata.write() as session:
            for i in range(start, min(events, start + 10_000)):
                record(session, actor, f"thing.{'abcde'[i % 5]}", f"thing:{i % 997}", {"i": i})


def build(ctx: ServiceContext, versions: int, runs: int, events: int) -> list[str]:
    started = time.perf_counter()
    add_data_versions(ctx, versions)
    ids = add_runs(ctx, runs, versions)
    add_audit_events(ctx, events)
    print(f"workspace built in {time.perf_counter() - started:.0f} s", flush=True)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metadata-url", default=None)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="console-bench-")) / "ws"
    environ = {"HOME": str(root.parent), "PATH": "/usr/bin"}
    if args.metadata_url:
        environ[env.METADATA_URL] = args.metadata_url
    init_workspace(root, environ=environ, local_role="admin").close()
    ctx = open_workspace(root, environ=environ)
    ids = build(ctx, versions=100, runs=1000, events=100_000)
    pages = {
        "Datasets: list": "/datasets",
        "Datasets: a dataset's versions": "/datasets/big",
        "Datasets: older versions": "/datasets/big?offset=60",
        "Datasets: a version's profile": "/datasets/big/versions/100",
        "Datasets: diff of two versions": "/datasets/big/diff?old=1&new=100",
        "Runs: table": "/runs",
        "Runs: filtered (pipeline, metric, param)": "/runs?pipeline=p3&metric=auc>=0.5&param=k1=1",
        "Runs: sorted by a metric, page 11": "/runs?sort=-metric:auc&offset=500",
        "Runs: compare 10": "/runs/compare?" + "&".join(f"run={r}" for r in ids[:10]),
        "Audit: newest": "/audit",
        "Audit: by an actor": "/audit?actor=nobody",
        "Audit: by action, deep page": "/audit?action=thing.c&before=50000",
        "Audit: by time range": "/audit?since=2020-01-01T00:00&until=2021-01-01T00:00",
    }
    print(machine())
    print("| page | median ms | p95 ms |\n| --- | ---: | ---: |")
    with TestClient(create_console(ctx, ConsoleSettings()), base_url="http://127.0.0.1") as client:
        for name, path in pages.items():
            times = []
            for _ in range(args.rounds):
                begun = time.perf_counter()
                answer = client.get(path)
                times.append((time.perf_counter() - begun) * 1000)
                assert answer.status_code == 200, (name, answer.status_code)
            times.sort()
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} |", flush=True)
    ctx.close()


if __name__ == "__main__":
    main()
