"""Run a pipeline: call its function, and run, cache and record each step it calls.

The service calls :func:`execute` with the datasets, the bound params and three seams it
owns: an :class:`ObjectStore` (the artifact store) that keeps every step's output, a
:class:`StepCache` (the metadata store) from cache key to the digest of a
:class:`~pathtolive.pipelines.results.StepResult` (the output's digest and the metrics the
step logged, replayed on a cache hit), and a
:class:`~pathtolive.pipelines.tracking.MetricSink` for logged metrics. ``on_step`` is
called with each step's :class:`~pathtolive.pipelines.records.StepRecord` as it ends.

A step call's cache key is the BLAKE3 digest of the step's source hash, its plain
arguments (canonical JSON) and the fingerprints of its other arguments: a dataset's
content hash; the digest of an earlier step's output (the executor knows outputs by
identity, and keeps them alive for the run so identities are not reused); for anything
else, the digest of the value as :func:`~pathtolive.pipelines.serialize.dumps` writes it.
So a run with the same code, params and data runs no step at all, and a change reruns
exactly the steps it reaches: a step whose new output is byte-identical to the old one
leaves the steps after it cached.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pathtolive import progress, tracing
from pathtolive.errors import (
    IntegrityError,
    InvalidInputError,
    PathToLiveError,
    RunFailedError,
    StepFailedError,
    error_for_code,
)
from pathtolive.hashing import hash_bytes
from pathtolive.pipelines.canonical import is_plain, json_digest
from pathtolive.pipelines.dataset import Dataset
from pathtolive.pipelines.decorators import Compute, Pipeline, Step
from pathtolive.pipelines.elements import Element, element_digest, output_parts
from pathtolive.pipelines.failures import one_line, traceback_text
from pathtolive.pipelines.logcapture import Tail, capture_logs
from pathtolive.pipelines.records import (
    GraphEdge,
    GraphNode,
    RunGraph,
    RunOutcome,
    StepRecord,
    StepStatus,
)
from pathtolive.pipelines.remote import DatasetInput, RemoteSteps, StepTask, StoredInput
from pathtolive.pipelines.replay import (
    ModelSource,
    ReplayedStep,
    RunReplay,
    load_replay,
    replay_key,
    replayable,
)
from pathtolive.pipelines.results import StepResult
from pathtolive.pipelines.serialize import dumps, loads
from pathtolive.pipelines.tracking import ActiveRun, MetricSink, activate, split_result

__all__ = ["CACHE_KEY_VERSION", "ObjectStore", "StepCache", "StoredObject", "execute"]

CACHE_KEY_VERSION = 1
"""Part of every cache key: bumping it retires every cached step output at once."""

_SCALARS: tuple[type, ...] = (type(None), bool, int, float, str)


class StoredObject(Protocol):
    """What the executor reads of an object it stored: the digest it is kept under (the
    artifact store's ``ObjectInfo`` is one)."""

    @property
    def digest(self) -> str:
        """The BLAKE3 digest of the object's bytes."""


class ObjectStore(Protocol):
    """Where step outputs are kept, by the digest of their bytes."""

    def put_bytes(self, data: bytes) -> StoredObject:
        """Store ``data``; the same bytes are kept once."""

    def get_bytes(self, digest: str) -> bytes:
        """The bytes stored under ``digest``, verified; ``NotFoundError`` when absent."""


class StepCache(Protocol):
    """Which result a step call with a given cache key produced.

    The digests it keeps are those of step results (small JSON objects in the object
    store), not of the outputs themselves; a store may evict entries at will.
    """

    def lookup(self, key: str) -> str | None:
        """The result digest remembered for ``key``, or None."""

    def remember(self, key: str, step_name: str, digest: str) -> None:
        """Remember that the call with ``key`` (of step ``step_name``) gave ``digest``."""


@dataclass(frozen=True)
class _Output:
    index: int
    element: Element
    digest: str


@dataclass(frozen=True)
class _Call:
    """A step call about to run: what its record will say whatever happens."""

    index: int
    step: Step[..., Any]
    cache_key: str
    params: dict[str, Any]
    fingerprints: dict[str, str]
    started_at: datetime
    clock: float

    def record(
        self,
        status: StepStatus,
        *,
        cached: bool = False,
        output_digest: str | None = None,
        logs: str = "",
        error: str | None = None,
    ) -> StepRecord:
        return StepRecord(
            index=self.index,
            name=self.step.name,
            source_hash=self.step.source_hash,
            cache_key=self.cache_key,
            cached=cached,
            status=status,
            started_at=self.started_at,
            seconds=time.perf_counter() - self.clock,
            params=self.params,
            input_fingerprints=self.fingerprints,
            output_digest=output_digest,
            logs=logs,
            error=error,
        )


class _Runner:
    """Runs the step calls of one pipeline run (the active run's ``StepRunner``)."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        cache: StepCache,
        sink: MetricSink,
        use_cache: bool,
        on_step: Callable[[StepRecord], None] | None,
        echo: bool,
        data: Mapping[str, Dataset],
        compute: Compute = "local",
        remote: RemoteSteps | None = None,
    ) -> None:
        self.store = store
        self.compute = compute
        self._remote = remote
        self.cache = cache
        self.use_cache = use_cache
        self.on_step = on_step
        self.echo = echo
        self.run = ActiveRun(sink, self)
        self.records: list[StepRecord] = []
        self.nodes: list[GraphNode] = []
        self.edges: list[GraphEdge] = []
        self._outputs: dict[int, _Output] = {}
        self._alive: list[object] = []
        self._data_names = {id(dataset): name for name, dataset in data.items()}
        self._in_step = False
        self.all_cacheable = True
        self.result_digests: dict[int, str] = {}

    def call_step(self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._in_step:
            # A step called from inside another step is part of that step's work: it runs
            # as a plain call, covered by the outer step's cache key.
            return step.func(*args, **kwargs)
        with tracing.span(
            "pipeline.step",
            {"pathtolive.step": step.name, "pathtolive.step.index": len(self.nodes)},
        ):
            return self._call_step(step, args, kwargs)

    def _call_step(
        self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        progress.stage(f"step {step.name}")
        bound = step.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        index = len(self.nodes)
        self.all_cacheable = self.all_cacheable and step.cache
        params, fingerprints = self._describe_inputs(step, index, bound.arguments)
        key = json_digest(
            {
                "version": CACHE_KEY_VERSION,
                "step": step.source_hash,
                "params": params,
                "inputs": fingerprints,
            }
        )
        self.nodes.append(GraphNode(index, step.name))
        # What the pipeline's own code logged before this call is not the step's: out it
        # goes, so that what is pending at the end is exactly what the step logged.
        self.run.flush()
        call = _Call(index, step, key, params, fingerprints, datetime.now(UTC), time.perf_counter())
        if self.use_cache and step.cache:
            hit = self._from_cache(key)
            if hit is not None:
                result_digest, result, value = hit
                self.result_digests[index] = result_digest
                for metric_key, number, iteration in result.metrics:
                    self.run.add_metric(metric_key, number, iteration)
                if result.params:
                    self.run.add_params(result.params)
                digest = result.output_digest
                self._finish(call.record("succeeded", cached=True, output_digest=digest))
                self._track(index, value, digest)
                return value
        stored: str | None = None
        if self._remote is not None and (step.compute or self.compute) == "dask":
            value, stored, logs = self._run_remote(call, bound.args, bound.kwargs)
        else:
            tail = Tail()
            value = self._run(call, tail, bound.args, bound.kwargs)
            logs = tail.text()
        try:
            if stored is None:
                stored = self.store.put_bytes(
                    dumps(value, origin=f"step {step.name!r} returned")
                ).digest
            if step.cache:
                self.result_digests[index] = self._remember(key, step.name, stored)
        except PathToLiveError as exc:
            self._finish(call.record("failed", logs=logs, error=exc.message))
            raise
        self._finish(call.record("succeeded", output_digest=stored, logs=logs))
        self._track(index, value, stored)
        return value

    def _run(self, call: _Call, tail: Tail, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._in_step = True
        try:
            with capture_logs(tail, echo=self.echo):
                return call.step.func(*args, **kwargs)
        except Exception as exc:
            text = _traceback_text(exc)
            self._finish(call.record("failed", logs=tail.text(), error=text))
            raise StepFailedError(
                f"step {call.step.name!r} failed: {_one_line(exc)}",
                details={
                    "step": call.step.name,
                    "index": call.index,
                    "exception": type(exc).__name__,
                    "traceback": text,
                },
            ) from exc
        except BaseException as exc:
            # Ctrl-C and friends go up unchanged (the service marks the run cancelled);
            # the step's record and what it logged are kept first.
            self._finish(call.record("cancelled", logs=tail.text(), error=_traceback_text(exc)))
            raise
        finally:
            self._in_step = False

    def _run_remote(
        self, call: _Call, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, str, str]:
        """Run the call on a worker: its inputs go through the store by digest, its
        output comes back the same way; its logs and metrics join the run as a local
        call's would. Returns the output, its digest and the logs."""
        assert self._remote is not None
        name = call.step.name
        try:
            task = StepTask.of(
                name,
                call.step.func,
                tuple(self._ship(value, f"an argument of step {name!r} is") for value in args),
                {
                    key: self._ship(value, f"argument {key!r} of step {name!r} is")
                    for key, value in kwargs.items()
                },
            )
            reply = self._remote.run(task)
        except PathToLiveError as exc:
            self._finish(call.record("failed", error=exc.message))
            raise
        except BaseException as exc:
            # Ctrl-C while the worker runs it: the backend has cancelled the task.
            self._finish(call.record("cancelled", error=_traceback_text(exc)))
            raise
        for metric in reply.metrics:
            self.run.add_metric(metric.key, metric.value, metric.step, metric.timestamp)
        if reply.params:
            self.run.add_params(reply.params)
        if self.echo and reply.logs:
            sys.stdout.write(reply.logs)
        if reply.error is not None:
            self._finish(call.record("failed", logs=reply.logs, error=reply.traceback))
            raise StepFailedError(
                f"step {name!r} failed: {reply.error}",
                details={
                    "step": name,
                    "index": call.index,
                    "exception": reply.exception,
                    "traceback": reply.traceback,
                    "where": reply.where,
                },
            )
        if reply.output_digest is None:
            failure = error_for_code(reply.store_error_code, reply.store_error or "")
            self._finish(call.record("failed", logs=reply.logs, error=failure.message))
            raise failure
        try:
            value = loads(self.store.get_bytes(reply.output_digest))
        except PathToLiveError as exc:
            self._finish(call.record("failed", logs=reply.logs, error=exc.message))
            raise
        return value, reply.output_digest, reply.logs

    def _ship(self, value: object, origin: str) -> Any:
        """``value`` as it travels to a worker: a plain value as it is, a dataset version
        by its objects, anything else by the digest of its stored bytes."""
        if isinstance(value, Dataset):
            value.mark_read()  # the rows are read on the worker, for this run
            if value.parts is not None:
                digests = value.parts.digests
            else:
                payload = value.stored_bytes()
                if payload is None:
                    raise InvalidInputError(
                        f"{origin} dataset {value.ref}, whose rows are not stored, so no "
                        'worker can read them; run the step locally (compute="local")'
                    )
                digests = (self.store.put_bytes(payload).digest,)
            return DatasetInput(
                value.name, value.version, value.content_hash, value.schema, value.rows, digests
            )
        output = self._outputs.get(id(value))
        if output is not None and output.element is None:
            return StoredInput(output.digest)  # an earlier step's output, stored already
        if is_plain(value):
            return value
        return StoredInput(self.store.put_bytes(dumps(value, origin=origin)).digest)

    def _remember(self, key: str, step_name: str, output_digest: str) -> str:
        metrics, params = self.run.pending()
        logged = tuple((metric.key, metric.value, metric.step) for metric in metrics)
        result = StepResult(output_digest, logged, params)
        digest = self.store.put_bytes(result.to_bytes()).digest
        self.cache.remember(key, step_name, digest)
        return digest

    def _from_cache(self, key: str) -> tuple[str, StepResult, Any] | None:
        digest = self.cache.lookup(key)
        if digest is None:
            return None
        try:
            result = StepResult.from_bytes(self.store.get_bytes(digest))
            return digest, result, loads(self.store.get_bytes(result.output_digest))
        except IntegrityError:
            raise  # a corrupt store must be seen, not papered over by a rerun
        except PathToLiveError:
            # The object was deleted, or this pathtolive cannot read it (a newer format,
            # a model library upgraded since): computing the step again is the answer.
            return None

    def _finish(self, record: StepRecord) -> None:
        tracing.annotate(
            {"pathtolive.step.status": record.status, "pathtolive.step.cached": record.cached}
        )
        self.records.append(record)
        self.run.flush()
        if self.on_step is not None:
            self.on_step(record)

    def output_digest(self, value: object) -> str | None:
        """The digest of the step output ``value`` is, if a step returned it."""
        output = self._outputs.get(id(value))
        return None if output is None else output.digest

    def model_source(self, value: object) -> ModelSource | None:
        """Where the step output ``value`` is stored, if a step returned it."""
        output = self._outputs.get(id(value))
        if output is None:
            return None
        stored = self.records[output.index].output_digest
        if stored is None:
            return None
        return ModelSource(stored, output.element, output.digest)

    def _track(self, index: int, value: object, digest: str) -> None:
        self._alive.append(value)
        if type(value) not in _SCALARS:
            self._outputs[id(value)] = _Output(index, None, digest)
        # Each item of a returned tuple, list or dict is traced too: a later step that
        # receives the test frame of a train_test_split(...) list is seen receiving it.
        for element, item in output_parts(value):
            self._outputs[id(item)] = _Output(index, element, element_digest(digest, element))

    def _describe_inputs(
        self, step: Step[..., Any], index: int, arguments: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        params: dict[str, Any] = {}
        fingerprints: dict[str, str] = {}
        for name, value in arguments.items():
            sources: list[tuple[int | str, Element]] = []
            origin = f"argument {name!r} of step {step.name!r} is"
            fingerprint = self._fingerprint(value, sources, origin)
            if not sources and is_plain(value):
                params[name] = value
            else:
                fingerprints[name] = fingerprint
            self.edges.extend(
                GraphEdge(source, index, name, element) for source, element in sources
            )
        return params, fingerprints

    def _fingerprint(
        self, value: object, sources: list[tuple[int | str, Element]], origin: str
    ) -> str:
        output = self._outputs.get(id(value))
        if output is not None:
            sources.append((output.index, output.element))
            return output.digest
        if isinstance(value, Dataset):
            name = self._data_names.get(id(value))
            if name is not None:
                sources.append((name, None))
            return value.content_hash
        if type(value) is list or type(value) is tuple:
            items = [self._fingerprint(item, sources, origin) for item in value]
            return json_digest({"kind": type(value).__name__, "items": items})
        if type(value) is dict and all(isinstance(key, str) for key in value):
            entries = {key: self._fingerprint(item, sources, origin) for key, item in value.items()}
            return json_digest({"kind": "dict", "items": entries})
        if is_plain(value):
            return json_digest(value)
        return hash_bytes(dumps(value, origin=origin))


def _one_line(exc: BaseException) -> str:
    return one_line(exc)


def _traceback_text(exc: BaseException) -> str:
    return traceback_text(exc, (__file__,))


def _check_call(
    pipeline: Pipeline[..., Any], data: Mapping[str, Dataset], params: Mapping[str, Any]
) -> dict[str, Any]:
    name = pipeline.name
    missing = [param for param in pipeline.data_params if param not in data]
    if missing:
        raise InvalidInputError(
            f"pipeline {name!r} reads {', '.join(missing)}: give a dataset version for each"
        )
    for key, dataset in data.items():
        if key not in pipeline.data_params:
            raise InvalidInputError(
                f"pipeline {name!r} has no dataset input {key!r}; its dataset inputs are "
                f"{', '.join(pipeline.data_params) or 'none'}"
            )
        if not isinstance(dataset, Dataset):
            raise InvalidInputError(f"dataset input {key!r} must be a Dataset, not {dataset!r}")
    known = {param.name: param for param in pipeline.params}
    unknown = [key for key in params if key not in known]
    if unknown:
        raise InvalidInputError(
            f"pipeline {name!r} has no param {unknown[0]!r}; bind params with bind_params()"
        )
    complete = dict(params)
    for param in pipeline.params:
        if param.name not in complete:
            if param.required:
                raise InvalidInputError(
                    f"pipeline {name!r} needs a value for {param.name}; bind params with "
                    "bind_params()"
                )
            complete[param.name] = param.default
    return complete


def execute(
    pipeline: Pipeline[..., Any],
    *,
    data: Mapping[str, Dataset],
    params: Mapping[str, Any],
    store: ObjectStore,
    cache: StepCache,
    sink: MetricSink,
    use_cache: bool = True,
    on_step: Callable[[StepRecord], None] | None = None,
    echo: bool = False,
    code_digest: str | None = None,
    compute: Compute = "local",
    remote: RemoteSteps | None = None,
) -> RunOutcome:
    """Run ``pipeline`` on ``data`` (a Dataset per data parameter) with ``params`` (from
    :func:`~pathtolive.pipelines.params.bind_params`; missing optional ones take their
    defaults).

    Every step's output is stored and remembered under its cache key; with ``use_cache``
    a step whose key is known is not run, its output is loaded instead (``use_cache=False``
    runs every step and refreshes the cache). ``echo`` also prints what steps print.

    Raises :class:`StepFailedError` when a step raises (after ``on_step`` received its
    failed record), :class:`RunFailedError` when the pipeline's own code raises outside a
    step, ``InvalidInputError`` when a step returns a value that cannot be stored.
    ``KeyboardInterrupt`` goes up unchanged. Logged metrics reach ``sink`` whatever
    happens.

    With ``code_digest`` (a digest of all the pipelines' code) a successful run is also
    recorded whole, and a later run with the same code, params and data is replayed
    without running anything (see :mod:`~pathtolive.pipelines.replay`).

    ``remote`` runs the calls of steps that run on Dask (``@step(compute="dask")``, or
    every step that does not say when ``compute`` is ``"dask"``) on a worker; without it
    they run here. Where a step runs changes nothing else: not its cache key, record,
    logs or metrics (see :mod:`~pathtolive.pipelines.remote`).
    """
    complete = _check_call(pipeline, data, params)
    run_key = None
    if code_digest is not None and is_plain(complete):
        run_key = replay_key(
            cache_version=CACHE_KEY_VERSION,
            pipeline=pipeline.name,
            code_digest=code_digest,
            params=complete,
            data={name: dataset.content_hash for name, dataset in data.items()},
        )
        if use_cache:
            replayed = _replay(run_key, store, cache, sink, on_step)
            if replayed is not None:
                return replayed
    runner = _Runner(
        store=store,
        cache=cache,
        sink=sink,
        use_cache=use_cache,
        on_step=on_step,
        echo=echo,
        data=data,
        compute=compute,
        remote=remote,
    )
    run = runner.run
    try:
        with activate(run):
            try:
                value = pipeline.func(**data, **complete)
            except PathToLiveError:
                raise
            except Exception as exc:
                raise RunFailedError(
                    f"pipeline {pipeline.name!r} failed outside its steps: {_one_line(exc)}",
                    details={"exception": type(exc).__name__, "traceback": _traceback_text(exc)},
                ) from exc
        model, returned = split_result(value)
        for key, number in returned.items():
            run.add_metric(key, number, None)
    finally:
        run.flush()
    graph = RunGraph(
        tuple(runner.nodes),
        tuple(runner.edges),
        {name: dataset.ref for name, dataset in data.items()},
    )
    tracked = None if model is None else runner.output_digest(model)
    outcome = RunOutcome(value, model, run.latest, tuple(runner.records), graph, tracked)
    if run_key is not None:
        _record_replay(run_key, runner, outcome, returned, pipeline.name)
    return outcome


def _record_replay(
    key: str,
    runner: _Runner,
    outcome: RunOutcome,
    returned: Mapping[str, float],
    pipeline_name: str,
) -> None:
    """Keep the outcome of a run that can be replayed: every step cacheable and stored,
    and the model (if any) a step's output."""
    records = runner.records
    if not runner.all_cacheable or not replayable(records):
        return
    if any(record.index not in runner.result_digests for record in records):
        return
    source = None if outcome.model is None else runner.model_source(outcome.model)
    if outcome.model is not None and source is None:
        return
    replay = RunReplay(
        steps=tuple(
            ReplayedStep(record, runner.result_digests[record.index]) for record in records
        ),
        graph=outcome.graph,
        returned_metrics=dict(returned),
        metrics=dict(outcome.metrics),
        model=source,
    )
    digest = runner.store.put_bytes(replay.to_bytes()).digest
    runner.cache.remember(key, f"pipeline:{pipeline_name}", digest)


def _replay(
    key: str,
    store: ObjectStore,
    cache: StepCache,
    sink: MetricSink,
    on_step: Callable[[StepRecord], None] | None,
) -> RunOutcome | None:
    digest = cache.lookup(key)
    if digest is None:
        return None
    try:
        loaded = load_replay(store.get_bytes(digest), store.get_bytes)
    except IntegrityError:
        raise
    except PathToLiveError:
        return None
    if loaded is None:
        return None
    replay, results = loaded
    run = ActiveRun(sink)
    records = replay.records()
    for record, result in zip(records, results, strict=True):
        for metric_key, number, iteration in result.metrics:
            run.add_metric(metric_key, number, iteration)
        if result.params:
            run.add_params(result.params)
        run.flush()
        if on_step is not None:
            on_step(record)
    for metric_key, number in replay.returned_metrics.items():
        run.add_metric(metric_key, number, None)
    run.flush()
    return RunOutcome(
        None,
        None,
        dict(replay.metrics),
        tuple(records),
        replay.graph,
        None if replay.model is None else replay.model.digest,
        replay.model_loader(store.get_bytes),
    )
