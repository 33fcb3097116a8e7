"""The ONNX flavor: scikit-learn models exported with skl2onnx predict as before, in both
input layouts, with their classes, and a graph that cannot read an input says so."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pathtolive.errors import InvalidInputError, MissingExtraError
from pathtolive.registry import (
    OnnxFlavor,
    build_explainer,
    declared_signature,
    flavor_for,
    infer_signature,
    output_spec,
)
from pathtolive.registry.explainers import OCCLUSION

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pathtolive[onnx])")
skl2onnx = pytest.importorskip("skl2onnx", reason="skl2onnx is not installed (dev)")
from skl2onnx.common.data_types import (  # noqa: E402 (after the skip)
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)

Dataset = tuple[pd.DataFrame, pd.Series]

ONNX = OnnxFlavor()


def _numeric(dataset: Dataset) -> Dataset:
    features, target = dataset
    return features.drop(columns=["size", "mean texture"], errors="ignore"), target


def _export(model: object, features: pd.DataFrame, **options: object) -> object:
    sample = features.to_numpy(dtype=np.float32)[:1]
    return skl2onnx.to_onnx(model, sample, options=options or None)


def _applicants(rows: int = 300) -> Dataset:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50_000, 15_000, rows),
            "region": rng.choice(["NE", "NW", "SE"], rows),
        }
    )
    return frame, ((frame["age"] > 40) ^ (frame["region"] == "NW")).astype(int)


def _by_column(features: pd.DataFrame, target: pd.Series) -> tuple[Pipeline, object]:
    """A pipeline on named columns, exported with one graph input per column."""
    pre = ColumnTransformer(
        [
            ("region", OneHotEncoder(handle_unknown="ignore"), ["region"]),
            ("numbers", StandardScaler(), ["age", "income"]),
        ]
    )
    pipeline = Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(features, target)
    graph = skl2onnx.to_onnx(
        pipeline,
        initial_types=[
            ("age", Int64TensorType([None, 1])),
            ("income", FloatTensorType([None, 1])),
            ("region", StringTensorType([None, 1])),
        ],
        options={"zipmap": False},
    )
    return pipeline, graph


def test_a_classifier_round_trips_as_its_onnx_bytes_and_predicts_as_scikit_learn(
    cancer: Dataset,
) -> None:
    features, target = _numeric(cancer)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, target)
    graph = _export(model, features, zipmap=False)

    data = ONNX.save(graph)
    loaded = ONNX.load(data)

    assert flavor_for(graph).name == "onnx"
    assert data == graph.SerializeToString(deterministic=True)  # type: ignore[attr-defined]
    assert loaded.classes == (0, 1)
    assert loaded.feature_names is None  # one [N, 30] tensor: columns by position
    assert loaded.metadata["layout"] == "tensor"
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(features), model.predict_proba(features), atol=1e-5
    )
    assert output_spec(graph).kind == "probability"
    assert ONNX.untrusted_types(data) == ()  # a graph holds no code to trust


def test_a_zipmap_output_and_string_labels_map_probabilities_to_the_classes(
    wine: Dataset,
) -> None:
    features, target = wine
    labels = target.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    forest.fit(features, labels)
    loaded = ONNX.wrap(_export(forest, features))  # skl2onnx's default: a ZipMap

    assert loaded.classes == ("barbera", "barolo", "grignolino")
    np.testing.assert_array_equal(loaded.predict(features), forest.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(features), forest.predict_proba(features), atol=1e-5
    )


def test_a_regressor_from_a_file_predicts_values(diabetes: Dataset, tmp_path: Path) -> None:
    features, target = diabetes
    model = Ridge().fit(features, target)
    path = tmp_path / "ridge.onnx"
    path.write_bytes(_export(model, features).SerializeToString())  # type: ignore[attr-defined]

    loaded = ONNX.load(ONNX.save(path))

    assert flavor_for(path).name == "onnx"
    assert ONNX.save(str(path)) == path.read_bytes()
    assert loaded.classes is None
    assert ONNX.predict_proba(loaded, features) is None
    np.testing.assert_allclose(loaded.predict(features), model.predict(features), rtol=1e-5)
    assert infer_signature(path, features).output.kind == "regression"


def test_one_input_per_column_gives_the_signature_names_and_types() -> None:
    features, target = _applicants()
    pipeline, graph = _by_column(features, target)

    loaded = ONNX.wrap(graph)
    declared = declared_signature(graph)

    assert loaded.feature_names == ("age", "income", "region")
    assert declared is not None
    assert [(f.name, f.type) for f in declared.inputs] == [
        ("age", "integer"),
        ("income", "float"),
        ("region", "string"),
    ]
    assert declared.output.classes == (0, 1)
    shuffled = features[["region", "income", "age"]]  # read by name, not position
    np.testing.assert_array_equal(loaded.predict(shuffled), pipeline.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(features), pipeline.predict_proba(features), atol=1e-5
    )


def test_a_schema_type_the_graph_cannot_read_is_refused_at_registration() -> None:
    features, target = _applicants()
    _, graph = _by_column(features, target)
    schema = [
        {"name": "age", "type": "string", "nullable": False},
        {"name": "income", "type": "float", "nullable": False},
        {"name": "region", "type": "category", "nullable": False, "categories": ["NE"]},
        {"name": "label", "type": "integer", "nullable": False, "tags": ["target"]},
    ]
    with pytest.raises(InvalidInputError, match="column 'age' is string but the ONNX graph"):
        infer_signature(graph, features, schema_columns=schema)
    schema[0]["type"] = "integer"
    signature = infer_signature(graph, features, schema_columns=schema)
    assert signature.input_names == ("age", "income", "region")
    assert signature.inputs[2].type == "category"  # the schema's type, which the graph takes


def test_wrong_input_is_refused_as_invalid_input(cancer: Dataset) -> None:
    features, target = _numeric(cancer)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, target)
    graph = _export(model, features)
    tensor = ONNX.wrap(graph)
    applicants, label = _applicants()
    by_column = ONNX.wrap(_by_column(applicants, label)[1])

    with pytest.raises(InvalidInputError, match="expects 29 columns"):
        tensor.predict(features.iloc[:, :5])
    with pytest.raises(InvalidInputError, match="cannot predict on this input"):
        tensor.predict(features.astype(object).assign(**{"mean radius": "big"}))
    with pytest.raises(InvalidInputError, match="lacks columns the model was fitted on: 'age'"):
        by_column.predict(applicants.drop(columns="age"))
    with pytest.raises(InvalidInputError, match="reads 29 columns by position but the sample"):
        infer_signature(graph, applicants)


def test_a_file_that_is_not_a_graph_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not an ONNX model"):
        ONNX.load(b"certainly not protobuf \xff\xfe")
    with pytest.raises(InvalidInputError, match="cannot read the ONNX file"):
        ONNX.save(tmp_path / "missing.onnx")
    with pytest.raises(InvalidInputError, match=r"cannot store a model of type builtins\.dict"):
        flavor_for({"not": "a model"})


def test_an_onnx_model_is_explained_by_occlusion_and_says_so() -> None:
    features, target = _applicants()
    _, graph = _by_column(features, target)
    loaded = ONNX.wrap(graph)

    explainer = build_explainer(loaded, features)
    explanation = explainer.explain(features.head(4))

    assert explainer.method == OCCLUSION
    assert "ONNX graph" in (getattr(explainer, "reason", None) or "")
    assert explanation.features == ("age", "income", "region")
    assert explanation.values.shape == (4, 3)
    assert explanation.output == "probability of class 1"
    np.testing.assert_allclose(
        explanation.predictions, loaded.predict_proba(features.head(4))[:, 1], atol=1e-6
    )


def _softmax_graph(width: int | str) -> object:
    """A graph as a deep-learning exporter writes one: ``x`` [N, 4] -> MatMul -> Softmax
    -> ``probs`` [N, width], no classifier operator and no label output."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", width])],
        [numpy_helper.from_array(weights, name="w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_lone_probability_output_is_a_classifier_of_classes_0_to_k() -> None:
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(5, 4)), columns=list("abcd"))
    loaded = ONNX.wrap(_softmax_graph(3))

    proba = loaded.predict_proba(rows)

    assert loaded.classes == (0, 1, 2)
    assert proba is not None
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(loaded.predict(rows), proba.argmax(axis=1))
    # The width the exporter left open is inferred by onnxruntime from the weights.
    assert ONNX.wrap(_softmax_graph("classes")).classes == (0, 1, 2)


