"""Reading MLflow model folders, written here by hand in MLflow's on-disk format.

MLflow is not installed for these tests (and must not be needed). The folders are laid out
as ``mlflow.sklearn.save_model`` writes them: an ``MLmodel`` YAML file, the environment
files and the model file. MLflow 2 wrote cloudpickle by default; MLflow 3 writes skops.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from pathtolive.errors import InvalidInputError, UnsupportedFormatError
from pathtolive.registry import (
    TREE_TYPES,
    FieldSpec,
    OutputSpec,
    UntrustedModelError,
    read_mlflow_model,
)
from tests.support.mlflow import (
    RUN_ID,
    write_mlflow2_folder,
    write_mlflow3_folder,
)

Dataset = tuple[pd.DataFrame, pd.Series]


def double(values: np.ndarray) -> np.ndarray:
    """A user function in a FunctionTransformer: skops must not import it untrusted."""
    return values * 2


@pytest.fixture(scope="module")
def visits(diabetes: Dataset) -> Dataset:
    """Diabetes with an integer column, so that the signature has a ``long``."""
    features, target = diabetes
    counts = np.random.default_rng(3).integers(0, 12, len(features))
    return features.assign(visits=counts), target


@pytest.fixture(scope="module")
def regressor(visits: Dataset) -> Pipeline:
    features, target = visits
    return make_pipeline(StandardScaler(), Ridge()).fit(features, target)


@pytest.fixture(scope="module")
def classifier(cancer: Dataset) -> Pipeline:
    features, target = cancer
    numeric = [column for column in features.columns if column != "size"]
    preprocess = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ("size", OneHotEncoder(), ["size"]),
        ]
    )
    model = Pipeline([("preprocess", preprocess), ("model", LogisticRegression(max_iter=1000))])
    return model.fit(features, target)


def test_cloudpickle_model_is_refused_without_trust(
    tmp_path: Path, visits: Dataset, regressor: Pipeline
) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", regressor, visits[0])

    with pytest.raises(UntrustedModelError) as refused:
        read_mlflow_model(folder)

    message = refused.value.message
    assert message.startswith("model.pkl is a cloudpickle file, and loading one can run")
    assert "--trust-pickle" in message
    assert "trust_pickle=True" in message
    assert "\n" not in message


def test_cloudpickle_model_loads_when_trusted(
    tmp_path: Path, visits: Dataset, regressor: Pipeline
) -> None:
    features, _ = visits
    folder = write_mlflow2_folder(tmp_path / "model", regressor, features, optional=("bmi",))

    imported = read_mlflow_model(folder, trust_pickle=True)

    assert imported.flavor == "sklearn"
    model: Any = imported.model
    np.testing.assert_array_equal(model.predict(features), regressor.predict(features))
    assert imported.signature is not None
    assert imported.signature.inputs[0] == FieldSpec("age", "float", False)
    assert imported.signature.inputs[2] == FieldSpec("bmi", "float", True)
    assert imported.signature.inputs[-1] == FieldSpec("visits", "integer", False)
    assert imported.signature.output == OutputSpec("regression")
    assert imported.metadata["run_id"] == RUN_ID
    assert imported.metadata["mlflow_version"] == "2.12.1"
    assert imported.metadata["utc_time_created"] == "2024-05-02 09:14:03.517316"
    assert imported.metadata["serialization_format"] == "cloudpickle"
    assert imported.metadata["flavors"] == ["python_function", "sklearn"]
    assert imported.metadata["requirements"] == [
        "mlflow==2.12.1",
        "cloudpickle==3.0.0",
        "scikit-learn==1.4.2",
    ]
    assert "mlflow" not in sys.modules


def test_plain_pickle_format_loads_when_trusted(
    tmp_path: Path, visits: Dataset, regressor: Pipeline
) -> None:
    features, _ = visits
    folder = tmp_path / "model"
    write_mlflow2_folder(folder, regressor, features, serialization="pickle")
    (folder / "model.pkl").write_bytes(pickle.dumps(regressor))

    imported = read_mlflow_model(folder, trust_pickle=True)

    model: Any = imported.model
    np.testing.assert_array_equal(model.predict(features), regressor.predict(features))


def test_skops_model_loads_without_pickle(
    tmp_path: Path, cancer: Dataset, classifier: Pipeline
) -> None:
    features, _ = cancer
    folder = write_mlflow3_folder(tmp_path / "model", classifier, features)

    imported = read_mlflow_model(folder)

    model: Any = imported.model
    np.testing.assert_array_equal(model.predict_proba(features), classifier.predict_proba(features))
    assert imported.signature is not None
    assert imported.signature.input_names == tuple(features.columns)
    assert imported.signature.inputs[-1] == FieldSpec("size", "string", False)
    assert imported.signature.output == OutputSpec("probability", (0, 1))
    assert imported.metadata["mlflow_version"] == "3.16.1"
    assert imported.metadata["model_id"] == "m-84944822addc45aba0248da928440401"
    assert imported.metadata["serialization_format"] == "skops"


def test_skops_model_with_a_custom_function_is_refused_until_trusted(
    tmp_path: Path, diabetes: Dataset
) -> None:
    features, target = diabetes
    model = make_pipeline(FunctionTransformer(double), Ridge()).fit(features, target)
    custom = f"{__name__}.double"
    folder = write_mlflow3_folder(tmp_path / "model", model, features, skops_trusted_types=[custom])

    with pytest.raises(UntrustedModelError) as refused:
        read_mlflow_model(folder, trust_pickle=True)  # pickle trust is not skops trust

    message = refused.value.message
    assert message.startswith("model.skops: the model refers to types pathtolive does not")
    assert f"--trust {custom}" in message
    assert f"its MLmodel declares skops_trusted_types: {custom}" in message
    loaded: Any = read_mlflow_model(folder, trusted=[custom]).model
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_skops_tree_model_needs_its_tree_type_trusted(tmp_path: Path, visits: Dataset) -> None:
    features, target = visits
    model = HistGradientBoostingRegressor(max_iter=10).fit(features, target)
    folder = write_mlflow3_folder(tmp_path / "model", model, features)

    with pytest.raises(UntrustedModelError, match="TreePredictor"):
        read_mlflow_model(folder)
    assert read_mlflow_model(folder, trusted=TREE_TYPES).flavor == "sklearn"


def test_tensor_signature_is_kept_as_metadata_only(
    tmp_path: Path, visits: Dataset, regressor: Pipeline
) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", regressor, visits[0])
    mlmodel = folder / "MLmodel"
    tensor = '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 11]}}]'
    document = yaml.safe_load(mlmodel.read_text())
    document["signature"]["inputs"] = tensor
    mlmodel.write_text(yaml.safe_dump(document))

    imported = read_mlflow_model(folder, trust_pickle=True)

    assert imported.signature is None
    assert imported.metadata["mlflow_signature"]["inputs"] == tensor
    assert "tensor signature" in imported.metadata["signature_note"]


def test_model_without_signature(tmp_path: Path, visits: Dataset, regressor: Pipeline) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", regressor, visits[0])
    document = yaml.safe_load((folder / "MLmodel").read_text())
    del document["signature"]
    (folder / "MLmodel").write_text(yaml.safe_dump(document))

    imported = read_mlflow_model(folder, trust_pickle=True)

    assert imported.signature is None
    assert "signature_note" not in imported.metadata


# Errors: one clear line each -----------------------------------------------------------


def test_folder_without_mlmodel(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^no MLmodel file in .*: point at the MLflow"):
        read_mlflow_model(tmp_path)


def test_malformed_yaml(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors:\n  sklearn: [unclosed\n")

    with pytest.raises(InvalidInputError, match=r"MLmodel is not valid YAML: "):
        read_mlflow_model(tmp_path)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("- just\n- a list\n")

    with pytest.raises(InvalidInputError, match="not an MLmodel file"):
        read_mlflow_model(tmp_path)


def test_no_sklearn_flavor_lists_the_flavors_found(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n    loader_module: mlflow.xgboost\n    model_path: model.xgb\n"
        "  xgboost:\n    data: model.xgb\n    model_class: xgboost.sklearn.XGBClassifier\n"
        "mlflow_version: 2.12.1\n"
    )

    with pytest.raises(InvalidInputError) as error:
        read_mlflow_model(tmp_path)

    assert error.value.message.endswith(
        "has no sklearn flavor (flavors found: python_function, xgboost); "
        "pathtolive imports scikit-learn models from MLflow"
    )


def test_missing_model_file(tmp_path: Path, visits: Dataset, regressor: Pipeline) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", regressor, visits[0])
    (folder / "model.pkl").unlink()

    with pytest.raises(InvalidInputError, match=r"model file 'model.pkl' is missing from"):
        read_mlflow_model(folder, trust_pickle=True)


def test_model_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: ../secret.pkl\n    serialization_format: pickle\n"
    )

    with pytest.raises(InvalidInputError, match="points outside the model folder"):
        read_mlflow_model(folder, trust_pickle=True)


def test_unknown_serialization_format(tmp_path: Path, visits: Dataset, regressor: Pipeline) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", regressor, visits[0], serialization="joblib")

    with pytest.raises(UnsupportedFormatError, match="'joblib' format; pathtolive reads skops"):
        read_mlflow_model(folder, trust_pickle=True)


def test_pickle_of_something_no_flavor_stores(tmp_path: Path, visits: Dataset) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", {"weights": [1, 2]}, visits[0])

    with pytest.raises(InvalidInputError, match=r"cannot store a model of type builtins.dict"):
        read_mlflow_model(folder, trust_pickle=True)


def test_corrupt_pickle(tmp_path: Path, visits: Dataset, regressor: Pipeline) -> None:
    folder = write_mlflow2_folder(tmp_path / "model", regressor, visits[0])
    (folder / "model.pkl").write_bytes(b"\x80\x05truncated")

    with pytest.raises(InvalidInputError, match=r"cannot unpickle model.pkl"):
        read_mlflow_model(folder, trust_pickle=True)
