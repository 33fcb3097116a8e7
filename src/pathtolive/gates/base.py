"""The gate plug-in interface: what a gate is given, what it answers, and how to add one.

A gate is a :class:`Gate`: a ``name``, the config ``keys`` it reads from
``[models.NAME.gates]`` (it applies when the first is set; no keys: it always applies)
and ``evaluate(context) -> GateResult``. A user gate is a subclass, or a function
decorated with :func:`gate`, registered with
:func:`~pathtolive.gates.catalog.register_gate`::

    @gate(keys=["max_false_positive_rate"])
    def max_false_positive_rate(context: GateContext) -> GateResult:
        limit = context.config.option("max_false_positive_rate")
        ...
        return GateResult.failing("max_false_positive_rate", "...", figure=rate, threshold=limit)

    register_gate(max_false_positive_rate)

Gates are pure: everything they judge is in the :class:`GateContext` (predictions on the
holdout, measurements made by the service), so a report can be recomputed from its
inputs and a gate is tested without a model registry, a store or a model server.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.errors import InvalidInputError
from pathtolive.gates.bootstrap import (
    Comparison,
    Interval,
    Resampled,
    compare_resampled,
    interval_from,
    resample_metric,
)
from pathtolive.gates.config import GateConfig
from pathtolive.gates.metrics import (
    ClassLabel,
    Metric,
    Task,
    check_task,
    get_metric,
    resolve_classes,
)
from pathtolive.gates.predictions import Predictions

__all__ = [
    "BASELINE_FIT_EXTRA",
    "COSTS_EXTRA",
    "EXTERNAL_BASELINE_EXTRA",
    "LATENCY_KEYS",
    "VERDICTS",
    "FunctionGate",
    "Gate",
    "GateContext",
    "GateFunction",
    "GateResult",
    "Role",
    "Verdict",
    "gate",
    "plain",
]

Role = Literal["candidate", "champion", "baseline"]
"""The models a context holds predictions of."""

Verdict = Literal["pass", "fail", "note"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
"""``note``: the gate passes but has something to say (no live version to beat yet)."""

LATENCY_KEYS: tuple[str, ...] = (
    "single_p50_ms",
    "single_p95_ms",
    "single_p99_ms",
    "batch_p50_ms",
    "batch_p95_ms",
    "batch_p99_ms",
)
"""The measurements a latency dictionary may hold: one-row and batch calls, percentiles
in milliseconds."""

EXTERNAL_BASELINE_EXTRA = "external_baseline"
"""The :attr:`GateContext.extras` key under which the service describes an external
baseline's answers (their URL, the digest of the stored answers object, whether they
were reused), or the ``problem`` that left it without answers."""

BASELINE_FIT_EXTRA = "baseline_fit"
"""The :attr:`GateContext.extras` key under which the service says how a built-in
baseline was fitted: on the candidate's training rows, or cross-fitted on the holdout."""

COSTS_EXTRA = "costs"
"""The :attr:`GateContext.extras` key under which the service gives the candidate's cost
figures: ``footprint`` (a :class:`~pathtolive.gates.costs.Footprint` as a dictionary),
``settings`` (the :class:`~pathtolive.gates.costs.CostSettings`), ``cost_per_1k`` and
``monthly`` (a :class:`~pathtolive.gates.costs.MonthlyCost` as a dictionary, or None)."""


