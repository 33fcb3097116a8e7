"""A step call that runs in another process: what travels there and what comes back.

The executor turns a call of a step that runs on a Dask worker into a :class:`StepTask`:
the step's function and its arguments, where every argument that is not a plain value
travels as the digest of its stored bytes (:class:`StoredInput`, the same
:func:`~pathtolive.pipelines.serialize.dumps` bytes the step cache keeps) and every
dataset version as its identity and the digests of its Parquet objects
(:class:`DatasetInput`). A :class:`RemoteSteps` (the service's Dask backend) runs the
task with :func:`run_step_task` on a worker, which opens the artifact store there, loads
the inputs by digest (verified), runs the function with its output and log records
captured and its metrics collected, stores the output and answers a :class:`StepReply`:
the output's digest, the logs, the metrics and params, or the failure in the words a local
failure would have used. Nothing live (a store, a session, a run) ever travels.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType, FunctionType
from typing import TYPE_CHECKING, Any, Protocol

from pathtolive.errors import PathToLiveError
from pathtolive.pipelines.dataset import Dataset
from pathtolive.pipelines.failures import one_line, traceback_text
from pathtolive.pipelines.logcapture import Tail, capture_logs
from pathtolive.pipelines.parts import ObjectReader, ParquetParts, StoreOpener
from pathtolive.pipelines.serialize import dumps, loads
from pathtolive.pipelines.tracking import ActiveRun, Metric, RecordingSink, activate

if TYPE_CHECKING:
    from pathtolive.data.schema import Schema

__all__ = [
    "DatasetInput",
    "RemoteSteps",
    "StepReply",
    "StepTask",
    "StoredInput",
    "run_step_task",
]


@dataclass(frozen=True)
class StoredInput:
    """An argument stored in the artifact store, known by its digest."""

    digest: str


@dataclass(frozen=True)
class DatasetInput:
    """A dataset version as a worker rebuilds it: its identity, contract and objects."""

    name: str
    version: int | None
    content_hash: str
    schema: Schema
    rows: int | None
    digests: tuple[str, ...]

    def dataset(self, opener: StoreOpener) -> Dataset:
        parts = ParquetParts(opener, self.digests)
        return Dataset(
            name=self.name,
            version=self.version,
            content_hash=self.content_hash,
            schema=self.schema,
            loader=parts.read,
            rows=self.rows,
            parts=parts,
        )


@dataclass(frozen=True)
class StepTask:
    """One step call to run elsewhere: ``args`` and ``kwargs`` hold plain values,
    :class:`StoredInput` and :class:`DatasetInput`.

    The function travels by value (Dask pickles it with cloudpickle), so a worker needs
    the packages it imports but not the workspace's files. ``files`` maps the modules of
    the workspace code it reaches to their files, for tracebacks that name them (a
    function pickled by value forgets its file)."""

    step: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    files: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls, step: str, func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> StepTask:
        """The task of calling ``func`` (step ``step``), with the files of its code."""
        files = {
            function.__module__: function.__code__.co_filename
            for function in _functions_reached(func)
        }
        return cls(step, func, args, dict(kwargs), files)


@dataclass(frozen=True)
class StepReply:
    """What a step call that ran elsewhere did.

    On success ``output_digest`` names its stored output. A step that raised has
    ``error`` (one line: ``ValueError: …``), ``exception`` (the class name) and
    ``traceback``; an output pathtolive could not store has ``store_error`` and
    ``store_error_code`` (a :class:`~pathtolive.errors.PathToLiveError` code). ``logs``,
    ``metrics`` and ``params`` are kept either way; ``where`` names the worker process.
    """

    output_digest: str | None = None
    logs: str = ""
    metrics: tuple[Metric, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    exception: str | None = None
    traceback: str | None = None
    store_error: str | None = None
    store_error_code: str | None = None
    where: str = ""


class RemoteSteps(Protocol):
    """Runs step tasks elsewhere (the service's Dask backend)."""

    def run(self, task: StepTask) -> StepReply:
        """Run ``task`` with :func:`run_step_task` and wait for its reply. Raises
        :class:`~pathtolive.errors.PathToLiveError` when the task could not run (an
        unreachable cluster, a worker lost for good), never for a failure of the step."""


def run_step_task(task: StepTask, opener: StoreOpener) -> StepReply:
    """Run ``task`` in this process against the store ``opener`` opens (on a worker)."""
    where = f"pid {os.getpid()} on {socket.gethostname()}"
    try:
        store = opener.open()
        args = tuple(_load(value, store, opener) for value in task.args)
        kwargs = {name: _load(value, store, opener) for name, value in task.kwargs.items()}
    except PathToLiveError as exc:  # a missing or damaged input, a store out of reach
        return StepReply(store_error=exc.message, store_error_code=exc.code, where=where)
    _restore_files(task.func, task.files)
    tail = Tail()
    sink = RecordingSink()
    run = ActiveRun(sink)
    try:
        with activate(run), capture_logs(tail):
            value = task.func(*args, **kwargs)
    except Exception as exc:
        run.flush()
        return StepReply(
            logs=tail.text(),
            metrics=tuple(sink.metrics),
            params=dict(sink.params),
            error=one_line(exc),
            exception=type(exc).__name__,
            traceback=traceback_text(exc, (__file__,)),
            where=where,
        )
    run.flush()
    try:
        digest = store.put_bytes(dumps(value, origin=f"step {task.step!r} returned")).digest
    except PathToLiveError as exc:
        return StepReply(
            logs=tail.text(),
            metrics=tuple(sink.metrics),
            params=dict(sink.params),
            store_error=exc.message,
            store_error_code=exc.code,
            where=where,
        )
    return StepReply(
        output_digest=str(digest),
        logs=tail.text(),
        metrics=tuple(sink.metrics),
        params=dict(sink.params),
        where=where,
    )


def _load(value: Any, store: ObjectReader, opener: StoreOpener) -> Any:
    if isinstance(value, StoredInput):
        return loads(store.get_bytes(value.digest))
    if isinstance(value, DatasetInput):
        return value.dataset(opener)
    return value


_DYNAMIC = "<dynamic-code>"
"""The file cloudpickle gives the code of a function it pickled by value."""


def _functions_reached(func: Callable[..., Any]) -> list[FunctionType]:
    """``func`` and the functions (and steps' functions) its globals name, transitively,
    that travel by value with it (an installed library's travel by reference)."""
    from pathtolive.pipelines.decorators import Step

    found: list[FunctionType] = []
    seen: set[int] = set()
    pending: list[object] = [func]
    while pending:
        value = pending.pop()
        if isinstance(value, Step):
            value = value.func
        if not isinstance(value, FunctionType) or id(value) in seen:
            continue
        seen.add(id(value))
        if value is not func and not _travels_by_value(value):
            continue
        found.append(value)
        names = value.__code__.co_names
        pending.extend(value.__globals__[name] for name in names if name in value.__globals__)
    return found


def _travels_by_value(function: FunctionType) -> bool:
    # As cloudpickle decides: by reference when its module, imported, names it.
    module = sys.modules.get(function.__module__)
    if module is None or function.__module__ == "__main__":
        return True
    target: object = module
    for part in function.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is not function


def _restore_files(func: Callable[..., Any], files: Mapping[str, str]) -> None:
    for function in _functions_reached(func):
        file = files.get(function.__module__)
        if file is not None and function.__code__.co_filename == _DYNAMIC:
            function.__code__ = _with_file(function.__code__, file)


def _with_file(code: CodeType, file: str) -> CodeType:
    # Nested code (comprehensions, lambdas, inner functions) has the file too.
    constants = tuple(
        _with_file(constant, file) if isinstance(constant, CodeType) else constant
        for constant in code.co_consts
    )
    return code.replace(co_filename=file, co_consts=constants)
