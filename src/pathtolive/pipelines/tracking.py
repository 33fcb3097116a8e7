"""Metrics and params logged from pipeline code, and the run they are logged to.

While :func:`pathtolive.pipelines.executor.execute` runs a pipeline, a context variable
holds the :class:`ActiveRun`: step calls go to its runner, and :func:`log_metric`,
:func:`log_metrics`, :func:`log_param` and :func:`log_params` write into its buffer. The
buffer is handed to the service's :class:`MetricSink` when each step ends and when the run
ends or fails, so a crash loses at most what the current step logged since it began.

Outside a run, the logging functions raise ``InvalidInputError``; steps themselves still
work there (they are plain function calls), so a step that logs cannot be unit-tested
without a run: wrap the call in :func:`recording`, which collects what is logged.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, SupportsFloat

import numpy as np

from pathtolive.errors import InvalidInputError
from pathtolive.pipelines.canonical import is_plain

if TYPE_CHECKING:
    from pathtolive.pipelines.decorators import Step

__all__ = [
    "ActiveRun",
    "Metric",
    "MetricSink",
    "RecordingSink",
    "StepRunner",
    "activate",
    "active_run",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "recording",
    "split_result",
]


class Metric(NamedTuple):
    """One logged value: ``step`` is the caller's iteration number (an epoch, a boosting
    round), not a pipeline step; None when the value has no iteration."""

    key: str
    value: float
    step: int | None
    timestamp: datetime


class MetricSink(Protocol):
    """Where a run's metrics and logged params go; the service persists them."""

    def add_metrics(self, metrics: Sequence[Metric]) -> None:
        """Take a batch of metrics, in the order they were logged."""

    def add_params(self, params: Mapping[str, Any]) -> None:
        """Take params logged by the code (plain JSON values)."""

    def flush(self) -> None:
        """Make what was added durable."""


