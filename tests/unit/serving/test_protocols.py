"""The three prediction protocols, driven with real models and the real Triton client's
own request and response code."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from pathtolive.errors import InvalidInputError, PayloadTooLargeError, UnsupportedFormatError
from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import Signature, infer_signature
from pathtolive.serving.protocols import (
    Prediction,
    V2Request,
    decode_mlflow,
    decode_v1,
    decode_v2,
    encode_mlflow,
    encode_v1,
    encode_v2,
    mlflow_error,
    v2_error,
    v2_model_metadata,
)
from tests.unit.serving.test_validation import cancer_frame, loan_frame, loan_model, records_of

MAX_ROWS = 10_000
Served = tuple[pd.DataFrame, Pipeline, Signature]


@pytest.fixture(scope="module")
def loans() -> Served:
    frame, target = loan_frame()
    model = loan_model(frame, target)
    signature = infer_signature(model, frame)
    return frame[list(signature.input_names)].head(8), model, signature


@pytest.fixture(scope="module")
def cancer() -> Served:
    frame, target = cancer_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, target)
    return frame.head(10), model, infer_signature(model, frame)


@pytest.fixture(scope="module")
def wine() -> Served:
    """Three classes with string labels."""
    features, target = load_wine(as_frame=True, return_X_y=True)
    labels = target.map({0: "barolo", 1: "grignolino", 2: "barbera"})
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)
    return features.head(6), model, infer_signature(model, features)


@pytest.fixture(scope="module")
def diabetes() -> Served:
    features, target = load_diabetes(as_frame=True, return_X_y=True)
    model = make_pipeline(Ridge()).fit(features, target)
    return features.head(6), model, infer_signature(model, features)


def predict(model: Pipeline, frame: pd.DataFrame, signature: Signature) -> Prediction:
    """The server's way: labels, and probabilities for a probability model."""
    if signature.output.kind == "probability":
        classes = signature.output.classes
        assert classes is not None
        return Prediction(
            labels=np.asarray(model.predict(frame)),
            probabilities=np.asarray(model.predict_proba(frame)),
            classes=classes,
        )
    return Prediction(labels=np.asarray(model.predict(frame)), probabilities=None, classes=None)


def frame_of(batch: InputBatch, signature: Signature) -> pd.DataFrame:
    return to_frame([batch], signature)


def reference(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True)


# --- KServe V1 -------------------------------------------------------------------------


