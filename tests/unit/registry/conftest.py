"""Real data for the registry tests: scikit-learn's bundled datasets, as frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

Dataset = tuple[pd.DataFrame, pd.Series]


@pytest.fixture(scope="session")
def cancer() -> Dataset:
    """Breast cancer (binary), with a string column and a few missing values so that the
    pipelines' imputers and encoders have work to do."""
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    features = features.copy()
    features["size"] = np.where(features["mean radius"] > 14, "large", "small")
    rows = np.random.default_rng(0).choice(len(features), size=20, replace=False)
    features.loc[features.index[rows], "mean texture"] = np.nan
    return features, target


@pytest.fixture(scope="session")
def wine() -> Dataset:
    """Wine (three classes), numeric columns only."""
    features, target = load_wine(as_frame=True, return_X_y=True)
    return features, target


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    """Diabetes (regression), numeric columns only."""
    features, target = load_diabetes(as_frame=True, return_X_y=True)
    return features, target
