"""Model metrics by name, computed on many bootstrap resamples at once.

Every metric is a weighted statistic of the holdout rows. A resample is a row of a
weight matrix, ``weights[b, i]`` being how many times row ``i`` is drawn in resample
``b``; a metric on a weighted row equals the metric on the drawn rows, so one matrix
product (or one cumulative sum, for the area under the ROC curve) scores a block of
resamples without a Python loop. The full holdout is the single resample of ones.

Conventions, the same as scikit-learn's (and checked against it):

- ``classes`` orders the columns of a probability matrix; left out, it is the sorted
  distinct values of ``y_true``. Two classes make a binary problem whose positive class
  is ``classes[-1]``; a binary model may give one column of scores, the probability of
  the positive class. Predicted labels outside ``classes`` are simply wrong.
- precision, recall and f1 are those of the positive class for two classes and the
  unweighted mean over the classes present (in the truth or the predictions) for more;
  a ratio whose denominator is zero counts as 0.
- roc_auc of more than two classes is the unweighted mean of one-vs-rest AUCs over the
  classes present in the truth.
- log_loss clips probabilities to [eps, 1 - eps]; brier is the mean squared distance to
  the one-hot truth, halved for two classes (so binary brier is mean((p - y)^2)).

A metric that is undefined on some rows (roc_auc of one class, precision of nothing)
is NaN there, never an exception, so one degenerate resample or slice does not stop the
others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, cast, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.errors import InvalidInputError

__all__ = [
    "METRICS",
    "TASKS",
    "ClassLabel",
    "FloatArray",
    "Metric",
    "PredictionKind",
    "Resampler",
    "Task",
    "check_task",
    "default_metric",
    "float_array",
    "get_metric",
    "metric_names",
    "resolve_classes",
]

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = get_args(Task)

PredictionKind = Literal["proba", "label", "value"]
"""What a metric scores: class probabilities, predicted labels or predicted values."""

# The registry's ClassLabel, restated so that gates do not import the model registry.
ClassLabel = str | int | float
"""A class label as plain Python."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Resampler = Callable[[FloatArray], FloatArray]
"""Scores a ``(resamples, rows)`` weight matrix: one metric value per resample."""

_CLASSIFICATION: tuple[Task, ...] = ("binary", "multiclass")
_DEFAULTS: dict[Task, str] = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}


@dataclass(frozen=True)
class _Encoded:
    """Truth and predictions as numbers: class codes, probabilities or values."""

    y: npt.NDArray[np.generic]
    prediction: npt.NDArray[np.generic]
    n_classes: int
    """Classes in ``classes`` (0 for values); label codes at or above it are labels
    outside ``classes``."""


@dataclass(frozen=True)
class Metric:
    """A metric: its name, direction, the prediction it needs and the tasks it fits."""

    name: str
    higher_is_better: bool
    needs: PredictionKind
    tasks: tuple[Task, ...]
    build: Callable[[_Encoded], Resampler] = field(repr=False, compare=False)

    def resampler(
        self,
        y_true: npt.ArrayLike,
        prediction: npt.ArrayLike,
        *,
        classes: Sequence[ClassLabel] | None = None,
    ) -> Resampler:
        """The metric of these predictions as a function of resample weights.

        The rows are encoded (and for roc_auc sorted) once; each call scores a weight
        matrix of shape ``(resamples, rows)``."""
        return self.build(_encode(self, y_true, prediction, classes))

    def score(
        self,
        y_true: npt.ArrayLike,
        prediction: npt.ArrayLike,
        *,
        classes: Sequence[ClassLabel] | None = None,
    ) -> float:
        """The metric on every row once; NaN where it is undefined."""
        resampler = self.resampler(y_true, prediction, classes=classes)
        rows = len(np.asarray(y_true))
        return float(resampler(np.ones((1, rows)))[0])

    def oriented(self, value: FloatArray) -> FloatArray:
        """``value`` with its sign flipped for a lower-is-better metric, so that larger
        is always better (differences of oriented values say "how much better")."""
        return value if self.higher_is_better else -value


def check_task(task: str) -> Task:
    """``task`` as a :data:`Task`; ``InvalidInputError`` for anything else."""
    for known in TASKS:
        if task == known:
            return known
    raise InvalidInputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")


def metric_names(task: Task | None = None) -> tuple[str, ...]:
    """The names of the metrics that fit ``task`` (every metric when None)."""
    return tuple(name for name, metric in METRICS.items() if task is None or task in metric.tasks)


