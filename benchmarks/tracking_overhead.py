"""Metric tracking: pathtolive vs MLflow's local tracking (SQLite), crash safety, cached reruns.

Usage:  .venv/bin/python benchmarks/tracking_overhead.py [--rounds 3] [--pairs 3]
            [--cache-rounds 3] [--one-by-one 1000] [--quick] [--json-out FILE]

In one run, with MLflow installed in a throw-away venv under benchmarks/.work:
  1. per-metric overhead: one run logs 100 params and 10,000 metrics (10 keys x 1,000
     iterations; --quick: 1,000 metrics). pathtolive: a one-step pipeline through
     ``Workspace.run`` in a fresh workspace, minus the same run logging nothing; every
     metric and param is counted back from the database after each run. MLflow, round
     by round alternating with pathtolive: ``mlflow.log_metric`` one by one (on the first
     --one-by-one metrics only: each call costs milliseconds), then ``mlflow.log_metrics``
     once per iteration and ``MlflowClient.log_batch`` 1,000 at a time, each minus the
     same loop logging nothing, each counted back from its database.
     A raw ``sqlite3`` floor (WAL, one commit per row, and one executemany) is shown too.
  2. crash safety: a pipeline whose second step logs metrics and then kills its process
     (``os._exit(1)``) runs in a subprocess; the first step's metrics are counted.
  3. cached rerun: a 3-step scikit-learn pipeline on the bundled breast-cancer data, run
     in-process with ``use_cache=False`` and then again with unchanged inputs (every step
     cached).
It prints the medians, the ratios, and a Markdown block for benchmarks/RESULTS.md;
--json-out FILE also writes the ratios for `pathtolive bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, fsync_ms, machine, median, peer_venv

from pathtolive import Workspace
from pathtolive.benchmarking import Ratio, write_results
from pathtolive.pipelines import log_metric, log_params, recording

KEYS = 10
PARAMS = 100
OVERHEAD_TARGET = 20.0  # MLflow's per-metric cost / pathtolive's, at least
CACHED_TARGET = 0.05  # a cached rerun / the uncached run, at most
CRASH_METRICS = 1_000
TREES = 300

TRACKING_PIPELINES = '''
"""The tracking benchmark's pipelines: one that logs (or not), one that crashes."""

import os

from pathtolive import log_metric, log_params, pipeline, step


@step
def train_loop(n_keys: int, n_iterations: int, n_params: int, log: bool) -> float:
    keys = [f"metric_{k}" for k in range(n_keys)]
    if log:
        log_params({f"param_{i}": i * 0.5 for i in range(n_params)})
    total = 0.0
    for iteration in range(n_iterations):
        for k, key in enumerate(keys):
            value = 1.0 / (1 + iteration) + k * 0.001
            if log:
                log_metric(key, value, step=iteration)
            total += value
    return total


@pipeline
def tracked(n_keys: int = 10, n_iterations: int = 1000, n_params: int = 100, log: bool = True):
    train_loop(n_keys, n_iterations, n_params, log)


@step
def finished_step(n: int) -> int:
    log_params({"finished_param": n})
    for i in range(n):
        log_metric("finished_loss", 1.0 / (1 + i), step=i)
    return n


@step
def crashing_step(n: int) -> int:
    for i in range(n):
        log_metric("crashing_loss", 1.0 / (1 + i), step=i)
    os._exit(1)  # a killed process: no exception, no finally, no atexit


@pipeline
def crashing(n: int = 1000):
    crashing_step(finished_step(n))
'''

RISK_PIPELINE = '''
"""Three steps on scikit-learn's breast-cancer data: split, train a forest, evaluate."""

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from pathtolive import Dataset, log_metric, pipeline, step


@step
def split(data: Dataset, test_size: float = 0.25, seed: int = 0):
    frame = data.df
    train_df, test_df = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[data.target]
    )
    return train_df, test_df


