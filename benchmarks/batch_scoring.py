"""Batch scoring: `pathtolive score` vs `mlflow models predict` vs a plain pandas script.

Usage:  .venv/bin/python benchmarks/batch_scoring.py [--rows 10000000] [--columns 20]
            [--trees 100] [--rounds 1] [--workers-compare] [--skip-mlflow]

Writes one Parquet file of --rows rows (an ``id`` column and --columns float features, in
row groups of 500,000 rows, smaller ones for at least 20) in benchmarks/.work, fits a
GradientBoostingClassifier (--trees trees) on a 20,000-row sample, and in the same run
scores every row three ways,
each a fresh process measured for wall time and peak memory (its whole process tree):

  * pathtolive: ``pathtolive score risk@1 FILE --out DIR --id-column id`` in a workspace
    holding the model (streaming on one machine: Arrow batches, checked against the
    signature, Parquet out, sampled rows to the prediction log);
  * the floor: ``pandas.read_parquet`` of the file, ``predict_proba``, ``to_parquet`` of
    the ids and the probabilities, nothing else;
  * the peer: ``mlflow models predict --env-manager local`` on the same model saved by
    ``mlflow.sklearn`` (predict_proba) from a throw-away venv with the same scikit-learn.
    Its input formats are JSON and CSV, so it reads the same rows as CSV (written once).

With --workers-compare it also scores the file with ``--scheduler`` on a fresh
``LocalCluster`` of 1 and then 2 single-threaded worker processes, and prints the
scaling efficiency (speed-up / workers) with each worker's peak memory.

Targets (issue 16): pathtolive at least 3x faster than MLflow, within 1.3x of the floor,
peak memory under 1 GB.
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, Measurement, machine, measure, median, peer_venv

from pathtolive.benchmarking import Ratio, write_results

ROW_GROUP_ROWS = 500_000  # one partition per row group when scoring a single file
MIN_PARTITIONS = 20  # smaller files get smaller row groups, so 2 workers have work to share
FIT_ROWS = 20_000
MLFLOW_VERSION = "3.17.2"
SPEED_TARGET = 3.0  # MLflow's seconds / pathtolive's, at least
FLOOR_TARGET = 1.3  # pathtolive's seconds / the floor's, at most
MEMORY_TARGET_MB = 1000.0
BIN = Path(sys.executable).parent

FLOOR = '''
"""The floor: read the whole file, predict, write ids and probabilities."""
import pickle
import sys

import pandas as pd

model_path, data, out = sys.argv[1:4]
with open(model_path, "rb") as file:
    model = pickle.load(file)
frame = pd.read_parquet(data)
probabilities = model.predict_proba(frame[list(model.feature_names_in_)])
result = pd.DataFrame({"id": frame["id"]})
for index, label in enumerate(model.classes_):
    result[f"p_{label}"] = probabilities[:, index]
result.to_parquet(out)
'''

MLFLOW_SAVE = '''
"""Run by the MLflow peer's Python: save the pickled model as an MLflow model answering
predict_proba, with a signature inferred from sample rows."""
import pickle
import sys

import mlflow
import pandas as pd
from mlflow.models import infer_signature

model_path, sample_path, out = sys.argv[1:4]
with open(model_path, "rb") as file:
    model = pickle.load(file)
sample = pd.read_parquet(sample_path)
mlflow.sklearn.save_model(
    model,
    out,
    pyfunc_predict_fn="predict_proba",
    signature=infer_signature(sample, model.predict_proba(sample)),
    skops_trusted_types=["sklearn.tree._tree.Tree"],
)
print(mlflow.__version__)
'''


def features(columns: int) -> list[str]:
    return [f"x{i:02d}" for i in range(columns)]


def make_data(rows: int, columns: int, seed: int = 0) -> Path:
    """``rows`` rows of an int id and ``columns`` float features, written once."""
    group_rows = row_group_rows(rows)
    path = WORK / f"scoring-{rows}x{columns}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 1, columns)
    partial = path.with_suffix(".partial")
    writer: pq.ParquetWriter | None = None
    for start in range(0, rows, group_rows):
        count = min(group_rows, rows - start)
        values = rng.normal(0, 1, (count, columns))
        noisy = values @ weights + rng.normal(0, 1, count)
        table = pa.table(
            {
                "id": np.arange(start, start + count, dtype=np.int64),
                **{name: values[:, i] for i, name in enumerate(features(columns))},
                "label": (noisy > 0).astype(np.int64),
            }
        )
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=group_rows)
    if writer is not None:
        writer.close()
    partial.rename(path)
    return path


def row_group_rows(rows: int) -> int:
    return max(1, min(ROW_GROUP_ROWS, -(-rows // MIN_PARTITIONS)))


def csv_copy(parquet: Path, columns: list[str]) -> Path:
    """The same rows as CSV (without the label), for the MLflow peer; written once."""
    path = parquet.with_suffix(".csv")
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    file = pq.ParquetFile(parquet)
    schema = pa.schema([file.schema_arrow.field(name) for name in columns])
    with pacsv.CSVWriter(partial, schema) as writer:
        for batch in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
            writer.write_batch(batch)
    partial.rename(path)
    return path


def fit(path: Path, columns: list[str], trees: int) -> tuple[object, object]:
    """A GradientBoostingClassifier fitted on the file's first rows, and those rows."""
    from sklearn.ensemble import GradientBoostingClassifier

    first = pq.ParquetFile(path).read_row_group(0).slice(0, FIT_ROWS).to_pandas()
    model = GradientBoostingClassifier(n_estimators=trees, random_state=0)
    model.fit(first[columns], first["label"])
    return model, first[columns]