def _v1_bodies(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    records = records_of(frame)
    rows = [list(record.values()) for record in records]
    columns = {name: [record[name] for record in records] for name in frame.columns}
    return {
        "instances-records": {"instances": records},
        "inputs-records": {"inputs": records},
        "instances-rows": {"instances": rows},
        "inputs-columns": {"inputs": columns},
    }


@pytest.mark.parametrize(
    "shape", ["instances-records", "inputs-records", "instances-rows", "inputs-columns"]
)
def test_v1_every_shape_decodes_to_the_reference_frame(loans: Served, shape: str) -> None:
    frame, model, signature = loans
    body = orjson.dumps(_v1_bodies(frame)[shape])

    decoded = frame_of(decode_v1(body, signature, max_rows=MAX_ROWS), signature)

    pd.testing.assert_frame_equal(decoded, reference(frame))
    np.testing.assert_array_equal(model.predict(decoded), model.predict(frame))


def test_v1_answers_probabilities_in_class_order(loans: Served) -> None:
    frame, model, signature = loans
    decoded = frame_of(
        decode_v1(orjson.dumps({"instances": records_of(frame)}), signature, max_rows=MAX_ROWS),
        signature,
    )

    answer = orjson.loads(encode_v1(predict(model, decoded, signature), signature))

    np.testing.assert_allclose(answer["predictions"], model.predict_proba(frame))
    assert len(answer["predictions"][0]) == len(signature.output.classes or ())


def test_v1_answers_values_for_a_regressor_and_labels_without_probabilities(
    diabetes: Served, wine: Served
) -> None:
    frame, model, signature = diabetes
    answer = orjson.loads(encode_v1(predict(model, frame, signature), signature))
    np.testing.assert_allclose(answer["predictions"], model.predict(frame))

    frame, model, signature = wine
    labels = np.asarray(model.predict(frame), dtype=object)
    as_labels = Prediction(labels=labels, probabilities=None, classes=None)
    assert orjson.loads(encode_v1(as_labels, signature))["predictions"] == labels.tolist()


V1_ERRORS = [
    pytest.param(b'{"instances": [', "the body is not valid JSON", id="truncated"),
    pytest.param(
        b'{"instances": [{"age": NaN}]}',
        "NaN and Infinity are not JSON: send null for a missing value",
        id="nan-literal",
    ),
    pytest.param(b"[1, 2]", "the body must be a JSON object, not a list", id="list-body"),
    pytest.param(b'{"instances": [], "inputs": []}', "exactly one of", id="both"),
    pytest.param(b"{}", "exactly one of", id="neither"),
    pytest.param(b'{"instance": []}', "unknown key 'instance'", id="typo"),
    pytest.param(b'{"instances": []}', "the batch is empty", id="empty"),
    pytest.param(b'{"instances": [1, 2]}', "a list of objects", id="scalars"),
    pytest.param(b'{"instances": 3}', "a list of objects", id="number"),
    pytest.param(
        b'{"instances": [[41, 1.0, "NE", true, "acme"], [41, 1.0]]}',
        "row 1 has 2 values but there are 5 columns in the model reads (age, income",
        id="short-row",
    ),
    pytest.param(
        b'{"instances": [[41, 1.0, "NE", true, "acme"], {"age": 3}]}',
        "row 1 is an object; send every row as a list of values",
        id="mixed-rows",
    ),
    pytest.param(b'{"inputs": {"age": 3}}', "column 'age' must be a list of values", id="scalar"),
    pytest.param(
        b'{"inputs": {"age": [1, 2], "income": [1.0]}}',
        "column 'income' has 1 values but the first column has 2",
        id="ragged-columns",
    ),
    pytest.param(
        b'{"instances": [{"age": "forty", "income": 1.0, "region": "NE", "homeowner": true, '
        b'"employer": "acme"}]}',
        "column 'age', row 0: expected an integer, got the string \"forty\"",
        id="bad-value",
    ),
]


@pytest.mark.parametrize(("body", "message"), V1_ERRORS)
def test_v1_bad_bodies_say_what_is_wrong(loans: Served, body: bytes, message: str) -> None:
    _, _, signature = loans

    with pytest.raises(InvalidInputError) as caught:
        decode_v1(body, signature, max_rows=MAX_ROWS)

    assert message in str(caught.value)


def test_v1_batches_over_the_limit_are_refused_before_the_model(cancer: Served) -> None:
    frame, _, signature = cancer

    with pytest.raises(PayloadTooLargeError, match="over the limit of 4"):
        decode_v1(orjson.dumps({"instances": records_of(frame)}), signature, max_rows=4)


# --- MLflow scoring --------------------------------------------------------------------


def _mlflow_bodies(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    split = orjson.loads(frame.to_json(orient="split"))
    return {
        "split": {"dataframe_split": split},
        "split-no-index": {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        "records": {"dataframe_records": records_of(frame)},
        "instances": {"instances": records_of(frame)},
        "inputs": {
            "inputs": {
                name: orjson.loads(frame[name].to_json(orient="records")) for name in frame.columns
            }
        },
    }


@pytest.mark.parametrize("shape", ["split", "split-no-index", "records", "instances", "inputs"])
def test_mlflow_json_shapes_decode_to_the_reference_frame(loans: Served, shape: str) -> None:
    frame, model, signature = loans
    body = orjson.dumps(_mlflow_bodies(frame)[shape])

    batch, params = decode_mlflow(body, "application/json", signature, max_rows=MAX_ROWS)

    assert params == {}
    decoded = frame_of(batch, signature)
    pd.testing.assert_frame_equal(decoded, reference(frame))
    np.testing.assert_array_equal(model.predict(decoded), model.predict(frame))


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json", "application/json; charset=utf-8"]
)
def test_mlflow_json_is_the_default_and_params_come_back(
    cancer: Served, content_type: str | None
) -> None:
    frame, _, signature = cancer
    body = orjson.dumps({"dataframe_records": records_of(frame), "params": {"threshold": 0.3}})

    batch, params = decode_mlflow(body, content_type, signature, max_rows=MAX_ROWS)

    assert params == {"threshold": 0.3}
    pd.testing.assert_frame_equal(frame_of(batch, signature), reference(frame))


@pytest.mark.parametrize("content_type", ["text/csv", "text/csv; charset=utf-8"])
def test_mlflow_csv_decodes_to_the_reference_frame(loans: Served, content_type: str) -> None:
    frame, model, signature = loans
    assert frame["income"].isna().any()  # empty cells that must come back as nulls
    body = frame.to_csv(index=False).encode()

    batch, params = decode_mlflow(body, content_type, signature, max_rows=MAX_ROWS)

    decoded = frame_of(batch, signature)
    assert params == {}
    pd.testing.assert_frame_equal(decoded, reference(frame))
    np.testing.assert_array_equal(model.predict(decoded), model.predict(frame))


def test_mlflow_csv_columns_may_come_in_any_order_and_booleans_in_any_case(loans: Served) -> None:
    _, _, signature = loans
    text = "employer,homeowner,region,income,age\nacme,TRUE,NE,1.5,41\nglobex,false,SW,,42.0\n"

    batch, _ = decode_mlflow(text.encode(), "text/csv", signature, max_rows=MAX_ROWS)

    decoded = frame_of(batch, signature)
    assert decoded["homeowner"].tolist() == [True, False]
    assert decoded["age"].tolist() == [41, 42]
    assert decoded["income"].isna().tolist() == [False, True]


CSV_HEADER = "age,income,region,homeowner,employer\n"
CSV_ERRORS = [
    pytest.param(
        CSV_HEADER + "41,1.0,NE,true,acme\nforty,1.0,NE,true,acme\n",
        "column 'age', row 1: expected an integer, got the string \"forty\"",
        id="word-for-integer",
    ),
    pytest.param(
        CSV_HEADER + "41,nan,NE,true,acme\n",
        "column 'income', row 0: NaN/Infinity is not a valid value",
        id="nan",
    ),
    pytest.param(
        CSV_HEADER + "41,inf,NE,true,acme\n", "column 'income', row 0: NaN/Infinity", id="inf"
    ),
    pytest.param(
        CSV_HEADER + ",1.0,NE,true,acme\n",
        "column 'age', row 0: null is not allowed",
        id="empty-integer",
    ),
    pytest.param(
        CSV_HEADER + "41,1.0,NE,yes,acme\n",
        "column 'homeowner', row 0: expected a boolean (true or false), got the string \"yes\"",
        id="yes",
    ),
    pytest.param(
        CSV_HEADER + "41,1.0,NE,true\n", "CSV row 0 has 4 cells but the header has 5", id="ragged"
    ),
    pytest.param("age,age\n1,2\n", "the CSV header lists column 'age' twice", id="twice"),
    pytest.param(
        CSV_HEADER.strip() + ",foo\n41,1.0,NE,true,acme,1\n", "unknown column 'foo'", id="extra"
    ),
    pytest.param("", "the CSV body is empty", id="empty"),
    pytest.param(CSV_HEADER, "the batch is empty", id="header-only"),
]


@pytest.mark.parametrize(("text", "message"), CSV_ERRORS)
def test_mlflow_bad_csv_names_the_problem(loans: Served, text: str, message: str) -> None:
    _, _, signature = loans

    with pytest.raises(InvalidInputError) as caught:
        decode_mlflow(text.encode(), "text/csv", signature, max_rows=MAX_ROWS)

    assert message in str(caught.value)


MLFLOW_ERRORS = [
    pytest.param(b'{"dataframe_records": [], "instances": []}', "several input keys", id="both"),
    pytest.param(b'{"params": {}}', "no input keys", id="none"),
    pytest.param(b'{"dataframe_record": []}', "unknown key 'dataframe_record'", id="typo"),
    pytest.param(b'{"dataframe_records": {}}', "must be a list of objects", id="records-object"),
    pytest.param(b'{"dataframe_split": []}', '"dataframe_split" must be an object', id="split"),
    pytest.param(
        b'{"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}}',
        "row 0 has 2 values but there are 1 columns",
        id="split-row",
    ),
    pytest.param(
        b'{"dataframe_split": {"columns": ["age", "age"], "data": [[1, 2]]}}',
        "lists column 'age' twice",
        id="split-twice",
    ),
    pytest.param(
        b'{"dataframe_split": {"data": [], "orient": "split"}}', "unknown key 'orient'", id="orient"
    ),
    pytest.param(
        b'{"dataframe_records": [{"age": 1}], "params": [1]}',
        '"params" must be an object',
        id="params",
    ),
    pytest.param(
        b'{"dataframe_records": [{"age": 1, "income": 1.0, "region": "NE", "homeowner": true,'
        b' "employer": "acme"}, 3]}',
        "row 1 is the integer 3, not an object",
        id="record-not-object",
    ),
]


@pytest.mark.parametrize(("body", "message"), MLFLOW_ERRORS)
def test_mlflow_bad_json_bodies_say_what_is_wrong(loans: Served, body: bytes, message: str) -> None:
    _, _, signature = loans

    with pytest.raises(InvalidInputError) as caught:
        decode_mlflow(body, "application/json", signature, max_rows=MAX_ROWS)

    assert message in str(caught.value)


def test_mlflow_other_content_types_are_unsupported(loans: Served) -> None:
    _, _, signature = loans

    with pytest.raises(UnsupportedFormatError) as caught:
        decode_mlflow(b"x", "application/x-parquet", signature, max_rows=MAX_ROWS)

    assert str(caught.value) == (
        "content type 'application/x-parquet' is not supported; send application/json or text/csv"
    )
    assert caught.value.http_status == 415


def test_mlflow_answers_and_errors_as_mlflow_does(loans: Served) -> None:
    frame, model, signature = loans

    answer = orjson.loads(encode_mlflow(predict(model, frame, signature), signature))

    np.testing.assert_allclose(answer["predictions"], model.predict_proba(frame))
    assert orjson.loads(mlflow_error(InvalidInputError("bad row"))) == {
        "error_code": "BAD_REQUEST",
        "message": "bad row",
    }
    assert orjson.loads(mlflow_error(PayloadTooLargeError("big")))["error_code"] == "BAD_REQUEST"
    assert orjson.loads(mlflow_error(UnsupportedFormatError("csv?")))["error_code"] == "BAD_REQUEST"
    assert orjson.loads(mlflow_error(RuntimeError("boom"))) == {
        "error_code": "INTERNAL_ERROR",
        "message": "boom",
    }


# --- Open Inference Protocol V2 --------------------------------------------------------

V2_TYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}
NUMPY_TYPES = {"integer": np.int64, "float": np.float64, "boolean": np.bool_}


def _v2_json_inputs(frame: pd.DataFrame, signature: Signature) -> list[dict[str, Any]]:
    columns = orjson.loads(frame.to_json(orient="columns"))
    return [
        {
            "name": field.name,
            "shape": [len(frame)],
            "datatype": V2_TYPES.get(field.type, "BYTES"),
            "data": list(columns[field.name].values()),
        }
        for field in signature.inputs
    ]


def test_v2_json_tensors_per_column_decode_to_the_reference_frame(loans: Served) -> None:
    frame, model, signature = loans
    body = orjson.dumps({"id": "r-1", "inputs": _v2_json_inputs(frame, signature)})

    request = decode_v2(body, None, signature, max_rows=MAX_ROWS)

    assert isinstance(request, V2Request)
    assert request.request_id == "r-1"
    assert request.requested_outputs == [("predict", False), ("predict_proba", False)]
    decoded = frame_of(request.batch, signature)
    pd.testing.assert_frame_equal(decoded, reference(frame))
    np.testing.assert_array_equal(model.predict(decoded), model.predict(frame))


def test_v2_column_tensors_may_be_n_by_1_and_nested(loans: Served) -> None:
    frame, _, signature = loans
    inputs = _v2_json_inputs(frame, signature)
    for tensor in inputs:
        tensor["shape"] = [len(frame), 1]
        tensor["data"] = [[value] for value in tensor["data"]]

    request = decode_v2(orjson.dumps({"inputs": inputs}), None, signature, max_rows=MAX_ROWS)

    pd.testing.assert_frame_equal(frame_of(request.batch, signature), reference(frame))


def test_v2_one_matrix_tensor_serves_an_all_number_model(cancer: Served) -> None:
    frame, model, signature = cancer
    matrix = frame.to_numpy()
    flat = {
        "name": "x",
        "shape": list(matrix.shape),
        "datatype": "FP64",
        "data": matrix.ravel().tolist(),
    }
    nested = {**flat, "data": matrix.tolist()}

    for tensor in (flat, nested):
        request = decode_v2(orjson.dumps({"inputs": [tensor]}), None, signature, max_rows=MAX_ROWS)
        decoded = frame_of(request.batch, signature)
        pd.testing.assert_frame_equal(decoded, reference(frame))
        np.testing.assert_array_equal(model.predict(decoded), model.predict(frame))


def _triton_inputs(frame: pd.DataFrame, signature: Signature, *, binary: bool) -> list[Any]:
    inputs = []
    for field in signature.inputs:
        if field.type in V2_TYPES:
            array = frame[field.name].to_numpy(dtype=NUMPY_TYPES[field.type])
        else:
            array = np.array([str(value) for value in frame[field.name]], dtype=object)
        tensor = triton.InferInput(field.name, [len(frame)], V2_TYPES.get(field.type, "BYTES"))
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return inputs


def test_v2_binary_tensors_from_tritonclient_round_trip(loans: Served) -> None:
    frame, model, signature = loans
    body, json_size = triton.InferenceServerClient.generate_request_body(
        _triton_inputs(frame, signature, binary=True), request_id="r-7"
    )
    assert json_size is not None
    assert json_size < len(body)

    request = decode_v2(body, json_size, signature, max_rows=MAX_ROWS)
    decoded = frame_of(request.batch, signature)
    pd.testing.assert_frame_equal(decoded, reference(frame))
    # The client asks for every output in binary when it names none.
    assert request.requested_outputs == [("predict", True), ("predict_proba", True)]

    response, header_length = encode_v2(
        predict(model, decoded, signature),
        signature,
        model_name="loans",
        model_version="3",
        request_id=request.request_id,
        requested_outputs=request.requested_outputs,
    )
    assert header_length is not None
    result = triton.InferResult.from_response_body(response, header_length=header_length)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(frame))
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(frame))
    assert result.get_response()["id"] == "r-7"
    assert result.get_response()["model_version"] == "3"