def default_metric(task: Task) -> str:
    """The metric used when a model's configuration names none."""
    return _DEFAULTS[check_task(task)]


def get_metric(name: str, task: Task | None = None) -> Metric:
    """The metric called ``name``; ``InvalidInputError`` naming the valid ones when it is
    unknown or (with ``task``) does not fit the task."""
    metric = METRICS.get(name)
    if task is not None:
        check_task(task)
    if metric is None or (task is not None and task not in metric.tasks):
        scope = f"a {task} model" if task is not None else "any model"
        reason = "is not a metric" if metric is None else f"does not fit {scope}"
        raise InvalidInputError(
            f"{name!r} {reason}; metrics for {scope}: {', '.join(metric_names(task))}"
        )
    return metric


def resolve_classes(
    y_true: npt.ArrayLike, classes: Sequence[ClassLabel] | None = None
) -> tuple[ClassLabel, ...]:
    """``classes`` as a tuple, or the sorted distinct values of ``y_true`` (the order in
    which scikit-learn numbers classes)."""
    if classes is not None:
        order = tuple(classes)
        if len(set(order)) != len(order):
            raise InvalidInputError(f"classes must be distinct, not {list(order)[:10]}")
        return order
    values = np.unique(_labels(y_true, "y_true"))
    return tuple(value.item() if isinstance(value, np.generic) else value for value in values)


# Encoding -------------------------------------------------------------------------------


def _encode(
    metric: Metric,
    y_true: npt.ArrayLike,
    prediction: npt.ArrayLike,
    classes: Sequence[ClassLabel] | None,
) -> _Encoded:
    if metric.needs == "value":
        y = _floats(y_true, "y_true")
        values = _floats(prediction, f"{metric.name} predictions")
        _same_length(y, values)
        return _Encoded(y=y, prediction=values, n_classes=0)
    truth = _labels(y_true, "y_true")
    if metric.needs == "label":
        labels = _labels(prediction, f"{metric.name} predictions")
        _same_length(truth, labels)
        order = resolve_classes(truth, classes)
        return _Encoded(
            y=_codes(truth, order), prediction=_codes(labels, order), n_classes=len(order)
        )
    order = resolve_classes(truth, classes)
    proba = _probabilities(prediction, order, metric.name)
    _same_length(truth, proba)
    codes = _codes(truth, order)
    if len(codes) and codes.max() >= len(order):
        unknown = truth[codes >= len(order)][0]
        raise InvalidInputError(
            f"y_true holds the label {unknown!r}, which is not among the classes "
            f"{list(order)} that the probabilities are given for"
        )
    return _Encoded(y=codes, prediction=proba, n_classes=len(order))


def _labels(values: npt.ArrayLike, what: str) -> npt.NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInputError(f"{what} must be one-dimensional, not of shape {array.shape}")
    if pd.isna(array).any():
        raise InvalidInputError(f"{what} holds missing values; drop or fill them first")
    return array


