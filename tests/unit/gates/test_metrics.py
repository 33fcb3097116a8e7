"""The vectorised metrics equal scikit-learn's, on the full holdout and on resamples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as sk

from pathtolive.errors import InvalidInputError
from pathtolive.gates import (
    METRICS,
    Predictions,
    default_metric,
    get_metric,
    metric_names,
    resolve_classes,
)
from tests.unit.gates.conftest import Split

TOLERANCE = 1e-12

BINARY: dict[str, Callable[[Any, Any], float]] = {
    "roc_auc": lambda y, p: sk.roc_auc_score(y, p[:, 1]),
    "log_loss": sk.log_loss,
    "brier": lambda y, p: sk.brier_score_loss(y, p[:, 1]),
    "accuracy": sk.accuracy_score,
    "f1": lambda y, labels: sk.f1_score(y, labels, zero_division=0),
    "precision": lambda y, labels: sk.precision_score(y, labels, zero_division=0),
    "recall": lambda y, labels: sk.recall_score(y, labels, zero_division=0),
}
MULTICLASS: dict[str, Callable[[Any, Any], float]] = {
    "roc_auc": lambda y, p: sk.roc_auc_score(y, p, multi_class="ovr", average="macro"),
    "log_loss": lambda y, p: sk.log_loss(y, p, labels=[0, 1, 2]),
    "brier": lambda y, p: sk.brier_score_loss(y, p, labels=[0, 1, 2]),
    "accuracy": sk.accuracy_score,
    "f1": lambda y, labels: sk.f1_score(y, labels, average="macro", zero_division=0),
    "precision": lambda y, labels: sk.precision_score(y, labels, average="macro", zero_division=0),
    "recall": lambda y, labels: sk.recall_score(y, labels, average="macro", zero_division=0),
}
REGRESSION: dict[str, Callable[[Any, Any], float]] = {
    "rmse": sk.root_mean_squared_error,
    "mae": sk.mean_absolute_error,
    "r2": sk.r2_score,
}


def _prediction(predictions: Predictions, name: str) -> Any:
    needs = METRICS[name].needs
    return {"proba": predictions.proba, "label": predictions.labels}.get(needs, predictions.values)


def _weights_of(indices: np.ndarray, rows: int) -> np.ndarray:
    return np.stack([np.bincount(drawn, minlength=rows) for drawn in indices]).astype(float)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_metrics_equal_sklearn(name: str, cancer: Split, cancer_forest: Predictions) -> None:
    y = cancer.holdout_target.to_numpy()
    prediction = _prediction(cancer_forest, name)

    assert METRICS[name].score(y, prediction) == pytest.approx(
        BINARY[name](y, prediction), abs=TOLERANCE
    )


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_metrics_on_resamples_equal_sklearn_on_the_drawn_rows(
    name: str, cancer: Split, cancer_weak: Predictions
) -> None:
    y = cancer.holdout_target.to_numpy()
    prediction = _prediction(cancer_weak, name)
    indices = np.random.default_rng(3).integers(0, len(y), size=(5, len(y)))

    values = METRICS[name].resampler(y, prediction)(_weights_of(indices, len(y)))

    expected = [BINARY[name](y[drawn], prediction[drawn]) for drawn in indices]
    np.testing.assert_allclose(values, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", list(MULTICLASS))
def test_multiclass_metrics_equal_sklearn_on_the_holdout_and_resamples(
    name: str, wine: Split, wine_forest: Predictions
) -> None:
    y = wine.holdout_target.to_numpy()
    prediction = _prediction(wine_forest, name)
    indices = np.random.default_rng(4).integers(0, len(y), size=(5, len(y)))

    whole = METRICS[name].score(y, prediction)
    values = METRICS[name].resampler(y, prediction, classes=[0, 1, 2])(_weights_of(indices, len(y)))

    assert whole == pytest.approx(MULTICLASS[name](y, prediction), abs=TOLERANCE)
    expected = [MULTICLASS[name](y[drawn], prediction[drawn]) for drawn in indices]
    np.testing.assert_allclose(values, expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", list(REGRESSION))
def test_regression_metrics_equal_sklearn_on_the_holdout_and_resamples(
    name: str, diabetes: Split, diabetes_forest: Predictions
) -> None:
    y = diabetes.holdout_target.to_numpy()
    prediction = diabetes_forest.values
    assert prediction is not None
    indices = np.random.default_rng(5).integers(0, len(y), size=(5, len(y)))

    whole = METRICS[name].score(y, prediction)
    values = METRICS[name].resampler(y, prediction)(_weights_of(indices, len(y)))

    assert whole == pytest.approx(REGRESSION[name](y, prediction), abs=TOLERANCE)
    expected = [REGRESSION[name](y[drawn], prediction[drawn]) for drawn in indices]
    np.testing.assert_allclose(values, expected, rtol=0, atol=TOLERANCE)


def test_roc_auc_counts_tied_scores_half_as_sklearn_does(cancer: Split) -> None:
    y = cancer.holdout_target.to_numpy()
    # Rounded radii tie often: many (positive, negative) pairs share a score.
    scores = -cancer.holdout["mean radius"].round().to_numpy()

    assert METRICS["roc_auc"].score(y, scores) == pytest.approx(
        sk.roc_auc_score(y, scores), abs=TOLERANCE
    )


def test_one_column_of_scores_is_the_positive_class_of_string_labels(
    cancer: Split, cancer_forest: Predictions
) -> None:
    assert cancer_forest.proba is not None
    names = np.where(cancer.holdout_target == 1, "benign", "malignant")
    positive = cancer_forest.proba[:, 1]
    labels = np.where(cancer_forest.proba[:, 1] > 0.5, "benign", "malignant")

    classes = resolve_classes(names)
    auc = METRICS["roc_auc"].score(names, positive, classes=("malignant", "benign"))
    f1 = METRICS["f1"].score(names, labels, classes=("malignant", "benign"))

    assert classes == ("benign", "malignant")
    assert auc == pytest.approx(sk.roc_auc_score(names == "benign", positive), abs=TOLERANCE)
    assert f1 == pytest.approx(sk.f1_score(names, labels, pos_label="benign"), abs=TOLERANCE)


def test_a_metric_undefined_on_the_rows_is_nan_not_an_error() -> None:
    assert np.isnan(METRICS["roc_auc"].score([1, 1, 1], [0.2, 0.5, 0.9], classes=(0, 1)))


def test_labels_outside_the_classes_count_as_wrong() -> None:
    accuracy = METRICS["accuracy"].score(["a", "b", "b"], ["a", "b", "c"])

    assert accuracy == pytest.approx(2 / 3)


def test_each_metric_knows_its_direction_prediction_and_tasks() -> None:
    assert METRICS["roc_auc"].higher_is_better
    assert METRICS["roc_auc"].needs == "proba"
    assert not METRICS["log_loss"].higher_is_better
    assert METRICS["f1"].needs == "label"
    assert METRICS["rmse"].tasks == ("regression",)
    assert not METRICS["rmse"].higher_is_better
    assert metric_names("regression") == ("rmse", "mae", "r2")
    assert default_metric("binary") == "roc_auc"
    assert default_metric("regression") == "rmse"


def test_an_unknown_metric_lists_those_of_the_task() -> None:
    with pytest.raises(InvalidInputError, match="'auc' is not a metric") as caught:
        get_metric("auc", "binary")

    assert "roc_auc, accuracy, f1, precision, recall, log_loss, brier" in caught.value.message


def test_a_metric_of_another_task_lists_those_of_the_task() -> None:
    with pytest.raises(InvalidInputError, match="does not fit a regression model") as caught:
        get_metric("roc_auc", "regression")

    assert caught.value.message.endswith("rmse, mae, r2")


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown task 'ranking'"):
        get_metric("rmse", "ranking")  # type: ignore[arg-type]


def test_probabilities_for_the_wrong_number_of_classes_are_refused(
    wine: Split, wine_forest: Predictions
) -> None:
    assert wine_forest.proba is not None
    with pytest.raises(InvalidInputError, match="2 probability columns for 3 classes"):
        METRICS["log_loss"].score(wine.holdout_target, wine_forest.proba[:, :2])


def test_missing_truth_and_nan_predictions_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="missing values"):
        METRICS["accuracy"].score(np.array([1.0, np.nan]), [1, 0])
    with pytest.raises(InvalidInputError, match="NaN"):
        METRICS["rmse"].score([1.0, 2.0], [1.0, np.nan])