def test_a_graph_read_as_a_regressor_that_answers_several_values_a_row_is_refused() -> None:
    from onnx import TensorProto, helper

    # Tile by the input's own shape: a width no inference can fix, so read as a regressor.
    graph = helper.make_graph(
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Tile", ["x", "shape"], ["y"]),
        ],
        "tile",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", "width"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    loaded = ONNX.wrap(model)

    assert loaded.classes is None
    with pytest.raises(InvalidInputError, match="answered 64 values for 2 rows"):
        loaded.predict(pd.DataFrame(np.ones((2, 4))))


@pytest.mark.parametrize("library", ["onnx", "onnxruntime"])
def test_without_the_extra_the_error_says_how_to_install_it(
    library: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _softmax_graph(3).SerializeToString()  # type: ignore[attr-defined]
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    monkeypatch.setitem(sys.modules, library, None)  # what an absent package looks like

    with pytest.raises(MissingExtraError, match=r"pip install 'pathtolive\[onnx\]'"):
        ONNX.load(data)
    with pytest.raises(MissingExtraError, match=f"needs {library}, which is not installed"):
        ONNX.save(path)


def test_a_metadata_property_names_the_classes_of_a_graph_without_labels() -> None:
    from onnx import helper

    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(5, 4)))
    graph = _softmax_graph(3)
    helper.set_model_props(graph, {"classes": '["low", "mid", "high"]'})

    loaded = ONNX.wrap(graph)

    assert loaded.classes == ("low", "mid", "high")
    proba = loaded.predict_proba(rows)
    assert proba is not None
    labels = np.asarray(["low", "mid", "high"])[proba.argmax(axis=1)]
    np.testing.assert_array_equal(loaded.predict(rows), labels)
    helper.set_model_props(graph, {"classes": '["low", "high"]'})
    with pytest.raises(InvalidInputError, match="names 2 classes but its probabilities have 3"):
        ONNX.wrap(graph)
