"""Running pipelines as tracked runs: record code, params, environment and data versions;
persist every step, metric and log as it happens; register the model; reproduce a run."""

from __future__ import annotations

import difflib
import json
import logging
import re
import resource
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import pandas as pd

from pathtolive import tracing
from pathtolive.auth import Actor, Permission
from pathtolive.compute import scheduler_address
from pathtolive.config import pipeline_compute
from pathtolive.data import Schema
from pathtolive.entities import Metric, ModelVersion, Run, RunStep
from pathtolive.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PathToLiveError,
)
from pathtolive.faces import spelled
from pathtolive.hashing import hash_bytes
from pathtolive.pipelines import (
    CodeVersion,
    Dataset,
    Environment,
    ParquetParts,
    Pipeline,
    RunOutcome,
    StepRecord,
    bind_params,
    capture_code_version,
    capture_environment,
    check_compute,
    execute,
    get_pipeline,
)
from pathtolive.pipelines import Metric as LoggedMetric
from pathtolive.redaction import redact
from pathtolive.refs import check_name
from pathtolive.registry import flavor_for
from pathtolive.registry.flavors.python import workspace_code
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.cluster_steps import DaskSteps
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.run_limits import MAX_COMPARED, MAX_PAGE
from pathtolive.service.worker_stores import WorkerStoreOpener
from pathtolive.store.artifacts import ObjectInfo
from pathtolive.store.metadata import MetadataSession
from pathtolive.store.metadata.browsing import MetricCondition, RunRow, RunSort

__all__ = [
    "LOST_AFTER",
    "MAX_COMPARED",
    "MAX_PAGE",
    "RESOURCES_OUTPUT",
    "RUN_STATUSES",
    "SERIES_POINTS",
    "ComparedStep",
    "ComparedValue",
    "ReproduceReport",
    "ResourceClock",
    "RunComparison",
    "RunDetails",
    "RunHeartbeat",
    "RunMetricSink",
    "RunResult",
    "RunTable",
    "check_status",
    "compare_runs",
    "finish_run",
    "get_run",
    "list_runs",
    "parse_metric_condition",
    "parse_param_filter",
    "parse_run_sort",
    "reap_lost_runs",
    "record_started_run",
    "reproduce_run",
    "run_details",
    "run_pipeline",
    "run_table",
]


_log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
"""How often a running pipeline renews its run's heartbeat."""

LOST_AFTER = timedelta(minutes=2)
"""A running run whose heartbeat is older than this has lost its process (killed, or its
machine went away): the next writer to look marks it failed."""


@dataclass(frozen=True)
class RunResult:
    """A finished run, what its steps did, and the model version it registered."""

    run: Run
    executed: tuple[str, ...]
    cached: tuple[str, ...]
    metrics: dict[str, float]
    model_version: ModelVersion | None = None


@dataclass(frozen=True)
class ReproduceReport:
    original: Run
    rerun: RunResult
    model_matches: bool
    metrics_match: bool
    differences: tuple[str, ...] = field(default_factory=tuple)

    @property
    def matches(self) -> bool:
        return self.model_matches and self.metrics_match


# -- the seams the executor needs, backed by the stores -------------------------------


class _Objects:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def put_bytes(self, data: bytes) -> ObjectInfo:
        return self._ctx.artifacts.put_bytes(data)

    def get_bytes(self, digest: str) -> bytes:
        return self._ctx.artifacts.get_bytes(digest)


class _Cache:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def lookup(self, key: str) -> str | None:
        with self._ctx.metadata.read() as session:
            return session.cached_output(key)

    def remember(self, key: str, step_name: str, digest: str) -> None:
        with self._ctx.metadata.write() as session:
            session.remember_output(key, step_name, digest, datetime.now(UTC))


class _Sink:
    """Batches logged metrics in memory; ``flush`` (at every step end and at the end of
    the run, failed or not) writes them in one transaction."""

    def __init__(self, ctx: ServiceContext, run_id: str, bound: Mapping[str, Any]) -> None:
        self._ctx = ctx
        self._run_id = run_id
        self._metrics: list[Metric] = []
        self._params: dict[str, Any] = {}
        self._known = set(bound)

    def add_metrics(self, metrics: Sequence[LoggedMetric]) -> None:
        self._metrics.extend(
            Metric(m.key, m.value, m.step, m.timestamp.timestamp()) for m in metrics
        )

    def add_params(self, params: Mapping[str, Any]) -> None:
        for key, value in params.items():
            if key not in self._known:
                self._params[key] = value

    def flush(self) -> None:
        if not self._metrics and not self._params:
            return
        with self._ctx.metadata.write() as session:
            session.add_metrics(self._run_id, self._metrics)
            session.add_params(self._run_id, self._params)
        self._known.update(self._params)
        self._metrics, self._params = [], {}