def float_array(values: npt.ArrayLike, what: str) -> FloatArray:
    """``values`` as float64; ``InvalidInputError`` that names ``what`` when they are not
    numbers."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numbers: {exc}") from exc


def _floats(values: npt.ArrayLike, what: str) -> FloatArray:
    array = float_array(values, what)
    if array.ndim != 1:
        raise InvalidInputError(f"{what} must be one-dimensional, not of shape {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{what} holds NaN or infinite values")
    return array


def _probabilities(values: npt.ArrayLike, classes: tuple[ClassLabel, ...], name: str) -> FloatArray:
    proba = _floats_2d(values, f"{name} probabilities")
    if proba.ndim == 1:
        if len(classes) != 2:
            raise InvalidInputError(
                f"one column of scores is enough for two classes only; {name} got "
                f"{len(classes)} classes ({list(classes)[:10]}): give one column per class"
            )
        proba = np.column_stack([1.0 - proba, proba])
    if proba.shape[1] != len(classes):
        raise InvalidInputError(
            f"{name} got {proba.shape[1]} probability columns for {len(classes)} classes "
            f"({list(classes)[:10]}); give one column per class, in the order of the classes"
        )
    return proba


def _floats_2d(values: npt.ArrayLike, what: str) -> FloatArray:
    array = float_array(values, what)
    if array.ndim not in (1, 2):
        raise InvalidInputError(f"{what} must have one or two dimensions, not {array.ndim}")
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{what} hold NaN or infinite values")
    return array


def _codes(values: npt.NDArray[np.generic], classes: tuple[ClassLabel, ...]) -> IntArray:
    """Positions of ``values`` in ``classes``; values outside get codes from
    ``len(classes)`` up, one per distinct value."""
    codes = pd.Index(list(classes)).get_indexer(pd.Index(values)).astype(np.int64)
    outside = codes < 0
    if outside.any():
        _, extra = np.unique(values[outside], return_inverse=True)
        codes[outside] = len(classes) + extra.astype(np.int64)
    return codes


def _same_length(truth: npt.NDArray[np.generic], prediction: npt.NDArray[np.generic]) -> None:
    if len(truth) != len(prediction):
        raise InvalidInputError(
            f"y_true has {len(truth)} rows but the predictions have {len(prediction)}"
        )


# Kernels --------------------------------------------------------------------------------


def _ratio(numerator: FloatArray, denominator: FloatArray, *, empty: float) -> FloatArray:
    """``numerator / denominator``, with ``empty`` where the denominator is zero."""
    out = np.full(np.broadcast_shapes(numerator.shape, denominator.shape), empty)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _mean_of(per_row: FloatArray) -> Resampler:
    """The weighted mean of a per-row quantity: accuracy, log loss, brier, errors."""

    def resample(weights: FloatArray) -> FloatArray:
        return _ratio(weights @ per_row, weights.sum(axis=1), empty=np.nan)

    return resample


def _accuracy(encoded: _Encoded) -> Resampler:
    return _mean_of((encoded.y == encoded.prediction).astype(np.float64))


def _log_loss(encoded: _Encoded) -> Resampler:
    proba = cast(FloatArray, encoded.prediction)
    eps = np.finfo(np.float64).eps
    chosen = proba[np.arange(len(proba)), cast(IntArray, encoded.y)]
    return _mean_of(-np.log(np.clip(chosen, eps, 1.0 - eps)))


def _brier(encoded: _Encoded) -> Resampler:
    proba = cast(FloatArray, encoded.prediction)
    onehot = np.eye(encoded.n_classes)[cast(IntArray, encoded.y)]
    squared = ((onehot - proba) ** 2).sum(axis=1)
    return _mean_of(squared * 0.5 if encoded.n_classes == 2 else squared)


def _binary_auc(positive: npt.NDArray[np.bool_], scores: FloatArray) -> Resampler:
    """Weighted Mann-Whitney AUC: the weight of (positive, negative) pairs ranked right,
    ties counting half, over the weight of all such pairs.

    The negatives are sorted by score once, and for each positive the positions of the
    first negative at and above its score are found once. Per resample, a cumulative sum
    of the negatives' weights then gives every positive's weight of negatives below it
    (and of ties) by indexing, with no per-row sort."""
    negative_rows = np.flatnonzero(~positive)
    negative_rows = negative_rows[np.argsort(scores[negative_rows], kind="stable")]
    negative_scores = scores[negative_rows]
    positive_rows = np.flatnonzero(positive)
    # Positions in the cumulative sum below, padded with a leading 0 for "no negative":
    # column k holds the weight of the k lowest-scored negatives.
    below = np.searchsorted(negative_scores, scores[positive_rows], side="left")
    at_or_below = np.searchsorted(negative_scores, scores[positive_rows], side="right")
    tied = np.flatnonzero(at_or_below != below)

    def resample(weights: FloatArray) -> FloatArray:
        cumulative = np.zeros((len(weights), len(negative_rows) + 1))
        np.cumsum(weights[:, negative_rows], axis=1, out=cumulative[:, 1:])
        # Twice the credit of each positive: negatives strictly below count twice, tied
        # ones once. Only the few tied positives need the second lookup.
        credit = 2.0 * cumulative[:, below]
        if len(tied):
            credit[:, tied] += cumulative[:, at_or_below[tied]] - cumulative[:, below[tied]]
        positive_weights = weights[:, positive_rows]
        right = 0.5 * np.einsum("ij,ij->i", positive_weights, credit)
        pairs = positive_weights.sum(axis=1) * cumulative[:, -1]
        return _ratio(right, pairs, empty=np.nan)

    return resample


def _roc_auc(encoded: _Encoded) -> Resampler:
    proba = cast(FloatArray, encoded.prediction)
    if encoded.n_classes == 2:
        return _binary_auc(encoded.y == 1, proba[:, 1])
    per_class = [_binary_auc(encoded.y == k, proba[:, k]) for k in range(encoded.n_classes)]

    def resample(weights: FloatArray) -> FloatArray:
        aucs = np.stack([auc(weights) for auc in per_class], axis=1)
        defined = ~np.isnan(aucs)
        total = np.where(defined, aucs, 0.0).sum(axis=1)
        return _ratio(total, defined.sum(axis=1).astype(np.float64), empty=np.nan)

    return resample


Statistic = Literal["precision", "recall", "f1"]


def _classwise(statistic: Statistic) -> Callable[[_Encoded], Resampler]:
    """Precision, recall or f1 from weighted per-class counts (one matrix product each)."""

    def build(encoded: _Encoded) -> Resampler:
        y = cast(IntArray, encoded.y)
        labels = cast(IntArray, encoded.prediction)
        width = int(max(encoded.n_classes, y.max(initial=-1) + 1, labels.max(initial=-1) + 1))
        truth = np.eye(width)[y]
        predicted = np.eye(width)[labels]
        hits = truth * predicted
        binary = encoded.n_classes == 2

        def resample(weights: FloatArray) -> FloatArray:
            true_count = weights @ truth
            predicted_count = weights @ predicted
            hit_count = weights @ hits
            if statistic == "precision":
                per_class = _ratio(hit_count, predicted_count, empty=0.0)
            elif statistic == "recall":
                per_class = _ratio(hit_count, true_count, empty=0.0)
            else:
                per_class = _ratio(2 * hit_count, true_count + predicted_count, empty=0.0)
            if binary:
                return per_class[:, 1]
            present = (true_count + predicted_count) > 0
            total = np.where(present, per_class, 0.0).sum(axis=1)
            return _ratio(total, present.sum(axis=1).astype(np.float64), empty=np.nan)

        return resample

    return build


def _rmse(encoded: _Encoded) -> Resampler:
    squared = _mean_of((cast(FloatArray, encoded.y) - cast(FloatArray, encoded.prediction)) ** 2)

    def resample(weights: FloatArray) -> FloatArray:
        return np.sqrt(squared(weights))

    return resample


def _mae(encoded: _Encoded) -> Resampler:
    return _mean_of(np.abs(cast(FloatArray, encoded.y) - cast(FloatArray, encoded.prediction)))


def _r2(encoded: _Encoded) -> Resampler:
    y = cast(FloatArray, encoded.y)
    squared_error = (y - cast(FloatArray, encoded.prediction)) ** 2

    def resample(weights: FloatArray) -> FloatArray:
        total_weight = weights.sum(axis=1)
        mean = _ratio(weights @ y, total_weight, empty=np.nan)
        residual = weights @ squared_error
        # Centred on each resample's own mean rather than E[y^2] - mean^2, which loses
        # digits to cancellation when the target is far from zero.
        spread = (weights * (y[np.newaxis, :] - mean[:, np.newaxis]) ** 2).sum(axis=1)
        # A constant target: 1 for a perfect fit, else 0, as scikit-learn's force_finite.
        perfect = np.where(residual == 0, 1.0, 0.0)
        return np.where(spread == 0, perfect, 1.0 - _ratio(residual, spread, empty=np.nan))

    return resample


def _metric(
    name: str,
    build: Callable[[_Encoded], Resampler],
    *,
    higher_is_better: bool,
    needs: PredictionKind,
) -> tuple[str, Metric]:
    tasks: tuple[Task, ...] = ("regression",) if needs == "value" else _CLASSIFICATION
    return name, Metric(name, higher_is_better, needs, tasks, build)


METRICS: Mapping[str, Metric] = MappingProxyType(
    dict(
        [
            _metric("roc_auc", _roc_auc, higher_is_better=True, needs="proba"),
            _metric("accuracy", _accuracy, higher_is_better=True, needs="label"),
            _metric("f1", _classwise("f1"), higher_is_better=True, needs="label"),
            _metric("precision", _classwise("precision"), higher_is_better=True, needs="label"),
            _metric("recall", _classwise("recall"), higher_is_better=True, needs="label"),
            _metric("log_loss", _log_loss, higher_is_better=False, needs="proba"),
            _metric("brier", _brier, higher_is_better=False, needs="proba"),
            _metric("rmse", _rmse, higher_is_better=False, needs="value"),
            _metric("mae", _mae, higher_is_better=False, needs="value"),
            _metric("r2", _r2, higher_is_better=True, needs="value"),
        ]
    )
)
"""Every metric by name, in the order they are listed to users."""