def test_v2_nan_in_a_binary_float_tensor_is_null_only_where_null_is_allowed(
    loans: Served,
) -> None:
    frame, _, signature = loans
    inputs = _triton_inputs(frame.head(2), signature, binary=True)
    inputs[1].set_data_from_numpy(np.array([np.nan, 2.0]), binary_data=True)  # income
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)

    decoded = frame_of(decode_v2(body, json_size, signature, max_rows=MAX_ROWS).batch, signature)
    assert decoded["income"].isna().tolist() == [True, False]

    inputs[1].set_data_from_numpy(np.array([np.inf, 2.0]), binary_data=True)
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
    with pytest.raises(InvalidInputError, match="column 'income', row 0: NaN/Infinity"):
        decode_v2(body, json_size, signature, max_rows=MAX_ROWS)

    age = triton.InferInput("age", [2], "FP64")  # age is an integer and not nullable
    age.set_data_from_numpy(np.array([41.0, np.nan]), binary_data=True)
    body, json_size = triton.InferenceServerClient.generate_request_body([age, *inputs[1:]])
    with pytest.raises(InvalidInputError, match="column 'age', row 1: NaN/Infinity"):
        decode_v2(body, json_size, signature, max_rows=MAX_ROWS)


def test_v2_json_and_binary_inputs_mix_and_outputs_follow_the_request(wine: Served) -> None:
    frame, model, signature = wine
    inputs = _triton_inputs(frame, signature, binary=False)
    binary = _triton_inputs(frame, signature, binary=True)
    mixed = [binary[i] if i % 2 else inputs[i] for i in range(len(inputs))]
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=True),
        triton.InferRequestedOutput("predict_proba", binary_data=False),
    ]
    body, json_size = triton.InferenceServerClient.generate_request_body(mixed, outputs=outputs)

    request = decode_v2(body, json_size, signature, max_rows=MAX_ROWS)
    decoded = frame_of(request.batch, signature)
    pd.testing.assert_frame_equal(decoded, reference(frame))
    assert request.requested_outputs == [("predict", True), ("predict_proba", False)]

    response, header_length = encode_v2(
        predict(model, decoded, signature),
        signature,
        model_name="wine",
        model_version="1",
        request_id=None,
        requested_outputs=request.requested_outputs,
    )
    result = triton.InferResult.from_response_body(response, header_length=header_length)
    labels = result.as_numpy("predict")
    assert [label.decode() for label in labels] == model.predict(frame).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(frame))
    assert "id" not in result.get_response()