class StepRunner(Protocol):
    """What runs a step called while a pipeline runs (the executor)."""

    def call_step(self, step: Step[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run (or fetch from the cache) one call of ``step`` and return its output."""


class ActiveRun:
    """The run in progress: its step runner and the buffer of logged values.

    Thread-safe, so code that logs from worker threads of a step loses nothing.
    """

    def __init__(self, sink: MetricSink, runner: StepRunner | None = None) -> None:
        self.sink = sink
        self.runner = runner
        self._lock = threading.Lock()
        self._metrics: list[Metric] = []
        self._params: dict[str, Any] = {}
        self._latest: dict[str, float] = {}

    def add_metric(
        self, key: str, value: float, step: int | None, timestamp: datetime | None = None
    ) -> None:
        """Buffer one metric (already checked), stamped now unless ``timestamp`` says when
        it was logged (a step that ran on a worker)."""
        metric = Metric(key, value, step, timestamp or datetime.now(UTC))
        with self._lock:
            self._metrics.append(metric)
            self._latest[key] = value

    def add_params(self, params: Mapping[str, Any]) -> None:
        """Buffer logged params (already checked)."""
        with self._lock:
            self._params.update(params)

    def pending(self) -> tuple[list[Metric], dict[str, Any]]:
        """Copies of what was logged since the last :meth:`flush`."""
        with self._lock:
            return list(self._metrics), dict(self._params)

    @property
    def latest(self) -> dict[str, float]:
        """The last value logged for each metric key, in the order keys first appeared."""
        with self._lock:
            return dict(self._latest)

    def flush(self) -> None:
        """Hand the buffer to the sink and ask it to make it durable (nothing to do, and
        no call to the sink, when nothing was logged since the last flush)."""
        with self._lock:
            metrics, self._metrics = self._metrics, []
            params, self._params = self._params, {}
        if not metrics and not params:
            return
        if metrics:
            self.sink.add_metrics(metrics)
        if params:
            self.sink.add_params(params)
        self.sink.flush()


_ACTIVE: ContextVar[ActiveRun | None] = ContextVar("pathtolive_active_run", default=None)


@contextmanager
def activate(run: ActiveRun) -> Iterator[ActiveRun]:
    """Make ``run`` the active run of the current context for the ``with`` block."""
    token = _ACTIVE.set(run)
    try:
        yield run
    finally:
        _ACTIVE.reset(token)


def active_run() -> ActiveRun | None:
    """The run in progress in this context, or None."""
    return _ACTIVE.get()


class RecordingSink:
    """A :class:`MetricSink` that keeps everything in memory (see :func:`recording`)."""

    def __init__(self) -> None:
        self.metrics: list[Metric] = []
        self.params: dict[str, Any] = {}

    def add_metrics(self, metrics: Sequence[Metric]) -> None:
        self.metrics.extend(metrics)

    def add_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def flush(self) -> None:
        """Nothing to make durable: the values are in memory."""


@contextmanager
def recording() -> Iterator[RecordingSink]:
    """Collect what code logs inside the ``with`` block, without running a pipeline: for
    unit tests of steps that call :func:`log_metric`. Steps stay plain calls."""
    sink = RecordingSink()
    run = ActiveRun(sink)
    try:
        with activate(run):
            yield sink
    finally:
        run.flush()


def _require_run(function: str) -> ActiveRun:
    run = _ACTIVE.get()
    if run is None:
        raise InvalidInputError(
            f"{function}() works only while pathtolive runs a pipeline (pathtolive run "
            "NAME) or inside `with ws.start_run(...)`; in a test, wrap the call in "
            "`with pathtolive.pipelines.recording():`"
        )
    return run


def _metric_value(key: object, value: object) -> float:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"a metric name must be a non-empty string, not {key!r}")
    number = _number(value)
    if number is None:
        raise InvalidInputError(
            f"metric {key!r} must be a number, not {type(value).__name__} {value!r}"
        )
    if not math.isfinite(number):
        raise InvalidInputError(
            f"metric {key!r} is {number}; log finite numbers only (leave the metric out "
            "when it is undefined)"
        )
    return number


def _number(value: object) -> float | None:
    # bool is an int in Python, but True is no metric; NumPy numbers convert with float().
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return None


def log_metric(key: str, value: SupportsFloat, step: int | None = None) -> None:
    """Log one metric of the running pipeline: a finite number (NumPy numbers included);
    ``step`` is an optional iteration number."""
    run = _require_run("log_metric")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise InvalidInputError(f"the step of metric {key!r} must be an int, not {step!r}")
    run.add_metric(key, _metric_value(key, value), step)


def log_metrics(metrics: Mapping[str, SupportsFloat], step: int | None = None) -> None:
    """Log several metrics of the running pipeline at once."""
    run = _require_run("log_metrics")
    checked = {key: _metric_value(key, value) for key, value in metrics.items()}
    for key, value in checked.items():
        run.add_metric(key, value, step)


def log_param(key: str, value: Any) -> None:
    """Record a value the code chose (a derived setting, a feature list) with the run."""
    _log_params("log_param", {key: value})


def log_params(params: Mapping[str, Any]) -> None:
    """Record several values the code chose with the run."""
    _log_params("log_params", params)


def _log_params(function: str, params: Mapping[str, Any]) -> None:
    run = _require_run(function)
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"a param name must be a non-empty string, not {key!r}")
        if not is_plain(value):
            raise InvalidInputError(
                f"param {key!r} is a {type(value).__name__}; log numbers, strings, booleans, "
                "None, or lists and dicts of them"
            )
    run.add_params(dict(params))


def split_result(value: object) -> tuple[object | None, dict[str, float]]:
    """Split what a pipeline returned into its model and its metrics.

    - ``(model, {"auc": 0.91, ...})`` → the model and those metrics;
    - ``{"auc": 0.91, ...}`` → no model, those metrics;
    - None → neither;
    - anything else (a bare model) → that model, no metrics.

    Metric values must be finite numbers (NumPy scalars included): ``InvalidInputError``
    otherwise, naming the key.
    """
    if value is None:
        return None, {}
    if isinstance(value, Mapping):
        return None, _metrics_of(value)
    if type(value) is tuple and len(value) == 2 and isinstance(value[1], Mapping):
        return value[0], _metrics_of(value[1])
    return value, {}


def _metrics_of(values: Mapping[Any, Any]) -> dict[str, float]:
    return {key: _metric_value(key, value) for key, value in values.items()}
