"""Baselines fitted by pathtolive on the training split, on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score, roc_auc_score

from pathtolive.errors import InvalidInputError
from pathtolive.gates import METRICS, baseline_names, fit_baseline
from tests.unit.gates.conftest import Split


def _messy(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a text column, a nullable integer column, a date and missing values,
    as real tables come."""
    messy = frame.copy()
    messy["size"] = np.where(messy["mean radius"] > 14, "large", "small")
    messy.loc[messy.index[::7], "size"] = None
    messy["grade"] = pd.array((messy["mean texture"] // 10).astype(int), dtype="Int64")
    messy.loc[messy.index[::5], "grade"] = pd.NA
    messy.loc[messy.index[::11], "mean texture"] = np.nan
    messy["seen"] = pd.Timestamp("2024-01-01")
    return messy


def test_logistic_baseline_handles_text_missing_values_and_dates(cancer: Split) -> None:
    baseline = fit_baseline("logistic", "binary", _messy(cancer.train), cancer.train_target)

    predictions = baseline.predict(_messy(cancer.holdout))

    assert baseline.classes == (0, 1)
    assert "size" in baseline.categorical_columns
    assert "grade" in baseline.numeric_columns
    assert baseline.ignored_columns == ("seen",)
    assert predictions.proba is not None
    assert predictions.proba.shape == (len(cancer.holdout), 2)
    assert roc_auc_score(cancer.holdout_target, predictions.proba[:, 1]) > 0.95


def test_unseen_categories_in_the_holdout_are_ignored(cancer: Split) -> None:
    baseline = fit_baseline("logistic", "binary", _messy(cancer.train), cancer.train_target)
    holdout = _messy(cancer.holdout)
    holdout["size"] = "enormous"

    predictions = baseline.predict(holdout)

    assert predictions.labels is not None
    assert len(predictions.labels) == len(holdout)


def test_majority_baseline_predicts_the_frequent_class_with_honest_probabilities(
    cancer: Split,
) -> None:
    baseline = fit_baseline("majority", "binary", cancer.train, cancer.train_target)

    predictions = baseline.predict(cancer.holdout)

    assert predictions.labels is not None
    assert predictions.proba is not None
    assert set(predictions.labels) == {1}
    share = float(cancer.train_target.mean())
    np.testing.assert_allclose(predictions.proba[:, 1], share)
    assert METRICS["roc_auc"].score(cancer.holdout_target, predictions.proba) == 0.5
    assert np.isfinite(METRICS["log_loss"].score(cancer.holdout_target, predictions.proba))


def test_logistic_baseline_fits_three_classes(wine: Split) -> None:
    baseline = fit_baseline("logistic", "multiclass", wine.train, wine.train_target)

    predictions = baseline.predict(wine.holdout)

    assert baseline.classes == (0, 1, 2)
    assert predictions.proba is not None
    assert predictions.proba.shape == (len(wine.holdout), 3)
    assert METRICS["accuracy"].score(wine.holdout_target, predictions.labels) > 0.9


def test_regression_baselines_mean_and_ridge(diabetes: Split) -> None:
    mean = fit_baseline("mean", "regression", diabetes.train, diabetes.train_target)
    linear = fit_baseline("linear", "regression", diabetes.train, diabetes.train_target)

    flat = mean.predict(diabetes.holdout).values
    fitted = linear.predict(diabetes.holdout).values

    assert flat is not None
    assert fitted is not None
    np.testing.assert_allclose(flat, diabetes.train_target.mean())
    assert r2_score(diabetes.holdout_target, fitted) > 0.3


def test_fitting_twice_gives_the_same_predictions(cancer: Split) -> None:
    first = fit_baseline("logistic", "binary", _messy(cancer.train), cancer.train_target)
    second = fit_baseline("logistic", "binary", _messy(cancer.train), cancer.train_target)

    one = first.predict(_messy(cancer.holdout)).proba
    two = second.predict(_messy(cancer.holdout)).proba

    assert one is not None
    assert two is not None
    assert (one == two).all()


def test_a_baseline_of_another_task_names_those_that_fit(diabetes: Split) -> None:
    with pytest.raises(InvalidInputError, match="does not fit a regression task") as caught:
        fit_baseline("logistic", "regression", diabetes.train, diabetes.train_target)

    assert "use one of mean, linear, the name of a registered model, or external:NAME" in (
        caught.value.message
    )


def test_an_unknown_baseline_names_the_built_in_ones(cancer: Split) -> None:
    with pytest.raises(InvalidInputError, match="'xgboost' is not a built-in baseline"):
        fit_baseline("xgboost", "binary", cancer.train, cancer.train_target)
    assert baseline_names("binary") == ("majority", "logistic")


def test_a_target_of_one_class_or_with_gaps_is_refused(cancer: Split) -> None:
    with pytest.raises(InvalidInputError, match="at least two classes"):
        fit_baseline("majority", "binary", cancer.train, np.ones(len(cancer.train)))
    gappy = cancer.train_target.astype(float).where(cancer.train_target.index % 9 != 0)
    with pytest.raises(InvalidInputError, match="missing values"):
        fit_baseline("logistic", "binary", cancer.train, gappy)


def test_a_holdout_without_the_training_columns_is_refused(cancer: Split) -> None:
    baseline = fit_baseline("logistic", "binary", cancer.train, cancer.train_target)

    with pytest.raises(InvalidInputError, match="lacks the columns"):
        baseline.predict(cancer.holdout.drop(columns=["mean radius"]))