def test_v2_json_answers_parse_with_tritonclient(wine: Served, diabetes: Served) -> None:
    frame, model, signature = wine
    labels = np.asarray(signature.output.classes, dtype=object)[
        model.predict_proba(frame).argmax(axis=1)
    ]  # labels as the server picks them: an object array of the classes
    prediction = Prediction(
        labels=labels, probabilities=model.predict_proba(frame), classes=signature.output.classes
    )

    response, header_length = encode_v2(
        prediction, signature, model_name="wine", model_version="2", request_id="a"
    )

    assert header_length is None
    result = triton.InferResult.from_response_body(response)
    assert result.get_output("predict")["datatype"] == "BYTES"
    assert result.as_numpy("predict").tolist() == model.predict(frame).tolist()
    assert result.as_numpy("predict_proba").shape == (len(frame), 3)

    frame, model, signature = diabetes
    response, _ = encode_v2(
        predict(model, frame, signature), signature, model_name="d", model_version="1"
    )
    result = triton.InferResult.from_response_body(response)
    assert result.get_output("predict")["datatype"] == "FP64"
    assert result.as_numpy("predict_proba") is None
    np.testing.assert_allclose(result.as_numpy("predict"), model.predict(frame))


def test_v2_integer_labels_are_int64_in_binary(cancer: Served) -> None:
    frame, model, signature = cancer
    response, header_length = encode_v2(
        predict(model, frame, signature),
        signature,
        model_name="c",
        model_version="1",
        requested_outputs=[("predict", True)],
    )

    result = triton.InferResult.from_response_body(response, header_length=header_length)
    assert result.get_output("predict")["datatype"] == "INT64"
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(frame))
    assert result.as_numpy("predict_proba") is None