def _environ() -> dict[str, str]:
    return {**os.environ, "PATHTOLIVE_USER": "bench"}


def workspace(model: object, sample: object, log_sample: float | None) -> Path:
    """A fresh workspace holding the model as risk@1; with ``log_sample``, that share
    of the scored rows goes to the prediction log (default: every row)."""
    from pathtolive import Workspace

    root = Path(tempfile.mkdtemp(prefix="ptl-score-", dir=WORK))
    ws = Workspace.init(root, environ=_environ())
    try:
        ws.register_model(model, name="risk", sample=sample)
    finally:
        ws.close()
    if log_sample is not None:
        config = root / "pathtolive.toml"
        config.write_text(config.read_text() + f"\n[serve]\nlog_sample = {log_sample!r}\n")
    return root


def _fresh(name: str) -> Path:
    out = WORK / name
    shutil.rmtree(out, ignore_errors=True)
    return out


def run_pathtolive(root: Path, data: Path, scheduler: str | None = None) -> Measurement:
    out = _fresh("scored-pathtolive")
    cmd = [str(BIN / "pathtolive"), "score", "risk@1", str(data), "--out", str(out)]
    cmd += ["--id-column", "id"] + (["--scheduler", scheduler] if scheduler else [])
    measured = measure(cmd, cwd=root, env=_environ())
    shutil.rmtree(out, ignore_errors=True)
    return measured


def run_floor(model_path: Path, data: Path) -> Measurement:
    script = WORK / "floor_score.py"
    script.write_text(textwrap.dedent(FLOOR).lstrip())
    out = _fresh("scored-floor.parquet")
    measured = measure(
        [sys.executable, str(script), str(model_path), str(data), str(out)], cwd=WORK
    )
    out.unlink(missing_ok=True)
    return measured


