"""Schema inference, tags, change classification and accepting a new schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pandas as pd
import pytest

from pathtolive.data.formats import table_from_frame
from pathtolive.data.profiling import profile_frame
from pathtolive.data.schema import (
    ColumnSchema,
    Schema,
    SchemaChange,
    check_tags,
    classify_change,
    infer_schema,
    merge_accepting,
)
from pathtolive.errors import InvalidInputError, NotFoundError


def infer(
    frame: pd.DataFrame,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    max_categories: int = 50,
) -> Schema:
    profile = profile_frame(frame, tags=tags)
    schema = table_from_frame(frame).schema
    return infer_schema(schema, profile, tags=tags, max_categories=max_categories)


def test_types_nullability_and_ranges_are_inferred(loans: pd.DataFrame) -> None:
    loans.loc[3, "income"] = None

    schema = infer(loans, tags={"loan_id": ["id"], "approved": ["target"]})

    assert schema.names == tuple(loans.columns)
    assert {c.name: c.type for c in schema.columns} == {
        "loan_id": "string",
        "age": "integer",
        "income": "float",
        "grade": "category",
        "approved": "boolean",
        "applied_at": "datetime",
    }
    age = schema.column("age")
    assert (age.minimum, age.maximum, age.nullable) == (loans.age.min(), loans.age.max(), False)
    assert schema.column("income").nullable
    assert schema.column("grade").categories == ("A", "B", "C", "D")
    assert schema.column("loan_id").tags == ("id",)
    assert schema.tagged("target") == ("approved",)


def test_a_string_column_is_a_category_only_when_its_values_repeat() -> None:
    frame = pd.DataFrame({"few": ["x", "y"] * 3, "unique": [f"u{i}" for i in range(6)]})

    schema = infer(frame)

    assert schema.column("few").type == "category"
    assert schema.column("unique").type == "string"
    assert schema.column("unique").categories is None


def test_too_many_distinct_values_is_a_string() -> None:
    frame = pd.DataFrame({"code": [f"c{i % 30}" for i in range(300)]})

    assert infer(frame, max_categories=30).column("code").type == "category"
    assert infer(frame, max_categories=29).column("code").type == "string"


def test_id_and_pii_columns_are_never_categories_and_ids_have_no_range() -> None:
    frame = pd.DataFrame({"name": ["ann", "bob"] * 5, "key": list(range(10))})

    schema = infer(frame, tags={"name": ["pii"], "key": ["id"]})

    assert schema.column("name").type == "string"
    key = schema.column("key")
    assert (key.type, key.minimum, key.maximum) == ("integer", None, None)


def test_nan_in_a_float_column_makes_it_nullable() -> None:
    frame = pd.DataFrame({"x": [1.0, float("inf")]})

    column = infer(frame).column("x")

    assert column.nullable
    assert (column.minimum, column.maximum) == (1.0, 1.0)


def test_the_profile_must_belong_to_the_table(loans: pd.DataFrame) -> None:
    profile = profile_frame(loans[["age"]])

    with pytest.raises(InvalidInputError, match="the profile does not belong to this table"):
        infer_schema(table_from_frame(loans).schema, profile)


def test_tags_are_checked_and_normalised() -> None:
    assert check_tags({"a": ["pii", "id", "pii"], "b": "target"}, ["a", "b"]) == {
        "a": ("id", "pii"),
        "b": ("target",),
    }
    with pytest.raises(InvalidInputError, match="unknown tag 'label' on column 'a'"):
        check_tags({"a": ["label"]}, ["a"])
    with pytest.raises(InvalidInputError, match=r"cannot tag 'z'.*the columns are a, b"):
        check_tags({"z": ["id"]}, ["a", "b"])
    with pytest.raises(InvalidInputError, match="only one column can be the target"):
        check_tags({"a": ["target"], "b": ["target"]}, ["a", "b"])


def test_schemas_round_trip_through_json(loans: pd.DataFrame) -> None:
    schema = infer(loans, tags={"loan_id": ["id", "pii"]})

    text = json.dumps(schema.to_dict(), allow_nan=False)

    assert Schema.from_dict(json.loads(text)) == schema


def test_a_stored_schema_with_an_unknown_type_is_refused() -> None:
    data = {"columns": [{"name": "a", "type": "decimal", "nullable": False}]}

    with pytest.raises(InvalidInputError, match="unknown type 'decimal'"):
        Schema.from_dict(data)


def test_an_unknown_column_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no column 'b' in this schema"):
        Schema((ColumnSchema("a", "integer", False),)).column("b")


def column(name: str = "x", type_: str = "integer", **fields: object) -> ColumnSchema:
    return ColumnSchema(name, type_, **{"nullable": False, **fields})  # type: ignore[arg-type]


def classify(old: list[ColumnSchema], new: list[ColumnSchema]) -> SchemaChange:
    return classify_change(Schema(tuple(old)), Schema(tuple(new)))


def test_equal_schemas_do_not_change() -> None:
    columns = [column("a"), column("b", "string")]

    change = classify(columns, list(reversed(columns)))

    assert change == SchemaChange("none", ())


@pytest.mark.parametrize(
    ("old", "new", "breaking", "description"),
    [
        ([column("a"), column("b")], [column("a")], True, "column 'b' removed"),
        ([column("a")], [column("a"), column("b", nullable=True)], False, "column 'b' added"),
        ([column()], [column(type_="string")], True, "type integer → string"),
        ([column()], [column(type_="float")], False, "type integer → float"),
        ([column(type_="float")], [column()], True, "type float → integer"),
        ([column(type_="category")], [column(type_="string")], False, "category → string"),
        ([column()], [column(nullable=True)], True, "may now be null"),
        ([column(nullable=True)], [column()], False, "no longer nullable"),
        (
            [column(minimum=0, maximum=9)],
            [column(minimum=0, maximum=99)],
            False,
            "[0, 9] → [0, 99]",
        ),
        ([column(minimum=0)], [column()], False, "range [0, ∞] → [-∞, ∞]"),
        (
            [column(type_="category", categories=("a",))],
            [column(type_="category", categories=("a", "b"))],
            False,
            "new categories 'b'",
        ),
        (
            [column(type_="category", categories=("a", "b"))],
            [column(type_="category", categories=("a",))],
            False,
            "categories dropped 'b'",
        ),
        ([column()], [column(tags=("target",))], True, "gains the tag 'target'"),
        ([column(tags=("id",))], [column()], True, "loses the tag 'id'"),
        ([column(tags=("pii",))], [column()], True, "loses the tag 'pii'"),
        ([column()], [column(tags=("pii",))], False, "gains the tag 'pii'"),
        ([column()], [column(tags=("timestamp",))], False, "gains the tag 'timestamp'"),
    ],
)
def test_change_rules(
    old: list[ColumnSchema], new: list[ColumnSchema], breaking: bool, description: str
) -> None:
    change = classify(old, new)

    assert len(change.changes) == 1
    assert description in change.changes[0].description
    assert change.changes[0].breaking is breaking
    assert change.kind == ("breaking" if breaking else "compatible")


def test_one_breaking_change_makes_the_whole_change_breaking() -> None:
    change = classify([column("a")], [column("a", nullable=True), column("c")])

    assert change.kind == "breaking"
    assert [c.column for c in change.breaking] == ["a"]
    assert {c.column for c in change.changes} == {"a", "c"}
    assert SchemaChange.from_dict(json.loads(json.dumps(change.to_dict()))) == change


def test_accepting_widens_the_contract_and_keeps_the_tags() -> None:
    old_frame = pd.DataFrame(
        {"age": [20, 30] * 5, "grade": ["A", "B"] * 5, "gone": [1] * 10, "y": [0, 1] * 5}
    )
    old = infer(old_frame, tags={"y": ["target"]})
    new_frame = pd.DataFrame(
        {
            "age": [25, 99, None] * 4,
            "grade": ["B", "C", "C"] * 4,
            "y": [1, 0, 1] * 4,
            "new": [0.5] * 12,
        }
    )
    new_table = table_from_frame(new_frame)

    accepted = merge_accepting(old, new_table.schema, profile_frame(new_frame))

    assert accepted.names == ("age", "grade", "y", "new")
    age = accepted.column("age")
    assert (age.type, age.minimum, age.maximum, age.nullable) == ("float", 20, 99, True)
    assert accepted.column("grade").categories == ("A", "B", "C")
    assert accepted.column("y").tags == ("target",)
    assert accepted.column("new").type == "float"
    assert classify_change(old, accepted).kind == "breaking"  # 'gone' removed, age nullable


def test_accepting_keeps_a_category_while_its_values_are_listed() -> None:
    old = infer(pd.DataFrame({"g": ["a", "b"] * 5}))
    new_frame = pd.DataFrame({"g": ["a", "c"]})  # too few rows to infer a category

    accepted = merge_accepting(old, table_from_frame(new_frame).schema, profile_frame(new_frame))

    assert accepted.column("g").type == "category"
    assert accepted.column("g").categories == ("a", "b", "c")


def test_accepting_can_add_tags() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    old = infer(frame)

    accepted = merge_accepting(
        old, table_from_frame(frame).schema, profile_frame(frame), tags={"b": ["target"]}
    )

    assert accepted.column("b").tags == ("target",)


def test_a_schema_withholding_columns_shows_no_value_of_them() -> None:
    frame = pd.DataFrame({"phone": ["+44 1", "+44 2"] * 3, "postcode": [10001, 20002] * 3})
    schema = infer(frame)
    assert schema.column("phone").categories == ("+44 1", "+44 2")

    shown = schema.withholding({"phone", "postcode"})

    text = json.dumps(shown.to_dict())
    assert "+44 1" not in text
    assert "10001" not in text
    assert shown.names == schema.names
    assert [c.type for c in shown.columns] == [c.type for c in schema.columns]
    assert schema.withholding({"elsewhere"}) is schema


def test_inferred_ranges_are_soft_and_stored_ones_without_a_strength_hard(
    loans: pd.DataFrame,
) -> None:
    schema = infer(loans, tags={"loan_id": ["id"]})
    age = schema.column("age")
    assert (age.bound_strength("minimum"), age.bound_strength("maximum")) == ("soft", "soft")
    stored = schema.to_dict()
    assert Schema.from_dict(json.loads(json.dumps(stored))) == schema
    for column in stored["columns"]:
        column.pop("minimum_check")
        column.pop("maximum_check")
    legacy = Schema.from_dict(stored)
    assert legacy.column("age").bound_strength("maximum") == "hard"

    softened = legacy.softened(["age"])
    assert softened.column("age").bound_strength("minimum") == "soft"
    assert softened.column("income").bound_strength("minimum") == "hard"
    change = classify_change(legacy, softened)
    assert change.kind == "compatible"
    assert [c.description for c in change.changes] == [
        "column 'age': minimum check hard → soft",
        "column 'age': maximum check hard → soft",
    ]
    with pytest.raises(NotFoundError):
        legacy.softened(["agee"])


def test_declared_bounds_are_hard_and_must_name_a_numeric_column(loans: pd.DataFrame) -> None:
    schema = infer(loans, tags={"loan_id": ["id"]})
    declared = schema.declaring({"age": (18, None)}, where="[datasets.loans.columns]")
    age = declared.column("age")
    assert (age.minimum, age.bound_strength("minimum")) == (18, "hard")
    assert (age.maximum, age.bound_strength("maximum")) == (
        schema.column("age").maximum,
        "soft",
    )
    with pytest.raises(InvalidInputError, match=r"\[datasets.loans.columns\] .* 'agee'"):
        schema.declaring({"agee": (0, 1)}, where="[datasets.loans.columns]")
    with pytest.raises(InvalidInputError, match="integer and float columns only"):
        schema.declaring({"grade": (0, 1)}, where="data schema set")