def _tensor(
    name: str, datatype: str, data: list[Any], shape: list[int] | None = None
) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


def _loan_tensors(**changes: dict[str, Any]) -> list[dict[str, Any]]:
    tensors = {
        "age": _tensor("age", "INT64", [41, 52]),
        "income": _tensor("income", "FP64", [1.0, None]),
        "region": _tensor("region", "BYTES", ["NE", "SW"]),
        "homeowner": _tensor("homeowner", "BOOL", [True, False]),
        "employer": _tensor("employer", "BYTES", ["acme", "acme"]),
    }
    for name, change in changes.items():
        tensors[name] = {**tensors.get(name, {}), **change}
    return [tensor for tensor in tensors.values() if tensor]


V2_ERRORS = [
    pytest.param(
        {"inputs": _loan_tensors(age={"datatype": "BYTES", "data": ["41", "52"]})},
        "input tensor 'age' has datatype BYTES but column 'age' is integer; send INT64",
        id="bytes-for-integer",
    ),
    pytest.param(
        {"inputs": _loan_tensors(homeowner={"datatype": "INT8", "data": [1, 0]})},
        "input tensor 'homeowner' has datatype INT8 but column 'homeowner' is boolean; send BOOL",
        id="int-for-boolean",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"data": [41, "x"]})},
        "input tensor 'age' (INT64): element 1 is the string \"x\"; a INT64 tensor holds integers",
        id="string-in-int-tensor",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"data": [41, 52, 60]})},
        "input tensor 'age': shape [2] holds 2 values but data has 3",
        id="data-length",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"data": [41, 52, 60], "shape": [3]})},
        "input tensor 'income' has 2 rows but 'age' has 3; every tensor needs one value per row",
        id="row-counts",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"shape": [1, 2]})},
        "input tensor 'age' must have shape [rows] or [rows, 1], not [1, 2]",
        id="wide-column",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={})[1:]},
        "missing input tensor 'age' (the model reads: age, income",
        id="missing",
    ),
    pytest.param(
        {"inputs": [*_loan_tensors(), _tensor("nope", "FP64", [1.0, 2.0])]},
        "unknown input tensor 'nope'; send one tensor per column",
        id="unknown-tensor",
    ),
    pytest.param(
        {"inputs": [_tensor("x", "FP64", [1.0] * 10, [2, 5])]},
        "a single [rows, columns] tensor serves only models whose inputs are all numbers",
        id="matrix-for-mixed-model",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"datatype": "INT128"})},
        "input tensor 'age': unknown datatype 'INT128'",
        id="datatype",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"shape": [-2]})},
        "input tensor 'age': shape must be a list of non-negative integers",
        id="shape",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"data": None})},
        "input tensor 'age' has no data",
        id="no-data",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"data": None, "parameters": {"binary_data_size": 16}})},
        "input tensor 'age' has binary_data_size but the request has no "
        "Inference-Header-Content-Length",
        id="binary-without-header",
    ),
    pytest.param(
        {"inputs": _loan_tensors(age={"parameters": {"shared_memory_region": "r"}})},
        "shared memory is not supported",
        id="shared-memory",
    ),
    pytest.param({"inputs": []}, '"inputs" must be a non-empty list', id="no-inputs"),
    pytest.param(
        {"inputs": _loan_tensors(), "outputs": [{"name": "scores"}]},
        "unknown output 'scores'; this model answers: predict, predict_proba",
        id="unknown-output",
    ),
    pytest.param(
        {
            "inputs": _loan_tensors(),
            "outputs": [{"name": "predict", "parameters": {"classification": 2}}],
        },
        "the classification extension is not supported",
        id="classification",
    ),
    pytest.param({"inputs": _loan_tensors(), "id": 3}, '"id" must be a string', id="id"),
    pytest.param(
        {"inputs": _loan_tensors(), "model": "x"}, "unknown key 'model'", id="unknown-key"
    ),
    pytest.param(
        {"inputs": _loan_tensors(income={"data": [1.0, "NaN"]})},
        "input tensor 'income' (FP64): element 1 is the string \"NaN\"",
        id="nan-string",
    ),
    pytest.param(
        {"inputs": _loan_tensors(region={"data": ["NE", "XX"]})},
        "column 'region', row 1: unseen category \"XX\"",
        id="unseen",
    ),
]