@step
def train(train_df: pd.DataFrame, target: str, n_estimators: int = 300, seed: int = 0):
    model = RandomForestClassifier(n_estimators=n_estimators, n_jobs=1, random_state=seed)
    return model.fit(train_df.drop(columns=[target]), train_df[target])


@step
def evaluate(model, test_df: pd.DataFrame, target: str) -> dict[str, float]:
    features = test_df.drop(columns=[target])
    log_metric("test_rows", len(test_df))
    return {
        "accuracy": accuracy_score(test_df[target], model.predict(features)),
        "roc_auc": roc_auc_score(test_df[target], model.predict_proba(features)[:, 1]),
    }


@pipeline
def risk(data: Dataset, n_estimators: int = 300):
    tr, te = split(data)
    model = train(tr, data.target, n_estimators=n_estimators)
    return model, evaluate(model, te, data.target)
'''

CRASH_RUN = """
import sys
from pathtolive import Workspace
Workspace.open(sys.argv[1]).run("crashing", params={"n": int(sys.argv[2])}, use_cache=False)
"""

MLFLOW_SCRIPT = '''
"""Run by the MLflow peer's Python: log the same params and metrics three ways, each in
its own run of a fresh SQLite tracking store, and print the timings as JSON."""

import json
import sqlite3
import sys
import time

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

db = sys.argv[1]
n_keys, n_iterations, n_params, one_by_one_iterations = map(int, sys.argv[2:6])
mlflow.set_tracking_uri(f"sqlite:///{db}")
mlflow.set_experiment("bench")  # creates the database and runs its migrations: not timed
client = MlflowClient()
keys = [f"metric_{k}" for k in range(n_keys)]
params = {f"param_{i}": i * 0.5 for i in range(n_params)}


def silent(run_id):
    total = 0.0
    for iteration in range(n_iterations):
        for k, key in enumerate(keys):
            total += 1.0 / (1 + iteration) + k * 0.001


def one_by_one(run_id):
    mlflow.log_params(params)
    for iteration in range(one_by_one_iterations):
        for k, key in enumerate(keys):
            mlflow.log_metric(key, 1.0 / (1 + iteration) + k * 0.001, step=iteration)


def per_iteration(run_id):
    mlflow.log_params(params)
    for iteration in range(n_iterations):
        values = {key: 1.0 / (1 + iteration) + k * 0.001 for k, key in enumerate(keys)}
        mlflow.log_metrics(values, step=iteration)


def batched(run_id):
    mlflow.log_params(params)
    pending = []
    for iteration in range(n_iterations):
        for k, key in enumerate(keys):
            value = 1.0 / (1 + iteration) + k * 0.001
            pending.append(Metric(key, value, int(time.time() * 1000), iteration))
            if len(pending) == 1000:  # the most one log_batch call accepts
                client.log_batch(run_id, metrics=pending)
                pending = []
    if pending:
        client.log_batch(run_id, metrics=pending)


def counts(run_id):
    with sqlite3.connect(db) as connection:
        metrics = connection.execute(
            "SELECT count(*) FROM metrics WHERE run_uuid = ?", (run_id,)
        ).fetchone()[0]
        logged = connection.execute(
            "SELECT count(*) FROM params WHERE run_uuid = ? AND key LIKE 'param_%'", (run_id,)
        ).fetchone()[0]
    return metrics, logged


result = {"version": mlflow.__version__}
for name, body in (
    ("silent", silent),
    ("log_metric", one_by_one),
    ("log_metrics", per_iteration),
    ("log_batch", batched),
):
    with mlflow.start_run(run_name=name) as run:
        started = time.perf_counter()
        body(run.info.run_id)
        seconds = time.perf_counter() - started
    metrics, logged = counts(run.info.run_id)
    result[name] = {"seconds": seconds, "metrics": metrics, "params": logged}