# -- running ---------------------------------------------------------------------------


RESOURCES_OUTPUT = "resources"
"""The key of a run's outputs under which :class:`ResourceClock` records what the run
took: ``{"wall_seconds", "cpu_seconds"}``. Kept in the outputs (no column of its own),
so runs recorded before it simply have none."""


class ResourceClock:
    """Wall and CPU seconds since it was made. CPU counts every thread of this process
    (a library's worker threads too) and the child processes it has waited for; steps
    that ran on a Dask cluster are not counted, as they ran elsewhere."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = _cpu_seconds()

    def elapsed(self) -> dict[str, float]:
        """``{"wall_seconds", "cpu_seconds"}`` so far."""
        return {
            "wall_seconds": time.perf_counter() - self._wall,
            "cpu_seconds": _cpu_seconds() - self._cpu,
        }


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_pipeline(
    ctx: ServiceContext,
    name: str,
    *,
    data: Mapping[str, str] | str | None = None,
    params: Mapping[str, str] | None = None,
    typed_params: Mapping[str, Any] | None = None,
    register: str | None = None,
    use_cache: bool = True,
    echo: bool = False,
    on_step: Any = None,
    reproduces: str | None = None,
    trusted: Sequence[str] = (),
    on_register: model_service.OnRegister | None = None,
    scheduler: str | None = None,
) -> RunResult:
    """Run pipeline ``name`` of the workspace on dataset versions ``data``.

    ``params`` are command-line strings typed by the pipeline's signature (over
    ``[pipelines.NAME.params]`` in pathtolive.toml and the defaults); ``typed_params``
    are exact values (a reproduction). A failing step marks the run failed with its
    traceback and nothing is registered; Ctrl-C marks it cancelled. ``on_register`` is
    called inside the transaction that registers the model (see
    :func:`~pathtolive.service.models.register_model`'s ``within``).

    Steps that run on Dask (``@step(compute="dask")``, or every step of a pipeline with
    ``[pipelines.NAME] compute = "dask"``) run on the cluster at ``scheduler`` (else
    ``PATHTOLIVE_DASK_SCHEDULER``, else ``[compute] scheduler``); with none configured
    they run in this process. Their records are those of a local step.
    """
    with tracing.span("pipeline.run", {"pathtolive.pipeline": name}) as span:
        result = _run_pipeline(
            ctx,
            name,
            data=data,
            params=params,
            typed_params=typed_params,
            register=register,
            use_cache=use_cache,
            echo=echo,
            on_step=on_step,
            reproduces=reproduces,
            trusted=trusted,
            on_register=on_register,
            scheduler=scheduler,
        )
        span.set_attributes(
            {
                "pathtolive.run.status": result.run.status,
                "pathtolive.steps.executed": len(result.executed),
                "pathtolive.steps.cached": len(result.cached),
            }
        )
        if result.model_version is not None:
            span.set_attribute("pathtolive.model.version", result.model_version.ref)
    return result


def _run_pipeline(
    ctx: ServiceContext,
    name: str,
    *,
    data: Mapping[str, str] | str | None,
    params: Mapping[str, str] | None,
    typed_params: Mapping[str, Any] | None,
    register: str | None,
    use_cache: bool,
    echo: bool,
    on_step: Any,
    reproduces: str | None,
    trusted: Sequence[str],
    on_register: model_service.OnRegister | None,
    scheduler: str | None,
) -> RunResult:
    actor = ctx.require(Permission.WRITE, "run pipelines")
    if register is not None:
        check_name(register, kind="model")
    reap_lost_runs(ctx)
    pipeline = get_pipeline(ctx.settings.root, name)
    inputs = _bind_data(ctx, pipeline, data)
    if typed_params is not None:
        bound = dict(typed_params)
    else:
        bound = bind_params(pipeline, dict(params or {}), _configured_params(ctx, name))
    started: list[Run] = []
    datasets = {
        parameter: _dataset(ctx, ref, lambda: f"run {started[0].run_id}")
        for parameter, ref in inputs.items()
    }
    code = capture_code_version(ctx.settings.root)
    run = _start_run(ctx, actor, pipeline, inputs, bound, code, capture_environment(), reproduces)
    tracing.annotate({"pathtolive.run_id": run.run_id})  # on the run's span, failed or not
    started.append(run)
    sink = _Sink(ctx, run.run_id, bound)
    heartbeat = _Heartbeat(ctx, run.run_id)

    def persist_step(step: StepRecord) -> None:
        with ctx.metadata.write() as session:
            session.add_step(run.run_id, _run_step(step))
        if on_step is not None:
            on_step(step)

    address = scheduler_address(scheduler, ctx.settings.document, ctx.settings.environ)
    remote = None
    if address is not None:
        remote = DaskSteps(address, WorkerStoreOpener.for_settings(ctx.settings))
    clock = ResourceClock()
    try:
        # A step's cached custom model loads its class from this workspace's code.
        with heartbeat, remote or nullcontext(), workspace_code(ctx.settings.root):
            outcome = execute(
                pipeline,
                data=datasets,
                params=bound,
                store=_Objects(ctx),
                cache=_Cache(ctx),
                sink=sink,
                use_cache=use_cache,
                on_step=persist_step,
                echo=echo,
                code_digest=code.pipelines_hash,
                compute=check_compute(pipeline_compute(ctx.settings, name), name),
                remote=remote,
            )
        # A model no flavor can store fails the run here, before anything is registered.
        model_digest = _model_digest(outcome)
    except KeyboardInterrupt:
        _finish(ctx, actor, run.run_id, "cancelled", error="interrupted (Ctrl-C)")
        raise
    except PathToLiveError as exc:
        detail = exc.details.get("traceback") if isinstance(exc.details, dict) else None
        _finish(
            ctx, actor, run.run_id, "failed", error=str(detail or exc.message), summary=exc.message
        )
        raise
    except Exception as exc:
        _finish(
            ctx,
            actor,
            run.run_id,
            "failed",
            error=redact(traceback.format_exc()),
            summary=f"{type(exc).__name__}: {exc}",
        )
        raise
    outputs = {
        "metrics": outcome.metrics,
        "model_digest": model_digest,
        "executed": list(outcome.executed),
        "cached": list(outcome.cached),
        # What training took: the figures the cost of retraining is estimated from.
        RESOURCES_OUTPUT: clock.elapsed(),
    }
    _finish(ctx, actor, run.run_id, "succeeded", outputs=outputs, graph=outcome.graph.to_dict())
    version = None
    if register is not None:
        with workspace_code(ctx.settings.root):
            model = outcome.load_model()
        if model is None:
            raise InvalidInputError(
                f"pipeline {name!r} returned no model, so there is nothing to register as "
                f"{register!r}; return (model, metrics) or a model"
            )
        version = model_service.register_model(
            ctx,
            model,
            register,
            run_id=run.run_id,
            data=inputs,
            metrics=outcome.metrics,
            source="run",
            trusted=trusted,
            within=on_register,
        )
    finished = get_run(ctx, run.run_id)
    return RunResult(
        finished, tuple(outcome.executed), tuple(outcome.cached), dict(outcome.metrics), version
    )


def _model_digest(outcome: RunOutcome) -> str | None:
    """A digest that is the same whenever the fitted model is: the stored step output
    when a step returned the model (no second serialisation), else its flavor's bytes.
    ``flavor_for`` also refuses, cheaply, a model no flavor can store."""
    if outcome.model is None:
        # A replayed run: its model was checked when it was first stored.
        return outcome.model_digest
    flavor = flavor_for(outcome.model)
    if outcome.model_digest is not None:
        return outcome.model_digest
    return hash_bytes(flavor.save(outcome.model))


def _configured_params(ctx: ServiceContext, name: str) -> dict[str, Any]:
    section = ctx.settings.document.get("pipelines", {})
    pipeline_section = section.get(name, {}) if isinstance(section, dict) else {}
    values = pipeline_section.get("params", {}) if isinstance(pipeline_section, dict) else {}
    return dict(values) if isinstance(values, dict) else {}


def _bind_data(
    ctx: ServiceContext, pipeline: Pipeline[..., Any], data: Mapping[str, str] | str | None
) -> dict[str, str]:
    """Exact dataset versions for each data parameter of the pipeline."""
    wanted = list(pipeline.data_params)
    if isinstance(data, str):
        if len(wanted) != 1:
            raise InvalidInputError(
                f"pipeline {pipeline.name!r} takes {len(wanted)} datasets "
                f"({', '.join(wanted) or 'none'}); name each as "
                + spelled("--data PARAM=DATASET@VERSION", 'data={"PARAM": "DATASET@VERSION"}')
            )
        named = {wanted[0]: data}
    else:
        named = dict(data or {})
    unknown = sorted(set(named) - set(wanted))
    if unknown:
        raise InvalidInputError(
            f"pipeline {pipeline.name!r} has no data parameter {unknown[0]!r}; "
            f"its data parameters are {', '.join(wanted) or 'none'}"
        )
    missing = [parameter for parameter in wanted if parameter not in named]
    if missing:
        raise InvalidInputError(
            f"pipeline {pipeline.name!r} needs a dataset for {missing[0]!r}: "
            "pass "
            + spelled(
                f"--data {missing[0]}=DATASET@VERSION (or --data DATASET@latest)",
                f'data={{"{missing[0]}": "DATASET@VERSION"}} (or data="DATASET@latest")',
            )
        )
    # An erased version is refused before the run starts (its cached steps too: a run
    # must never be answered from outputs derived from erased rows).
    return {
        parameter: dataset_service.check_readable(dataset_service.get_version(ctx, ref)).ref
        for parameter, ref in named.items()
    }


def _dataset(ctx: ServiceContext, ref: str, purpose: Callable[[], str]) -> Dataset:
    version = dataset_service.get_version(ctx, ref)
    schema = dataset_service.dataset_schema(ctx, version.dataset, version.schema_version)
    audited: list[bool] = []
    audit_lock = threading.Lock()  # steps may load in parallel

    def load(columns: Sequence[str] | None) -> pd.DataFrame:
        table = dataset_service.version_table(ctx, version, columns)
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def audit() -> None:
        with audit_lock:
            if not audited:  # one access event per run and version, however often it loads
                dataset_service.record_read(ctx, version, purpose())
                audited.append(True)

    return Dataset(
        name=version.dataset,
        version=version.version,
        content_hash=version.content_hash,
        schema=Schema.from_dict(schema.schema),
        loader=load,
        rows=version.rows,
        parts=ParquetParts(WorkerStoreOpener.for_settings(ctx.settings), (version.content_hash,)),
        on_read=audit,
    )


def _start_run(
    ctx: ServiceContext,
    actor: Actor,
    pipeline: Pipeline[..., Any],
    inputs: Mapping[str, str],
    params: Mapping[str, Any],
    code: CodeVersion,
    environment: Environment,
    reproduces: str | None,
) -> Run:
    started = datetime.now(UTC)
    run = Run(
        run_id=uuid.uuid4().hex,
        kind="pipeline",
        pipeline=pipeline.name,
        status="running",
        actor=actor.name,
        started_at=started,
        finished_at=None,
        code_commit=code.commit,
        code_dirty=code.dirty,
        code_diff_hash=code.diff_hash,
        pipelines_hash=code.pipelines_hash,
        environment_digest=environment.digest,
        params=dict(params),
        inputs=dict(inputs),
        reproduces=reproduces,
        heartbeat_at=started,
    )
    details = {
        "pipeline": pipeline.name,
        "inputs": dict(inputs),
        "params": dict(params),
        "code": code.describe(),
        "reproduces": reproduces,
    }
    record_started_run(ctx, actor, run, environment, details)
    return run


def record_started_run(
    ctx: ServiceContext,
    actor: Actor,
    run: Run,
    environment: Environment,
    details: Mapping[str, Any],
) -> None:
    """Store a run that has just started, with its environment, and audit ``run.started``
    with ``details``: pipeline runs and runs tracked from a notebook alike."""
    with ctx.metadata.write() as session:
        session.ensure_environment(
            environment.digest,
            python=environment.python,
            platform=environment.platform,
            packages=environment.packages,
        )
        session.insert_run(run)
        record(session, actor, "run.started", f"run:{run.run_id}", dict(details))


def _finish(
    ctx: ServiceContext,
    actor: Actor,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    summary: str | None = None,
    outputs: Mapping[str, Any] | None = None,
    graph: Mapping[str, Any] | None = None,
) -> None:
    with ctx.metadata.write() as session:
        session.finish_run(
            run_id,
            status=status,
            finished_at=datetime.now(UTC),
            error=error,
            outputs=outputs,
            graph=graph,
        )
        details: dict[str, Any] = {}
        if summary:
            details["error"] = summary
        if outputs is not None:
            details["metrics"] = outputs.get("metrics", {})
        action = {"succeeded": "run.finished", "failed": "run.failed"}.get(status, "run.cancelled")
        record(session, actor, action, f"run:{run_id}", details)


def _run_step(step: StepRecord) -> RunStep:
    return RunStep(
        position=step.index,
        name=step.name,
        cache_key=step.cache_key,
        cached=step.cached,
        output_digest=step.output_digest,
        status=step.status,
        started_at=step.started_at,
        seconds=step.seconds,
        logs=step.logs,
        error=step.error,
    )


# -- reading ---------------------------------------------------------------------------


def get_run(ctx: ServiceContext, run_id: str) -> Run:
    """A run by its id or an unambiguous prefix of it."""
    ctx.require(Permission.READ, "read runs")
    _reap_if_allowed(ctx)
    with ctx.metadata.read() as session:
        return _find_run(session, run_id)


def _find_run(session: MetadataSession, run_id: str) -> Run:
    run = session.get_run(run_id)
    if run is None:
        matches = session.find_runs(run_id) if len(run_id) >= 4 else []
        if len(matches) == 1:
            run = session.get_run(matches[0])
        elif len(matches) > 1:
            raise InvalidInputError(
                f"run id {run_id!r} is ambiguous ({', '.join(m[:12] for m in matches)}); "
                "give more of it"
            )
    if run is None:
        raise NotFoundError(
            f"no run {run_id!r}; " + spelled("'pathtolive runs list'", "ws.runs()") + " shows them"
        )
    return run


def list_runs(
    ctx: ServiceContext,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[Run]:
    ctx.require(Permission.READ, "read runs")
    _reap_if_allowed(ctx)
    with ctx.metadata.read() as session:
        return session.list_runs(pipeline=pipeline, status=status, limit=limit)


def reap_lost_runs(ctx: ServiceContext, *, now: datetime | None = None) -> list[Run]:
    """Mark failed every running pipeline run whose heartbeat stopped more than
    :data:`LOST_AFTER` before ``now``: its process was killed or its machine went away,
    so it will never finish (and registered nothing). Returns the runs so marked."""
    actor = ctx.require(Permission.WRITE, "mark lost runs")
    now = datetime.now(UTC) if now is None else now
    cutoff = now - LOST_AFTER
    # A read first: the write lock only when there is something to mark.
    with ctx.metadata.read() as session:
        if not session.stale_runs(cutoff):
            return []
    lost: list[Run] = []
    with ctx.metadata.write() as session:
        for run in session.stale_runs(cutoff):
            last = run.heartbeat_at or run.started_at
            error = (
                f"lost: its process stopped renewing the run's heartbeat at "
                f"{last:%Y-%m-%d %H:%M:%S} UTC (killed, or its machine went away); "
                "nothing was registered"
            )
            session.finish_run(run.run_id, status="failed", finished_at=now, error=error)
            record(
                session, actor, "run.failed", f"run:{run.run_id}", {"error": error, "lost": True}
            )
            stored = session.get_run(run.run_id)
            assert stored is not None
            lost.append(stored)
    for run in lost:
        _log.warning("run %s of %s: %s", run.run_id[:12], run.pipeline, run.error)
    return lost


def _reap_if_allowed(ctx: ServiceContext) -> None:
    """Readers who may write mark lost runs as they look, so a list never shows a dead
    run as running for long; a viewer sees the rows as they are."""
    if ctx.actor().can(Permission.WRITE):
        reap_lost_runs(ctx)


class _Heartbeat:
    """Renews a run's heartbeat from a daemon thread while its pipeline executes."""

    def __init__(self, ctx: ServiceContext, run_id: str) -> None:
        self._ctx = ctx
        self._run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"pathtolive-heartbeat-{run_id[:8]}", daemon=True
        )

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self._ctx.metadata.write() as session:
                    session.beat_run(self._run_id, datetime.now(UTC))
            except Exception:  # a busy or unreachable database: try again next beat
                _log.warning("run %s: the heartbeat was not recorded", self._run_id[:12])


