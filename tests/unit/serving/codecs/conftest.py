"""Real models and their signatures for the codec tests: a loan model with every kind of
column, and scikit-learn's cancer (all floats), wine (string labels) and diabetes
(a regressor) sets. Built once for the package."""

from __future__ import annotations

import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.registry.signature import infer_signature
from tests.unit.serving.codecs.helpers import Served
from tests.unit.serving.test_validation import cancer_frame, loan_frame, loan_model


@pytest.fixture(scope="package")
def loans() -> Served:
    frame, target = loan_frame()
    model = loan_model(frame, target)
    signature = infer_signature(model, frame)
    return frame[list(signature.input_names)].head(8), model, signature


@pytest.fixture(scope="package")
def cancer() -> Served:
    frame, target = cancer_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, target)
    return frame.head(10), model, infer_signature(model, frame)


@pytest.fixture(scope="package")
def wine() -> Served:
    """Three classes with string labels."""
    features, target = load_wine(as_frame=True, return_X_y=True)
    labels = target.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    return features.head(6), model, infer_signature(model, features)


@pytest.fixture(scope="package")
def diabetes() -> Served:
    features, target = load_diabetes(as_frame=True, return_X_y=True)
    model = make_pipeline(Ridge()).fit(features, target)
    return features.head(6), model, infer_signature(model, features)
