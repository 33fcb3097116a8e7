"""Real data for the gate tests: scikit-learn's bundled datasets, split once, with real
models fitted on the training part and scored on the holdout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.gates import Predictions

REGIONS = ("north", "south", "east", "west")
WEAK_FEATURES = ["texture error", "mean fractal dimension"]


@dataclass(frozen=True, eq=False)
class Split:
    """A training part and a holdout of one dataset."""

    train: pd.DataFrame
    train_target: pd.Series
    holdout: pd.DataFrame
    holdout_target: pd.Series


def _split(features: pd.DataFrame, target: pd.Series, *, stratify: bool) -> Split:
    train, holdout, train_target, holdout_target = train_test_split(
        features,
        target,
        test_size=0.4,
        random_state=0,
        stratify=target if stratify else None,
    )
    return Split(
        train.reset_index(drop=True),
        train_target.reset_index(drop=True),
        holdout.reset_index(drop=True),
        holdout_target.reset_index(drop=True),
    )


@pytest.fixture(scope="session")
def cancer() -> Split:
    """Breast cancer (binary: 0 malignant, 1 benign), 228 holdout rows."""
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    return _split(features, target, stratify=True)


@pytest.fixture(scope="session")
def cancer_slices(cancer: Split) -> pd.DataFrame:
    """Slice columns for the cancer holdout: four regions of about 55 rows, and an
    'islands' region of 12 rows too small to judge."""
    rng = np.random.default_rng(7)
    rows = len(cancer.holdout)
    region = rng.choice(np.array(REGIONS, dtype=object), size=rows)
    region[rng.choice(rows, size=12, replace=False)] = "islands"
    size = np.where(cancer.holdout["mean radius"] > 14, "large", "small")
    return pd.DataFrame({"region": region, "size": size})


def _classifier_predictions(model: Any, features: pd.DataFrame) -> Predictions:
    return Predictions(proba=model.predict_proba(features), labels=model.predict(features))


@pytest.fixture(scope="session")
def cancer_strong(cancer: Split) -> Predictions:
    """A scaled logistic regression on every column: roc_auc about 0.99."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(cancer.train, cancer.train_target)
    return _classifier_predictions(model, cancer.holdout)


@pytest.fixture(scope="session")
def cancer_forest(cancer: Split) -> Predictions:
    """A small random forest on every column."""
    model = RandomForestClassifier(n_estimators=25, random_state=0)
    model.fit(cancer.train, cancer.train_target)
    return _classifier_predictions(model, cancer.holdout)


@pytest.fixture(scope="session")
def cancer_weak(cancer: Split) -> Predictions:
    """A logistic regression on two uninformative columns: roc_auc near 0.5."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(cancer.train[WEAK_FEATURES], cancer.train_target)
    return _classifier_predictions(model, cancer.holdout[WEAK_FEATURES])


@pytest.fixture(scope="session")
def wine() -> Split:
    """Wine (three classes), 72 holdout rows."""
    features, target = load_wine(as_frame=True, return_X_y=True)
    return _split(features, target, stratify=True)


@pytest.fixture(scope="session")
def wine_forest(wine: Split) -> Predictions:
    model = RandomForestClassifier(n_estimators=25, random_state=0)
    model.fit(wine.train, wine.train_target)
    return _classifier_predictions(model, wine.holdout)


@pytest.fixture(scope="session")
def diabetes() -> Split:
    """Diabetes (regression), 177 holdout rows."""
    features, target = load_diabetes(as_frame=True, return_X_y=True)
    return _split(features, target, stratify=False)


@pytest.fixture(scope="session")
def diabetes_forest(diabetes: Split) -> Predictions:
    model = RandomForestRegressor(n_estimators=25, random_state=0)
    model.fit(diabetes.train, diabetes.train_target)
    return Predictions(values=model.predict(diabetes.holdout))
