"""Real data from scikit-learn's bundled datasets, and fresh fake stores per test."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from pathtolive.pipelines import Dataset
from tests.unit.pipelines.fakes import Runs


@pytest.fixture
def runs() -> Runs:
    return Runs()


@pytest.fixture(scope="session")
def cancer_frame() -> pd.DataFrame:
    """Breast cancer (binary): 30 numeric features and a 0/1 ``target`` column."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


@pytest.fixture(scope="session")
def cancer(cancer_frame: pd.DataFrame) -> Dataset:
    return Dataset.from_frame(cancer_frame, name="cancer", tags={"target": ["target"]})


@pytest.fixture(scope="session")
def wine_frame() -> pd.DataFrame:
    """Wine (three classes), numeric features and a ``target`` column."""
    frame: pd.DataFrame = load_wine(as_frame=True).frame
    return frame
