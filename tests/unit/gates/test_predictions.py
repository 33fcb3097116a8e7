"""Predictions of one model, and lining up the probability columns of several."""

from __future__ import annotations

import numpy as np
import pytest

from pathtolive.errors import InvalidInputError
from pathtolive.gates import METRICS, Predictions, align_proba


def test_probability_columns_are_put_in_the_order_of_the_classes() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])

    aligned = align_proba(proba, ["c", "a", "b"], ["a", "b", "c", "d"])

    np.testing.assert_array_equal(aligned, [[0.2, 0.1, 0.7, 0.0], [0.1, 0.8, 0.1, 0.0]])


def test_a_model_class_outside_the_classes_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"predicts classes \['z'\]"):
        align_proba(np.ones((1, 2)) / 2, ["a", "z"], ["a", "b"])


def test_labels_come_from_the_most_probable_class() -> None:
    one_column = Predictions(proba=np.array([0.2, 0.5, 0.9]))
    columns = Predictions(proba=np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]]))

    assert list(one_column.for_metric(METRICS["f1"], ("no", "yes"))) == ["no", "no", "yes"]
    assert list(columns.for_metric(METRICS["accuracy"], (1, 2, 3))) == [2, 1]


def test_predictions_must_hold_something_of_one_length() -> None:
    with pytest.raises(InvalidInputError, match="need proba, labels or values"):
        Predictions()
    with pytest.raises(InvalidInputError, match="different lengths"):
        Predictions(proba=np.ones((3, 2)), labels=np.ones(2))
    with pytest.raises(InvalidInputError, match="gave no predicted values; rmse needs them"):
        Predictions(labels=np.ones(2)).for_metric(METRICS["rmse"], None, owner="the candidate")


def test_some_rows_of_the_predictions() -> None:
    predictions = Predictions(proba=np.eye(3), labels=np.array(["a", "b", "c"]))

    taken = predictions.take(np.array([2, 0]))

    assert taken.rows == 2
    assert list(taken.labels if taken.labels is not None else []) == ["c", "a"]
