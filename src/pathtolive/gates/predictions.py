"""What one model predicted for the holdout rows, in the form each metric needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pathtolive.errors import InvalidInputError
from pathtolive.gates.metrics import ClassLabel, FloatArray, Metric

__all__ = ["Predictions", "align_proba"]


@dataclass(frozen=True, eq=False)
class Predictions:
    """One model's predictions for the holdout rows, in holdout order.

    A classifier gives ``proba`` (one column per class, in the order of the gate
    context's classes; or, for two classes, one column: the positive class's
    probability) and ``labels``; ``labels`` may be left out and are then the most
    probable class. A regressor gives ``values``.
    """

    proba: FloatArray | None = None
    labels: npt.NDArray[Any] | None = None
    values: FloatArray | None = None

    def __post_init__(self) -> None:
        given = {
            name: np.asarray(array)
            for name, array in (
                ("proba", self.proba),
                ("labels", self.labels),
                ("values", self.values),
            )
            if array is not None
        }
        if not given:
            raise InvalidInputError("predictions need proba, labels or values; none was given")
        # Normalised once here so that every gate reads plain NumPy arrays.
        for name, array in given.items():
            allowed = (1, 2) if name == "proba" else (1,)
            if array.ndim not in allowed:
                raise InvalidInputError(f"{name} of shape {array.shape} has too many dimensions")
            object.__setattr__(self, name, array)
        lengths = {name: len(array) for name, array in given.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidInputError(f"predictions of different lengths: {lengths}")

    @property
    def rows(self) -> int:
        """How many rows were predicted."""
        for array in (self.proba, self.labels, self.values):
            if array is not None:
                return len(array)
        raise AssertionError("__post_init__ guarantees one array")

    def for_metric(
        self, metric: Metric, classes: Sequence[ClassLabel] | None, *, owner: str = "the model"
    ) -> npt.NDArray[Any]:
        """The array ``metric`` scores: probabilities, labels or values. Labels come from
        the probabilities when none were given. ``owner`` names the model in errors."""
        if metric.needs == "value":
            if self.values is None:
                raise InvalidInputError(
                    f"{owner} gave no predicted values; {metric.name} needs them"
                )
            return self.values
        if metric.needs == "label" and self.labels is not None:
            return self.labels
        if self.proba is None:
            wanted = "labels or probabilities" if metric.needs == "label" else "probabilities"
            raise InvalidInputError(f"{owner} gave no class {wanted}; {metric.name} needs them")
        if metric.needs == "proba":
            return self.proba
        if classes is None:
            raise InvalidInputError(
                f"labels of {owner} cannot be read from probabilities without classes"
            )
        proba = self.proba
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        labels: npt.NDArray[Any] = np.asarray(classes, dtype=object)[np.argmax(proba, axis=1)]
        return labels

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> Predictions:
        """The predictions of some rows only (by position or boolean mask)."""
        return Predictions(
            proba=None if self.proba is None else self.proba[rows],
            labels=None if self.labels is None else self.labels[rows],
            values=None if self.values is None else self.values[rows],
        )


def align_proba(
    proba: npt.ArrayLike,
    model_classes: Sequence[ClassLabel],
    classes: Sequence[ClassLabel],
) -> FloatArray:
    """A model's probability columns (in the order of ``model_classes``) rearranged to the
    order of ``classes``; a class the model never saw gets probability 0.

    Models order their classes their own way, and a paired comparison needs every model's
    column ``k`` to mean the same class."""
    matrix = np.asarray(proba, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[1] != len(model_classes):
        raise InvalidInputError(
            f"probabilities of shape {matrix.shape} do not match the model's "
            f"{len(model_classes)} classes"
        )
    position = {label: index for index, label in enumerate(classes)}
    unknown = [label for label in model_classes if label not in position]
    if unknown:
        raise InvalidInputError(
            f"the model predicts classes {unknown[:10]} that are not among {list(classes)[:10]}"
        )
    aligned = np.zeros((len(matrix), len(classes)))
    aligned[:, [position[label] for label in model_classes]] = matrix
    return aligned
