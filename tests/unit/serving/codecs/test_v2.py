"""The Open Inference Protocol V2, driven with real models and the real Triton client's
own request and response code."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from hypothesis import given
from hypothesis import strategies as st

from pathtolive.errors import InvalidInputError
from pathtolive.registry.signature import Signature
from pathtolive.serving.codecs.base import Prediction
from pathtolive.serving.codecs.v2 import (
    V2Request,
    decode_v2,
    encode_v2,
    v2_error,
    v2_model_metadata,
)
from tests.unit.serving.codecs.helpers import (
    CANCER_SIGNATURE,
    LOAN_SIGNATURE,
    MAX_ROWS,
    PROPERTY,
    Served,
    bodies,
    frame_of,
    json_body,
    predict,
    reference,
)

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


V2_OUT_OF_RANGE = [
    pytest.param(
        "age",
        "INT8",
        [41, 100_000],
        "element 1 is 100000, out of range for INT8 (-128 to 127)",
        id="int8",
    ),
    pytest.param(
        "age",
        "UINT64",
        [-5, 41],
        "element 0 is -5, out of range for UINT64 (0 to 18446744073709551615)",
        id="uint64",
    ),
    pytest.param(
        "age",
        "INT64",
        [41, 2**63],
        "element 1 is 9223372036854775808, out of range for INT64",
        id="int64",
    ),
    pytest.param(
        "income", "FP32", [1.0, 1e300], "element 1 is 1e+300, out of range for FP32", id="fp32"
    ),
    pytest.param(
        "income", "FP16", [-70_000, None], "element 0 is -70000, out of range for FP16", id="fp16"
    ),
]


@pytest.mark.parametrize(("column", "datatype", "data", "message"), V2_OUT_OF_RANGE)
def test_v2_json_values_out_of_their_datatypes_range_are_refused(
    loans: Served, column: str, datatype: str, data: list[Any], message: str
) -> None:
    # Before, INT8 100000 or UINT64 -5 went through as the number sent, FP32 1e300 too.
    _, _, signature = loans
    body = {"inputs": _loan_tensors(**{column: {"datatype": datatype, "data": data}})}

    with pytest.raises(InvalidInputError) as caught:
        decode_v2(orjson.dumps(body), None, signature, max_rows=MAX_ROWS)

    assert f"input tensor {column!r} ({datatype}): {message}" in str(caught.value)
    assert caught.value.http_status == 400


def test_v2_json_values_at_the_edges_of_their_datatypes_range_pass(loans: Served) -> None:
    _, _, signature = loans
    body = {
        "inputs": _loan_tensors(
            age={"datatype": "INT8", "data": [-128, 127]},
            income={"datatype": "FP32", "data": [3.0e38, None]},
        )
    }

    decoded = decode_v2(orjson.dumps(body), None, signature, max_rows=MAX_ROWS)

    assert decoded.batch.n_rows == 2


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


@PROPERTY
@given(value=bodies, tail=st.binary(max_size=24), signature=st.sampled_from(["loans", "cancer"]))
def test_any_json_to_v2_decodes_or_is_invalid_input(
    value: Any, tail: bytes, signature: str
) -> None:
    chosen = LOAN_SIGNATURE if signature == "loans" else CANCER_SIGNATURE
    body = json_body(value)
    for header_length in (None, len(body)):
        with contextlib.suppress(InvalidInputError):
            decode_v2(body + tail if header_length else body, header_length, chosen, max_rows=50)
