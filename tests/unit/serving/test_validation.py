"""Request rows checked against a real model's signature, and turned into its frame."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from pathtolive.errors import InvalidInputError, PayloadTooLargeError
from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import FieldSpec, OutputSpec, Signature, infer_signature
from pathtolive.registry.validation import validate_columns, validate_records

MAX_ROWS = 10_000


def loan_frame(rows: int = 240) -> tuple[pd.DataFrame, pd.Series]:
    """Loan applications: an integer, a float with gaps, a category with known values, a
    boolean and a free-text string column; the target is whether the loan went bad."""
    rng = np.random.default_rng(11)
    income = rng.normal(50_000, 9_000, rows)
    income[rng.random(rows) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": income,
            "region": pd.Categorical(rng.choice(["NE", "NW", "SE", "SW"], rows)),
            "homeowner": rng.random(rows) < 0.4,
            "employer": pd.Series(rng.choice(["acme", "globex", "initech"], rows), dtype=object),
        }
    )
    target = pd.Series((frame["age"] > 45) ^ frame["homeowner"], name="defaulted").astype(int)
    return frame, target


def loan_model(frame: pd.DataFrame, target: pd.Series) -> Pipeline:
    """A real pipeline: one-hot encoded categories, imputed and scaled numbers."""
    preprocess = ColumnTransformer(
        [
            ("labels", OneHotEncoder(handle_unknown="ignore"), ["region", "employer"]),
            (
                "numbers",
                make_pipeline(SimpleImputer(), StandardScaler()),
                ["age", "income", "homeowner"],
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("model", LogisticRegression())]).fit(
        frame, target
    )


def cancer_frame() -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's breast cancer set: thirty float columns."""
    features, target = load_breast_cancer(as_frame=True, return_X_y=True)
    return features, target


