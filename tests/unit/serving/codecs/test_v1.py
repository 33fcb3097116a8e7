"""KServe V1 bodies, driven with real models."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given

from pathtolive.errors import InvalidInputError, PayloadTooLargeError
from pathtolive.serving.codecs.base import Prediction
from pathtolive.serving.codecs.v1 import decode_v1, encode_v1
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


@PROPERTY
@given(value=bodies)
def test_any_json_to_v1_decodes_or_is_invalid_input(value: Any) -> None:
    signature = LOAN_SIGNATURE
    with contextlib.suppress(InvalidInputError):
        decode_v1(json_body(value), signature, max_rows=50)