print(json.dumps(result))
'''

MLFLOW_WAYS = {
    "log_metric": "MLflow `log_metric`, one call per metric",
    "log_metrics": "MLflow `log_metrics`, one call per iteration (10 metrics)",
    "log_batch": "MLflow `log_batch`, 1,000 metrics a call",
}


def _environ() -> dict[str, str]:
    # A fixed actor: otherwise each run asks git for user.email (a subprocess).
    return {**os.environ, "PATHTOLIVE_USER": "bench"}


def _workspace(pipelines: Mapping[str, str]) -> Workspace:
    root = Path(tempfile.mkdtemp(prefix="ptl-track-", dir=WORK))
    ws = Workspace.init(root, environ=_environ())
    for name, source in pipelines.items():
        (root / "pipelines" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pipelines" / name).write_text(textwrap.dedent(source).lstrip())
    return ws


def _discard(ws: Workspace) -> None:
    root = ws.root
    ws.close()
    shutil.rmtree(root, ignore_errors=True)


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, value


# -- 1. per-metric overhead ------------------------------------------------------------


def pathtolive_round(n_iterations: int, pairs: int) -> list[dict[str, float]]:
    """One fresh workspace: a warm-up run, then ``pairs`` pairs of the run logging
    nothing and the run logging everything, in alternating order."""
    ws = _workspace({"tracking.py": TRACKING_PIPELINES})
    params: dict[str, Any] = {"n_keys": KEYS, "n_iterations": n_iterations}

    def silent() -> float:
        seconds, _ = _timed(
            lambda: ws.run("tracked", params={**params, "log": False}, use_cache=False)
        )
        return seconds

    def logged() -> float:
        seconds, result = _timed(
            lambda: ws.run("tracked", params={**params, "log": True}, use_cache=False)
        )
        _check_tracked(ws, result.run.run_id, n_iterations)
        return seconds

    try:
        silent()  # the workspace's first run pays one-off costs: not counted
        figures = []
        for pair in range(pairs):
            if pair % 2:
                logged_seconds, silent_seconds = logged(), silent()
            else:
                silent_seconds, logged_seconds = silent(), logged()
            figures.append({"silent": silent_seconds, "logged": logged_seconds})
        return figures
    finally:
        _discard(ws)


def _check_tracked(ws: Workspace, run_id: str, n_iterations: int) -> None:
    """Every metric (key, iteration, value) and param the step logged is in the database."""
    with ws.context.metadata.read() as session:
        run = session.get_run(run_id)
        metrics = session.run_metrics(run_id)
        params = session.run_params(run_id)
    stored = sorted((metric.key, metric.step or 0, metric.value) for metric in metrics)
    wanted = sorted(
        (f"metric_{k}", iteration, 1.0 / (1 + iteration) + k * 0.001)
        for iteration in range(n_iterations)
        for k in range(KEYS)
    )
    logged = {key: value for key, value in params.items() if key.startswith("param_")}
    wanted_params = {f"param_{i}": i * 0.5 for i in range(PARAMS)}
    if run is None or run.status != "succeeded" or stored != wanted or logged != wanted_params:
        raise SystemExit(
            f"pathtolive lost data in run {run_id}: status "
            f"{None if run is None else run.status}, {len(stored)}/{len(wanted)} metrics "
            f"({'equal' if stored == wanted else 'differ'}), {len(logged)}/{PARAMS} params "
            f"({'equal' if logged == wanted_params else 'differ'})"
        )


def buffering_only(n_iterations: int) -> float:
    """The same loop's ``log_metric`` calls into an in-memory recorder: the per-call part
    of pathtolive's overhead, without the database."""

    def loop(log: bool) -> float:
        keys = [f"metric_{k}" for k in range(KEYS)]
        started = time.perf_counter()
        with recording():
            if log:
                log_params({f"param_{i}": i * 0.5 for i in range(PARAMS)})
            for iteration in range(n_iterations):
                for k, key in enumerate(keys):
                    value = 1.0 / (1 + iteration) + k * 0.001
                    if log:
                        log_metric(key, value, step=iteration)
        return time.perf_counter() - started

    return median([loop(True) - loop(False) for _ in range(3)])


def mlflow_round(python: Path, n_iterations: int, one_by_one: int) -> dict[str, Any]:
    """One fresh MLflow SQLite store: seconds and counts of each way of logging, and of
    the loop logging nothing. ``one_by_one`` iterations go through ``log_metric``."""
    folder = Path(tempfile.mkdtemp(prefix="mlflow-", dir=WORK))
    script = WORK / "mlflow_tracking.py"
    script.write_text(textwrap.dedent(MLFLOW_SCRIPT).lstrip())
    env = {
        **os.environ,
        "MLFLOW_ENABLE_ASYNC_LOGGING": "false",  # the default; said so the figure is clear
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    counts = [KEYS, n_iterations, PARAMS, one_by_one]
    try:
        completed = subprocess.run(
            [str(python), str(script), str(folder / "mlflow.db"), *map(str, counts)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        if completed.returncode != 0:
            raise SystemExit(f"the MLflow script failed:\n{completed.stdout}\n{completed.stderr}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for way in MLFLOW_WAYS:
        expected = KEYS * (one_by_one if way == "log_metric" else n_iterations)
        figures = result[way]
        if figures["metrics"] != expected or figures["params"] != PARAMS:
            raise SystemExit(
                f"MLflow {way} kept {figures['metrics']}/{expected} metrics and "
                f"{figures['params']}/{PARAMS} params"
            )
        figures["count"] = expected
    result["silent"]["count"] = KEYS * n_iterations
    return result


def mlflow_overhead(result: Mapping[str, Any], way: str) -> float:
    """Seconds per metric that ``way`` adds to the loop logging nothing."""
    silent = result["silent"]["seconds"] / result["silent"]["count"]
    figures = result[way]
    return float(figures["seconds"] / figures["count"] - silent)


def sqlite_floor(n_metrics: int) -> dict[str, float]:
    """Seconds for raw sqlite3 inserts of ``n_metrics`` rows into a table shaped like
    pathtolive's (same index), in WAL mode with synchronous=NORMAL as pathtolive sets it:
    one commit per row, and all in one executemany and one commit."""
    folder = Path(tempfile.mkdtemp(prefix="sqlite-", dir=WORK))
    now = time.time()
    rows = [("run", f"metric_{i % KEYS}", i * 0.5, i // KEYS, now) for i in range(n_metrics)]
    figures = {}
    try:
        for way in ("per_row", "executemany"):
            connection = sqlite3.connect(folder / f"{way}.db", isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT, key TEXT, "
                "value REAL, step INTEGER, timestamp REAL)"
            )
            connection.execute("CREATE INDEX ix_metrics_run_key ON metrics (run_id, key)")
            insert = "INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?,?,?,?,?)"
            started = time.perf_counter()
            if way == "per_row":
                for row in rows:
                    connection.execute("BEGIN")
                    connection.execute(insert, row)
                    connection.execute("COMMIT")
            else:
                connection.execute("BEGIN")
                connection.executemany(insert, rows)
                connection.execute("COMMIT")
            figures[way] = time.perf_counter() - started
            connection.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures


# -- 2. crash safety -------------------------------------------------------------------


def crash_safety() -> tuple[int, int, str]:
    """Metrics of the finished step kept, of the crashed step kept, and the run status."""
    ws = _workspace({"tracking.py": TRACKING_PIPELINES})
    try:
        completed = subprocess.run(
            [sys.executable, "-c", CRASH_RUN, str(ws.root), str(CRASH_METRICS)],
            env=_environ(),
            capture_output=True,
            text=True,
        )
        if completed.returncode != 1:
            raise SystemExit(
                f"the crashing run exited {completed.returncode}, not 1:\n{completed.stderr}"
            )
        with ws.context.metadata.read() as session:
            [run] = session.list_runs(pipeline="crashing", status=None, limit=5)
            metrics = session.run_metrics(run.run_id)
            params = session.run_params(run.run_id)
        if params.get("finished_param") != CRASH_METRICS:
            raise SystemExit(f"the finished step's param was lost: {params}")
        finished = sum(metric.key == "finished_loss" for metric in metrics)
        crashed = sum(metric.key == "crashing_loss" for metric in metrics)
        return finished, crashed, run.status
    finally:
        _discard(ws)


# -- 3. cached rerun -------------------------------------------------------------------


@dataclass
class CacheFigures:
    uncached: list[float] = field(default_factory=list)
    cached: list[float] = field(default_factory=list)
    cached_steps: list[float] = field(default_factory=list)  # the steps' own seconds
    auc: float = float("nan")


def cached_rerun(rounds: int) -> CacheFigures:
    from sklearn.datasets import load_breast_cancer

    ws = _workspace({"risk.py": RISK_PIPELINE})
    figures = CacheFigures()
    try:
        frame = load_breast_cancer(as_frame=True).frame
        ws.add_dataset(frame, "cancer", tags={"target": ["target"]})
        run_args: dict[str, Any] = {"data": "cancer@latest", "params": {"n_estimators": TREES}}
        ws.run("risk", **run_args, use_cache=False)  # warm-up, not counted
        for round_ in range(rounds):
            seconds, full = _timed(lambda: ws.run("risk", **run_args, use_cache=False))
            if full.cached:
                raise SystemExit(f"use_cache=False still took {full.cached} from the cache")
            figures.uncached.append(seconds)
            seconds, again = _timed(lambda: ws.run("risk", **run_args))
            if again.executed or again.metrics != full.metrics:
                raise SystemExit(
                    f"the rerun executed {again.executed}; metrics {again.metrics} vs "
                    f"{full.metrics}"
                )
            figures.cached.append(seconds)
            with ws.context.metadata.read() as session:
                steps = session.run_steps(again.run.run_id)
            figures.cached_steps.append(sum(step.seconds or 0.0 for step in steps))
            figures.auc = again.metrics["roc_auc"]
            print(
                f"cached rerun round {round_ + 1}: uncached {figures.uncached[-1]:.2f} s, "
                f"cached {seconds * 1000:.0f} ms ({seconds / figures.uncached[-1]:.1%})"
            )
        return figures
    finally:
        _discard(ws)


# -- the report ------------------------------------------------------------------------


def _micro(seconds: float, n_metrics: int = 1) -> float:
    return seconds / n_metrics * 1e6


def _pathtolive_figures(pairs: list[dict[str, float]], n_metrics: int) -> dict[str, float]:
    return {
        "logged": median([pair["logged"] for pair in pairs]),
        "silent": median([pair["silent"] for pair in pairs]),
        "overhead": median([pair["logged"] - pair["silent"] for pair in pairs]) / n_metrics,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="tracking rounds per tool")
    parser.add_argument(
        "--pairs", type=int, default=3, help="pathtolive runs logging and not, per round"
    )
    parser.add_argument("--cache-rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 metrics instead of 10,000")
    parser.add_argument(
        "--one-by-one",
        type=int,
        default=1_000,
        metavar="N",
        help="metrics MLflow logs with one log_metric call each (default 1,000, a sample: "
        "each call costs milliseconds); the other ways log them all",
    )
    parser.add_argument("--json-out", type=Path, help="write the ratios here (pathtolive bench)")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    n_iterations = 100 if args.quick else 1_000
    n_metrics = KEYS * n_iterations
    one_by_one = max(1, min(args.one_by_one, n_metrics) // KEYS)
    print(f"machine: {machine()}")
    disk = fsync_ms(WORK)
    print(f"disk: one write + fsync {disk:.2f} ms (MLflow's SQLite commits wait on fsync)")
    python = peer_venv("mlflow", ["mlflow"]) / "python"
    print(f"per run: {PARAMS} params, {n_metrics:,} metrics ({KEYS} keys x {n_iterations:,})")
    if one_by_one < n_iterations:
        print(
            f"MLflow log_metric one call per metric: timed on the first {KEYS * one_by_one:,} "
            "metrics of the run (--one-by-one N for more)"
        )

    pathtolive_round(n_iterations, 1)  # warm-up, not counted: imports, first discovery
    ptl: list[dict[str, float]] = []
    mlf: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        pairs = pathtolive_round(n_iterations, args.pairs)
        ptl.extend(pairs)
        mlf.append(mlflow_round(python, n_iterations, one_by_one))
        mine = _pathtolive_figures(pairs, n_metrics)
        print(
            f"round {round_ + 1}: pathtolive run {mine['logged']:.3f} s (logging nothing "
            f"{mine['silent']:.3f} s): {_micro(mine['overhead']):.1f} us/metric; MLflow "
            + ", ".join(
                f"{way} {_micro(mlflow_overhead(mlf[-1], way)):.0f} us/metric"
                for way in MLFLOW_WAYS
            )
        )
    version = mlf[0]["version"]
    buffered = buffering_only(n_iterations) / n_metrics
    floor = sqlite_floor(n_metrics)

    mine = _pathtolive_figures(ptl, n_metrics)
    theirs = {way: median([mlflow_overhead(r, way) for r in mlf]) for way in MLFLOW_WAYS}
    seconds = {way: median([r[way]["seconds"] for r in mlf]) for way in MLFLOW_WAYS}
    counts = {way: mlf[0][way]["count"] for way in MLFLOW_WAYS}
    ratios = {way: theirs[way] / mine["overhead"] for way in MLFLOW_WAYS}

    print()
    print("| what (one run, 100 params) | metrics | median s | us per metric |")
    print("| --- | ---: | ---: | ---: |")
    for way, label in MLFLOW_WAYS.items():
        print(
            f"| {label} (SQLite) | {counts[way]:,} | {seconds[way]:.3f} | "
            f"{_micro(theirs[way]):.1f} |"
        )
    print(f"| pathtolive run, logging | {n_metrics:,} | {mine['logged']:.3f} | |")
    print(f"| pathtolive run, same step logging nothing | 0 | {mine['silent']:.3f} | |")
    print(
        f"| pathtolive overhead (the difference) | {n_metrics:,} | "
        f"{mine['overhead'] * n_metrics:.3f} | {_micro(mine['overhead']):.1f} |"
    )
    print(
        f"| of which `log_metric` calls into memory | {n_metrics:,} | "
        f"{buffered * n_metrics:.3f} | {_micro(buffered):.1f} |"
    )
    for way, label in (
        ("per_row", "sqlite3 floor: one commit per row (WAL)"),
        ("executemany", "sqlite3 floor: one executemany, one commit (WAL)"),
    ):
        print(
            f"| {label} | {n_metrics:,} | {floor[way]:.3f} | {_micro(floor[way], n_metrics):.2f} |"
        )
    print()
    for way, ratio in ratios.items():
        print(f"ratio MLflow {way} / pathtolive, per metric: {ratio:.1f}x")
    verdict = "met" if ratios["log_metric"] >= OVERHEAD_TARGET else "MISSED"
    print(f"target: pathtolive >= {OVERHEAD_TARGET:.0f}x less than MLflow log_metric: {verdict}")
    print("every run's metrics and params were counted back from its database: none lost")

    print()
    finished, crashed, status = crash_safety()
    print(f"metrics of finished steps kept after a crash: {finished}/{CRASH_METRICS}")
    print(
        f"metrics of the step running when the process died: {crashed}/{CRASH_METRICS} "
        f"(they wait for the step's end); the run is left '{status}'"
    )
    if finished != CRASH_METRICS:
        raise SystemExit("a crash lost metrics of a finished step")

    print()
    cache = cached_rerun(args.cache_rounds)
    full, rerun = median(cache.uncached), median(cache.cached)
    steps = median(cache.cached_steps)
    share = rerun / full
    print(f"uncached run median {full:.2f} s, cached rerun median {rerun * 1000:.0f} ms")
    print(
        f"of the cached rerun: the 3 steps (cache lookup, loading the outputs) "
        f"{steps * 1000:.0f} ms; the rest (code and environment capture, the returned model's "
        f"digest, the records) {(rerun - steps) * 1000:.0f} ms"
    )
    print(f"ratio cached / uncached: {share:.1%} ({full / rerun:.1f}x faster)")
    verdict = "met" if share < CACHED_TARGET else "MISSED"
    print(f"target: cached rerun < {CACHED_TARGET:.0%} of the uncached run: {verdict}")
    if args.json_out:
        found = [
            Ratio.of(
                f"per metric logged, vs {label}",
                _micro(mine["overhead"]),
                _micro(theirs[way]),
                unit="us",
                target=OVERHEAD_TARGET if way == "log_metric" else None,
            )
            for way, label in MLFLOW_WAYS.items()
        ]
        found.append(
            Ratio.of(
                "cached rerun (peer: the same pipeline uncached)",
                rerun,
                full,
                unit="s",
                target=1 / CACHED_TARGET,
            )
        )
        write_results(
            args.json_out, "tracking_overhead", found, machine=machine(), quick=args.quick
        )

    print()
    print("---- for benchmarks/RESULTS.md ----")
    print()
    print(f"### Tracking overhead, crash safety, cached reruns ({date.today().isoformat()})")
    print()
    command = "benchmarks/tracking_overhead.py" + (" --quick" if args.quick else "")
    print(
        f"`.venv/bin/python {command}` on {machine()}, fsync {disk:.1f} ms; MLflow {version} "
        f"(SQLite tracking store, its defaults). Medians of {args.rounds} rounds "
        f"({args.rounds * args.pairs} pathtolive run pairs); cached rerun: "
        f"{args.cache_rounds} rounds, in-process."
    )
    print()
    print(f"| {PARAMS} params + metrics in one run | metrics | us per metric | vs pathtolive |")
    print("| --- | ---: | ---: | ---: |")
    for way, label in MLFLOW_WAYS.items():
        print(f"| {label} | {counts[way]:,} | {_micro(theirs[way]):.1f} | {ratios[way]:.1f}x |")
    print(
        f"| pathtolive `log_metric` (buffered, one transaction per step end) | {n_metrics:,} "
        f"| {_micro(mine['overhead']):.1f} | 1x |"
    )
    print(
        f"| sqlite3 alone, one commit per row (WAL) | {n_metrics:,} | "
        f"{_micro(floor['per_row'], n_metrics):.1f} | |"
    )
    print()
    print(
        f"Target ≥ {OVERHEAD_TARGET:.0f}x less per metric than MLflow `log_metric`: "
        f"{ratios['log_metric']:.0f}x. Every metric and param counted back after each run. "
        f"Process killed in step 2: finished steps' metrics kept {finished}/{CRASH_METRICS}, "
        f"the running step's {crashed}/{CRASH_METRICS}."
    )
    print()
    print(f"| 3-step pipeline, breast cancer, RandomForest({TREES} trees) | median s |")
    print("| --- | ---: |")
    print(f"| run, `use_cache=False` (ROC AUC {cache.auc:.3f}) | {full:.2f} |")
    print(f"| rerun, inputs unchanged, every step cached | {rerun:.2f} ({share:.1%}) |")
    print()
    print(f"Target: cached rerun < {CACHED_TARGET:.0%} of the uncached run: {verdict}.")


if __name__ == "__main__":
    main()