# A run tracked by hand (service/tracked_runs.py) is persisted as a pipeline run is.
RunMetricSink = _Sink
RunHeartbeat = _Heartbeat
finish_run = _finish


@dataclass(frozen=True)
class RunDetails:
    run: Run
    steps: list[RunStep]
    metrics: list[Metric]
    params: dict[str, Any]
    environment: dict[str, Any] | None
    model_versions: list[ModelVersion]


def run_details(ctx: ServiceContext, run_id: str) -> RunDetails:
    run = get_run(ctx, run_id)
    with ctx.metadata.read() as session:
        return RunDetails(
            run=run,
            steps=session.run_steps(run.run_id),
            metrics=session.run_metrics(run.run_id),
            params=session.run_params(run.run_id),
            environment=None
            if run.environment_digest is None
            else session.environment(run.environment_digest),
            model_versions=session.model_versions_of_run(run.run_id),
        )


def reproduce_run(ctx: ServiceContext, run_id: str, *, echo: bool = False) -> ReproduceReport:
    """Rerun ``run_id`` with the same data versions, params and code, without the cache,
    and compare the model's bytes and the metrics with the original's."""
    original = get_run(ctx, run_id)
    if original.kind != "pipeline" or original.pipeline is None:
        raise ConflictError(
            f"run {original.run_id[:12]} is a {original.kind} run; only pipeline runs can "
            "be reproduced"
        )
    if original.status != "succeeded":
        raise ConflictError(
            f"run {original.run_id[:12]} {original.status}; only a succeeded run can be reproduced"
        )
    _check_same_code(ctx, original)
    rerun = run_pipeline(
        ctx,
        original.pipeline,
        data=original.inputs,
        typed_params=original.params,
        use_cache=False,
        echo=echo,
        reproduces=original.run_id,
    )
    before = original.outputs or {}
    after = rerun.run.outputs or {}
    differences: list[str] = []
    model_matches = before.get("model_digest") == after.get("model_digest")
    if not model_matches:
        differences.append(
            f"model bytes differ: {str(before.get('model_digest'))[:12]} → "
            f"{str(after.get('model_digest'))[:12]}"
        )
    old_metrics, new_metrics = before.get("metrics", {}), after.get("metrics", {})
    for key in sorted(set(old_metrics) | set(new_metrics)):
        if old_metrics.get(key) != new_metrics.get(key):
            differences.append(f"metric {key}: {old_metrics.get(key)} → {new_metrics.get(key)}")
    metrics_match = old_metrics == new_metrics
    return ReproduceReport(original, rerun, model_matches, metrics_match, tuple(differences))


