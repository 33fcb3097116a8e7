"""Choosing a flavor, finding one by name, and predicting without knowing the library."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.errors import InvalidInputError, MissingExtraError, UnsupportedFormatError
from pathtolive.registry import (
    FLAVORS,
    LoadedModel,
    SklearnFlavor,
    flavor_for,
    get_flavor,
    predict,
    predict_proba,
    wrap,
)

Dataset = tuple[pd.DataFrame, pd.Series]


class HandMadeModel:
    """Something with a predict method that no flavor knows how to store."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))


def test_flavor_for_a_scikit_learn_pipeline(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

    assert isinstance(flavor_for(model.fit(features, target)), SklearnFlavor)


@pytest.mark.parametrize("model", [HandMadeModel(), {"weights": [1, 2]}, "model.pkl"])
def test_a_model_no_flavor_can_store_is_refused(model: object) -> None:
    kind = f"{type(model).__module__}.{type(model).__qualname__}"

    with pytest.raises(InvalidInputError) as refused:
        flavor_for(model)

    assert refused.value.message == (
        f"cannot store a model of type {kind}: supported are scikit-learn estimators and "
        "pipelines, LightGBM and XGBoost boosters/sklearn wrappers, ONNX models "
        "(onnx.ModelProto or a .onnx file), and classes of the workspace's pipelines/ code "
        "with predict, get_state and from_state"
    )


def test_unknown_flavor_name_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormatError, match=r"unknown model flavor 'pytorch'; .*onnx"):
        get_flavor("pytorch")


def test_every_flavor_is_found_by_its_name() -> None:
    names = [flavor.name for flavor in FLAVORS]

    assert names == ["sklearn", "lightgbm", "xgboost", "onnx", "python"]
    assert all(get_flavor(name).name == name for name in names)


def test_predict_with_an_in_memory_or_a_loaded_model(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features, target)
    loaded = get_flavor("sklearn").load(get_flavor("sklearn").save(model))

    for candidate in (model, loaded):
        np.testing.assert_array_equal(predict(candidate, features), model.predict(features))
        np.testing.assert_array_equal(
            predict_proba(candidate, features), model.predict_proba(features)
        )
    assert wrap(loaded) is loaded
    assert isinstance(wrap(model), LoadedModel)


def test_importing_the_registry_imports_no_model_library() -> None:
    script = (
        "import sys, pathtolive.registry; "
        "print(sorted({'sklearn', 'skops', 'lightgbm', 'xgboost', 'mlflow'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"


def test_loading_without_skops_names_the_extra(
    wine: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    data = get_flavor("sklearn").save(model.fit(features, target))
    monkeypatch.setitem(sys.modules, "skops", None)  # what an absent package looks like
    monkeypatch.setitem(sys.modules, "skops.io", None)

    with pytest.raises(MissingExtraError) as missing:
        get_flavor("sklearn").load(data)

    assert missing.value.message == (
        "the sklearn flavor needs skops, which is not installed: pip install 'pathtolive[sklearn]'"
    )