@pytest.mark.parametrize(("request_body", "message"), V2_ERRORS)
def test_v2_bad_requests_name_the_tensor_and_the_problem(
    loans: Served, request_body: dict[str, Any], message: str
) -> None:
    _, _, signature = loans

    with pytest.raises(InvalidInputError) as caught:
        decode_v2(orjson.dumps(request_body), None, signature, max_rows=MAX_ROWS)

    assert message in str(caught.value)


def test_v2_binary_sizes_must_add_up(cancer: Served) -> None:
    frame, _, signature = cancer
    tensor = triton.InferInput("x", list(frame.shape), "FP64")
    tensor.set_data_from_numpy(frame.to_numpy(), binary_data=True)
    body, json_size = triton.InferenceServerClient.generate_request_body([tensor])
    assert json_size is not None

    with pytest.raises(InvalidInputError, match="binary_data_size is 2400 but only 2399 bytes"):
        decode_v2(body[:-1], json_size, signature, max_rows=MAX_ROWS)
    with pytest.raises(InvalidInputError, match="2401 bytes follow the JSON header but the"):
        decode_v2(body + b"\0", json_size, signature, max_rows=MAX_ROWS)
    with pytest.raises(InvalidInputError, match="Inference-Header-Content-Length is 99999"):
        decode_v2(body, 99_999, signature, max_rows=MAX_ROWS)
    with pytest.raises(InvalidInputError, match="the body is not valid JSON"):
        decode_v2(body, json_size - 1, signature, max_rows=MAX_ROWS)