def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as a JSON client sends them."""
    records: list[dict[str, Any]] = orjson.loads(frame.to_json(orient="records"))
    return records


@pytest.fixture(scope="module")
def loans() -> tuple[pd.DataFrame, Pipeline, Signature]:
    frame, target = loan_frame()
    model = loan_model(frame, target)
    return frame, model, infer_signature(model, frame)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, Pipeline, Signature]:
    frame, target = cancer_frame()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(frame, target)
    return frame, model, infer_signature(model, frame)


def test_the_loan_signature_has_every_field_type_the_tests_need(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    _, _, signature = loans
    assert {field.name: (field.type, field.nullable) for field in signature.inputs} == {
        "region": ("category", False),
        "employer": ("string", False),
        "age": ("integer", False),
        "income": ("float", True),
        "homeowner": ("boolean", False),
    }
    assert signature.input_names == ("age", "income", "region", "homeowner", "employer")
    assert signature.inputs[2].categories == ("NE", "NW", "SE", "SW")


def test_records_round_trip_to_the_frame_the_model_was_fitted_on(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, model, signature = loans
    reference = frame[list(signature.input_names)].reset_index(drop=True)

    batch = validate_records(records_of(reference), signature, max_rows=MAX_ROWS)
    rebuilt = to_frame([batch], signature)

    assert batch.n_rows == len(reference)
    assert list(batch.columns) == list(signature.input_names)
    pd.testing.assert_frame_equal(rebuilt, reference)
    np.testing.assert_array_equal(model.predict(rebuilt), model.predict(reference))
    np.testing.assert_allclose(model.predict_proba(rebuilt), model.predict_proba(reference))


def test_columns_round_trip_and_a_single_row_too(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, model, signature = loans
    reference = frame[list(signature.input_names)]
    columns = orjson.loads(reference.to_json(orient="columns"))
    as_lists = {name: list(values.values()) for name, values in columns.items()}

    rebuilt = to_frame(
        [validate_columns(as_lists, len(reference), signature, max_rows=MAX_ROWS)], signature
    )
    single = to_frame(
        [validate_records(records_of(reference.iloc[[7]]), signature, max_rows=MAX_ROWS)],
        signature,
    )

    pd.testing.assert_frame_equal(rebuilt, reference)
    pd.testing.assert_frame_equal(single, reference.iloc[[7]].reset_index(drop=True))
    assert model.predict(single)[0] == model.predict(reference.iloc[[7]])[0]


def test_all_float_signature_from_breast_cancer(
    cancer: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, model, signature = cancer
    assert {field.type for field in signature.inputs} == {"float"}
    head = frame.head(25)

    batch = validate_records(records_of(head), signature, max_rows=MAX_ROWS)

    pd.testing.assert_frame_equal(to_frame([batch], signature), head)
    np.testing.assert_array_equal(model.predict(to_frame([batch], signature)), model.predict(head))


def test_numpy_columns_are_coerced_to_the_field_types(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    _, _, signature = loans
    columns = {
        "region": np.array(["NE", "SW"]),
        "employer": np.array(["acme", "globex"], dtype=object),
        "age": np.array([30.0, 41.0], dtype=np.float32),
        "income": np.array([1, 2], dtype=np.int32),
        "homeowner": np.array([True, False]),
    }

    frame = to_frame([validate_columns(columns, 2, signature, max_rows=MAX_ROWS)], signature)

    assert frame["age"].tolist() == [30, 41]
    assert frame["age"].dtype == np.int64
    assert frame["income"].dtype == np.float64
    assert frame["region"].tolist() == ["NE", "SW"]


def test_integral_floats_are_integers_and_integers_are_floats(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    _, _, signature = loans
    record = {
        "region": "NE",
        "employer": "acme",
        "age": 41.0,
        "income": 52_000,
        "homeowner": True,
    }

    frame = to_frame([validate_records([record], signature, max_rows=MAX_ROWS)], signature)

    assert frame["age"].tolist() == [41]
    assert frame["age"].dtype == np.int64
    assert frame["income"].tolist() == [52_000.0]


def test_a_nullable_column_takes_null_or_may_be_left_out_of_a_record(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    _, model, signature = loans
    full = {"region": "NE", "employer": "acme", "age": 41, "income": None, "homeowner": True}
    short = {key: value for key, value in full.items() if key != "income"}

    frame = to_frame([validate_records([full, short], signature, max_rows=MAX_ROWS)], signature)

    assert frame["income"].isna().all()
    assert len(model.predict(frame)) == 2


Mutation = Callable[[list[dict[str, Any]]], Any]


def _set(row: int, column: str, value: Any) -> Mutation:
    def mutate(records: list[dict[str, Any]]) -> Any:
        records[row][column] = value
        return records

    return mutate


def _drop(row: int, column: str) -> Mutation:
    def mutate(records: list[dict[str, Any]]) -> Any:
        del records[row][column]
        return records

    return mutate


RECORD_ERRORS = [
    pytest.param(
        _set(3, "age", "forty"),
        "column 'age', row 3: expected an integer, got the string \"forty\"",
        id="string-for-integer",
    ),
    pytest.param(
        _set(1, "age", True), "column 'age', row 1: expected an integer", id="bool-for-integer"
    ),
    pytest.param(
        _set(2, "age", 4.5),
        "column 'age', row 2: expected an integer, got the number 4.5",
        id="fraction-for-integer",
    ),
    pytest.param(
        _set(0, "age", 2**70), "column 'age', row 0: the integer", id="integer-out-of-range"
    ),
    pytest.param(
        _set(0, "age", None),
        "column 'age', row 0: null is not allowed (the column is not nullable)",
        id="null-in-non-nullable",
    ),
    pytest.param(
        _set(4, "income", False), "column 'income', row 4: expected a number", id="bool-for-float"
    ),
    pytest.param(
        _set(1, "income", math.nan),
        "column 'income', row 1: NaN/Infinity is not a valid value; send null for a missing",
        id="nan-for-float",
    ),
    pytest.param(
        _set(1, "income", -math.inf),
        "column 'income', row 1: NaN/Infinity is not a valid value",
        id="infinity-for-float",
    ),
    pytest.param(
        _set(2, "income", [1.0]), "column 'income', row 2: expected a number, got a list", id="list"
    ),
    pytest.param(
        _set(2, "homeowner", "yes"),
        "column 'homeowner', row 2: expected a boolean (true or false), got the string \"yes\"",
        id="string-for-boolean",
    ),
    pytest.param(
        _set(0, "homeowner", 1), "column 'homeowner', row 0: expected a boolean", id="1-for-bool"
    ),
    pytest.param(
        _set(2, "region", "XX"),
        "column 'region', row 2: unseen category \"XX\"; known: NE, NW, SE, SW",
        id="unseen-category",
    ),
    pytest.param(
        _set(3, "region", 7),
        "column 'region', row 3: expected a string, got the integer 7",
        id="number-for-category",
    ),
    pytest.param(
        _set(1, "employer", {"name": "acme"}),
        "column 'employer', row 1: expected a string, got an object",
        id="object-for-string",
    ),
    pytest.param(
        _set(4, "foo", 1),
        "row 4: unknown column 'foo'; the model reads: age, income, region, homeowner, employer",
        id="unknown-column",
    ),
    pytest.param(
        _drop(2, "region"),
        "row 2: missing column 'region' (the model reads: age, income, region, homeowner",
        id="missing-column",
    ),
    pytest.param(
        lambda records: [*records[:2], ["NE", "acme", 41, 1.0, True]],
        "row 2 is a list, not an object",
        id="row-not-an-object",
    ),
    pytest.param(lambda records: [], "the batch is empty: send at least one row", id="empty"),
]


@pytest.mark.parametrize(("mutate", "message"), RECORD_ERRORS)
def test_bad_records_name_the_column_the_row_and_the_problem(
    loans: tuple[pd.DataFrame, Pipeline, Signature], mutate: Mutation, message: str
) -> None:
    frame, _, signature = loans
    records = mutate(records_of(frame.head(5)))

    with pytest.raises(InvalidInputError) as caught:
        validate_records(records, signature, max_rows=MAX_ROWS)

    assert type(caught.value) is InvalidInputError
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_batch_over_the_row_limit_is_payload_too_large(
    cancer: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, _, signature = cancer
    records = records_of(frame.head(21))

    with pytest.raises(PayloadTooLargeError) as caught:
        validate_records(records, signature, max_rows=20)

    assert str(caught.value) == "the batch has 21 rows, over the limit of 20; split it"
    assert caught.value.http_status == 413


def test_column_errors_name_the_column(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, _, signature = loans
    good = {name: frame[name].head(3).tolist() for name in signature.input_names}
    good["region"] = [str(value) for value in good["region"]]

    with pytest.raises(InvalidInputError, match=r"^unknown column 'foo'; the model reads: "):
        validate_columns({**good, "foo": [1, 2, 3]}, 3, signature, max_rows=MAX_ROWS)
    without = {name: values for name, values in good.items() if name != "region"}
    with pytest.raises(InvalidInputError, match=r"^missing column 'region' \(the model reads: "):
        validate_columns(without, 3, signature, max_rows=MAX_ROWS)
    with pytest.raises(InvalidInputError, match="column 'age' has 2 values but the batch has 3"):
        validate_columns({**good, "age": [1, 2]}, 3, signature, max_rows=MAX_ROWS)
    with pytest.raises(InvalidInputError, match=r"column 'income', row 1: NaN/Infinity"):
        validate_columns(
            {**good, "income": np.array([1.0, np.inf, 2.0])}, 3, signature, max_rows=MAX_ROWS
        )
    with pytest.raises(InvalidInputError, match=r"column 'age', row 2: expected an integer, got"):
        validate_columns(
            {**good, "age": np.array([1.0, 2.0, 2.5])}, 3, signature, max_rows=MAX_ROWS
        )
    with pytest.raises(InvalidInputError, match=r"column 'income', row 0: expected a number, got"):
        validate_columns(
            {**good, "income": np.array([True, False, True])}, 3, signature, max_rows=MAX_ROWS
        )


def test_a_long_list_of_columns_is_cut_short_in_messages(
    cancer: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, _, signature = cancer
    record = records_of(frame.head(1))[0]
    record["extra"] = 1.0

    with pytest.raises(InvalidInputError, match=r"unknown column 'extra'.* and 10 more$"):
        validate_records([record], signature, max_rows=MAX_ROWS)


def test_unseen_categories_pass_under_the_allow_policy_as_plain_strings(
    loans: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, model, signature = loans
    records = records_of(frame.head(3))
    records[1]["region"] = "XX"

    batch = validate_records(records, signature, unseen_categories="allow", max_rows=MAX_ROWS)
    rebuilt = to_frame([batch], signature)

    assert rebuilt["region"].dtype == object
    assert rebuilt["region"].tolist()[1] == "XX"
    assert len(model.predict_proba(rebuilt)) == 3  # the encoder ignores the unknown value


def test_the_fast_and_the_slow_paths_agree(
    cancer: tuple[pd.DataFrame, Pipeline, Signature],
) -> None:
    frame, _, signature = cancer
    records = records_of(frame.head(4))
    mixed = [dict(record) for record in records]
    mixed[2]["mean radius"] = round(mixed[2]["mean radius"])  # ints in a float column
    nulls_elsewhere = [dict(record) for record in records]

    fast = to_frame([validate_records(records, signature, max_rows=MAX_ROWS)], signature)
    slow = to_frame([validate_records(mixed, signature, max_rows=MAX_ROWS)], signature)
    same = to_frame([validate_records(nulls_elsewhere, signature, max_rows=MAX_ROWS)], signature)

    assert slow["mean radius"].iloc[2] == round(frame["mean radius"].iloc[2])
    pd.testing.assert_frame_equal(
        fast.drop(columns="mean radius"), slow.drop(columns="mean radius")
    )
    pd.testing.assert_frame_equal(fast, same)


NULLABLE = Signature(
    inputs=(
        FieldSpec("count", "integer", nullable=True),
        FieldSpec("flag", "boolean", nullable=True),
        FieldSpec("kind", "category", nullable=True, categories=("a", "b")),
        FieldSpec("note", "string", nullable=True),
        FieldSpec("at", "datetime", nullable=True),
    ),
    output=OutputSpec(kind="regression"),
)


def test_nulls_give_pandas_nullable_dtypes() -> None:
    records = [
        {"count": 1, "flag": True, "kind": "a", "note": "x", "at": "2024-03-01T10:00:00"},
        {"count": None, "flag": None, "kind": None, "note": None, "at": None},
    ]

    frame = to_frame([validate_records(records, NULLABLE, max_rows=MAX_ROWS)], NULLABLE)

    assert str(frame["count"].dtype) == "Int64"
    assert str(frame["flag"].dtype) == "boolean"
    assert isinstance(frame["kind"].dtype, pd.CategoricalDtype)
    assert list(frame["kind"].cat.categories) == ["a", "b"]
    assert frame["note"].dtype == object
    assert frame["at"].dtype == np.dtype("datetime64[ns]")
    assert frame.iloc[1].isna().all()


def test_several_batches_make_one_frame_in_order() -> None:
    first = validate_records(
        [{"count": 1, "flag": True, "kind": "a", "note": "x", "at": "2024-03-01"}],
        NULLABLE,
        max_rows=MAX_ROWS,
    )
    second = validate_records(
        [
            {"count": 2, "flag": False, "kind": "b", "note": "y", "at": "2024-03-02"},
            {"count": None, "flag": True, "kind": None, "note": "z", "at": None},
        ],
        NULLABLE,
        max_rows=MAX_ROWS,
    )

    frame = to_frame([first, second], NULLABLE)

    assert frame["count"].tolist() == [1, 2, pd.NA]
    assert str(frame["count"].dtype) == "Int64"
    assert frame["flag"].tolist() == [True, False, True]
    assert frame["kind"].tolist()[:2] == ["a", "b"]
    assert frame["note"].tolist() == ["x", "y", "z"]
    assert list(frame.index) == [0, 1, 2]


def test_datetimes_keep_their_offset_as_utc_or_stay_naive() -> None:
    aware = validate_records(
        [
            {"count": 1, "flag": True, "kind": "a", "note": "x", "at": "2024-03-01T10:00:00+02:00"},
            {"count": 1, "flag": True, "kind": "a", "note": "x", "at": "2024-03-01T10:00:00Z"},
        ],
        NULLABLE,
        max_rows=MAX_ROWS,
    )

    frame = to_frame([aware], NULLABLE)

    assert str(frame["at"].dtype) == "datetime64[ns, UTC]"
    assert frame["at"].tolist() == [
        pd.Timestamp("2024-03-01T08:00:00Z"),
        pd.Timestamp("2024-03-01T10:00:00Z"),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tomorrow", 'expected an ISO-8601 date-time string, got the string "tomorrow"'),
        (20240301, "expected an ISO-8601 date-time string, got the integer 20240301"),
    ],
)
def test_bad_datetimes_are_named(value: Any, message: str) -> None:
    records = [{"count": 1, "flag": True, "kind": "a", "note": "x", "at": value}]

    with pytest.raises(InvalidInputError, match=f"column 'at', row 0: {message}"):
        validate_records(records, NULLABLE, max_rows=MAX_ROWS)


def test_mixing_offsets_and_naive_datetimes_in_a_batch_is_refused() -> None:
    base = {"count": 1, "flag": True, "kind": "a", "note": "x"}
    records = [{**base, "at": "2024-03-01T10:00:00Z"}, {**base, "at": "2024-03-01T10:00:00"}]

    with pytest.raises(InvalidInputError, match=r"column 'at', row 1: .* lacks a UTC offset"):
        validate_records(records, NULLABLE, max_rows=MAX_ROWS)


def test_input_batch_is_a_frozen_value() -> None:
    batch = validate_records(
        [{"count": 1, "flag": True, "kind": "a", "note": "x", "at": None}],
        NULLABLE,
        max_rows=MAX_ROWS,
    )

    assert isinstance(batch, InputBatch)
    with pytest.raises(AttributeError):
        batch.n_rows = 3  # type: ignore[misc]
