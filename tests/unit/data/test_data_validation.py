"""Validation against the data contract: every violation kind, files and frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pathtolive.data import formats as formats_module
from pathtolive.data import validation as validation_module
from pathtolive.data.canonical import to_canonical_parquet
from pathtolive.data.profiling import compute_profile, profile_frame
from pathtolive.data.schema import ColumnSchema, Schema
from pathtolive.data.validation import (
    ValidationReport,
    Violation,
    to_pandera,
    validate,
    validate_frame,
)
from pathtolive.errors import InvalidInputError

SCHEMA = Schema(
    (
        ColumnSchema("age", "integer", False, 18, 85),
        ColumnSchema("income", "float", False, 0.0, 1e6),
        ColumnSchema("grade", "category", False, categories=("A", "B", "C")),
        ColumnSchema("name", "string", True),
        ColumnSchema("approved", "boolean", False),
    )
)


def good_rows(count: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41, 18, 85, 60, 22][:count],
            "income": [1000.0, 2500.5, 0.0, 1e6, 42.0, 7.0][:count],
            "grade": ["A", "B", "C", "A", "B", "C"][:count],
            "name": ["ann", None, "cy", "dee", "ed", "flo"][:count],
            "approved": [True, False, True, True, False, True][:count],
        }
    )


def only(report: ValidationReport) -> Violation:
    assert len(report.violations) == 1, report.violations
    return report.violations[0]


def test_data_that_meets_the_contract_is_ok() -> None:
    report = validate_frame(good_rows(), SCHEMA)

    assert report == ValidationReport(True, 6, ())
    assert report.summary() == "6 rows meet the schema"


def test_values_above_the_maximum() -> None:
    frame = good_rows()
    frame["age"] = [91, 102, 130, 40, 91, 30]

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.column, violation.kind, violation.count) == ("age", "above_maximum", 4)
    assert violation.examples == ("91", "102", "130")
    assert violation.message == "column 'age': 4 values above the maximum 85 (e.g. 91, 102, 130)"


def test_values_below_the_minimum() -> None:
    frame = good_rows()
    frame.loc[2, "income"] = -5.5

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.kind, violation.count, violation.examples) == ("below_minimum", 1, ("-5.5",))
    assert violation.message == "column 'income': 1 value below the minimum 0 (e.g. -5.5)"


def test_nulls_where_none_are_allowed_name_their_rows() -> None:
    frame = good_rows()
    frame["grade"] = ["A", None, "B", None, "C", "A"]

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.column, violation.kind, violation.count) == ("grade", "null_not_allowed", 2)
    assert violation.examples == ("row 2", "row 4")
    assert "2 null values but the column is not nullable" in violation.message


def test_unseen_categories() -> None:
    frame = good_rows()
    frame["grade"] = ["A", "Z", "Z", "B", "Q", "C"]

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.kind, violation.count, violation.examples) == (
        "unseen_category",
        3,
        ("'Z'", "'Q'"),
    )
    assert "not among the allowed categories" in violation.message


def test_violations_of_private_columns_are_counted_without_any_value(tmp_path: Path) -> None:
    frame = good_rows()
    frame["age"] = [91, 102, 130, 40, 91, 30]
    frame["grade"] = ["A", "Z", None, "B", "Q", "C"]
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path, index=False)

    report = validate(path, SCHEMA, private={"age", "grade"})

    found = {(v.column, v.kind): v for v in report.violations}
    assert found[("age", "above_maximum")].count == 4
    assert found[("grade", "unseen_category")].count == 2
    assert found[("grade", "null_not_allowed")].examples == ("row 3",)  # rows, not values
    shown = json.dumps(report.to_dict()) + report.summary()
    for value in ("91", "102", "130", "85", "'Z'", "'Q'"):
        assert value not in shown
    # A report stored before the columns were PII is shown the same way.
    stored = validate(path, SCHEMA).withholding({"age", "grade"})
    assert [(v.column, v.kind, v.count) for v in stored.violations] == [
        (v.column, v.kind, v.count) for v in report.violations
    ]
    stored_text = json.dumps(stored.to_dict())
    for value in ("91", "102", "130", "85", "'Z'", "'Q'"):
        assert value not in stored_text


def test_missing_and_extra_columns_are_reported_once() -> None:
    frame = good_rows().drop(columns=["name"]).assign(extra=1)

    report = validate_frame(frame, SCHEMA)

    assert [(v.column, v.kind, v.count) for v in report.violations] == [
        ("name", "missing_column", 6),
        ("extra", "extra_column", 6),
    ]
    assert report.violations[0].message == "column 'name' is missing; the schema requires it"
    assert report.violations[1].message == "column 'extra' is not in the schema"


def test_a_changed_type_is_reported_once_with_examples() -> None:
    frame = good_rows()
    frame["age"] = ["thirty", "41", "x", "y", "z", "w"]

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.kind, violation.count) == ("type_changed", 6)
    assert violation.message.startswith("column 'age': expected integer, found string (e.g. ")
    assert len(violation.examples) == 5


def test_nan_and_infinity_are_not_nulls() -> None:
    frame = good_rows()
    frame["income"] = [1.0, np.inf, 3.0, -np.inf, 5.0, 6.0]

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.kind, violation.count) == ("nan_or_infinite", 2)
    assert set(violation.examples) == {"inf", "-inf"}


def test_nan_and_infinity_are_allowed_in_a_nullable_float_column(tmp_path: Path) -> None:
    schema = Schema((ColumnSchema("x", "float", True, 0.0, 1.0),))
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"x": [0.5, float("nan"), float("inf"), None]}), path)

    assert validate(path, schema).ok


def test_integers_are_valid_floats() -> None:
    frame = good_rows()
    frame["income"] = [1, 2, 3, 4, 5, 6]

    assert validate_frame(frame, SCHEMA).ok


def test_whole_floats_are_valid_integers() -> None:
    frame = good_rows()
    frame["age"] = [30.0, 41.0, 18.0, 85.0, 60.0, 22.0]

    assert validate_frame(frame, SCHEMA).ok


def test_fractions_where_integers_are_expected() -> None:
    frame = good_rows()
    frame["age"] = [30.5, 41.0, np.nan, 85.0, 60.25, 22.0]

    report = validate_frame(frame, SCHEMA)

    assert [(v.kind, v.count, v.examples) for v in report.violations] == [
        ("type_changed", 2, ("30.5", "60.25")),
        ("null_not_allowed", 1, ("row 3",)),
    ]
    assert report.violations[0].message == (
        "column 'age': expected integer, found 2 non-whole numbers (e.g. 30.5, 60.25)"
    )


def test_a_column_without_any_value_meets_a_nullable_contract() -> None:
    frame = good_rows()
    frame["name"] = [None] * 6

    assert validate_frame(frame, SCHEMA).ok


def test_a_column_without_any_value_breaks_a_non_nullable_one() -> None:
    frame = good_rows()
    frame["approved"] = pd.Series([None] * 6, dtype=object)

    violation = only(validate_frame(frame, SCHEMA))

    assert (violation.column, violation.kind, violation.count) == (
        "approved",
        "null_not_allowed",
        6,
    )


def test_datetime_columns_accept_any_date_or_timestamp(tmp_path: Path) -> None:
    schema = Schema((ColumnSchema("at", "datetime", False),))
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"at": pa.array([1, 2], pa.date32())}), path)
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)})

    assert validate(path, schema).ok
    assert validate_frame(frame, schema).ok
    assert only(validate_frame(pd.DataFrame({"at": ["2024-01-01"]}), schema)).kind == (
        "type_changed"
    )


def test_dictionary_and_unsigned_columns(tmp_path: Path) -> None:
    schema = Schema(
        (
            ColumnSchema("g", "category", False, categories=("a", "b")),
            ColumnSchema("u", "integer", False, 0, 10),
        )
    )
    path = tmp_path / "d.parquet"
    table = pa.table(
        {
            "g": pa.array(["a", "b", "c"]).dictionary_encode(),
            "u": pa.array([1, 2, 2**64 - 1], pa.uint64()),
        }
    )
    pq.write_table(table, path)

    report = validate(path, schema)

    assert [(v.column, v.kind, v.count) for v in report.violations] == [
        ("g", "unseen_category", 1),
        ("u", "above_maximum", 1),
    ]


def test_counts_add_up_across_batches_and_rows_are_global(
    monkeypatch: pytest.MonkeyPatch, work_dir: Path
) -> None:
    monkeypatch.setattr(formats_module, "BATCH_ROWS", 7)
    frame = pd.concat([good_rows()] * 10, ignore_index=True)
    frame.loc[[3, 25, 58], "grade"] = None
    frame.loc[frame.index % 4 == 0, "age"] = 99
    path = to_canonical_parquet(frame, work_dir).path

    report = validate(path, SCHEMA, max_examples=2)

    high, nulls = report.violations
    assert (high.column, high.kind, high.count) == ("age", "above_maximum", 15)
    assert (nulls.column, nulls.kind, nulls.count) == ("grade", "null_not_allowed", 3)
    assert nulls.examples == ("row 4", "row 26")
    assert [v.kind for v in report.violations] == ["above_maximum", "null_not_allowed"]


def test_violations_are_ordered_by_column_then_kind() -> None:
    frame = good_rows()
    frame["approved"] = [True, None, True, True, False, True]
    frame["age"] = [10, 99, 30, None, 30, 30]

    report = validate_frame(frame, SCHEMA)

    assert [(v.column, v.kind) for v in report.violations] == [
        ("age", "null_not_allowed"),
        ("age", "below_minimum"),
        ("age", "above_maximum"),
        ("approved", "null_not_allowed"),
    ]
    assert report.summary().startswith("4 schema violations in 6 rows: column 'age': 1 null")
    assert report.summary().endswith("; and 1 more")


def test_a_profile_gives_the_same_report(work_dir: Path) -> None:
    frame = pd.concat([good_rows()] * 3, ignore_index=True)
    frame.loc[4, "age"] = 200
    frame.loc[5, "grade"] = "Z"
    frame.loc[7, "income"] = None
    canonical = to_canonical_parquet(frame, work_dir)

    with_profile = validate(canonical.path, SCHEMA, compute_profile(canonical.path))

    assert with_profile == validate(canonical.path, SCHEMA)
    assert not with_profile.ok


def test_a_profile_that_proves_the_data_clean_skips_the_row_pass(
    work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canonical = to_canonical_parquet(good_rows(), work_dir)
    profile = compute_profile(canonical.path)

    def no_row_pass(*args: object) -> None:
        raise AssertionError("the row-level pass ran")

    monkeypatch.setattr(validation_module._Validator, "_row_pass", no_row_pass)

    assert validate(canonical.path, SCHEMA, profile).ok


def test_the_profile_must_be_of_the_same_file(work_dir: Path) -> None:
    canonical = to_canonical_parquet(good_rows(), work_dir)

    with pytest.raises(InvalidInputError, match="the profile describes 3 rows but the file has 6"):
        validate(canonical.path, SCHEMA, profile_frame(good_rows(3)))


def test_reports_round_trip_through_json() -> None:
    frame = good_rows()
    frame["age"] = [10, 99, 30, None, 30, 30]
    report = validate_frame(frame, SCHEMA)

    text = json.dumps(report.to_dict(), allow_nan=False)

    assert ValidationReport.from_dict(json.loads(text)) == report


def test_to_pandera_builds_the_row_level_checks() -> None:
    checks = to_pandera(SCHEMA, coerce=True)

    assert isinstance(checks, pandera.DataFrameSchema)
    assert checks.strict is True
    assert set(checks.columns) == set(SCHEMA.names)
    assert checks.columns["name"].nullable
    checks.validate(good_rows())
    bad = good_rows().assign(age=[1, 30, 30, 30, 30, 30])
    with pytest.raises(pandera.errors.SchemaErrors):
        checks.validate(bad, lazy=True)


def test_soft_bounds_and_warned_categories_report_without_failing() -> None:
    soft = Schema(
        tuple(column.softened() if column.name == "age" else column for column in SCHEMA.columns)
    )
    frame = good_rows()
    frame["age"] = [91, 30, 30, 40, 30, 30]
    frame["income"] = [-1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    frame["grade"] = ["A", "Z", "B", "B", "C", "A"]

    strict = validate_frame(frame, soft)
    lenient = validate_frame(frame, soft, unseen_categories="warn")

    checks = {(v.column, v.kind): v.check for v in strict.violations}
    assert checks == {
        ("age", "above_maximum"): "soft",
        ("income", "below_minimum"): "hard",
        ("grade", "unseen_category"): "hard",
    }
    assert not strict.ok
    assert "observed maximum 85" in strict.violations[0].message
    assert strict.summary().startswith("2 schema violations in 6 rows (and 1 soft finding)")
    assert {v.column for v in lenient.hard} == {"income"}
    assert {v.column for v in lenient.soft} == {"age", "grade"}
    frame["income"] = 2.0
    assert validate_frame(frame, soft, unseen_categories="warn").ok
    # Stored reports round-trip the check; a report stored before checks had one is hard.
    again = ValidationReport.from_dict(json.loads(json.dumps(strict.to_dict())))
    assert again == strict
    legacy = strict.to_dict()
    for violation in legacy["violations"]:
        del violation["check"]
    assert all(v.hard for v in ValidationReport.from_dict(legacy).violations)