def test_v2_binary_bytes_and_bools_are_checked(loans: Served) -> None:
    frame, _, signature = loans
    inputs = _triton_inputs(frame.head(2), signature, binary=True)
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
    assert json_size is not None
    header = orjson.loads(body[:json_size])
    raw = bytearray(body[json_size:])
    # The BOOL tensor is the fourth; put a 2 in its first byte.
    offset = sum(tensor["parameters"]["binary_data_size"] for tensor in header["inputs"][:3])
    raw[offset] = 2

    with pytest.raises(InvalidInputError, match="input tensor 'homeowner': a BOOL tensor holds"):
        decode_v2(body[:json_size] + bytes(raw), json_size, signature, max_rows=MAX_ROWS)

    region = triton.InferInput("region", [2], "BYTES")
    region.set_data_from_numpy(np.array([b"NE", b"\xff\xfe"], dtype=object), binary_data=True)
    inputs[2] = region
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
    with pytest.raises(InvalidInputError, match="input tensor 'region': element 1 is not UTF-8"):
        decode_v2(body, json_size, signature, max_rows=MAX_ROWS)


def test_v2_unknown_requested_output_in_encode(loans: Served) -> None:
    frame, model, signature = loans

    with pytest.raises(InvalidInputError, match="unknown output 'scores'"):
        encode_v2(
            predict(model, frame, signature),
            signature,
            model_name="loans",
            model_version="1",
            requested_outputs=[("scores", False)],
        )


