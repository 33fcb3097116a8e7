"""Decay: the live model's metric over time, against the figure it had at its gates.

When feedback labels exist, the metric is *measured* on the labelled predictions of each
window and the newest well-labelled window is compared with the gate-time figure. For a
classifier that answers probabilities the metric is also *estimated* on every row of
each window, labelled or not, from the model's own confidence: confidence-based
performance estimation (CBPE, as NannyML calls it). The estimate is shown beside the
measurement, never used for the verdict.

Joining predictions and labels
    A label is given per request id and row of that request (``row``, 0 for the first;
    a label without one is for row 0), so every row of a batch request can be labelled:
    log rows are joined to feedback by ``(request_id, row)``. Shadow rows (scored, never
    answered) are left out altogether. When a row has several labels the latest (by
    ``at``, else the last given) wins. Pass one model version's log: rows of other
    versions (a canary's, say) would be scored as if they were this one's.

Windows
    ``window`` is a duration or a number of rows. Durations are aligned to the UNIX epoch
    in UTC (a window of a day is a calendar day, of an hour a clock hour), a window runs
    from its ``start`` (included) to its ``end`` (excluded), and windows without rows are
    left out. Windows of rows are consecutive runs of ``window`` rows in time order (the
    last may be shorter), from the first row's time to the last row's.

Intervals
    Each measured value gets a percentile bootstrap interval (``confidence``, 95% by
    default): the window's labelled rows resampled ``resamples`` times with the gates'
    vectorised bootstrap (:mod:`pathtolive.gates.bootstrap`), with a fixed ``seed`` so
    that the same log gives the same interval. Each estimate gets a band the same way:
    the window's rows (their probabilities) resampled and the estimate recomputed on
    each resample, so the band says how far the estimate could move on another sample
    of the same traffic. A few hundred labels measure a metric to a few points; the
    interval is what keeps that noise from raising alerts.

The verdict
    Labels arrive late, so the newest window often has few. The verdict is on the newest
    window with at least ``min_labelled`` labelled rows (and a defined metric). The
    *alert line* is the gate-time figure less ``drop`` (plus ``drop``, for a metric where
    lower is better: brier, log_loss, rmse, mae). Decay is a window whose whole interval
    lies beyond the alert line: for a higher-is-better metric, the interval's upper bound
    is below it. A measured value beyond the line whose interval still reaches it is
    reported, not alerted on. With ``confidence=None`` the single measured value is held
    against the line instead (the rule before intervals; kept for comparison). Without
    such a window, or without a gate-time figure, there is no verdict (``decayed`` is
    False and ``reason`` says why). Without any label at all only the estimate is
    reported; it never raises an alert.

CBPE assumes the probabilities are calibrated and the relation between inputs and labels
has not changed: it sees a model growing unsure of a shifted population, not a world in
which the same inputs now mean something else (concept drift). That is why it is shown,
not judged on, and why every result that carries an estimate carries
:data:`CBPE_CAVEAT` too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from pathtolive.entities import Feedback
from pathtolive.errors import InvalidInputError
from pathtolive.format import number, utc, when
from pathtolive.gates.bootstrap import (
    Interval,
    Resampled,
    interval_from,
    resample_metric,
    resample_weights,
)
from pathtolive.gates.metrics import ClassLabel, FloatArray, Metric, float_array, get_metric
from pathtolive.registry.signature import OUTPUT_KINDS, OutputKind

__all__ = [
    "BOOTSTRAP_ROWS",
    "CBPE_CAVEAT",
    "CBPE_METRICS",
    "DEFAULT_CONFIDENCE",
    "DEFAULT_RESAMPLES",
    "DecayResult",
    "WindowMetric",
    "cbpe",
    "cbpe_band",
    "decay",
    "feedback_frame",
    "label_refusal",
]


CBPE_METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "brier",
    "log_loss",
)
"""The metrics :func:`cbpe` can estimate from probabilities alone."""

CBPE_CAVEAT = (
    "The estimate assumes the model's probabilities are calibrated and that the same "
    "inputs still mean the same labels: it cannot see concept drift. Only feedback "
    "labels can; the estimate is shown, never alerted on."
)
"""The plain warning that goes with every confidence-based estimate."""

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000

BOOTSTRAP_ROWS = 5_000
"""The most rows an interval is resampled from. A larger window's interval is that of a
seeded random subsample of this many rows, its spread around the subsample's value
narrowed by ``sqrt(subsample / rows)`` and centred on the window's own value: the
m-out-of-n bootstrap, sound for these metrics, whose error shrinks as one over the square
root of the rows. So an interval costs the same on a window of a million rows as on one
of five thousand."""

_EPOCH = pd.Timestamp(0, tz="UTC")
_TOLERANCE = 1e-9  # a drop equal to the allowed one, give or take rounding, is no decay
_SUM_TOLERANCE = 0.01  # how far a row of class probabilities may sum from 1
# The log's row column is int32: nothing at or past 2**31 is a row index. It also keeps
# the join keys (request number * (largest row + 1) + row) within int64.
_MAX_ROW = 2**31


@dataclass(frozen=True)
class WindowMetric:
    """The metric in one window of the prediction log.

    ``rows`` counts the (non-shadow) predictions in the window, ``labelled`` those joined
    to a usable feedback label. ``value`` is measured on the labelled rows (None without
    any, or where the metric is undefined, such as roc_auc of labels of one class);
    ``estimated`` is the CBPE estimate on all rows (None unless the model answers
    probabilities and the metric can be estimated). ``interval`` bounds ``value`` and
    ``estimated_interval`` bounds ``estimated`` (``(low, high)``, see the module docs);
    None when there is nothing to bound or no interval was asked for."""

    start: datetime
    end: datetime
    rows: int
    labelled: int
    value: float | None
    estimated: float | None
    interval: tuple[float, float] | None = None
    estimated_interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types; times in ISO 8601; an interval as ``[low, high]``."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "labelled": self.labelled,
            "value": self.value,
            "interval": _pair(self.interval),
            "estimated": self.estimated,
            "estimated_interval": _pair(self.estimated_interval),
        }


def _pair(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [interval[0], interval[1]]


@dataclass(frozen=True)
class DecayResult:
    """The metric over windows and the verdict (see the module docs).

    ``reference`` is the gate-time figure. ``latest`` is the measured value the verdict
    is on (the newest window with at least ``min_labelled`` labelled rows, at index
    ``judged`` of ``windows``); ``latest_estimated`` is the estimate in the newest
    window. ``decayed`` rests on measured values only: on the judged window's interval
    at ``confidence``, or on its single value when ``confidence`` is None."""

    metric: str
    reference: float | None
    windows: tuple[WindowMetric, ...]
    latest: float | None
    latest_estimated: float | None
    decayed: bool
    reason: str
    higher_is_better: bool = True
    drop: float = 0.0
    min_labelled: int = 100
    judged: int | None = None
    ignored_labels: int = 0
    """Labels left out because they are not among the model's classes (or, for a
    regressor, not numbers)."""
    confidence: float | None = DEFAULT_CONFIDENCE

    @property
    def labelled(self) -> int:
        """Labelled rows over every window."""
        return sum(window.labelled for window in self.windows)

    @property
    def alert_line(self) -> float | None:
        """The gate-time figure less the allowed drop (plus, when lower is better)."""
        if self.reference is None:
            return None
        return self.reference - self.drop if self.higher_is_better else self.reference + self.drop

    @property
    def latest_interval(self) -> tuple[float, float] | None:
        """The interval of the value the verdict is on."""
        return None if self.judged is None else self.windows[self.judged].interval

    @property
    def latest_estimated_interval(self) -> tuple[float, float] | None:
        """The band of the newest window's estimate."""
        return self.windows[-1].estimated_interval if self.windows else None

    @property
    def estimated(self) -> bool:
        """Whether any window carries a confidence-based estimate."""
        return any(window.estimated is not None for window in self.windows)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (no NaN); times in ISO 8601."""
        return {
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "reference": self.reference,
            "drop": self.drop,
            "min_labelled": self.min_labelled,
            "windows": [window.to_dict() for window in self.windows],
            "confidence": self.confidence,
            "rule": "point" if self.confidence is None else "interval",
            "alert_line": self.alert_line,
            "judged": self.judged,
            "latest": self.latest,
            "latest_interval": _pair(self.latest_interval),
            "latest_estimated": self.latest_estimated,
            "latest_estimated_interval": _pair(self.latest_estimated_interval),
            "estimate_caveat": CBPE_CAVEAT if self.estimated else None,
            "labelled": self.labelled,
            "ignored_labels": self.ignored_labels,
            "decayed": self.decayed,
            "reason": self.reason,
        }


# -- CBPE ---------------------------------------------------------------------------------


def cbpe(
    probabilities: npt.ArrayLike,
    metric: str,
    classes: Sequence[ClassLabel] | None = None,
) -> float:
    """The expected value of ``metric`` if the true labels were drawn from the model's
    own probabilities (that is, if the model is calibrated): an estimate of the metric
    that needs no label.

    ``probabilities`` is ``(n,)``, the positive (last) class's probability of a binary
    model, or ``(n, k)``, one column per class in the order of ``classes`` (which, when
    given, only checks the number of columns). Predicted labels are the most probable
    class (for a binary model: the positive class when its probability is above 0.5), as
    :mod:`pathtolive.gates.metrics` scores them, and the same conventions hold (positive
    class of two is the last; macro averages over more).

    - ``accuracy``: the mean probability of the predicted class, ``mean(max_k p_k)``.
    - ``precision``, ``recall``, ``f1``: from the expected confusion matrix. A row
      predicted as class ``k`` is a true positive of ``k`` with probability ``p_k`` and a
      false positive with ``1 - p_k``; a row predicted otherwise is a false negative of
      ``k`` with probability ``p_k``. The ratios of the expected counts are the estimate
      (NannyML's approach); for more than two classes, the unweighted mean over classes
      with any expected or predicted row.
    - ``roc_auc``: NannyML's estimate: rows sorted by score, the expected true and false
      positive counts at each distinct threshold are cumulative sums of ``p`` and ``1 -
      p``, giving an expected ROC curve whose area (trapezoids, ties counted half) is the
      estimate; one-vs-rest and averaged over classes for more than two.
    - ``brier``: the expected squared distance to the one-hot truth, ``sum_k p_k (1 -
      p_k)`` per row, halved for two classes as :mod:`~pathtolive.gates.metrics` halves
      it, so binary brier is ``mean(p (1 - p))``.
    - ``log_loss``: the expected log loss is the mean entropy of the rows,
      ``mean(-sum_k p_k log p_k)``.

    NaN where the metric is undefined (roc_auc when every row is certain of one class).
    ``InvalidInputError`` for a metric that needs the labels themselves (rmse, mae, r2),
    for an unknown metric, and for probabilities that are not probabilities."""
    known = get_metric(metric)
    if known.name not in CBPE_METRICS:
        raise InvalidInputError(
            f"{metric} cannot be estimated from a model's confidence; metrics that can: "
            f"{', '.join(CBPE_METRICS)}"
        )
    proba = _probability_matrix(probabilities, classes)
    return float(_expected(proba, known.name, np.ones((1, len(proba))))[0])


def cbpe_band(
    probabilities: npt.ArrayLike,
    metric: str,
    classes: Sequence[ClassLabel] | None = None,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float] | None:
    """The percentile bootstrap band of :func:`cbpe`: the rows resampled ``resamples``
    times (with the gates' resampler and ``seed``) and the estimate recomputed on each.
    None when the estimate is undefined on every resample."""
    known = get_metric(metric)
    estimate = cbpe(probabilities, metric, classes)
    proba = _probability_matrix(probabilities, classes)
    chosen = _subsample(len(proba), seed)
    drawn = proba if chosen is None else proba[chosen]
    centre = estimate if chosen is None else float(_expected(drawn, known.name, _ones(drawn))[0])
    values = np.concatenate(
        [
            _expected(drawn, known.name, weights)
            for weights in resample_weights(len(drawn), resamples, seed=seed)
        ]
    )
    found = interval_from(Resampled(known, centre, values, seed, len(drawn)), confidence)
    return _rescaled(_bounds(found), centre, estimate, len(drawn), len(proba))


def _ones(rows: npt.NDArray[Any]) -> FloatArray:
    return np.ones((1, len(rows)))


def _subsample(rows: int, seed: int) -> npt.NDArray[np.intp] | None:
    """The positions of a seeded random subsample of :data:`BOOTSTRAP_ROWS` rows, in
    order; None when there are no more rows than that."""
    if rows <= BOOTSTRAP_ROWS:
        return None
    chosen = np.random.default_rng(seed).choice(rows, BOOTSTRAP_ROWS, replace=False)
    return np.sort(chosen)


def _rescaled(
    interval: tuple[float, float] | None, centre: float, value: float, drawn: int, rows: int
) -> tuple[float, float] | None:
    """An interval found on ``drawn`` of ``rows`` rows (around ``centre``, their value)
    as the interval of all of them (around ``value``): see :data:`BOOTSTRAP_ROWS`."""
    if interval is None or drawn == rows:
        return interval
    factor = math.sqrt(drawn / rows)
    low, high = interval
    return value + (low - centre) * factor, value + (high - centre) * factor


def _expected(proba: FloatArray, metric: str, weights: FloatArray) -> FloatArray:
    """The estimate of ``metric`` on each resample: ``weights[b, i]`` is how often row
    ``i`` was drawn into resample ``b`` (a row of ones is the rows themselves)."""
    total = weights.sum(axis=1)
    if metric == "accuracy":
        return cast(FloatArray, weights @ proba.max(axis=1) / total)
    if metric in ("precision", "recall", "f1"):
        return _expected_classwise(proba, metric, weights)
    if metric == "roc_auc":
        if proba.shape[1] == 2:
            return _expected_auc(proba[:, 1], weights)
        aucs = np.vstack([_expected_auc(proba[:, k], weights) for k in range(proba.shape[1])])
        defined = ~np.isnan(aucs)
        sums = np.where(defined, aucs, 0.0).sum(axis=0)
        counts = defined.sum(axis=0)
        return cast(
            FloatArray,
            np.divide(sums, counts, out=np.full(len(weights), math.nan), where=counts > 0),
        )
    if metric == "brier":
        per_row = (proba * (1.0 - proba)).sum(axis=1)
        return cast(FloatArray, weights @ per_row / total * (0.5 if proba.shape[1] == 2 else 1.0))
    # log_loss: the expected loss under p is the entropy of p.
    eps = np.finfo(np.float64).eps
    clipped = np.clip(proba, eps, 1.0 - eps)
    entropy = -(proba * np.log(clipped)).sum(axis=1)
    return cast(FloatArray, weights @ entropy / total)


def _probability_matrix(values: npt.ArrayLike, classes: Sequence[ClassLabel] | None) -> FloatArray:
    proba = float_array(values, "probabilities")
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    if proba.ndim != 2:
        raise InvalidInputError(f"probabilities must have one or two dimensions, not {proba.ndim}")
    if len(proba) == 0:
        raise InvalidInputError("no probabilities to estimate a metric from")
    if classes is not None and len(classes) != proba.shape[1]:
        raise InvalidInputError(
            f"{proba.shape[1]} probability columns for {len(classes)} classes "
            f"({list(classes)[:10]}); give one column per class, in the order of the classes"
        )
    if not np.isfinite(proba).all():
        raise InvalidInputError("probabilities hold NaN or infinite values")
    if proba.min() < -_TOLERANCE or proba.max() > 1 + _TOLERANCE:
        raise InvalidInputError(
            f"probabilities must lie between 0 and 1; found {proba.min():.3g} to {proba.max():.3g}"
        )
    sums = proba.sum(axis=1)
    if np.abs(sums - 1.0).max() > _SUM_TOLERANCE:
        worst = int(np.abs(sums - 1.0).argmax())
        raise InvalidInputError(
            f"the class probabilities of row {worst} sum to {sums[worst]:.4g}, not 1"
        )
    return cast(FloatArray, np.clip(proba, 0.0, 1.0) / sums[:, np.newaxis])


def _expected_classwise(proba: FloatArray, statistic: str, weights: FloatArray) -> FloatArray:
    n_classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
    chosen = np.eye(n_classes, dtype=bool)[predicted]
    true_positive = weights @ np.where(chosen, proba, 0.0)
    false_positive = weights @ np.where(chosen, 1.0 - proba, 0.0)
    false_negative = weights @ np.where(chosen, 0.0, proba)
    if statistic == "precision":
        numerator, denominator = true_positive, true_positive + false_positive
    elif statistic == "recall":
        numerator, denominator = true_positive, true_positive + false_negative
    else:
        numerator = 2 * true_positive
        denominator = 2 * true_positive + false_positive + false_negative
    per_class = np.divide(
        numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0
    )
    if n_classes == 2:
        return cast(FloatArray, per_class[:, 1])
    present = (weights @ chosen > 0) | (weights @ proba > 0)
    counts = present.sum(axis=1)
    sums = np.where(present, per_class, 0.0).sum(axis=1)
    return cast(
        FloatArray, np.divide(sums, counts, out=np.full(len(weights), math.nan), where=counts > 0)
    )


def _expected_auc(score: FloatArray, weights: FloatArray) -> FloatArray:
    """The area under the expected ROC curve of ``score`` if each row is positive with
    probability ``score``, per resample.

    Rows are taken in falling order of score, a run of equal scores as one threshold
    (ties counted half). At threshold ``g`` with weight ``W`` (how often its rows were
    drawn) the curve gains ``s W`` expected positives and ``(1 - s) W`` expected
    negatives; the trapezoid it adds is the negatives times the mean of the positives
    above before and after it, ``(1 - s) W (P_g - s W / 2)``, over all positives times
    all negatives."""
    order = np.argsort(score, kind="stable")[::-1]
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    levels = ordered[starts]
    drawn = weights[:, order]
    grouped = drawn if len(starts) == len(ordered) else np.add.reduceat(drawn, starts, axis=1)
    gained = grouped * levels
    lost = grouped * (1.0 - levels)
    positives = np.cumsum(gained, axis=1)
    total_positive = positives[:, -1]
    total_negative = lost.sum(axis=1)
    area = (lost * (positives - gained / 2.0)).sum(axis=1)
    defined = (total_positive > 0) & (total_negative > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = area / (total_positive * total_negative)
    return cast(FloatArray, np.where(defined, result, math.nan))


# -- decay --------------------------------------------------------------------------------


def feedback_frame(items: Iterable[Feedback]) -> pd.DataFrame:
    """Feedback entities as the frame :func:`decay` takes: ``request_id``, ``label``,
    ``at``, ``row``."""
    rows = [(item.request_id, item.label, item.at, item.row) for item in items]
    frame = pd.DataFrame(rows, columns=["request_id", "label", "at", "row"])
    frame["row"] = frame["row"].astype(np.int64)
    frame["label"] = frame["label"].astype(object)
    return frame


def label_refusal(
    label: object, output_kind: str, classes: Sequence[ClassLabel] | None
) -> str | None:
    """Why ``label`` can never be the truth of an answer of this kind (a regression's
    label must be a finite number; a classifier's one of its ``classes``, matched as
    :func:`decay` joins them), or None when it can. The join keeps the latest label of a
    row, so a label it could not read would hide a valid one sent before."""
    kind = cast(OutputKind, output_kind)
    if kind == "regression":
        numbers = pd.to_numeric(pd.Series([label], dtype=object), errors="coerce")
        value = float(numbers.iloc[0])
        if isinstance(label, bool | np.bool_) or not math.isfinite(value):
            return "it is a regression, whose labels are numbers; send the true value"
        return None
    if not classes:
        return None
    texts = {_class_text(value) for value in classes}
    if any(text in texts for text in _class_texts(label)):
        return None
    named = ", ".join(_class_text(value) for value in classes)
    return f"it is not one of the classes ({named}); send one of them"


def decay(
    log: pd.DataFrame,
    feedback: pd.DataFrame | Iterable[Feedback],
    *,
    metric: str,
    output_kind: str,
    classes: Sequence[ClassLabel] | None,
    reference: float | None,
    drop: float,
    window: timedelta | int,
    min_labelled: int = 100,
    confidence: float | None = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> DecayResult:
    """The model's ``metric`` over windows of its prediction ``log`` (the frame of
    :func:`pathtolive.service.predictions.read_prediction_log`, one version's rows),
    measured where ``feedback`` (``request_id``, ``label`` and optionally ``row``, 0 when
    left out, and ``at``; or :class:`~pathtolive.entities.Feedback` entities) gives the
    truth and estimated by :func:`cbpe` for a probabilistic classifier, against the
    gate-time figure ``reference`` with an allowed ``drop``. See the module docs for the
    join, the windows and the verdict.

    ``output_kind`` is the model signature's (``probability``: the log's ``prediction``
    column is the last class's probability, and the ``output`` JSON is read only for more
    than two classes; ``class_label``: the log's ``label`` column; ``regression``: its
    ``prediction``). ``classes`` are the model's classes in the order of its
    probabilities; needed for ``probability``.

    Measured values and estimates get bootstrap intervals at ``confidence`` (``resamples``
    resamples drawn with ``seed``) and the verdict rests on the judged window's interval;
    ``confidence=None`` computes no interval and judges the single value."""
    known = _check_arguments(metric, output_kind, classes, drop, window, min_labelled)
    _check_confidence(confidence, resamples)
    kind = cast(OutputKind, output_kind)
    frame = _live_rows(log, kind)
    labels = _latest_labels(feedback)
    columns = _Columns.build(frame, kind, classes)
    truth, ignored = _truth(frame, labels, kind, columns)
    groups = _window_groups(frame, window)
    estimable = kind == "probability" and known.name in CBPE_METRICS

    windows: list[WindowMetric] = []
    for start, end, rows in groups:
        measured = rows[truth.usable[rows]]
        value, interval = None, None
        if len(measured):
            y, prediction, scored_classes = _scoring_inputs(known, truth, columns, measured)
            value = _finite(known.score(y, prediction, classes=scored_classes))
            if value is not None and confidence is not None:
                interval = _measured_interval(
                    known, y, prediction, scored_classes, value, confidence, resamples, seed
                )
        estimated, band = None, None
        if estimable:
            scored = rows[columns.valid[rows]]
            if len(scored):
                estimated = _finite(cbpe(columns.proba[scored], known.name))
                if estimated is not None and confidence is not None:
                    band = cbpe_band(
                        columns.proba[scored],
                        known.name,
                        confidence=confidence,
                        resamples=resamples,
                        seed=seed,
                    )
        windows.append(
            WindowMetric(start, end, len(rows), len(measured), value, estimated, interval, band)
        )

    return _verdict(
        known,
        tuple(windows),
        reference=None if reference is None else float(reference),
        drop=float(drop),
        min_labelled=min_labelled,
        ignored=ignored,
        confidence=confidence,
    )


def _measured_interval(
    metric: Metric,
    y: npt.NDArray[Any],
    prediction: npt.NDArray[Any],
    classes: Sequence[ClassLabel] | None,
    value: float,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[float, float] | None:
    """The bootstrap interval of ``value``, the metric of ``prediction`` against ``y``
    (on at most :data:`BOOTSTRAP_ROWS` of the rows); None when the metric is undefined
    on the subsample (a roc_auc of one class) or on every resample."""
    rows = len(y)
    chosen = _subsample(rows, seed)
    if chosen is not None:
        y, prediction = y[chosen], prediction[chosen]
    try:
        resampled = resample_metric(
            metric, y, prediction, resamples=resamples, seed=seed, classes=classes
        )
    except InvalidInputError:
        return None
    found = _bounds(interval_from(resampled, confidence))
    return _rescaled(found, resampled.value, value, len(y), rows)


def _bounds(found: Interval) -> tuple[float, float] | None:
    return None if math.isnan(found.low) else (found.low, found.high)


def _check_confidence(confidence: float | None, resamples: int) -> None:
    if confidence is not None and (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0 < confidence < 1
    ):
        raise InvalidInputError(
            f"the confidence of the decay interval must be between 0 and 1, like 0.95, "
            f"not {confidence!r}"
        )
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise InvalidInputError(f"resamples must be a positive whole number, not {resamples!r}")


def _check_arguments(
    metric: str,
    output_kind: str,
    classes: Sequence[ClassLabel] | None,
    drop: float,
    window: timedelta | int,
    min_labelled: int,
) -> Metric:
    if output_kind not in OUTPUT_KINDS:
        raise InvalidInputError(
            f"unknown output kind {output_kind!r}; use one of {', '.join(OUTPUT_KINDS)}"
        )
    known = get_metric(metric)
    if output_kind == "regression" and known.needs != "value":
        raise InvalidInputError(f"{metric} is a classification metric; the model is a regressor")
    if output_kind != "regression" and known.needs == "value":
        raise InvalidInputError(f"{metric} is a regression metric; the model is a classifier")
    if output_kind == "class_label" and known.needs == "proba":
        raise InvalidInputError(
            f"{metric} needs class probabilities, but the model answers class labels; "
            "judge it on accuracy, f1, precision or recall"
        )
    if output_kind == "probability" and not classes:
        raise InvalidInputError(
            "give the classes of a model that answers probabilities, in the order of its "
            "probability columns (the signature's output classes)"
        )
    if classes is not None and len(set(map(_class_text, classes))) != len(classes):
        raise InvalidInputError(f"classes must be distinct, not {list(classes)[:10]}")
    if isinstance(drop, bool) or not isinstance(drop, int | float) or not drop >= 0:
        raise InvalidInputError(f"the allowed drop must be a number, 0 or more, not {drop!r}")
    if isinstance(window, bool) or not isinstance(window, timedelta | int):
        raise InvalidInputError(
            f"the window must be a duration or a number of rows, not {window!r}"
        )
    if (isinstance(window, int) and window < 1) or (
        isinstance(window, timedelta) and window <= timedelta(0)
    ):
        raise InvalidInputError(f"the window must be positive, not {window}")
    if isinstance(min_labelled, bool) or not isinstance(min_labelled, int) or min_labelled < 1:
        raise InvalidInputError(
            f"min_labelled must be a whole number, 1 or more, not {min_labelled!r}"
        )
    return known


def _live_rows(log: pd.DataFrame, kind: OutputKind) -> pd.DataFrame:
    """The log's answered rows (no shadow), in time order, with a clean index."""
    needed = ["request_id", "row", "at", "role"]
    needed.append("label" if kind == "class_label" else "prediction")
    missing = [column for column in needed if column not in log.columns]
    if missing:
        raise InvalidInputError(
            f"the prediction log has no {', '.join(missing)} column; pass the frame "
            "read_prediction_log returns"
        )
    at = pd.to_datetime(log["at"], utc=True)
    keep = (log["role"] != "shadow").to_numpy() & at.notna().to_numpy()
    frame = log.loc[keep].copy()
    frame["at"] = at[keep]
    return frame.sort_values("at", kind="stable").reset_index(drop=True)


def _latest_labels(feedback: pd.DataFrame | Iterable[Feedback]) -> pd.DataFrame:
    """The latest label of each labelled row: ``request_id``, ``row`` (whole numbers from
    0) and ``label``, one line per ``(request_id, row)``."""
    frame = feedback if isinstance(feedback, pd.DataFrame) else feedback_frame(feedback)
    if frame.empty:
        return pd.DataFrame({"request_id": [], "row": [], "label": []})
    missing = [column for column in ("request_id", "label") if column not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"feedback has no {', '.join(missing)} column; give request_id, label, row and at"
        )
    # A label without a row is for row 0: the single-row request labels always meant.
    rows = frame["row"] if "row" in frame.columns else pd.Series(0, index=frame.index)
    frame = frame.assign(row=_row_numbers(rows, missing=0))
    if "at" in frame.columns:
        frame = frame.assign(at=pd.to_datetime(frame["at"], utc=True)).sort_values(
            "at", kind="stable"
        )
    # A row that is no index (negative, fractional, not a number) names no log row.
    frame = frame.loc[frame["row"].to_numpy() >= 0]
    latest = frame.drop_duplicates(["request_id", "row"], keep="last")
    return latest[["request_id", "row", "label"]].reset_index(drop=True)


def _row_numbers(rows: pd.Series, *, missing: int) -> npt.NDArray[np.int64]:
    """``rows`` as whole numbers: ``missing`` where there is none, -1 where it is no row
    index (a fraction, text, a number too large to be one)."""
    numbers = pd.to_numeric(rows, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    given = ~pd.isna(rows).to_numpy()
    whole = np.isfinite(numbers) & (numbers == np.floor(numbers)) & (np.abs(numbers) < _MAX_ROW)
    result = np.where(whole, numbers, -1.0).astype(np.int64)
    result[~given] = missing
    return result


def _label_positions(labels: pd.DataFrame, frame: pd.DataFrame) -> npt.NDArray[np.intp]:
    """For each row of the live ``frame``, the position in ``labels`` of its label by
    ``(request_id, row)``, or -1. Request ids are numbered once for both sides, so the
    pair becomes one integer key: as fast as joining by request id alone (a MultiIndex
    join is several times slower on a million rows)."""
    logged_rows = _row_numbers(frame["row"], missing=-1)
    label_rows = labels["row"].to_numpy(dtype=np.int64)
    codes, _ = pd.factorize(
        np.concatenate(
            [
                labels["request_id"].to_numpy(dtype=object),
                frame["request_id"].to_numpy(dtype=object),
            ]
        )
    )
    keys = codes.astype(np.int64)
    span = int(logged_rows.max(initial=0)) + 1  # key = request code * span + row
    # Labels for rows past the log's last could never join; they are left out of the keys.
    fits = np.flatnonzero(label_rows < span)
    if not len(fits):
        return np.full(len(frame), -1, dtype=np.intp)
    label_keys = keys[: len(labels)][fits] * span + label_rows[fits]
    logged_keys = keys[len(labels) :] * span + logged_rows
    found = pd.Index(label_keys).get_indexer(logged_keys)
    # A log row without a readable row number (-1) would key into the previous request.
    matched = (found >= 0) & (logged_rows >= 0)
    return np.where(matched, fits[np.maximum(found, 0)], -1)


@dataclass(frozen=True, eq=False)
class _Columns:
    """The model's answers as arrays, one entry per row of the live frame."""

    valid: npt.NDArray[np.bool_]
    """Rows with a readable answer."""
    proba: FloatArray  # (n, k) for probability outputs, else empty
    predicted: npt.NDArray[Any]  # class codes, label texts or values
    classes: tuple[Any, ...] | None  # codes 0..k-1, label texts, or None
    codes: dict[str, int] | None = None  # class text -> code, for probability outputs

    @classmethod
    def build(
        cls, frame: pd.DataFrame, kind: OutputKind, classes: Sequence[ClassLabel] | None
    ) -> _Columns:
        if kind == "regression":
            values = pd.to_numeric(frame["prediction"], errors="coerce").to_numpy(np.float64)
            return cls(np.isfinite(values), np.zeros((0, 0)), values, None)
        if kind == "class_label":
            texts = frame["label"].to_numpy(dtype=object)
            valid = pd.notna(texts)
            order = None if classes is None else tuple(_class_text(c) for c in classes)
            return cls(np.asarray(valid, dtype=bool), np.zeros((0, 0)), texts, order)
        assert classes is not None
        k = len(classes)
        if k == 2:
            positive = pd.to_numeric(frame["prediction"], errors="coerce").to_numpy(np.float64)
            proba = np.column_stack([1.0 - positive, positive])
        else:
            if "output" not in frame.columns:
                raise InvalidInputError(
                    "the prediction log has no output column, needed to read the "
                    f"probabilities of {k} classes"
                )
            proba = _parse_outputs(frame["output"].to_numpy(dtype=object), k)
        valid = np.isfinite(proba).all(axis=1) & (proba >= 0).all(axis=1) & (proba <= 1).all(axis=1)
        predicted = np.where(valid, np.nan_to_num(proba).argmax(axis=1), -1)
        codes = {_class_text(label): code for code, label in enumerate(classes)}
        return cls(valid, proba, predicted, tuple(range(k)), codes)


def _parse_outputs(texts: npt.NDArray[Any], classes: int) -> FloatArray:
    """The logged outputs (JSON text) as an ``(n, classes)`` matrix; NaN rows where an
    output is not a list of ``classes`` numbers. Parsed as one JSON document when every
    output is well formed (the usual case), else row by row."""
    if not len(texts):
        return np.zeros((0, classes))
    if all(isinstance(text, str) for text in texts):
        try:
            matrix = np.asarray(json.loads("[" + ",".join(texts) + "]"), dtype=np.float64)
        except (ValueError, TypeError):
            pass
        else:
            if matrix.shape == (len(texts), classes):
                return matrix
    return np.vstack([_parse_probabilities(text, classes) for text in texts])


def _parse_probabilities(text: object, classes: int) -> FloatArray:
    missing = np.full((1, classes), np.nan)
    if not isinstance(text, str):
        return missing
    try:
        value = json.loads(text)
    except ValueError:
        return missing
    if not isinstance(value, list) or len(value) != classes:
        return missing
    try:
        return np.asarray([value], dtype=np.float64)
    except (TypeError, ValueError):
        return missing


@dataclass(frozen=True, eq=False)
class _Truth:
    usable: npt.NDArray[np.bool_]  # rows joined to a usable label with a readable answer
    values: npt.NDArray[Any]  # class codes, label texts or values (meaningful where usable)


def _truth(
    frame: pd.DataFrame, labels: pd.DataFrame, kind: OutputKind, columns: _Columns
) -> tuple[_Truth, int]:
    """Each row's true label where it has one, and the number of labels ignored."""
    rows = len(frame)
    joined = np.zeros(rows, dtype=bool)
    raw = np.full(rows, None, dtype=object)
    if rows and len(labels):
        where = _label_positions(labels, frame)
        joined = where >= 0
        raw[joined] = labels["label"].to_numpy(dtype=object)[where[joined]]
    converted, readable = _convert_labels(raw[joined], kind, columns)
    usable = np.zeros(rows, dtype=bool)
    usable[joined] = readable
    values: npt.NDArray[Any]
    if kind == "regression":
        values = np.full(rows, np.nan)
    elif kind == "probability":
        values = np.full(rows, -1, dtype=np.int64)
    else:
        values = np.full(rows, None, dtype=object)
    values[joined] = converted
    ignored = int(joined.sum() - usable.sum())
    return _Truth(usable & columns.valid, values), ignored


def _convert_labels(
    labels: npt.NDArray[Any], kind: OutputKind, columns: _Columns
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """Feedback labels as the model's answers are held, and which could be."""
    if kind == "regression":
        is_bool = np.fromiter(
            (isinstance(label, bool | np.bool_) for label in labels), dtype=bool, count=len(labels)
        )
        numbers = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce")
        values = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        readable = np.isfinite(values) & ~is_bool
        return np.where(readable, values, np.nan), readable
    # Few distinct labels: convert each once (keyed by type too, as 1 == True).
    cache: dict[tuple[type, Any], Any] = {}
    converted: list[Any] = []
    for label in labels:
        key = (type(label), label)
        try:
            found = cache[key]
        except KeyError:
            found = cache[key] = _convert_label(label, kind, columns)
        except TypeError:  # not hashable, so no class label either
            found = None
        converted.append(found)
    readable = np.fromiter(
        (value is not None for value in converted), dtype=bool, count=len(labels)
    )
    if kind == "probability":
        codes = np.fromiter(
            (-1 if value is None else value for value in converted),
            dtype=np.int64,
            count=len(labels),
        )
        return codes, readable
    return np.array(converted, dtype=object), readable


def _convert_label(label: Any, kind: OutputKind, columns: _Columns) -> Any:
    """A classifier's feedback label as its answers are held (a class code or a label
    text); None when it cannot be (not among the classes)."""
    if label is None or (isinstance(label, float) and math.isnan(label)):
        return None
    candidates = _class_texts(label)
    if kind == "class_label":
        if columns.classes is None:
            return candidates[0]
        return next((text for text in candidates if text in columns.classes), None)
    assert columns.codes is not None
    return next((columns.codes[text] for text in candidates if text in columns.codes), None)


def _class_texts(label: Any) -> list[str]:
    """The texts a feedback label may match a class by, best first: its own, then for
    a boolean its number and for 0 or 1 its boolean (``true`` sent for class 1)."""
    value = label.item() if isinstance(label, np.generic) else label
    texts = [_class_text(value)]
    if isinstance(value, bool):
        texts.append(str(int(value)))
    elif isinstance(value, int | float) and value in (0, 1):
        texts.append(str(bool(value)))
    return texts


def _class_text(value: Any) -> str:
    """A class label as text, the way the prediction log writes a class: an integral
    float is written as the integer (feedback of 1.0 for class 1), a boolean as
    ``True``/``False``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _window_groups(
    frame: pd.DataFrame, window: timedelta | int
) -> list[tuple[datetime, datetime, npt.NDArray[np.int64]]]:
    """(start, end, row positions) of each non-empty window, oldest first."""
    rows = len(frame)
    if not rows:
        return []
    at = frame["at"]
    if isinstance(window, timedelta):
        width = pd.Timedelta(window)
        ids = ((at - _EPOCH) // width).to_numpy(np.int64)
    else:
        ids = np.arange(rows, dtype=np.int64) // window
    groups: list[tuple[datetime, datetime, npt.NDArray[np.int64]]] = []
    boundaries = np.flatnonzero(np.diff(ids)) + 1
    for positions in np.split(np.arange(rows, dtype=np.int64), boundaries):
        if isinstance(window, timedelta):
            start = (_EPOCH + int(ids[positions[0]]) * pd.Timedelta(window)).to_pydatetime()
            end = start + window
        else:
            start = utc(pd.Timestamp(at.iloc[int(positions[0])]).to_pydatetime())
            end = utc(pd.Timestamp(at.iloc[int(positions[-1])]).to_pydatetime())
        groups.append((start, end, positions))
    return groups


def _scoring_inputs(
    metric: Metric, truth: _Truth, columns: _Columns, rows: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], Sequence[ClassLabel] | None]:
    """What ``metric`` scores the labelled ``rows`` on: the truth, the model's answers
    (probabilities, labels or values) and the classes."""
    y = truth.values[rows]
    if metric.needs == "value":
        return y, columns.predicted[rows], None
    if metric.needs == "proba":
        return y, columns.proba[rows], columns.classes
    predicted = columns.predicted[rows]
    classes = columns.classes
    if classes is None:  # labels without known classes: those seen, sorted
        classes = tuple(sorted(set(y.tolist()) | set(predicted.tolist())))
    return y, predicted, classes


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _verdict(
    metric: Metric,
    windows: tuple[WindowMetric, ...],
    *,
    reference: float | None,
    drop: float,
    min_labelled: int,
    ignored: int,
    confidence: float | None,
) -> DecayResult:
    name = metric.name
    labelled = sum(window.labelled for window in windows)
    latest_estimated = windows[-1].estimated if windows else None

    def result(reason: str, *, decayed: bool = False, judged: int | None = None) -> DecayResult:
        return DecayResult(
            metric=name,
            reference=reference,
            windows=windows,
            latest=None if judged is None else windows[judged].value,
            latest_estimated=latest_estimated,
            decayed=decayed,
            reason=reason + _ignored_note(ignored),
            higher_is_better=metric.higher_is_better,
            drop=drop,
            min_labelled=min_labelled,
            judged=judged,
            ignored_labels=ignored,
            confidence=confidence,
        )

    at_gates = "" if reference is None else f" ({number(reference)} at the gates)"
    if not windows:
        return result(f"no predictions in the log yet; {name} cannot be judged")
    if labelled == 0:
        if latest_estimated is None:
            return result(f"no feedback labels yet; {name} cannot be measured")
        return result(
            f"no feedback labels yet; {name} is estimated at {number(latest_estimated)} from "
            f"the model's confidence (CBPE){at_gates}: an estimate, not alerted on"
        )
    judged = next(
        (
            index
            for index in range(len(windows) - 1, -1, -1)
            if windows[index].labelled >= min_labelled and windows[index].value is not None
        ),
        None,
    )
    if judged is None:
        most = max(window.labelled for window in windows)
        return result(
            f"no window has {min_labelled} labelled rows yet (at most {most}, "
            f"{labelled} in all); {name} is not judged"
        )
    window = windows[judged]
    value = window.value
    assert value is not None
    where = "" if judged == len(windows) - 1 else f" in the window from {when(window.start)}"
    interval = window.interval
    spread = (
        ""
        if interval is None or confidence is None
        else f" ({_percent(confidence)} interval {number(interval[0])} to {number(interval[1])})"
    )
    measured = f"{name} {number(value)}{spread} on {window.labelled} labelled rows{where}"
    if reference is None:
        return result(f"{measured}; no gate-time figure to compare it with", judged=judged)
    loss = reference - value if metric.higher_is_better else value - reference
    worse = "below" if metric.higher_is_better else "above"
    better = "above" if metric.higher_is_better else "below"
    allowed = f"allowed {'drop' if metric.higher_is_better else 'rise'} {number(drop)}"
    line = reference - drop if metric.higher_is_better else reference + drop
    beyond = f"{measured} is {number(loss)} {worse} {number(reference)} at the gates"
    if loss > drop + _TOLERANCE:
        if interval is None:
            return result(f"{beyond} ({allowed})", decayed=True, judged=judged)
        # The bound nearest the gate-time figure: the best the metric may plausibly be.
        best = interval[1] if metric.higher_is_better else interval[0]
        best_loss = reference - best if metric.higher_is_better else best - reference
        if best_loss > drop + _TOLERANCE:
            return result(
                f"{beyond} ({allowed}); its whole interval is {worse} the alert line "
                f"{number(line)}",
                decayed=True,
                judged=judged,
            )
        return result(
            f"{beyond}, more than the {allowed}, but its interval reaches the alert line "
            f"{number(line)}: too few labels to tell decay from chance, not alerted on",
            judged=judged,
        )
    if loss > 0:
        return result(f"{beyond}, within the {allowed}", judged=judged)
    return result(
        f"{measured} is {'at' if loss == 0 else number(-loss) + ' ' + better} "
        f"{number(reference)} at the gates",
        judged=judged,
    )


def _percent(share: float) -> str:
    return f"{share * 100:g}%"


def _ignored_note(ignored: int) -> str:
    if not ignored:
        return ""
    rows = "label was" if ignored == 1 else "labels were"
    return f" ({ignored} {rows} left out: not among the model's classes, or not a number)"
