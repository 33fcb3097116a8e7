"""``@step`` and ``@pipeline``: production training code as plain Python functions.

A :class:`Step` is a function whose calls pathtolive tracks and caches while a pipeline
runs; outside a run it is the plain function, so steps are unit-tested like any code. A
:class:`Pipeline` is the function that calls the steps; its graph is built from the calls
it makes. Its parameters annotated :class:`~pathtolive.pipelines.dataset.Dataset` are its
data inputs; the others are its params (see :mod:`pathtolive.pipelines.params`).
"""

from __future__ import annotations

import functools
import inspect
import json
import marshal
import textwrap
import typing
from collections.abc import Callable
from typing import Any, Generic, Literal, ParamSpec, TypeVar, cast, overload

from pathtolive.config import COMPUTE_CHOICES
from pathtolive.errors import InvalidInputError
from pathtolive.pipelines.canonical import json_digest
from pathtolive.pipelines.dataset import Dataset
from pathtolive.pipelines.params import Param, check_annotation
from pathtolive.pipelines.tracking import active_run
from pathtolive.refs import check_name

__all__ = [
    "Compute",
    "Pipeline",
    "Step",
    "check_compute",
    "pipeline",
    "source_hash",
    "step",
]

P = ParamSpec("P")
R = TypeVar("R")

Compute = Literal["local", "dask"]
"""Where a step runs: ``local`` in the process that runs the pipeline, ``dask`` on a worker
of the Dask cluster the run is given (in this process when it is given none)."""

_NAMED_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_INFERRED_TYPES: tuple[type, ...] = (bool, int, float, str)


def source_hash(func: Callable[..., Any]) -> str:
    """BLAKE3 digest of a function's qualified name and dedented source.

    Any change to the body, its decorators or its default values changes the digest;
    helper functions it calls are not covered (change the step too, or run without the
    cache, when only a helper changed).
    """
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        # Code without a source file (exec, some notebook kernels): the compiled code
        # stands in. It changes when the body does, and also with the Python version.
        source = marshal.dumps(func.__code__).hex()
    return json_digest({"qualname": func.__qualname__, "source": source})


class Step(Generic[P, R]):
    """A tracked, cached unit of a pipeline (see :func:`step`).

    ``source_hash`` is fixed when the step is defined, so the cache keys of a run always
    describe the code that ran, even if the file changes while it runs.
    """

    __name__: str  # with __doc__ and __module__, copied from the function

    def __init__(
        self,
        func: Callable[P, R],
        *,
        name: str | None = None,
        cache: bool = True,
        compute: Compute | None = None,
    ):
        self.func = func
        self.name = check_name(name or func.__name__, kind="step")
        self.cache = cache
        self.compute = None if compute is None else check_compute(compute, f"step {self.name!r}")
        self.signature = inspect.signature(func)
        self.source_hash = source_hash(func)
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        run = active_run()
        if run is None or run.runner is None:
            return self.func(*args, **kwargs)
        return cast(R, run.runner.call_step(self, args, kwargs))

    def __repr__(self) -> str:
        return f"<step {self.name!r}>"


class Pipeline(Generic[P, R]):
    """A pipeline: a function that calls steps (see :func:`pipeline`).

    ``data_params`` names its parameters annotated ``Dataset``; ``params`` describes the
    others. Calling it outside a run calls the function.
    """

    __name__: str  # with __doc__ and __module__, copied from the function

    def __init__(self, func: Callable[P, R], *, name: str | None = None):
        self.func = func
        self.name = check_name(name or func.__name__, kind="pipeline")
        self.signature = inspect.signature(func)
        self.data_params, self.params = _inputs(func, self.name, self.signature)
        functools.update_wrapper(self, func)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r}>"

    @property
    def source_file(self) -> str | None:
        """The file that defines the pipeline, if known."""
        return inspect.getsourcefile(self.func)


def _inputs(
    func: Callable[..., Any], name: str, signature: inspect.Signature
) -> tuple[tuple[str, ...], tuple[Param, ...]]:
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:  # any failure to evaluate an annotation means the same
        raise InvalidInputError(
            f"pipeline {name!r}: cannot resolve its annotations ({type(exc).__name__}: "
            f"{exc}); import the types they name in the pipeline's module"
        ) from exc
    data: list[str] = []
    params: list[Param] = []
    for parameter in signature.parameters.values():
        where = f"pipeline {name!r}, parameter {parameter.name!r}"
        if parameter.kind not in _NAMED_KINDS:
            raise InvalidInputError(
                f"{where}: pipelines take named parameters only (no *args, **kwargs or "
                "positional-only ones), each a dataset or a param"
            )
        annotation = hints.get(parameter.name, inspect.Parameter.empty)
        if annotation is Dataset:
            data.append(parameter.name)
            continue
        default = parameter.default
        required = default is inspect.Parameter.empty
        if annotation is inspect.Parameter.empty:
            inferred = type(default)
            annotation = inferred if not required and inferred in _INFERRED_TYPES else Any
        try:
            check_annotation(annotation)
        except ValueError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        if not required:
            try:
                json.dumps(default, allow_nan=False)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"{where}: the default {default!r} is not a plain value; use a number, "
                    "string, boolean, None or a list of them"
                ) from None
        params.append(Param(parameter.name, annotation, None if required else default, required))
    return tuple(data), tuple(params)


def check_compute(value: object, where: str) -> Compute:
    """``value`` if it names where a step runs; ``InvalidInputError`` naming the choices."""
    if value not in COMPUTE_CHOICES:
        raise InvalidInputError(
            f"{where}: compute={value!r} is not a place a step runs; use one of "
            f"{', '.join(repr(choice) for choice in COMPUTE_CHOICES)}"
        )
    return cast(Compute, value)


@overload
def step(func: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *, name: str | None = None, cache: bool = True, compute: Compute | None = None
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    func: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    compute: Compute | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step: ``@step`` or ``@step(name=..., cache=...,
    compute=...)``.

    While a pipeline runs, a call to the step is recorded (inputs, output, logs, timing)
    and cached by the content hash of its source, its plain arguments and the
    fingerprints of its other inputs. ``cache=False`` runs it every time (a step that
    reads something outside pathtolive, such as a live table). Treat a step's inputs and
    outputs as immutable: the cache knows a value by the digest it had when it was made.

    ``compute="dask"`` runs the step on a worker of the run's Dask cluster (``run
    --scheduler``, ``PATHTOLIVE_DASK_SCHEDULER`` or ``[compute] scheduler``); its inputs and
    output travel through the artifact store by digest, and its record, cache key, logs and
    metrics are those of a local call. ``compute="local"`` keeps it in the pipeline's
    process whatever ``[pipelines.NAME] compute`` says; unset, that setting decides.
    """
    if func is not None:
        return Step(func, name=name, cache=cache, compute=compute)

    def decorate(inner: Callable[P, R]) -> Step[P, R]:
        return Step(inner, name=name, cache=cache, compute=compute)

    return decorate


@overload
def pipeline(func: Callable[P, R], /) -> Pipeline[P, R]: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[P, R]], Pipeline[P, R]]: ...


def pipeline(
    func: Callable[P, R] | None = None, /, *, name: str | None = None
) -> Pipeline[P, R] | Callable[[Callable[P, R]], Pipeline[P, R]]:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name=...)``.

    It may return a model, a dict of metrics, or ``(model, metrics)``; see
    :func:`pathtolive.pipelines.tracking.split_result`.
    """
    if func is not None:
        return Pipeline(func, name=name)

    def decorate(inner: Callable[P, R]) -> Pipeline[P, R]:
        return Pipeline(inner, name=name)

    return decorate