def test_v2_metadata_and_errors(loans: Served, diabetes: Served) -> None:
    _, _, signature = loans

    metadata = v2_model_metadata("loans", ["1", "2"], signature)

    assert metadata == {
        "name": "loans",
        "versions": ["1", "2"],
        "platform": "pathtolive",
        "inputs": [
            {"name": "age", "datatype": "INT64", "shape": [-1]},
            {"name": "income", "datatype": "FP64", "shape": [-1]},
            {"name": "region", "datatype": "BYTES", "shape": [-1]},
            {"name": "homeowner", "datatype": "BOOL", "shape": [-1]},
            {"name": "employer", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
        ],
    }
    assert v2_model_metadata("d", ["1"], diabetes[2])["outputs"] == [
        {"name": "predict", "datatype": "FP64", "shape": [-1]}
    ]
    assert orjson.loads(v2_error("bad tensor")) == {"error": "bad tensor"}


# --- any JSON: a decoded batch or an InvalidInputError, never anything else -------------

KEYS = [
    "instances",
    "inputs",
    "outputs",
    "params",
    "dataframe_split",
    "dataframe_records",
    "columns",
    "data",
    "index",
    "name",
    "shape",
    "datatype",
    "parameters",
    "id",
    "binary_data_size",
    "binary_data",
    "binary_data_output",
    "age",
    "income",
    "region",
    "homeowner",
    "employer",
]
DATATYPES = ["BOOL", "INT8", "INT64", "UINT64", "FP16", "FP32", "FP64", "BYTES", "x"]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(["NE", "acme", "2024-03-01", "1.5", "", *DATATYPES])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=30,
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["age", "income", "region", "homeowner", "employer", "x"]),
        "shape": st.lists(st.integers(min_value=-1, max_value=3), max_size=3),
        "datatype": st.sampled_from(DATATYPES),
        "data": json_values,
    },
    optional={"parameters": json_values},
)
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4) | st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=5)}, optional={"outputs": json_values, "id": json_values}
)


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()  # the stdlib writes NaN and huge integers, too


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(value=bodies)
def test_any_json_to_v1_decodes_or_is_invalid_input(value: Any) -> None:
    signature = _LOAN_SIGNATURE
    with contextlib.suppress(InvalidInputError):
        decode_v1(_body(value), signature, max_rows=50)


@PROPERTY
@given(value=bodies, content_type=st.sampled_from([None, "application/json", "text/csv"]))
def test_any_json_to_mlflow_decodes_or_is_invalid_input(
    value: Any, content_type: str | None
) -> None:
    with contextlib.suppress(InvalidInputError):
        decode_mlflow(_body(value), content_type, _LOAN_SIGNATURE, max_rows=50)


@PROPERTY
@given(value=bodies, tail=st.binary(max_size=24), signature=st.sampled_from(["loans", "cancer"]))
def test_any_json_to_v2_decodes_or_is_invalid_input(
    value: Any, tail: bytes, signature: str
) -> None:
    chosen = _LOAN_SIGNATURE if signature == "loans" else _CANCER_SIGNATURE
    body = _body(value)
    for header_length in (None, len(body)):
        with contextlib.suppress(InvalidInputError):
            decode_v2(body + tail if header_length else body, header_length, chosen, max_rows=50)


def _signatures() -> tuple[Signature, Signature]:
    frame, target = loan_frame(60)
    loans = infer_signature(loan_model(frame, target), frame)
    features, labels = cancer_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    cancer = infer_signature(model.fit(features.head(60), labels.head(60)), features)
    return loans, cancer


_LOAN_SIGNATURE, _CANCER_SIGNATURE = _signatures()
