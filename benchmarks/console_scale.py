"""Server time of every console page on the workspace the console must stay fast on.

Usage:  .venv/bin/python benchmarks/console_scale.py [--workspace DIR] [--rounds 20]
            [--small] [--metadata-url URL]

Builds, once, a workspace of 100 models x 50 versions (a gate report each; live, staging,
canary and shadow aliases with their history; pending and decided promotions; open drift
alerts), 1,000 pipeline runs, 100 dataset versions, 100,000 audit events and 10 million
logged predictions (200 Parquet segments of 50,000 rows, written as the prediction log
writes them, spread over the live versions and the last seven days), and stored monitor
results of every live version: 30 daily windows of 25 features each, copies of what one
real ``monitor --every 1d`` stored for the first model. It is written
through the metadata store's and artifact store's own calls in bulk, not by training
5,000 models: every version is the same small fitted model, stored once. The workspace is
kept under --workspace (default: a folder in the system's temporary directory) and reused
by the next run; --small builds a tenth of everything (a hundredth of the predictions) in
its own folder, for a quick check. A kept workspace of an older schema is upgraded (as
``pathtolive db upgrade`` does) and given only what it lacks (the monitor results).

Each page is then requested --rounds times (after one warm-up request) through the
console's ASGI app in this process (Starlette's TestClient: no network; the page's own
work and the app's middleware), and the table gives the median and p95 per page against
the 150 ms target, with what one request of the page read: SQL statements, prediction-log
segments and dataset objects (a page reads neither the log nor a dataset in full). A page
slower than a second is requested only until --page-budget seconds are spent on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine
from console_browsing import add_audit_events, add_data_versions, add_runs

from pathtolive import env
from pathtolive.config import load_settings
from pathtolive.entities import MonitorResult
from pathtolive.gates import GateReport
from pathtolive.gates.base import GateResult
from pathtolive.predlog.segment import FIXED_COLUMNS, INPUT_PREFIX, OUTPUT_COLUMNS
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.database import upgrade_database
from pathtolive.service.monitor import monitor
from pathtolive.service.workspace import init_workspace, open_workspace
from pathtolive.ui.console.app import ConsoleSettings, create_console

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Starlette asks for httpx's successor
    from starlette.testclient import TestClient

TARGET_MS = 150.0
DATASET = "big"
COLUMNS = 10
SEGMENT_ROWS = 50_000
MONITOR_WINDOWS = 30
MONITOR_FEATURES = 25


@dataclass(frozen=True)
class Size:
    models: int
    versions: int
    runs: int
    data_versions: int
    events: int
    predictions: int


FULL = Size(100, 50, 1000, 100, 100_000, 10_000_000)
SMALL = Size(10, 50, 100, 10, 10_000, 100_000)


def model_name(index: int) -> str:
    return f"m{index:03d}"


# -- building --------------------------------------------------------------------------


def build(ctx: ServiceContext, size: Size, now: datetime) -> dict[str, Any]:
    """The workspace's content; what the pages are then asked for (run ids, a model)."""
    steps: dict[str, float] = {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        begun = time.perf_counter()
        yield
        steps[name] = round(time.perf_counter() - begun, 1)
        print(f"  {name}: {steps[name]:.1f} s", flush=True)

    with step(f"{size.data_versions} dataset versions"):
        add_data_versions(ctx, size.data_versions, DATASET, columns=COLUMNS)
    with step(f"{size.runs} runs"):
        run_ids = add_runs(ctx, size.runs, size.data_versions, DATASET)
    with step(f"{size.models} models x {size.versions} versions"):
        add_models(ctx, size, run_ids, now)
    with step(f"{size.events:,} audit events"):
        add_audit_events(ctx, size.events)
    with step(f"{size.predictions:,} logged predictions"):
        segments = add_predictions(ctx, size, now)
    with step(f"{size.models * MONITOR_WINDOWS:,} stored monitor results"):
        monitor_results = add_monitor_results(ctx, size, now)
    return {
        "runs": run_ids[:10],
        "segments": segments,
        "steps": steps,
        "monitor_results": monitor_results,
    }


def _fitted_model(ctx: ServiceContext) -> Any:
    """One small classifier on the dataset's columns: every version is this model."""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({f"c{j}": rng.normal(0, 1, 500) for j in range(COLUMNS)})
    target = (frame["c0"] + frame["c1"] > 0).astype(int)
    return LogisticRegression(max_iter=1000).fit(frame, target)


def _gate_report(model: str, version: int, at: datetime, passed: bool) -> dict[str, Any]:
    value = 0.80 + (version % 17) / 100
    results = [
        GateResult.passing(
            "min_metric",
            "ok",
            figure=value,
            threshold=0.75,
            data={
                "interval": {
                    "metric": "roc_auc",
                    "value": value,
                    "low": value - 0.02,
                    "high": value + 0.02,
                    "resamples": 1000,
                    "confidence": 0.95,
                },
                "bound": "floor",
            },
        ),
        GateResult.passing(
            "slices",
            "no slice loses",
            figure=0.01,
            threshold=0.05,
            data={
                "reference": "live",
                "min_slice_rows": 20,
                "slices": [
                    {
                        "column": "c0",
                        "value": f"q{q}",
                        "rows": 400,
                        "candidate": value - q / 100,
                        "reference": value - q / 90,
                        "drop": 0.0,
                        "status": "ok",
                    }
                    for q in range(4)
                ],
            },
        ),
        GateResult.passing(
            "latency", "fast", figure=2.5, threshold=50.0, data={"single_p95_ms": 2.5}
        ),
    ]
    if not passed:
        results.append(GateResult.failing("beat_live", "worse than live", figure=-0.01))
    return GateReport.from_results(model, version, "roc_auc", results, at).to_dict()


def add_models(ctx: ServiceContext, size: Size, run_ids: list[str], now: datetime) -> None:
    """Models of ``size.versions`` versions each, registered in bulk: the first version
    through the service (artifact, signature), the others as rows copying it."""
    first = model_service.register_model(
        ctx, _fitted_model(ctx), model_name(0), data=f"{DATASET}@1", metrics={"auc": 0.8}
    )
    start = now - timedelta(days=60)
    with ctx.metadata.write() as session:
        for m in range(size.models):
            name = model_name(m)
            if m > 0:
                session.create_model(name, start, "ada")
            for v in range(1, size.versions + 1):
                at = start + timedelta(hours=v)
                if (m, v) != (0, 1):
                    session.insert_model_version(
                        replace(
                            first,
                            model=name,
                            version=v,
                            run_id=run_ids[(m * size.versions + v) % len(run_ids)],
                            metrics={"auc": 0.7 + v / 200, "f1": 0.6 + (m % 10) / 50},
                            created_at=at,
                            created_by="ada",
                            source="run",
                        )
                    )
                passed = v % 7 != 0
                report = _gate_report(name, v, at, passed)
                session.insert_gate_report(name, v, passed=passed, report=report, at=at, by="ada")
            _aliases_and_promotions(session, m, size.versions, start)
            if m % 5 == 0:
                for feature in ("c0", "c3", "c7"):
                    session.raise_alert(
                        name,
                        "drift",
                        f"drift:{feature}",
                        f"drift in {feature}: psi 0.31 >= 0.2",
                        {"feature": feature, "psi": 0.31},
                        at=now - timedelta(hours=m % 24),
                    )


def _aliases_and_promotions(session: Any, m: int, versions: int, start: datetime) -> None:
    """live moved through four versions (each an approved request), staging, a canary on
    every third model, a shadow on every fourth, and pending requests: the newest
    version for live on every model, the one before for staging on every other."""
    name = model_name(m)
    for step, version in enumerate(range(versions // 5, versions, versions // 5)):
        at = start + timedelta(days=5 * step + 5)
        promotion = session.insert_promotion(
            name,
            version,
            alias="live",
            policy="four-eyes",
            status="pending",
            requested_by="sam",
            requested_at=at,
            reason="better on the holdout",
            gate_report_id=None,
        )
        session.add_approval(promotion, approver="maria", decision="approve", comment="", at=at)
        session.decide_promotion(promotion, status="approved", decided_by="maria", decided_at=at)
        session.move_alias(name, "live", version, at=at, actor="maria", reason="approved")
    at = start + timedelta(days=40)
    session.move_alias(name, "staging", versions - 5, at=at, actor="ada")
    if m % 3 == 0:
        session.move_alias(name, "canary", versions - 3, at=at, actor="ada")
        session.set_canary_share(name, 0.1, at=at, actor="ada")
    if m % 4 == 0:
        session.move_alias(name, "shadow", versions - 2, at=at, actor="ada")
    for version, alias in ((versions, "live"), (versions - 1, "staging")):
        if alias == "staging" and m % 2:
            continue
        report = session.latest_gate_report(name, version)
        session.insert_promotion(
            name,
            version,
            alias=alias,
            policy="four-eyes",
            status="pending",
            requested_by="sam",
            requested_at=at + timedelta(hours=m),
            reason=f"{name}@{version} beats live",
            gate_report_id=None if report is None else report.report_id,
        )


def add_predictions(ctx: ServiceContext, size: Size, now: datetime) -> list[str]:
    """``size.predictions`` rows of the live versions' prediction log, as segments of
    :data:`SEGMENT_ROWS` rows with the prediction log's columns, made a column at a time;
    the segments' digests."""
    rng = np.random.default_rng(3)
    model = _fitted_model(ctx)
    segments = max(1, size.predictions // SEGMENT_ROWS)
    rows = size.predictions // segments
    per_model = -(-segments // size.models)
    span = timedelta(days=7).total_seconds()
    digests = []
    for s in range(segments):
        m, part = divmod(s, per_model)
        name = model_name(m % size.models)
        live = size.versions - size.versions // 5
        # The model's share of the last seven days, oldest part first.
        first = now - timedelta(seconds=span * (per_model - part) / per_model)
        offsets = np.sort(rng.uniform(0, span / per_model, rows))
        at = pd.DatetimeIndex(first + pd.to_timedelta(offsets, unit="s")).floor("us")
        inputs = {
            f"c{j}": rng.normal(0.3 * (part == per_model - 1), 1, rows) for j in range(COLUMNS)
        }
        proba = model.predict_proba(pd.DataFrame(inputs))[:, 1]
        table = _segment_table(f"{name}-{s}", at, inputs, proba, live)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        stored = ctx.artifacts.put_bytes(sink.getvalue().to_pybytes())
        with ctx.metadata.write() as session:
            session.insert_prediction_segment(
                name,
                live,
                digest=stored.digest,
                rows=rows,
                first_at=at[0].to_pydatetime(),
                last_at=at[-1].to_pydatetime(),
                created_at=at[-1].to_pydatetime(),
            )
        digests.append(stored.digest)
    return digests


def live_version(size: Size) -> int:
    """The version every model's live alias ends on (see :func:`_aliases_and_promotions`)."""
    return size.versions - size.versions // 5


def add_monitor_results(ctx: ServiceContext, size: Size, now: datetime) -> int:
    """:data:`MONITOR_WINDOWS` daily windows of stored monitor results for every model's
    live version, each of :data:`MONITOR_FEATURES` features: one real ``monitor --every
    1d`` on the first model's prediction log (its last seven days), whose stored windows
    are then copied, shifted back a day at a time and their features repeated under new
    names, to every model; how many were stored."""
    model, live = model_name(0), live_version(size)
    days = 7
    monitor(ctx, model, window=timedelta(days=1), every=timedelta(days=1), count=days, now=now)
    with ctx.metadata.read() as session:
        keys = session.monitor_window_keys(model, live, limit=days)
        looked = session.get_monitor_results([key.result_id for key in keys], histograms=True)
    if not looked:
        raise SystemExit(f"monitor stored no results for {model}@{live}")
    templates = [_more_features(result) for result in looked]
    stored = 0
    for m in range(size.models):
        results = []
        for w in range(MONITOR_WINDOWS):
            # The looked windows are a day apart, the newest last: window w (0 the
            # newest) is the look's (w mod days)-th newest, moved back whole looks.
            template = templates[-1 - w % len(templates)]
            shift = timedelta(days=w - w % len(templates))
            results.append(
                replace(
                    template,
                    model=model_name(m),
                    version=live,
                    start=template.start - shift,
                    end=template.end - shift,
                    result_id=0,
                )
            )
        with ctx.metadata.write() as session:
            stored += session.store_monitor_results(results)
    return stored


def _more_features(result: MonitorResult) -> MonitorResult:
    """``result`` with :data:`MONITOR_FEATURES` features: its own, then copies of them
    under new names."""
    own = result.summary["features"]
    features = [
        dict(own[i % len(own)], feature=f"f{i:02d}") if i >= len(own) else own[i]
        for i in range(MONITOR_FEATURES)
    ]
    histograms = {
        item["feature"]: result.histograms[own[i % len(own)]["feature"]]
        for i, item in enumerate(features)
        if own[i % len(own)]["feature"] in result.histograms
    }
    drifted = sum(1 for item in features if item["drifted"])
    summary = dict(result.summary, features=features)
    return replace(result, summary=summary, histograms=histograms, drifted=drifted)


def _segment_table(
    prefix: str, at: pd.DatetimeIndex, inputs: dict[str, np.ndarray], proba: np.ndarray, live: int
) -> pa.Table:
    """A segment as :func:`pathtolive.predlog.segment.encode_rows` lays it out: one
    request per row, class probabilities as outputs."""
    rows = len(at)
    number = pa.array(np.arange(rows)).cast(pa.string())

    def repeat(text: str) -> pa.Array:
        return pa.array(np.full(rows, text, dtype=object), type=pa.string())

    p1 = pc.round(pa.array(proba), 6)
    p0 = pc.round(pc.subtract(1.0, p1), 6)
    output = pc.binary_join_element_wise(
        "[", pc.cast(p0, pa.string()), ", ", pc.cast(p1, pa.string()), "]", ""
    )
    fixed = {
        "request_id": pc.binary_join_element_wise(prefix, number, "-"),
        "row": pa.array(np.zeros(rows, dtype=np.int32)),
        "at": pa.array(at.to_numpy(), type=pa.timestamp("us", tz="UTC")),
        "protocol": repeat("v1"),
        "role": repeat("live"),
        "latency_ms": pa.array(np.full(rows, 1.5)),
        "trained_on": repeat(f"{DATASET}@{live % 100 + 1}"),
    }
    columns = [fixed[name] for name in FIXED_COLUMNS]
    names = list(FIXED_COLUMNS)
    for column, values in inputs.items():
        names.append(f"{INPUT_PREFIX}{column}")
        columns.append(pa.array(values))
    names.extend(OUTPUT_COLUMNS)
    columns += [output, p1, pa.nulls(rows, type=pa.string())]
    return pa.Table.from_arrays(columns, names=names)


# -- measuring -------------------------------------------------------------------------


@dataclass
class Reads:
    """What the requests of one page read: SQL statements, log segments, dataset objects."""

    statements: int = 0
    segments: int = 0
    datasets: int = 0


def watch_reads(ctx: ServiceContext, segments: set[str], data: set[str]) -> Reads:
    """Counts every SQL statement and every read of an artifact that is a log segment or
    a dataset version, from now on, into the returned :class:`Reads`."""
    reads = Reads()

    def statement(*_: Any) -> None:
        reads.statements += 1

    event.listen(ctx.metadata.engine, "before_cursor_execute", statement)
    store = type(ctx.artifacts)
    for method in ("get_bytes", "get_file", "local_path", "raw_open"):
        original: Callable[..., Any] = getattr(store, method)

        def counted(self: Any, digest: str, *args: Any, _original: Any = original) -> Any:
            if digest in segments:
                reads.segments += 1
            elif digest in data:
                reads.datasets += 1
            return _original(self, digest, *args)

        setattr(store, method, counted)
    return reads


def pages(model: str, runs: list[str], size: Size) -> dict[str, str]:
    live = live_version(size)
    last = size.data_versions
    return {
        "Overview": "/",
        "Models: list": "/models",
        "Models: list, page 2": "/models?page=2",
        "Model": f"/models/{model}",
        "Model: versions, page 2": f"/models/{model}?page=2",
        "Model version (live)": f"/models/{model}/versions/{live}",
        "Promotions": "/promotions",
        "Promotions: page 2": "/promotions?offset=20",
        "Datasets: list": "/datasets",
        "Datasets: a dataset's versions": f"/datasets/{DATASET}",
        "Datasets: a version's profile": f"/datasets/{DATASET}/versions/{last}",
        "Datasets: diff of two versions": f"/datasets/{DATASET}/diff?old=1&new={last}",
        "Runs: table": "/runs",
        "Runs: filtered, sorted by a metric": "/runs?pipeline=p3&metric=auc>=0.5&sort=-metric:auc",
        "Runs: compare 10": "/runs/compare?" + "&".join(f"run={r}" for r in runs[:10]),
        "Monitoring: every model": "/monitoring",
        "Monitoring: a model": f"/monitoring/{model}",
        "Monitoring: a model, 30 windows": f"/monitoring/{model}?windows={MONITOR_WINDOWS}",
        "Monitoring: a model, a cell opened": f"/monitoring/{model}?feature=f20&window=13",
        "Audit: newest": "/audit",
        "Audit: by action, deep page": "/audit?action=thing.c&before=50000",
        "Audit: a rare action": "/audit?action=dataset.version_added",
    }


def percentile(sorted_times: list[float], share: float) -> float:
    return sorted_times[max(0, round(share * len(sorted_times)) - 1)]


def measure(
    client: TestClient, reads: Reads, paths: dict[str, str], rounds: int, budget: float
) -> None:
    print(
        f"| page | requests | median ms | p95 ms | p95 <= {TARGET_MS:.0f} ms "
        "| SQL statements | log segments read | dataset objects read |"
    )
    print("| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: |")
    for name, path in paths.items():
        answer = client.get(path)  # warm-up, and what one request reads
        assert answer.status_code == 200, (name, path, answer.status_code, answer.text[:300])
        begun_page = time.perf_counter()
        before = replace(reads)
        times: list[float] = []
        for _ in range(rounds):
            begun = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - begun) * 1000)
            assert answer.status_code == 200, (name, answer.status_code)
            if time.perf_counter() - begun_page > budget and len(times) >= 3:
                break
        n = len(times)
        per = Counter(
            statements=(reads.statements - before.statements) // n,
            segments=(reads.segments - before.segments) // n,
            datasets=(reads.datasets - before.datasets) // n,
        )
        times.sort()
        p95 = percentile(times, 0.95)
        verdict = "yes" if p95 <= TARGET_MS else "**no**"
        print(
            f"| {name} | {n} | {statistics.median(times):.1f} | {p95:.1f} | {verdict} "
            f"| {per['statements']} | {per['segments']} | {per['datasets']} |",
            flush=True,
        )


# -- the script ------------------------------------------------------------------------


def _reused(
    root: Path, environ: dict[str, str], size: Size, facts: dict[str, Any]
) -> ServiceContext:
    """The kept workspace, its database upgraded to this schema when it is older and the
    monitor results added when it has none (a workspace kept by an earlier version)."""
    settings = load_settings(root, environ=environ)
    upgraded = upgrade_database(settings)
    if upgraded.before != upgraded.after:
        print(f"  upgraded its database from {upgraded.before} to {upgraded.after}", flush=True)
    ctx = open_workspace(root, environ=environ)
    if "monitor_results" not in facts:
        begun = time.perf_counter()
        facts["monitor_results"] = add_monitor_results(
            ctx, size, datetime.fromisoformat(facts["at"])
        )
        seconds = round(time.perf_counter() - begun, 1)
        facts["steps"][f"{facts['monitor_results']:,} stored monitor results (added)"] = seconds
        print(f"  added {facts['monitor_results']:,} monitor results in {seconds:.1f} s")
    return ctx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=None, help="where to keep it")
    parser.add_argument("--small", action="store_true", help="a tenth of the workspace")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--page-budget", type=float, default=30.0, help="seconds per page")
    parser.add_argument("--metadata-url", default=None, help="PostgreSQL, used as it is")
    args = parser.parse_args()
    size = SMALL if args.small else FULL
    home = args.workspace or Path(tempfile.gettempdir()) / "pathtolive-console-scale"
    home = home / ("small" if args.small else "full")
    root = home / "ws"
    environ = {"HOME": str(home), "PATH": "/usr/bin", env.USER: "ada"}
    if args.metadata_url:
        environ[env.METADATA_URL] = args.metadata_url
    built = home / "built.json"
    if built.exists():
        facts = json.loads(built.read_text())
        print(f"reusing the workspace in {root} (built {facts['at']})", flush=True)
        ctx = _reused(root, environ, size, facts)
        built.write_text(json.dumps(facts))
    else:
        if root.exists():
            raise SystemExit(f"{root} holds a workspace that was not finished: remove it")
        home.mkdir(parents=True, exist_ok=True)
        init_workspace(root, environ=environ, local_role="admin").close()
        ctx = open_workspace(root, environ=environ)
        now = datetime.now(UTC)
        print(f"building the workspace in {root}", flush=True)
        begun = time.perf_counter()
        facts = build(ctx, size, now)
        facts["at"] = now.isoformat(timespec="seconds")
        facts["seconds"] = round(time.perf_counter() - begun)
        built.write_text(json.dumps(facts))
        print(f"workspace built in {facts['seconds']} s", flush=True)
    with ctx.metadata.read() as session:
        data = {v.content_hash for v in session.list_versions(DATASET)}
    reads = watch_reads(ctx, set(facts["segments"]), data)
    print(machine())
    print(f"workspace: {size}, built in {facts['seconds']} s on {facts['at']}\n")
    app = create_console(ctx, ConsoleSettings())
    with TestClient(app, base_url="http://127.0.0.1") as client:
        paths = pages(model_name(0), facts["runs"], size)
        measure(client, reads, paths, args.rounds, args.page_budget)
    ctx.close()


if __name__ == "__main__":
    main()
