"""Step outputs as bytes: exact round trips, the same bytes for the same value, no
pickle, and a clear refusal of what cannot be stored."""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import namedtuple
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.errors import InvalidInputError, UntrustedModelError
from pathtolive.pipelines import dumps, loads
from pathtolive.registry import LoadedModel


def _manifest(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest: dict[str, Any] = json.loads(archive.read("manifest.json"))
        return manifest


def test_a_frame_keeps_its_index_columns_and_types(cancer_frame: pd.DataFrame) -> None:
    frame = cancer_frame.sample(frac=0.5, random_state=0)  # a shuffled, gappy index
    frame["size"] = np.where(frame["mean radius"] > 14, "large", "small")
    frame["grade"] = pd.Categorical(np.where(frame["target"] == 1, "b", "m"))
    frame["seen"] = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(
        np.arange(len(frame)), unit="h"
    )

    back = loads(dumps(frame))

    pd.testing.assert_frame_equal(back, frame)
    assert list(back.index[:5]) == list(frame.index[:5])


def test_a_frame_with_a_range_index_comes_back_with_one(wine_frame: pd.DataFrame) -> None:
    back = loads(dumps(wine_frame))

    pd.testing.assert_frame_equal(back, wine_frame)
    assert isinstance(back.index, pd.RangeIndex)


def test_a_series_keeps_its_name_and_index(cancer_frame: pd.DataFrame) -> None:
    series = cancer_frame["mean radius"].iloc[10:20]

    pd.testing.assert_series_equal(loads(dumps(series)), series)
    unnamed = pd.Series([1.5, np.nan], index=["a", "b"])
    pd.testing.assert_series_equal(loads(dumps(unnamed)), unnamed)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([True, False]),
        np.array(["a", "bc"]),
        np.array([np.nan, np.inf, -0.0]),
        np.zeros((0, 3), dtype=np.int64),
    ],
    ids=["float32-2d", "bool", "unicode", "non-finite", "empty"],
)
def test_arrays_round_trip_exactly(array: np.ndarray) -> None:
    back = loads(dumps(array))

    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_numpy_scalars_keep_their_type() -> None:
    for value in (np.float64(0.1), np.int32(-7), np.bool_(True), np.float32(2.5)):
        back = loads(dumps(value))
        assert type(back) is type(value)
        assert back == value


def test_floats_are_exact_and_may_be_nan() -> None:
    values = [0.1 + 0.2, 1e-300, 2.0**60 + 1, -0.0, math.inf, -math.inf]

    back = loads(dumps(values))

    assert back == values
    assert math.copysign(1.0, back[3]) == -1.0
    assert math.isnan(loads(dumps(math.nan)))


def test_nested_containers_keep_their_shapes(wine_frame: pd.DataFrame) -> None:
    value = (
        wine_frame.head(3),
        [1, 2.5, "three", None, True],
        {"weights": (np.ones(2), None), 7: b"\x00raw", None: ()},
    )

    back = loads(dumps(value))

    assert type(back) is tuple
    assert len(back) == 3
    pd.testing.assert_frame_equal(back[0], wine_frame.head(3))
    assert back[1] == [1, 2.5, "three", None, True]
    assert list(back[2]) == ["weights", 7, None]  # keys and their order
    np.testing.assert_array_equal(back[2]["weights"][0], np.ones(2))
    assert back[2]["weights"][1] is None
    assert back[2][7] == b"\x00raw"
    assert back[2][None] == ()


def test_the_same_value_gives_the_same_bytes(wine_frame: pd.DataFrame) -> None:
    features, target = wine_frame.drop(columns=["target"]), wine_frame["target"]
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, target)
    value = (model, wine_frame, {"accuracy": 0.9, "classes": [0, 1, 2]}, np.arange(5))

    first = dumps(value)

    assert dumps(value) == first
    assert dumps(loads(first)) == first  # what was loaded stores the same again


def test_models_predict_identically_after_a_round_trip(wine_frame: pd.DataFrame) -> None:
    features, target = wine_frame.drop(columns=["target"]), wine_frame["target"]
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    for model in (logistic.fit(features, target), forest.fit(features, target)):
        back = loads(dumps(model))
        assert type(back) is type(model)
        np.testing.assert_array_equal(back.predict_proba(features), model.predict_proba(features))


