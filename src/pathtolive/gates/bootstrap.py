"""Bootstrap intervals: one model's metric, and the paired difference of two models.

A resample draws the holdout's rows with replacement; it is kept as a row of counts
(``weights[b, i]`` = how often row ``i`` was drawn), which the vectorised metrics of
:mod:`pathtolive.gates.metrics` score a block at a time. Blocks are sized to about
:data:`BLOCK_CELLS` weights so memory stays bounded whatever the holdout's size.

A *paired* bootstrap scores both models on the same resamples, so the spread of their
difference reflects how they disagree, not how hard each resample happens to be; that
makes it much narrower than two independent intervals and is why the candidate, the
champion and the baseline are all scored on the same holdout rows.

:func:`paired_bootstrap` and :func:`bootstrap_interval` do it all in one call; the gates
instead keep each model's :class:`Resampled` metric (:func:`resample_metric`) and
compare those (:func:`compare_resampled`), so a model scored for two gates is scored
once. The same seed draws the same resamples, which is what keeps them paired.

The interval is the percentile interval of the resampled values. Resamples on which the
metric is undefined (a resample of one class only, for roc_auc) are left out and not
counted in ``resamples``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from pathtolive.errors import InvalidInputError
from pathtolive.gates.metrics import ClassLabel, FloatArray, Metric, Resampler, get_metric

__all__ = [
    "BLOCK_CELLS",
    "Comparison",
    "Interval",
    "Resampled",
    "bootstrap_interval",
    "compare_resampled",
    "interval_from",
    "paired_bootstrap",
    "resample_metric",
    "resample_weights",
]

BLOCK_CELLS = 1 << 21
"""About how many weights one block of resamples holds (2 Mi float64 = 16 MiB); a metric
needs a few arrays of that size at a time."""

_UNDEFINED_HINTS = {
    "roc_auc": "roc_auc needs at least two classes in y_true",
}


@dataclass(frozen=True)
class _Figures:
    """The flat records of this module: a metric's name and plain numbers, so that they
    go to and come from JSON field by field."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`."""
        return cls(**{item.name: data[item.name] for item in fields(cls)})


@dataclass(frozen=True)
class Interval(_Figures):
    """A metric of one model with its bootstrap interval."""

    metric: str
    value: float
    low: float
    high: float
    resamples: int
    confidence: float


@dataclass(frozen=True)
class Comparison(_Figures):
    """Model ``a`` against model ``b`` on the same rows and the same resamples.

    ``a`` and ``b`` are the metric's values as it reports them. ``difference`` is oriented
    so that positive means "a is better": ``a - b`` for a higher-is-better metric such as
    roc_auc, ``b - a`` for a lower-is-better one such as rmse. ``low`` and ``high`` bound
    the difference with the given confidence; a gate that needs "a is better by a margin"
    asks ``low >= margin``.
    """

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    resamples: int
    confidence: float


def resample_weights(rows: int, resamples: int, *, seed: int = 0) -> Iterator[FloatArray]:
    """Blocks of bootstrap resamples of ``rows`` rows, ``resamples`` in all, as count
    matrices of shape ``(block, rows)`` whose every row sums to ``rows``.

    The same arguments give the same blocks, so two calls with one seed draw the same
    resamples."""
    if rows < 1:
        raise InvalidInputError("cannot resample an empty holdout: it has no rows")
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, BLOCK_CELLS // rows))
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        # 32-bit draws take half the time of 64-bit ones.
        draws = rng.integers(0, rows, size=(size, rows), dtype=np.int32)
        counts = np.empty((size, rows))
        # One bincount per resample: its counts fit in cache, unlike one bincount over
        # the whole block, which is why this loop is faster than the vectorised form.
        for resample, drawn in enumerate(draws):
            counts[resample] = np.bincount(drawn, minlength=rows)
        yield counts
        done += size


@dataclass(frozen=True, eq=False)
class Resampled:
    """One model's metric on every row (``value``) and on each resample (``values``, NaN
    where undefined), drawn with ``seed``. Two of them from the same holdout, metric,
    resample count and seed were scored on the same resamples and can be compared
    pairwise with :func:`compare_resampled`."""

    metric: Metric
    value: float
    values: FloatArray
    seed: int
    rows: int


def resample_metric(
    metric: Metric | str,
    y_true: npt.ArrayLike,
    prediction: npt.ArrayLike,
    *,
    resamples: int = 1000,
    seed: int = 0,
    classes: Sequence[ClassLabel] | None = None,
) -> Resampled:
    """Score one model's ``prediction`` on every row and on ``resamples`` bootstrap
    resamples drawn with ``seed``; ``InvalidInputError`` when the metric is undefined on
    the rows as a whole."""
    chosen = _resolve(metric)
    _check_resamples(resamples)
    (resampled,) = _resample_together(chosen, y_true, [prediction], resamples, seed, classes)
    return resampled


