"""The curves and tables a model card draws from a classifier's holdout predictions.

- :func:`roc_curve`: the ROC curve of a binary classifier's scores (false and true
  positive rates as the threshold falls), its area, and the point of a given threshold;
- :func:`calibration`: predicted probability against the observed rate of the positive
  class, on equal-width bins of the prediction;
- :func:`confusion_matrix`: rows are the true classes, columns the predicted ones.

Pure NumPy: the rows are the caller's (a bounded sample of the holdout).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pathtolive.errors import InvalidInputError

__all__ = ["CalibrationBin", "RocCurve", "calibration", "confusion_matrix", "roc_curve"]

_MAX_ROC_POINTS = 200
"""Points kept of a ROC curve: more cannot be told apart on a chart."""


@dataclass(frozen=True)
class RocCurve:
    """``points`` (false positive rate, true positive rate) from (0, 0) to (1, 1), the
    area under them, and the point at ``threshold`` (scores at or above it positive)."""

    points: tuple[tuple[float, float], ...]
    auc: float
    threshold: float
    at_threshold: tuple[float, float]


@dataclass(frozen=True)
class CalibrationBin:
    """Rows whose predicted probability fell in [``low``, ``high``): their mean
    prediction and the share of them that were positive."""

    low: float
    high: float
    rows: int
    predicted: float
    observed: float


def roc_curve(positive: npt.ArrayLike, scores: npt.ArrayLike, threshold: float = 0.5) -> RocCurve:
    """The ROC curve of ``scores`` for the truth ``positive`` (booleans); an input error
    when the rows are not of both classes (the curve is undefined)."""
    truth = np.asarray(positive, dtype=bool)
    score = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if positives == 0 or negatives == 0:
        raise InvalidInputError("a ROC curve needs rows of both classes")
    order = np.argsort(-score, kind="mergesort")
    ranked, hits = score[order], truth[order]
    # One point per distinct score: ties move both rates at once.
    last = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    tpr = np.r_[0.0, np.cumsum(hits)[last] / positives]
    fpr = np.r_[0.0, np.cumsum(~hits)[last] / negatives]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    keep = np.unique(np.linspace(0, fpr.size - 1, min(fpr.size, _MAX_ROC_POINTS)).round())
    points = tuple((float(fpr[i]), float(tpr[i])) for i in keep.astype(int))
    chosen = score >= threshold
    at = (float((chosen & ~truth).sum() / negatives), float((chosen & truth).sum() / positives))
    return RocCurve(points, auc, threshold, at)


def calibration(
    positive: npt.ArrayLike, scores: npt.ArrayLike, bins: int = 10
) -> tuple[CalibrationBin, ...]:
    """The observed positive rate per equal-width bin of the predicted probability
    (``bins`` of them over 0 to 1); bins without rows are left out."""
    truth = np.asarray(positive, dtype=bool)
    score = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    index = np.minimum((score * bins).astype(int), bins - 1)
    found = []
    for b in range(bins):
        rows = index == b
        count = int(rows.sum())
        if count:
            found.append(
                CalibrationBin(
                    b / bins,
                    (b + 1) / bins,
                    count,
                    float(score[rows].mean()),
                    float(truth[rows].mean()),
                )
            )
    return tuple(found)


def confusion_matrix(
    truth: npt.ArrayLike, predicted: npt.ArrayLike, classes: Sequence[Any]
) -> tuple[tuple[int, ...], ...]:
    """Counts of rows by true class (rows) and predicted class (columns), in the order
    of ``classes``; a row whose label is not among them is not counted."""
    position = {label: index for index, label in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for actual, guess in zip(
        np.asarray(truth).tolist(), np.asarray(predicted).tolist(), strict=True
    ):
        if actual in position and guess in position:
            matrix[position[actual], position[guess]] += 1
    return tuple(tuple(int(cell) for cell in row) for row in matrix)
