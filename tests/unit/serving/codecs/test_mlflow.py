"""MLflow scoring bodies, JSON and CSV, driven with real models, and MLflow's error
bodies."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pathtolive.errors import InvalidInputError, PayloadTooLargeError, UnsupportedFormatError
from pathtolive.serving.codecs.mlflow import decode_mlflow, encode_mlflow, mlflow_error
from tests.unit.serving.codecs.helpers import (
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
from tests.unit.serving.test_validation import records_of


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


@PROPERTY
@given(value=bodies, content_type=st.sampled_from([None, "application/json", "text/csv"]))
def test_any_json_to_mlflow_decodes_or_is_invalid_input(
    value: Any, content_type: str | None
) -> None:
    with contextlib.suppress(InvalidInputError):
        decode_mlflow(json_body(value), content_type, LOAN_SIGNATURE, max_rows=50)
