"""A served version answers exactly as the registry's model does, by its fastest route."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.registry.flavors import wrap
from pathtolive.registry.signature import infer_signature
from pathtolive.service.servables import ServableVersion
from pathtolive.serving.batching import Gauge
from pathtolive.serving.deployment import ServedModel, _matrix_estimator


def _served(model: object, frame: pd.DataFrame) -> tuple[ServedModel, ServableVersion]:
    servable = ServableVersion(
        version=None,  # type: ignore[arg-type]  # not read on the predict path
        model=wrap(model),
        signature=infer_signature(model, frame),
        trained_on=(),
        pii_columns=frozenset(),
    )
    served = ServedModel.create(
        servable,
        executor=ThreadPoolExecutor(1),
        gauge=Gauge(),
        batching=True,
        wait_s=0.0,
        max_rows=100,
    )
    return served, servable


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


def test_a_bare_estimator_is_fed_a_matrix_and_answers_the_same(cancer: pd.DataFrame) -> None:
    features, label = cancer.drop(columns="target"), cancer["target"]
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(features, label)
    served, servable = _served(model, features)
    assert _matrix_estimator(servable) is not None
    prediction = served.batcher.predict(features)
    assert np.allclose(prediction.probabilities, model.predict_proba(features))
    assert list(prediction.labels) == list(model.predict(features))
    # The registry's object is untouched: it still knows its column names.
    assert list(model.feature_names_in_) == list(features.columns)


def test_a_regressor_by_the_matrix_route() -> None:
    frame = load_diabetes(as_frame=True).frame
    features, target = frame.drop(columns="target"), frame["target"]
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(features, target)
    served, _ = _served(model, features)
    prediction = served.batcher.predict(features.head(7))
    assert prediction.probabilities is None
    assert np.allclose(prediction.labels, model.predict(features.head(7)))


def test_a_pipeline_keeps_its_dataframe(cancer: pd.DataFrame) -> None:
    features, label = cancer.drop(columns="target"), cancer["target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, label)
    served, servable = _served(model, features)
    assert _matrix_estimator(servable) is None
    assert np.allclose(
        served.batcher.predict(features).probabilities, model.predict_proba(features)
    )