def _check_same_code(ctx: ServiceContext, original: Run) -> None:
    current = capture_code_version(ctx.settings.root)
    short = (original.code_commit or "")[:12]
    if original.code_commit is not None and current.commit != original.code_commit:
        raise ConflictError(
            f"run {original.run_id[:12]} used commit {short} but the workspace is at "
            f"{(current.commit or 'no commit')[:12]}; check out {short} (git checkout "
            f"{short}) and reproduce again"
        )
    if original.code_dirty != current.dirty or (
        original.code_dirty and original.code_diff_hash != current.diff_hash
    ):
        state = "uncommitted changes" if original.code_dirty else "a clean checkout"
        raise ConflictError(
            f"run {original.run_id[:12]} ran on {state} of {short or 'the workspace'}, which "
            "the workspace does not have now; restore that state (git stash / git checkout) "
            "and reproduce again"
        )
    if original.pipelines_hash is not None and original.pipelines_hash != current.pipelines_hash:
        raise ConflictError(
            f"the pipelines/ code differs from run {original.run_id[:12]}'s; restore it and "
            "reproduce again"
        )


# -- browsing (the console's runs pages) ---------------------------------------------------

_CONDITION = re.compile(r"^\s*([^<>=!\s]+)\s*(<=|>=|!=|=|<|>)\s*(\S+)\s*$")
_METRIC_NAME = re.compile(r"[^<>=!\s]+")