@dataclass(frozen=True)
class GateResult:
    """What one gate found: its verdict, the figure it judged against its threshold, one
    line saying what and by how much, and any further figures in ``data``.

    ``passed`` is False exactly when ``verdict`` is ``"fail"``. Figures are plain floats
    (None when there is none); ``data`` is kept as plain JSON types (tuples become
    lists, NumPy scalars Python numbers, NaN None), so a report survives a JSON round
    trip unchanged.
    """

    gate: str
    passed: bool
    figure: float | None
    threshold: float | None
    verdict: Verdict
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InvalidInputError(
                f"gate {self.gate!r}: verdict {self.verdict!r} is not one of {VERDICTS}"
            )
        if self.passed != (self.verdict != "fail"):
            raise InvalidInputError(
                f"gate {self.gate!r}: passed={self.passed} contradicts verdict {self.verdict!r}"
            )
        object.__setattr__(self, "figure", _number(self.figure))
        object.__setattr__(self, "threshold", _number(self.threshold))
        object.__setattr__(self, "detail", " ".join(self.detail.split()))
        object.__setattr__(self, "data", plain(dict(self.data)))

    @classmethod
    def passing(
        cls,
        gate: str,
        detail: str,
        *,
        figure: float | None = None,
        threshold: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> GateResult:
        """A pass."""
        return cls._judged("pass", gate, detail, figure, threshold, data)

    @classmethod
    def failing(
        cls,
        gate: str,
        detail: str,
        *,
        figure: float | None = None,
        threshold: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> GateResult:
        """A failure; ``detail`` says what failed and by how much."""
        return cls._judged("fail", gate, detail, figure, threshold, data)

    @classmethod
    def noting(
        cls,
        gate: str,
        detail: str,
        *,
        figure: float | None = None,
        threshold: float | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> GateResult:
        """A pass with something to say (what could not be judged, and why)."""
        return cls._judged("note", gate, detail, figure, threshold, data)

    @classmethod
    def _judged(
        cls,
        verdict: Verdict,
        gate: str,
        detail: str,
        figure: float | None,
        threshold: float | None,
        data: Mapping[str, Any] | None,
    ) -> GateResult:
        # ``passed`` follows from the verdict, so the named constructors cannot disagree.
        return cls(gate, verdict != "fail", figure, threshold, verdict, detail, dict(data or {}))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "gate": self.gate,
            "passed": self.passed,
            "figure": self.figure,
            "threshold": self.threshold,
            "verdict": self.verdict,
            "detail": self.detail,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            gate=data["gate"],
            passed=data["passed"],
            figure=data["figure"],
            threshold=data["threshold"],
            verdict=data["verdict"],
            detail=data["detail"],
            data=dict(data.get("data", {})),
        )


@dataclass(frozen=True, eq=False)
class GateContext:
    """Everything the gates judge a candidate on.

    The candidate, the live ``champion`` (None when nothing is live yet) and the
    ``baseline`` are scored on the same holdout rows, in the same order as ``y_true``
    and ``slices`` (the holdout's slice columns), so comparisons are paired.
    ``classes`` orders the probability columns (the sorted labels of ``y_true`` when
    left out). The rest is measured by the service: the validation status of the
    training data version (``inferred``, ``passed``, ``warned`` or ``accepted``; None
    when the model has no recorded training data), the artifact's size, the latency
    percentiles (keys from :data:`LATENCY_KEYS`), whether the candidate loaded and
    answered in a clean process, whether explanations could be computed (None: not
    checked), each with a one-line detail, the ``explainer`` method that computed them
    (the one serving uses), and ``importance``: each input's mean absolute attribution on
    holdout rows, when computed (kept in the explainability gate's result for monitoring).
    ``extras`` carries anything a user gate needs.
    """

    config: GateConfig
    task: Task
    metric: str
    y_true: npt.NDArray[Any]
    candidate: Predictions
    champion: Predictions | None = None
    baseline: Predictions | None = None
    classes: tuple[ClassLabel, ...] | None = None
    slices: pd.DataFrame | None = None
    data_validation: str | None = None
    data_validation_detail: str = ""
    artifact_bytes: int | None = None
    latency: Mapping[str, float] | None = None
    loads_and_answers: bool | None = None
    load_detail: str = ""
    explanations: bool | None = None
    explanations_detail: str = ""
    explainer: str | None = None
    importance: Mapping[str, float] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)
    # A memo, not state: each model's metric on the shared resamples, computed once
    # however many gates ask (the beat-live and beat-baseline gates both need the
    # candidate's).
    _resampled: dict[Role, Resampled] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        check_task(self.task)
        get_metric(self.metric, self.task)
        y_true = np.asarray(self.y_true)
        if y_true.ndim != 1 or len(y_true) == 0:
            raise InvalidInputError(
                f"y_true must be a non-empty column, not of shape {y_true.shape}"
            )
        rows = len(y_true)
        for role, predictions in self._models():
            if predictions.rows != rows:
                raise InvalidInputError(
                    f"the {role} predicted {predictions.rows} rows but the holdout has {rows}"
                )
        if self.slices is not None:
            if len(self.slices) != rows:
                raise InvalidInputError(
                    f"the slice columns have {len(self.slices)} rows but the holdout has {rows}"
                )
            # Rows are matched by position, whatever index the frame came with.
            object.__setattr__(self, "slices", self.slices.reset_index(drop=True))
        object.__setattr__(self, "y_true", y_true)
        if self.task != "regression":
            classes = resolve_classes(y_true, self.classes)
            if self.task == "binary" and len(classes) != 2:
                raise InvalidInputError(
                    f"a binary task has two classes, not {list(classes)[:10]}; pass the "
                    "model's classes when the holdout lacks one"
                )
            object.__setattr__(self, "classes", classes)

    @property
    def scoring(self) -> Metric:
        """The primary metric."""
        return get_metric(self.metric, self.task)

    @property
    def rows(self) -> int:
        """Rows in the holdout."""
        return len(self.y_true)

    def scores(self, predictions: Predictions, owner: str) -> npt.NDArray[Any]:
        """What the primary metric scores from ``predictions`` (``owner`` names the model
        in errors: "the candidate", "the champion", ...)."""
        return predictions.for_metric(self.scoring, self.classes, owner=owner)

    def predictions(self, role: Role) -> Predictions:
        """The predictions of the candidate, the champion or the baseline;
        ``InvalidInputError`` when that model was not given."""
        if role == "candidate":
            return self.candidate
        found = self.champion if role == "champion" else self.baseline
        if found is None:
            raise InvalidInputError(f"no {role} predictions were given")
        return found

    def resampled(self, role: Role) -> Resampled:
        """The primary metric of ``role`` on the holdout and on the bootstrap resamples
        the config asks for (the same resamples for every model, so comparisons are
        paired). Computed once per model."""
        if role not in self._resampled:
            config = self.config
            self._resampled[role] = resample_metric(
                self.scoring,
                self.y_true,
                self.scores(self.predictions(role), f"the {role}"),
                resamples=config.resamples,
                seed=config.seed,
                classes=self.classes,
            )
        return self._resampled[role]

    def interval(self) -> Interval:
        """The candidate's primary metric with its bootstrap interval."""
        return interval_from(self.resampled("candidate"), self.config.confidence)

    def compare(self, role: Role) -> Comparison:
        """The candidate against the champion or the baseline: the paired-bootstrap
        interval of the oriented difference (positive: the candidate is better)."""
        return compare_resampled(
            self.resampled("candidate"), self.resampled(role), self.config.confidence
        )

    def _models(self) -> list[tuple[str, Predictions]]:
        given = {"candidate": self.candidate, "champion": self.champion, "baseline": self.baseline}
        return [(role, found) for role, found in given.items() if found is not None]


class Gate(abc.ABC):
    """A check a candidate must pass before an alias moves to it.

    ``keys`` are the settings the gate reads from ``[models.NAME.gates]``; the gate
    applies when the first is set, and always when there are none. ``evaluate`` judges
    a :class:`GateContext`; it should fail with a detail rather than raise, though a
    gate that raises is recorded as a failure naming the exception.
    """

    name: str
    keys: tuple[str, ...] = ()

    def applies(self, config: GateConfig) -> bool:
        """True when ``config`` asks for this gate."""
        return not self.keys or config.is_set(self.keys[0])

    @abc.abstractmethod
    def evaluate(self, context: GateContext) -> GateResult:
        """Judge the candidate described by ``context``."""


GateFunction = Callable[[GateContext], GateResult]
"""A gate written as a function, made a :class:`Gate` by :func:`gate`."""


class FunctionGate(Gate):
    """A :class:`Gate` around a function of the context."""

    def __init__(self, name: str, function: GateFunction, keys: Sequence[str] = ()) -> None:
        self.name = name
        self.keys = tuple(keys)
        self.function = function

    def evaluate(self, context: GateContext) -> GateResult:
        """The function's result."""
        return self.function(context)

    def __repr__(self) -> str:
        return f"FunctionGate({self.name!r}, keys={self.keys!r})"


def gate(
    name: str | None = None, *, keys: Sequence[str] = ()
) -> Callable[[GateFunction], FunctionGate]:
    """Decorate a function of the context as a gate, called ``name`` (the function's name
    when left out), that applies when the first of ``keys`` is set in the config."""

    def decorate(function: GateFunction) -> FunctionGate:
        return FunctionGate(name or function.__name__, function, keys)

    return decorate


def plain(value: Any) -> Any:
    """``value`` in plain JSON types: mappings with string keys, lists, str, int, float
    (NaN and infinities as None), bool and None; anything else as its ``str``."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