def _mlflow_environ(mlflow_bin: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{mlflow_bin}:{os.environ['PATH']}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


def mlflow_model(mlflow_bin: Path, model_path: Path, sample: object) -> tuple[Path, str]:
    folder = Path(tempfile.mkdtemp(prefix="mlflow-score-", dir=WORK))
    sample.to_parquet(folder / "sample.parquet")  # type: ignore[attr-defined]
    script = WORK / "mlflow_save_scoring.py"
    script.write_text(textwrap.dedent(MLFLOW_SAVE).lstrip())
    saved = subprocess.run(
        [str(mlflow_bin / "python"), str(script), str(model_path), "sample.parquet", "model"],
        cwd=folder,
        env=_mlflow_environ(mlflow_bin),
        capture_output=True,
        text=True,
    )
    if saved.returncode != 0:
        raise SystemExit(f"saving the MLflow model failed:\n{saved.stdout}\n{saved.stderr}")
    return folder / "model", saved.stdout.strip().splitlines()[-1]


def run_mlflow(mlflow_bin: Path, model: Path, data_csv: Path) -> Measurement:
    out = _fresh("scored-mlflow.json")
    cmd = [str(mlflow_bin / "mlflow"), "models", "predict", "-m", str(model)]
    cmd += ["-i", str(data_csv), "-t", "csv", "-o", str(out), "--env-manager", "local"]
    measured = measure(cmd, cwd=WORK, env=_mlflow_environ(mlflow_bin))
    out.unlink(missing_ok=True)
    return measured


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def on_cluster(root: Path, data: Path, workers: int) -> tuple[Measurement, list[float]]:
    """The CLI scoring on a fresh LocalCluster of ``workers`` single-threaded processes:
    its measurement and each worker's peak memory (MB)."""
    from distributed import Client, LocalCluster

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
        measured = run_pathtolive(root, data, scheduler=cluster.scheduler_address)
        peaks = list(client.run(_peak_mb).values())
    return measured, peaks


def _line(name: str, figures: list[Measurement], rows: int) -> str:
    seconds = median([m.seconds for m in figures])
    peak = max(m.peak_rss_mb for m in figures)
    return f"| {name} | {seconds:.1f} | {rows / seconds:,.0f} | {peak:,.0f} |"


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each, medians kept")
    parser.add_argument("--workers-compare", action="store_true", help="1 vs 2 workers")
    parser.add_argument("--skip-mlflow", action="store_true", help="no MLflow peer")
    parser.add_argument(
        "--log-sample",
        type=float,
        help="[serve] log_sample of the pathtolive workspace (default: its default, 1.0: "
        "every scored row also goes to the prediction log)",
    )
    parser.add_argument("--quick", action="store_true", help="200,000 rows")
    parser.add_argument("--json-out", type=Path, help="write the ratios here (pathtolive bench)")
    args = parser.parse_args()
    if args.quick:
        args.rows = 200_000

    WORK.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    load_before = os.getloadavg()[0]
    import sklearn

    columns = features(args.columns)
    data = make_data(args.rows, args.columns)
    model, sample = fit(data, columns, args.trees)
    model_path = WORK / "scoring-model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    root = workspace(model, sample, args.log_sample)
    prepared = time.perf_counter() - began
    print(f"data and model ready in {prepared:.0f} s: {data}", flush=True)

    mlflow_bin: Path | None = None
    mlflow_dir, mlflow_version, data_csv = Path(), "", Path()
    if not args.skip_mlflow:
        mlflow_bin = peer_venv(
            "mlflow-predict",
            [f"mlflow=={MLFLOW_VERSION}", f"scikit-learn=={sklearn.__version__}"],
        )
        mlflow_dir, mlflow_version = mlflow_model(mlflow_bin, model_path, sample)
        data_csv = csv_copy(data, ["id", *columns])

    figures: dict[str, list[Measurement]] = {"pathtolive": [], "floor": [], "mlflow": []}
    for _ in range(args.rounds):  # alternate, so a busy moment hurts all alike
        figures["pathtolive"].append(run_pathtolive(root, data))
        print(f"pathtolive: {figures['pathtolive'][-1].seconds:.1f} s", flush=True)
        figures["floor"].append(run_floor(model_path, data))
        print(f"floor: {figures['floor'][-1].seconds:.1f} s", flush=True)
        if mlflow_bin is not None:
            figures["mlflow"].append(run_mlflow(mlflow_bin, mlflow_dir, data_csv))
            print(f"mlflow: {figures['mlflow'][-1].seconds:.1f} s", flush=True)

    cluster: dict[int, tuple[list[Measurement], list[float]]] = {}
    if args.workers_compare:
        for workers in (1, 2):
            runs, peaks = [], []
            for _ in range(args.rounds):
                measured, worker_peaks = on_cluster(root, data, workers)
                runs.append(measured)
                peaks.extend(worker_peaks)
            cluster[workers] = (runs, peaks)
            print(f"cluster, {workers} worker(s): {median([m.seconds for m in runs]):.1f} s")

    ours = median([m.seconds for m in figures["pathtolive"]])
    ours_peak = max(m.peak_rss_mb for m in figures["pathtolive"])
    floor = median([m.seconds for m in figures["floor"]])
    print()
    print("---- for benchmarks/RESULTS.md ----")
    print()
    print(
        f"### Batch scoring: `pathtolive score` vs `mlflow models predict` "
        f"({datetime.now(UTC):%Y-%m-%d})"
    )
    print()
    command = f"benchmarks/batch_scoring.py --rows {args.rows} --columns {args.columns}"
    command += " --workers-compare" if args.workers_compare else ""
    if args.log_sample is not None:
        command += f" --log-sample {args.log_sample:g}"
    print(
        f"`.venv/bin/python {command}` on {machine()}, Python {sys.version.split()[0]}, "
        f"scikit-learn {sklearn.__version__}; GradientBoostingClassifier({args.trees} trees) "
        f"on {args.rows:,} rows x {args.columns} float columns (+ an int id), one Parquet "
        f"file in row groups of {row_group_rows(args.rows):,} rows (one partition each); "
        f"prediction log sample {1.0 if args.log_sample is None else args.log_sample:g}; "
        f"median of {args.rounds} run(s), "
        f"each a fresh process, peak RSS of its process tree"
        + (f"; MLflow {mlflow_version} reads the same rows as CSV." if mlflow_version else ".")
    )
    print()
    print("| scorer | seconds | rows/s | peak MB |")
    print("|---|---:|---:|---:|")
    print(_line("pathtolive score (streaming, here)", figures["pathtolive"], args.rows))
    print(_line("floor: read_parquet + predict_proba + to_parquet", figures["floor"], args.rows))
    if figures["mlflow"]:
        print(_line("mlflow models predict (CSV)", figures["mlflow"], args.rows))
    for workers, (runs, _) in cluster.items():
        print(_line(f"pathtolive score, LocalCluster of {workers} (CLI process)", runs, args.rows))
    print()
    if figures["mlflow"]:
        theirs = median([m.seconds for m in figures["mlflow"]])
        print(
            f"- {theirs / ours:.2f}x MLflow's speed (target at least {SPEED_TARGET:g}x: "
            f"{_verdict(theirs / ours >= SPEED_TARGET)})"
        )
    print(
        f"- {ours / floor:.2f}x the floor's time (target at most {FLOOR_TARGET:g}x: "
        f"{_verdict(ours / floor <= FLOOR_TARGET)})"
    )
    print(
        f"- peak memory {ours_peak:,.0f} MB (target under {MEMORY_TARGET_MB:,.0f} MB: "
        f"{_verdict(ours_peak < MEMORY_TARGET_MB)}); the floor's "
        f"{max(m.peak_rss_mb for m in figures['floor']):,.0f} MB"
    )
    if len(cluster) == 2:
        one = median([m.seconds for m in cluster[1][0]])
        two = median([m.seconds for m in cluster[2][0]])
        print(
            f"- LocalCluster: 2 workers {one / two:.2f}x as fast as 1, scaling efficiency "
            f"{one / two / 2:.0%} ({os.cpu_count()} cores, shared with the CLI and the "
            f"scheduler); peak memory per worker {max(cluster[1][1]):,.0f} MB with 1, "
            f"{max(cluster[2][1]):,.0f} MB with 2"
        )
    if args.json_out:
        found = [
            Ratio.of(
                "scoring: seconds, the floor's / pathtolive's",
                ours,
                floor,
                unit="s",
                target=1 / FLOOR_TARGET,
            ),
            Ratio.of(
                "scoring: peak memory, the floor's / pathtolive's",
                ours_peak,
                max(m.peak_rss_mb for m in figures["floor"]),
                unit="MB",
            ),
        ]
        if figures["mlflow"]:
            found.insert(
                0,
                Ratio.of(
                    "scoring: seconds, mlflow models predict's / pathtolive's",
                    ours,
                    median([m.seconds for m in figures["mlflow"]]),
                    unit="s",
                    target=SPEED_TARGET,
                ),
            )
        write_results(args.json_out, "batch_scoring", found, machine=machine(), quick=args.quick)
    print()
    print(
        f"(whole run {time.perf_counter() - began:.0f} s, of which {prepared:.0f} s data and "
        f"model; 1-minute load average before it {load_before:.2f})"
    )


if __name__ == "__main__":
    main()