def parse_metric_condition(text: str) -> MetricCondition:
    """``auc>=0.8`` as a condition on the runs' final metrics."""
    match = _CONDITION.match(text)
    if match is None:
        raise InvalidInputError(
            f"metric filter {text!r} is not METRIC OP NUMBER (for example auc>=0.8, with "
            "OP one of < <= = != >= >)"
        )
    key, op, value = match.groups()
    try:
        number = float(value)
    except ValueError:
        raise InvalidInputError(
            f"metric filter {text!r} compares with {value!r}, which is not a number"
        ) from None
    return MetricCondition(key, op, number)


def parse_param_filter(text: str) -> tuple[str, Any]:
    """``max_depth=3`` as (key, value): the value read as JSON when it is JSON (3, 0.1,
    true, "a"), else as a string, so it matches the param as the run stored it."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InvalidInputError(f"param filter {text!r} is not KEY=VALUE (for example max_depth=3)")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


@dataclass(frozen=True)
class RunTable:
    """One page of runs as table rows, with the param and metric columns that page has."""

    rows: list[RunRow]
    total: int
    offset: int
    limit: int
    param_keys: tuple[str, ...]
    metric_keys: tuple[str, ...]
    pipelines: tuple[str, ...]

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total


def run_table(
    ctx: ServiceContext,
    *,
    pipeline: str | None = None,
    status: str | None = None,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
    sort: str = "-started",
    offset: int = 0,
    limit: int = 50,
) -> RunTable:
    """Runs filtered by pipeline, status, params (``KEY=VALUE``) and final metrics
    (``auc>=0.8``), sorted by ``sort`` (``started``, ``pipeline``, ``status``, or a metric:
    ``metric:KEY`` or the bare ``KEY``; a leading ``-`` for descending; runs without the
    metric come last), one page of them. Filtering, sorting and paging happen in the
    database."""
    ctx.require(Permission.READ, "read runs")
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(
            f"a page of runs starts at offset 0 or more and holds 1 to {MAX_PAGE}"
        )
    check_status(status)
    conditions = [parse_metric_condition(text) for text in metrics]
    wanted = dict(parse_param_filter(text) for text in params)
    by, sort_metric, descending = parse_run_sort(sort)
    _reap_if_allowed(ctx)
    with ctx.metadata.read() as session:
        rows = session.run_rows(
            pipeline=pipeline,
            status=status,
            params=wanted,
            metrics=conditions,
            sort=by,
            sort_metric=sort_metric,
            descending=descending,
            offset=offset,
            limit=limit,
        )
        total = session.run_count(
            pipeline=pipeline, status=status, params=wanted, metrics=conditions
        )
        pipelines = tuple(session.run_pipelines())
    param_keys = tuple(sorted({key for row in rows for key in row.params}))
    metric_keys = tuple(sorted({key for row in rows for key in row.metrics}))
    return RunTable(rows, total, offset, limit, param_keys, metric_keys, pipelines)


RUN_STATUSES = ("running", "succeeded", "failed", "cancelled")
"""Every status a run can have."""

_FIELDS = ("started", "pipeline", "status")


def check_status(status: str | None) -> None:
    """``InvalidInputError`` naming the statuses (and the nearest) for one that is none."""
    if status is None or status in RUN_STATUSES:
        return
    nearest = difflib.get_close_matches(status, RUN_STATUSES, n=1)
    hint = f" (did you mean {nearest[0]}?)" if nearest else ""
    raise InvalidInputError(
        f"status {status!r} does not exist{hint}; use one of {', '.join(RUN_STATUSES)}"
    )


def parse_run_sort(sort: str) -> tuple[RunSort, str | None, bool]:
    """``-roc_auc`` as (field, metric key, descending): ``started``, ``pipeline`` and
    ``status`` are the run's own fields; ``metric:KEY`` or any other name is a metric."""
    descending = sort.startswith("-")
    field_name = sort.removeprefix("-").strip()
    metric = field_name.removeprefix("metric:")
    if field_name in _FIELDS:
        return field_name, None, descending  # type: ignore[return-value]
    if _METRIC_NAME.fullmatch(metric) is None:
        raise InvalidInputError(
            f"cannot sort runs by {sort!r}; sort by started, pipeline, status or a metric "
            "name (a leading - for descending, e.g. -roc_auc)"
        )
    return "metric", metric, descending