def interval_from(resampled: Resampled, confidence: float = 0.95) -> Interval:
    """The percentile interval of a resampled metric."""
    _check_confidence(confidence)
    values = resampled.values[~np.isnan(resampled.values)]
    low, high = _percentile_interval(values, confidence)
    return Interval(resampled.metric.name, resampled.value, low, high, len(values), confidence)


def compare_resampled(a: Resampled, b: Resampled, confidence: float = 0.95) -> Comparison:
    """Model ``a`` against model ``b`` from their metrics on the same resamples: the
    oriented difference (positive when ``a`` is better) and its percentile interval."""
    _check_confidence(confidence)
    alike = (a.metric.name, a.seed, len(a.values), a.rows) == (
        b.metric.name,
        b.seed,
        len(b.values),
        b.rows,
    )
    if not alike:
        raise InvalidInputError(
            "only metrics resampled alike can be compared: the same metric, holdout rows, "
            "resamples and seed"
        )
    metric = a.metric
    difference = float(metric.oriented(np.array([a.value - b.value]))[0])
    differences = metric.oriented(a.values - b.values)
    differences = differences[~np.isnan(differences)]
    low, high = _percentile_interval(differences, confidence)
    return Comparison(
        metric.name, a.value, b.value, difference, low, high, len(differences), confidence
    )


def bootstrap_interval(
    metric: Metric | str,
    y_true: npt.ArrayLike,
    prediction: npt.ArrayLike,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    classes: Sequence[ClassLabel] | None = None,
) -> Interval:
    """The metric of one model's ``prediction`` with its percentile bootstrap interval."""
    _check_resamples(resamples)
    _check_confidence(confidence)
    resampled = resample_metric(
        metric, y_true, prediction, resamples=resamples, seed=seed, classes=classes
    )
    return interval_from(resampled, confidence)


def paired_bootstrap(
    metric: Metric | str,
    y_true: npt.ArrayLike,
    scores_a: npt.ArrayLike,
    scores_b: npt.ArrayLike,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    classes: Sequence[ClassLabel] | None = None,
) -> Comparison:
    """Model ``a`` against model ``b``: their metrics, the oriented difference (positive
    when ``a`` is better) and its percentile interval over resamples shared by both.

    ``scores_a`` and ``scores_b`` are what the metric needs (probabilities, labels or
    values) for the same rows as ``y_true``, in the same order."""
    chosen = _resolve(metric)
    _check_resamples(resamples)
    _check_confidence(confidence)
    a, b = _resample_together(chosen, y_true, [scores_a, scores_b], resamples, seed, classes)
    return compare_resampled(a, b, confidence)


def _resample_together(
    metric: Metric,
    y_true: npt.ArrayLike,
    predictions: Sequence[npt.ArrayLike],
    resamples: int,
    seed: int,
    classes: Sequence[ClassLabel] | None,
) -> list[Resampled]:
    """Several models scored on one draw of the resamples (drawing is a good part of the
    work, so it is done once)."""
    rows = len(np.asarray(y_true))
    scorers = [metric.resampler(y_true, p, classes=classes) for p in predictions]
    values = [_defined(metric, score, rows) for score in scorers]
    blocks: list[list[FloatArray]] = [[] for _ in scorers]
    for weights in resample_weights(rows, resamples, seed=seed):
        for block, score in zip(blocks, scorers, strict=True):
            block.append(score(weights))
    return [
        Resampled(metric, value, np.concatenate(block), seed, rows)
        for value, block in zip(values, blocks, strict=True)
    ]


def _resolve(metric: Metric | str) -> Metric:
    return get_metric(metric) if isinstance(metric, str) else metric


def _check_resamples(resamples: int) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise InvalidInputError(f"resamples must be a positive whole number, not {resamples!r}")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"confidence must be between 0 and 1, not {confidence!r}")


def _defined(metric: Metric, score: Resampler, rows: int) -> float:
    if rows < 1:
        raise InvalidInputError(f"cannot compute {metric.name} on an empty holdout")
    value = float(score(np.ones((1, rows)))[0])
    if np.isnan(value):
        hint = _UNDEFINED_HINTS.get(metric.name, "the rows do not allow it")
        raise InvalidInputError(f"{metric.name} is undefined on these {rows} rows: {hint}")
    return value


def _percentile_interval(values: FloatArray, confidence: float) -> tuple[float, float]:
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)
