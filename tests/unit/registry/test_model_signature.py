"""Model signatures: inferred from a sample or a dataset schema, and kept as JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pathtolive.errors import InvalidInputError
from pathtolive.registry import (
    FieldSpec,
    OutputSpec,
    Signature,
    get_flavor,
    infer_signature,
)

Dataset = tuple[pd.DataFrame, pd.Series]


def _loan_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = 200
    return pd.DataFrame(
        {
            "loan_id": np.arange(rows),
            "age": rng.integers(18, 80, rows),
            "income": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(50_000, 9_000, rows)),
            "homeowner": rng.random(rows) < 0.4,
            "region": pd.Categorical(rng.choice(["north", "south", "west"], rows)),
            "employer": rng.choice(["acme", "globex", "initech"], rows).astype(object),
            "applied": pd.date_range("2024-01-01", periods=rows, freq="D"),
            "defaulted": rng.integers(0, 2, rows),
        }
    )


SCHEMA_COLUMNS: list[dict[str, Any]] = [
    {"name": "loan_id", "type": "integer", "nullable": False, "tags": ["id"]},
    {"name": "age", "type": "integer", "nullable": False, "minimum": 18, "tags": []},
    {"name": "income", "type": "float", "nullable": True, "tags": ["pii"]},
    {"name": "homeowner", "type": "boolean", "nullable": False, "tags": []},
    {
        "name": "region",
        "type": "category",
        "nullable": False,
        "categories": ["north", "south", "west"],
        "tags": [],
    },
    {"name": "defaulted", "type": "integer", "nullable": False, "tags": ["target"]},
]


def _loan_model(frame: pd.DataFrame, columns: list[str]) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("region", OneHotEncoder(), ["region"]),
            ("numbers", StandardScaler(), [c for c in columns if c != "region"]),
        ]
    )
    model = Pipeline([("preprocess", preprocess), ("model", LogisticRegression())])
    return model.fit(frame[columns].fillna(0), frame["defaulted"])


def test_signature_from_a_sample_types_every_column() -> None:
    frame = _loan_frame()
    features = ["region", "age", "income", "homeowner"]
    model = _loan_model(frame, features)

    signature = infer_signature(model, frame.drop(columns=["defaulted"]))

    assert signature.inputs == (
        FieldSpec("region", "category", False, ("north", "south", "west")),
        FieldSpec("age", "integer", False),
        FieldSpec("income", "float", True),
        FieldSpec("homeowner", "boolean", False),
    )
    assert signature.output == OutputSpec("probability", (0, 1))


def test_signature_from_a_sample_of_strings_and_datetimes(wine: Dataset) -> None:
    frame = _loan_frame()
    sample = frame[["employer", "applied"]]
    model = make_pipeline(OneHotEncoder(), LogisticRegression())
    model.fit(sample[["employer"]], frame["defaulted"])
    positional = Ridge().fit(sample[["applied"]].astype("int64").to_numpy(), frame["age"])

    assert infer_signature(model, sample).inputs == (FieldSpec("employer", "string", False),)
    assert infer_signature(positional, sample[["applied"]]).inputs == (
        FieldSpec("applied", "datetime", False),
    )


def test_signature_from_a_schema_drops_target_and_id_and_follows_fitting_order() -> None:
    frame = _loan_frame()
    model = _loan_model(frame, ["region", "age", "homeowner", "income"])

    signature = infer_signature(model, frame.head(5), schema_columns=SCHEMA_COLUMNS)

    assert signature.input_names == ("region", "age", "homeowner", "income")
    assert signature.inputs[3] == FieldSpec("income", "float", True)
    assert signature.inputs[0].categories == ("north", "south", "west")


def test_schema_target_used_as_a_feature_is_refused() -> None:
    frame = _loan_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression())
    model.fit(frame[["age", "loan_id"]], frame["defaulted"])

    with pytest.raises(InvalidInputError, match=r"fitted on column 'loan_id', .* tags 'id'"):
        infer_signature(model, frame, schema_columns=SCHEMA_COLUMNS)


def test_model_feature_missing_from_the_schema_is_named(diabetes: Dataset) -> None:
    features, target = diabetes
    model = Ridge().fit(features, target)
    schema = [{"name": "age", "type": "float", "nullable": False, "tags": []}]

    with pytest.raises(InvalidInputError, match=r"lacks columns .*'sex', 'bmi'"):
        infer_signature(model, features, schema_columns=schema)


def test_model_fitted_on_an_array_takes_the_non_target_schema_columns() -> None:
    frame = _loan_frame()
    columns = ["age", "homeowner"]
    model = Ridge().fit(frame[columns].to_numpy(dtype=float), frame["income"].fillna(0))
    schema = [SCHEMA_COLUMNS[1], SCHEMA_COLUMNS[3], SCHEMA_COLUMNS[5]]

    signature = infer_signature(model, frame, schema_columns=schema)

    assert signature.input_names == ("age", "homeowner")
    assert signature.output == OutputSpec("regression")
    with pytest.raises(InvalidInputError, match="reads 2 columns by position but the schema"):
        infer_signature(model, frame, schema_columns=SCHEMA_COLUMNS)


def test_output_kinds(wine: Dataset, diabetes: Dataset) -> None:
    features, target = wine
    scaled = make_pipeline(StandardScaler(), RidgeClassifier()).fit(features, target)
    regressor = HistGradientBoostingRegressor(max_iter=5).fit(*diabetes)

    assert infer_signature(scaled, features).output == OutputSpec("class_label", (0, 1, 2))
    assert infer_signature(regressor, diabetes[0]).output == OutputSpec("regression")


def test_signature_of_a_loaded_model_equals_that_of_the_fitted_one(wine: Dataset) -> None:
    features, target = wine
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features, target)
    loaded = get_flavor("sklearn").load(get_flavor("sklearn").save(model))

    assert infer_signature(loaded, features) == infer_signature(model, features)


def test_lightgbm_feature_names_map_back_to_the_frame_columns(cancer: Dataset) -> None:
    lgb = pytest.importorskip("lightgbm", reason="lightgbm is not installed")
    features, target = cancer
    features = features.drop(columns=["size"])
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(features, target)

    signature = infer_signature(model, features)

    assert signature.input_names == tuple(features.columns)
    assert "mean radius" in signature.input_names


def test_to_dict_from_dict_round_trip_through_json() -> None:
    signature = Signature(
        inputs=(
            FieldSpec("region", "category", False, ("north", "south")),
            FieldSpec("income", "float", True),
        ),
        output=OutputSpec("probability", ("no", "yes")),
    )

    data = json.loads(json.dumps(signature.to_dict()))

    assert data["output"] == {"kind": "probability", "classes": ["no", "yes"]}
    assert Signature.from_dict(data) == signature


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inputs": "x"}, "needs a list of inputs and an output"),
        (
            {"inputs": [{"name": "a", "type": "decimal"}], "output": {"kind": "regression"}},
            "'a' has the unknown type 'decimal'",
        ),
        (
            {"inputs": [{"type": "float"}], "output": {"kind": "regression"}},
            "has no name",
        ),
        (
            {"inputs": [], "output": {"kind": "ranking"}},
            "unknown kind 'ranking'",
        ),
        (
            {
                "inputs": [{"name": "a", "type": "float"}, {"name": "a", "type": "float"}],
                "output": {"kind": "regression"},
            },
            "input 'a' twice",
        ),
        (
            {"inputs": [], "output": {"kind": "probability", "classes": "yes"}},
            "classes must be a list",
        ),
    ],
)
def test_from_dict_rejects_malformed_signatures(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Signature.from_dict(data)