@dataclass(frozen=True)
class ComparedValue:
    """One param, metric or input across the compared runs (None where a run has none);
    ``differs`` when they are not all the same."""

    key: str
    values: tuple[Any, ...]
    differs: bool


@dataclass(frozen=True)
class ComparedStep:
    """A step's seconds in each run (None where the run has no such step) and whether
    each was answered from the cache."""

    name: str
    seconds: tuple[float | None, ...]
    cached: tuple[bool | None, ...]


@dataclass(frozen=True)
class RunComparison:
    """2 to :data:`MAX_COMPARED` runs side by side; ``series`` maps each logged metric
    to its points (step, value) in each run, thinned to at most about
    :data:`SERIES_POINTS` per run."""

    runs: tuple[Run, ...]
    params: tuple[ComparedValue, ...]
    metrics: tuple[ComparedValue, ...]
    inputs: tuple[ComparedValue, ...]
    steps: tuple[ComparedStep, ...]
    series: dict[str, tuple[tuple[tuple[float, float], ...], ...]]
    models: tuple[tuple[str, ...], ...] = ()
    """The model versions each run registered (refs), in the runs' order."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types: what ``runs compare --json`` prints (series left out)."""

        def values(compared: tuple[ComparedValue, ...]) -> dict[str, Any]:
            return {
                item.key: {"values": list(item.values), "differs": item.differs}
                for item in compared
            }

        return {
            "runs": [
                {
                    "run_id": run.run_id,
                    "pipeline": run.pipeline,
                    "kind": run.kind,
                    "status": run.status,
                    "actor": run.actor,
                    "started_at": run.started_at.isoformat(),
                    "code_commit": run.code_commit,
                    "code_dirty": run.code_dirty,
                    "model_versions": list(models),
                }
                for run, models in zip(self.runs, self.models, strict=True)
            ],
            "params": values(self.params),
            "metrics": values(self.metrics),
            "inputs": values(self.inputs),
            "steps": {
                step.name: {"seconds": list(step.seconds), "cached": list(step.cached)}
                for step in self.steps
            },
        }