def test_a_lightgbm_wrapper_comes_back_as_a_loaded_model(wine_frame: pd.DataFrame) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    features, target = wine_frame.drop(columns=["target"]), wine_frame["target"]
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(features, target)

    data = dumps(model)
    back = loads(data)

    # Stored as its booster in LightGBM's own format: it predicts the same on frames.
    assert isinstance(back, LoadedModel)
    assert back.classes == (0, 1, 2)
    probabilities = back.predict_proba(features)
    assert probabilities is not None
    np.testing.assert_allclose(probabilities, model.predict_proba(features))
    assert dumps(model) == data


def test_a_fitted_transformer_is_a_storable_output(wine_frame: pd.DataFrame) -> None:
    features = wine_frame.drop(columns=["target"])
    scaler = StandardScaler().fit(features)

    back = loads(dumps(scaler))

    np.testing.assert_array_equal(back.transform(features), scaler.transform(features))


def test_types_recorded_at_save_are_trusted_and_others_need_naming(
    wine_frame: pd.DataFrame,
) -> None:
    features, target = wine_frame.drop(columns=["target"]), wine_frame["target"]
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, target)
    data = dumps(forest)

    (node,) = [_manifest(data)["root"]]
    assert node["kind"] == "model"
    assert node["flavor"] == "sklearn"
    assert node["untrusted_types"] == ["sklearn.tree._tree.Tree"]
    assert isinstance(loads(data), RandomForestClassifier)
    with pytest.raises(UntrustedModelError):
        loads(data, trusted=[])
    assert isinstance(loads(data, trusted=["sklearn.tree._tree.Tree"]), RandomForestClassifier)


def test_no_member_is_a_pickle(wine_frame: pd.DataFrame) -> None:
    features, target = wine_frame.drop(columns=["target"]), wine_frame["target"]
    model = LogisticRegression(max_iter=5000).fit(features, target)
    data = dumps((model, features, np.arange(3), {"a": 1}))

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    assert names == ["manifest.json", "0.model", "1.parquet", "2.npy"]
    assert b"\x80\x04\x95" not in data  # the opening of a protocol-4 pickle


Point = namedtuple("Point", "x y")


class Opaque:
    """Something no flavor knows."""


def _self_containing() -> list[Any]:
    value: list[Any] = [1]
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("value", "start"),
    [
        (lambda x: x, "a function, which pathtolive cannot store: return DataFrames"),
        (Opaque(), "a tests.unit.pipelines.test_pipelines_serialize.Opaque, which"),
        (Point(1, 2), "a tests.unit.pipelines.test_pipelines_serialize.Point, which"),
        ({1, 2}, "a set, which"),
        ([1, {"inner": {3}}], "a set (at [1]['inner']), which"),
        ({(1, 2): "pair"}, "a tuple (a dict key), which pathtolive cannot store (keys must"),
        (np.array([{}, 1], dtype=object), "a numpy.ndarray, which pathtolive cannot store "),
        (_self_containing(), "a list (at [1]), which pathtolive cannot store (it contains"),
        (pd.DataFrame({"mixed": [1, "x"]}), "a pandas.DataFrame, which pathtolive cannot st"),
    ],
    ids=[
        "lambda",
        "object",
        "namedtuple",
        "set",
        "nested-set",
        "tuple-key",
        "object-array",
        "cycle",
        "mixed-column",
    ],
)
def test_what_cannot_be_stored_is_refused_clearly(value: object, start: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        dumps(value, origin="step 'make' returned")

    assert str(caught.value).startswith(f"step 'make' returned {start}")
    assert str(caught.value).endswith(
        "return DataFrames, arrays, numbers, strings, dicts/lists/tuples of them, or a fitted model"
    )


def test_bytes_that_are_no_step_output_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not a pathtolive step output"):
        loads(b"not a zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        manifest = {"format": "pathtolive.value", "version": 9, "root": {"kind": "json"}}
        archive.writestr("manifest.json", json.dumps(manifest))
    newer = buffer.getvalue()
    with pytest.raises(InvalidInputError, match="format version 9"):
        loads(newer)