SERIES_POINTS = 200
"""Points per run and metric drawn in a comparison's charts."""


def compare_runs(ctx: ServiceContext, run_ids: Sequence[str]) -> RunComparison:
    """Runs side by side: params (those that differ flagged), final metrics, data
    versions, code commits, step timings, the model versions each registered, and logged
    metric series: the console's comparison and ``runs compare`` alike."""
    if not 2 <= len(run_ids) <= MAX_COMPARED:
        raise InvalidInputError(
            f"compare 2 to {MAX_COMPARED} runs, not {len(run_ids)}; pick them in the runs table"
        )
    ctx.require(Permission.READ, "read runs")
    _reap_if_allowed(ctx)  # once, not once per run
    with ctx.metadata.read() as session:
        runs = tuple(_find_run(session, run_id) for run_id in run_ids)
        if len({run.run_id for run in runs}) < len(runs):
            raise InvalidInputError("a run is named twice; compare different runs")
        steps = [session.run_steps(run.run_id) for run in runs]
        registered = session.model_versions_of_runs([run.run_id for run in runs])
        models = tuple(
            tuple(version.ref for version in registered.get(run.run_id, [])) for run in runs
        )
        thinned = session.metric_series([run.run_id for run in runs], max_points=SERIES_POINTS)
    logged = [thinned.get(run.run_id, {}) for run in runs]
    params = _side_by_side([run.params for run in runs])
    metrics = _side_by_side([(run.outputs or {}).get("metrics", {}) for run in runs])
    inputs = _side_by_side([run.inputs for run in runs])
    names = list(dict.fromkeys(step.name for run_steps in steps for step in run_steps))
    by_name = [{step.name: step for step in run_steps} for run_steps in steps]
    compared_steps = tuple(
        ComparedStep(
            name,
            tuple(s[name].seconds if name in s else None for s in by_name),
            tuple(s[name].cached if name in s else None for s in by_name),
        )
        for name in names
    )
    keys = sorted({key for series in logged for key in series})
    series = {key: tuple(tuple(one.get(key, ())) for one in logged) for key in keys}
    return RunComparison(runs, params, metrics, inputs, compared_steps, series, models)


def _side_by_side(mappings: Sequence[Mapping[str, Any]]) -> tuple[ComparedValue, ...]:
    keys = sorted({key for mapping in mappings for key in mapping})
    compared = []
    for key in keys:
        values = tuple(mapping.get(key) for mapping in mappings)
        differs = any(value != values[0] for value in values[1:])
        compared.append(ComparedValue(key, values, differs))
    return tuple(compared)
