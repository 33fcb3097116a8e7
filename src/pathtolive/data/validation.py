"""Validation of a dataset version against its schema (the data contract).

The row-level checks (nullability, ranges, allowed categories, dtypes) are a pandera
``DataFrameSchema`` built from the :class:`~pathtolive.data.schema.Schema` by
:func:`to_pandera`, run lazily (every failure collected) on one record batch at a time,
so memory stays bounded whatever the size of the file. What pandera cannot say well is
checked on the Arrow types first, by hand:

- a missing or extra column, and a column whose type changed (string where integer was
  expected), are reported once each rather than as one failure per row;
- integers where floats are expected are fine (widening); floats where integers are
  expected are fine as long as they are whole numbers, because pandas turns an integer
  column with missing values into floats (NaN there counts as a missing value);
- NaN and infinite floats are told apart from nulls (``nan_or_infinite``); they are
  allowed in nullable columns and never count against a range.

Every violation is *hard* (it breaks consumers: the caller refuses the version under
``strict``) or *soft* (reported with its count and examples, left to drift): a value
beyond a soft bound (an inferred range, see :class:`~pathtolive.data.schema.ColumnSchema`)
is soft, and so are unseen categories when ``unseen_categories="warn"``. ``ok`` means no
hard violation.

When the profile of the same file is given, columns that it proves clean (no nulls where
none are allowed, min and max inside the range, every value an allowed category) are
not read at all; only the others get the row-level pass.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pathtolive.data.formats import (
    Kind,
    column_kind,
    decoded,
    iter_batches,
    open_parquet,
    table_from_frame,
)
from pathtolive.data.profile import ColumnProfile, Profile
from pathtolive.data.schema import ColumnSchema, ColumnType, Schema, Strength
from pathtolive.errors import InvalidInputError
from pathtolive.format import exact

if TYPE_CHECKING:
    import pandera.pandas as pandera

__all__ = [
    "UNSEEN_CATEGORY_RULES",
    "VIOLATION_KINDS",
    "UnseenCategories",
    "ValidationReport",
    "Violation",
    "ViolationKind",
    "to_pandera",
    "validate",
    "validate_frame",
]

ViolationKind = Literal[
    "missing_column",
    "extra_column",
    "type_changed",
    "null_not_allowed",
    "below_minimum",
    "above_maximum",
    "unseen_category",
    "nan_or_infinite",
]
VIOLATION_KINDS: tuple[ViolationKind, ...] = get_args(ViolationKind)
UnseenCategories = Literal["refuse", "warn"]
UNSEEN_CATEGORY_RULES: tuple[UnseenCategories, ...] = get_args(UnseenCategories)

_SUMMARY_ITEMS = 3
_INT64_LIMIT = 2.0**63
_ACCEPTED: dict[ColumnType, tuple[Kind, ...]] = {
    "integer": ("integer",),
    "float": ("integer", "float"),
    "boolean": ("boolean",),
    "string": ("string",),
    "category": ("string",),
    "datetime": ("datetime",),
}
_PANDAS_DTYPES: dict[ColumnType, Any] = {
    "integer": "Int64",
    "float": "Float64",
    "boolean": "boolean",
    "string": pd.StringDtype("pyarrow"),
    "category": pd.StringDtype("pyarrow"),
    "datetime": None,  # any date or timestamp: checked on the Arrow type
}
_CHECK_KINDS: tuple[tuple[str, ViolationKind], ...] = (
    ("not_nullable", "null_not_allowed"),
    ("greater_than_or_equal_to", "below_minimum"),
    ("less_than_or_equal_to", "above_maximum"),
    ("isin", "unseen_category"),
    ("column_in_schema", "extra_column"),
    ("column_in_dataframe", "missing_column"),
)


@dataclass(frozen=True)
class Violation:
    """One way the data breaks its contract, in one column.

    ``count`` is the number of offending values; for ``missing_column``,
    ``extra_column`` and a ``type_changed`` column type it is every row. ``examples``
    holds a few offending values (for ``null_not_allowed``: 1-based row numbers).
    ``check`` is ``hard`` (it refuses the version under ``strict``) or ``soft``
    (reported only); a report stored before checks had a strength reads as hard.
    """

    column: str
    kind: ViolationKind
    count: int
    examples: tuple[str, ...]
    message: str
    check: Strength = "hard"

    @property
    def hard(self) -> bool:
        """Whether this violation refuses the version (under ``strict``)."""
        return self.check == "hard"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "column": self.column,
            "kind": self.kind,
            "count": self.count,
            "examples": list(self.examples),
            "message": self.message,
            "check": self.check,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Violation:
        """Inverse of :meth:`to_dict`."""
        return cls(
            column=data["column"],
            kind=data["kind"],
            count=data["count"],
            examples=tuple(data["examples"]),
            message=data["message"],
            check="soft" if data.get("check") == "soft" else "hard",
        )


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating ``rows_checked`` rows: ``ok`` when no hard check was
    violated (``violations`` may still hold soft ones).

    What to do about hard violations (reject under ``strict``, record under ``warn``) is
    the caller's policy.
    """

    ok: bool
    rows_checked: int
    violations: tuple[Violation, ...]

    @property
    def hard(self) -> tuple[Violation, ...]:
        """The violations that refuse a version under ``strict``."""
        return tuple(violation for violation in self.violations if violation.hard)

    @property
    def soft(self) -> tuple[Violation, ...]:
        """The violations that are reported only."""
        return tuple(violation for violation in self.violations if not violation.hard)

    def summary(self) -> str:
        """One line for the CLI: the hard violations (the first few named), then how many
        soft findings there are."""
        hard, soft = self.hard, self.soft
        findings = f"{len(soft)} soft finding{'s' if len(soft) != 1 else ''}"
        if not hard:
            meets = f"{self.rows_checked:,} rows meet the schema"
            return f"{meets}; {findings} (reported, not refused)" if soft else meets
        shown = "; ".join(v.message for v in hard[:_SUMMARY_ITEMS])
        more = len(hard) - _SUMMARY_ITEMS
        tail = f"; and {more} more" if more > 0 else ""
        noun = "violation" if len(hard) == 1 else "violations"
        also = f" (and {findings})" if soft else ""
        return f"{len(hard)} schema {noun} in {self.rows_checked:,} rows{also}: {shown}{tail}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "ok": self.ok,
            "rows_checked": self.rows_checked,
            "violations": [violation.to_dict() for violation in self.violations],
        }

    def withholding(self, private: Collection[str]) -> ValidationReport:
        """This report without any value of the ``private`` (PII) columns: for a report
        stored before a column was declared PII, shown as :func:`validate` now writes it."""
        names = set(private)
        if not any(violation.column in names for violation in self.violations):
            return self
        return replace(
            self,
            violations=tuple(
                _valueless(violation) if violation.column in names else violation
                for violation in self.violations
            ),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        """Inverse of :meth:`to_dict`."""
        return cls(
            ok=data["ok"],
            rows_checked=data["rows_checked"],
            violations=tuple(Violation.from_dict(v) for v in data["violations"]),
        )


def _valueless(violation: Violation) -> Violation:
    if violation.kind in ("null_not_allowed", "missing_column", "extra_column"):
        return violation  # row numbers and column names: no value of the column
    values = f"{violation.count:,} value{'s' if violation.count != 1 else ''}"
    kind = violation.kind.replace("_", " ")
    message = f"column {violation.column!r}: {values} break the contract ({kind}; values withheld)"
    return replace(violation, examples=(), message=message)


def to_pandera(schema: Schema, *, coerce: bool = False) -> pandera.DataFrameSchema:
    """The pandera schema of the row-level checks of ``schema``.

    It expects pandas' nullable dtypes (``Int64``, ``Float64``, ``boolean``, Arrow-backed
    ``string``); ``coerce=True`` converts other frames first. Datetime columns are not
    dtype-checked here (any date or timestamp type is accepted on the Arrow side).
    Extra columns are failures (``strict``).
    """
    # Imported here: pandera takes a noticeable part of a second to import, and most
    # commands (and clean data, proven clean by its profile) never need it.
    import pandera.pandas as pandera

    columns: dict[str, pandera.Column] = {}
    for column in schema.columns:
        checks: list[pandera.Check] = []
        if column.type in ("integer", "float"):
            if column.minimum is not None:
                checks.append(pandera.Check.ge(column.minimum))
            if column.maximum is not None:
                checks.append(pandera.Check.le(column.maximum))
        if column.type == "category" and column.categories is not None:
            checks.append(pandera.Check.isin(list(column.categories)))
        columns[column.name] = pandera.Column(
            _PANDAS_DTYPES[column.type],
            checks=checks,
            nullable=column.nullable,
            coerce=coerce,
        )
    return pandera.DataFrameSchema(columns, strict=True)


def validate(
    path: Path,
    schema: Schema,
    profile: Profile | None = None,
    *,
    max_examples: int = 5,
    private: Collection[str] = (),
    unseen_categories: UnseenCategories = "refuse",
) -> ValidationReport:
    """Validate a Parquet file against ``schema``, streaming it by record batches.

    ``profile``, if given, must be the profile of this very file: it lets clean columns
    skip the row-level pass (see the module docstring). The violations of ``private``
    columns (PII) are counted and described without any value: no example, no bound.
    ``unseen_categories="warn"`` makes unseen categories a soft check.
    """
    parquet = open_parquet(path)

    def read(columns: list[str]) -> Iterator[pa.RecordBatch]:
        return iter_batches(parquet, columns, label=str(path))

    def null_count(name: str) -> int:
        metadata = parquet.metadata
        index = parquet.schema_arrow.get_field_index(name)
        counts = [
            metadata.row_group(g).column(index).statistics for g in range(metadata.num_row_groups)
        ]
        if all(stats is not None and stats.has_null_count for stats in counts):
            return sum(stats.null_count for stats in counts)
        return sum(batch.column(0).null_count for batch in read([name]))

    rows = parquet.metadata.num_rows
    validator = _Validator(
        parquet.schema_arrow,
        rows,
        read,
        null_count,
        schema,
        max_examples,
        frozenset(private),
        unseen_categories,
    )
    return validator.run(profile)


def validate_frame(
    frame: pd.DataFrame,
    schema: Schema,
    *,
    max_examples: int = 5,
    unseen_categories: UnseenCategories = "refuse",
) -> ValidationReport:
    """Validate an in-memory DataFrame exactly as :func:`validate` validates a file."""
    table = table_from_frame(frame)

    def read(columns: list[str]) -> Iterator[pa.RecordBatch]:
        return iter_batches(table, columns)

    def null_count(name: str) -> int:
        return int(table.column(name).null_count)

    validator = _Validator(
        table.schema,
        table.num_rows,
        read,
        null_count,
        schema,
        max_examples,
        unseen_categories=unseen_categories,
    )
    return validator.run(None)


@dataclass
class _Tally:
    max_examples: int
    counts: dict[tuple[str, ViolationKind], int] = field(default_factory=dict)
    examples: dict[tuple[str, ViolationKind], list[str]] = field(default_factory=dict)
    details: dict[tuple[str, ViolationKind], str] = field(default_factory=dict)

    def add(self, column: str, kind: ViolationKind, count: int, examples: Any = ()) -> None:
        if count <= 0:
            return
        key = (column, kind)
        self.counts[key] = self.counts.get(key, 0) + count
        kept = self.examples.setdefault(key, [])
        for example in examples:
            if len(kept) >= self.max_examples:
                break
            if example not in kept:
                kept.append(example)


class _Validator:
    def __init__(
        self,
        arrow_schema: pa.Schema,
        rows: int,
        read: Callable[[list[str]], Iterator[pa.RecordBatch]],
        null_count: Callable[[str], int],
        schema: Schema,
        max_examples: int,
        private: frozenset[str] = frozenset(),
        unseen_categories: UnseenCategories = "refuse",
    ) -> None:
        if unseen_categories not in UNSEEN_CATEGORY_RULES:
            raise InvalidInputError(
                f"unseen_categories {unseen_categories!r} is not a rule; use "
                f"{' or '.join(UNSEEN_CATEGORY_RULES)}"
            )
        self.unseen_categories = unseen_categories
        self.arrow_schema = arrow_schema
        self.private = private
        self.rows = rows
        self.read = read
        self.null_count = null_count
        self.schema = schema
        self.tally = _Tally(max_examples)

    def run(self, profile: Profile | None) -> ValidationReport:
        present = set(self.arrow_schema.names)
        expected = set(self.schema.names)
        for column in self.schema.columns:
            if column.name not in present:
                self.tally.add(column.name, "missing_column", self.rows)
        for name in self.arrow_schema.names:
            if name not in expected:
                self.tally.add(name, "extra_column", self.rows)
        if profile is not None and profile.rows != self.rows:
            raise InvalidInputError(
                f"the profile describes {profile.rows:,} rows but the file has "
                f"{self.rows:,}; give the profile of the file being validated"
            )
        checked: list[ColumnSchema] = []
        whole: set[str] = set()
        for column in self.schema.columns:
            if column.name not in present:
                continue
            arrow_type = self.arrow_schema.field(column.name).type
            kind = column_kind(arrow_type)
            if pa.types.is_null(arrow_type) or kind in _ACCEPTED[column.type]:
                whole_floats = False
            elif column.type == "integer" and kind == "float":
                whole_floats = True  # pandas' integers with missing values
            elif self.null_count(column.name) == self.rows:
                # A column without a single value has no real type (an empty CSV column
                # reads as text): only its nulls matter.
                if not column.nullable:
                    self.tally.add(column.name, "null_not_allowed", self.rows, _rows(0, self.rows))
                continue
            else:
                self._type_changed(column, kind)
                continue
            if whole_floats:
                whole.add(column.name)
            column_profile = _column_profile(profile, column.name)
            if whole_floats or not _proven_clean(column, column_profile, kind):
                checked.append(column)
        if checked:
            self._row_pass(checked, whole)
        return self._report()

    def _type_changed(self, column: ColumnSchema, kind: Kind | None) -> None:
        examples: list[str] = []
        for batch in self.read([column.name]):
            values = decoded(batch.column(0)).drop_null()
            unique = pc.unique(values).slice(0, self.tally.max_examples).to_pylist()
            examples = [_show(value) for value in unique]
            if examples:
                break
        key: tuple[str, ViolationKind] = (column.name, "type_changed")
        self.tally.details[key] = f"expected {column.type}, found {kind}"
        self.tally.add(column.name, "type_changed", self.rows, examples)

    def _row_pass(self, columns: list[ColumnSchema], whole: set[str]) -> None:
        import pandera.pandas as pandera

        names = [column.name for column in columns]
        checks = to_pandera(Schema(tuple(columns)))
        for column in columns:
            if pa.types.is_uint64(self.arrow_schema.field(column.name).type):
                checks = checks.update_column(column.name, dtype="UInt64")
        offset = 0
        for batch in self.read(names):
            arrays: dict[str, pa.Array] = {}
            reported: dict[str, npt.NDArray[np.bool_]] = {}
            for column in columns:
                array = decoded(batch.column(column.name))
                if column.name in whole:
                    array, reported[column.name] = self._whole_numbers(column, array)
                elif pa.types.is_floating(array.type):
                    array, reported[column.name] = self._finite_numbers(column, array)
                arrays[column.name] = _canonical(array, column.type)
            frame = pa.table(arrays).to_pandas(types_mapper=_pandas_type)
            try:
                checks.validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as exc:
                self._tally_failures(exc.failure_cases, offset, reported)
            offset += batch.num_rows

    def _finite_numbers(
        self, column: ColumnSchema, array: pa.Array
    ) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
        """Report NaN and infinities (where not allowed) and hide them from pandera."""
        finite = pc.is_finite(array)
        non_finite = pc.fill_null(pc.and_kleene(pc.invert(finite), pc.is_valid(array)), False)
        mask = non_finite.to_numpy(zero_copy_only=False)
        count = int(np.count_nonzero(mask))
        if count and not column.nullable:
            shown = pc.unique(array.filter(non_finite)).to_pylist()
            self.tally.add(column.name, "nan_or_infinite", count, [_show(v) for v in shown])
        if count:
            array = pc.if_else(finite, array, pa.scalar(None, array.type))
        return array, mask

    def _whole_numbers(
        self, column: ColumnSchema, array: pa.Array
    ) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
        """Floats where integers are expected: whole numbers pass, NaN counts as null."""
        # Nulls come out as NaN, and NaN counts as missing: both are left to the null check.
        values = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        valid = ~np.isnan(values)
        with np.errstate(invalid="ignore"):
            whole = valid & np.isfinite(values) & (np.floor(values) == values)
            whole &= np.abs(values) < _INT64_LIMIT
        not_whole = valid & ~whole
        count = int(np.count_nonzero(not_whole))
        if count:
            shown = pd.unique(values[not_whole])[: self.tally.max_examples]
            self.tally.add(column.name, "type_changed", count, [_show(v) for v in shown])
            self.tally.details[(column.name, "type_changed")] = (
                "expected integer, found {count} non-whole number{s}"
            )
        integers = np.where(whole, values, 0).astype(np.int64)
        return pa.array(integers, mask=~whole), not_whole

    def _tally_failures(
        self, failures: pd.DataFrame, offset: int, reported: Mapping[str, npt.NDArray[np.bool_]]
    ) -> None:
        for (column_name, check), group in failures.groupby(
            ["column", "check"], dropna=False, sort=False
        ):
            kind = _violation_kind(str(check))
            if kind in ("missing_column", "extra_column"):
                continue  # reported from the Arrow schema, once
            column = str(column_name)
            index = pd.to_numeric(group["index"], errors="coerce").dropna().astype(np.int64)
            positions = index.to_numpy()
            if column in reported and positions.size:
                # Values already reported as NaN/infinite or not whole are not nulls.
                positions = positions[~reported[column][positions]]
                group = group[group["index"].isin(positions)]
            if kind == "null_not_allowed":
                examples = [f"row {offset + int(p) + 1}" for p in positions[:10]]
                self.tally.add(column, kind, len(positions), examples)
                continue
            if kind == "type_changed":
                self.tally.add(column, kind, len(group), [_show(v) for v in group["failure_case"]])
                continue
            values = [v for v in group["failure_case"] if not _is_missing(v)]
            self.tally.add(column, kind, len(values), [_show(v) for v in values[:50]])

    def _report(self) -> ValidationReport:
        order = {name: position for position, name in enumerate(self.schema.names)}
        extra = len(order)
        keys = sorted(
            self.tally.counts,
            key=lambda key: (order.get(key[0], extra), key[0], VIOLATION_KINDS.index(key[1])),
        )
        violations = tuple(
            Violation(
                column,
                kind,
                self.tally.counts[(column, kind)],
                tuple(self._examples(column, kind)),
                self._message(column, kind),
                self._strength(column, kind),
            )
            for column, kind in keys
        )
        ok = not any(violation.hard for violation in violations)
        return ValidationReport(ok, self.rows, violations)

    def _strength(self, column: str, kind: ViolationKind) -> Strength:
        """Beyond a soft bound, and unseen categories under ``warn``: soft; else hard."""
        if kind == "below_minimum":
            return self.schema.column(column).bound_strength("minimum")
        if kind == "above_maximum":
            return self.schema.column(column).bound_strength("maximum")
        if kind == "unseen_category" and self.unseen_categories == "warn":
            return "soft"
        return "hard"

    def _examples(self, column: str, kind: ViolationKind) -> list[str]:
        """The examples kept: row numbers for nulls, values only of columns not PII."""
        if column in self.private and kind != "null_not_allowed":
            return []
        return self.tally.examples.get((column, kind), [])

    def _bound(self, value: float | None, column: str) -> str:
        return "" if column in self.private else f" {exact(value)}"

    def _message(self, column: str, kind: ViolationKind) -> str:
        key = (column, kind)
        count = self.tally.counts[key]
        examples = self._examples(column, kind)
        example_text = f" (e.g. {', '.join(examples)})" if examples else ""
        quoted = repr(column)
        values = f"{count:,} value{'s' if count != 1 else ''}"
        if kind == "missing_column":
            return f"column {quoted} is missing; the schema requires it"
        if kind == "extra_column":
            return f"column {quoted} is not in the schema"
        if kind == "type_changed":
            detail = self.tally.details.get(key, "the type changed")
            detail = detail.format(count=f"{count:,}", s="s" if count != 1 else "")
            return f"column {quoted}: {detail}{example_text}"
        if kind == "null_not_allowed":
            rows = f" ({', '.join(examples)})" if examples else ""
            nulls = f"{count:,} null value{'s' if count != 1 else ''}"
            return f"column {quoted}: {nulls} but the column is not nullable{rows}"
        schema_column = self.schema.column(column)
        if kind == "below_minimum":
            bound = self._bound(schema_column.minimum, column)
            which = "observed " if schema_column.minimum_soft else ""
            return f"column {quoted}: {values} below the {which}minimum{bound}{example_text}"
        if kind == "above_maximum":
            bound = self._bound(schema_column.maximum, column)
            which = "observed " if schema_column.maximum_soft else ""
            return f"column {quoted}: {values} above the {which}maximum{bound}{example_text}"
        if kind == "unseen_category":
            return f"column {quoted}: {values} not among the allowed categories{example_text}"
        return f"column {quoted}: {values} NaN or infinite but the column is not nullable"


def _rows(offset: int, count: int, limit: int = 10) -> list[str]:
    return [f"row {offset + position + 1}" for position in range(min(count, limit))]


def _violation_kind(check: str) -> ViolationKind:
    for prefix, kind in _CHECK_KINDS:
        if check.startswith(prefix):
            return kind
    return "type_changed"  # pandera's dtype and coercion checks


def _column_profile(profile: Profile | None, name: str) -> ColumnProfile | None:
    if profile is None or name not in profile.names:
        return None
    return profile.column(name)


def _proven_clean(column: ColumnSchema, profile: ColumnProfile | None, kind: Kind | None) -> bool:
    """True when the profile shows that no value of the column can break its contract."""
    if profile is None or profile.kind != kind:
        return False
    numeric = profile.numeric
    non_finite = numeric.nan_count + numeric.inf_count if numeric is not None else 0
    if not column.nullable and (profile.nulls or non_finite):
        return False
    if column.minimum is not None or column.maximum is not None:
        if numeric is None:
            return False  # a pii column keeps no range in its profile
        if numeric.minimum is not None and numeric.maximum is not None:
            if column.minimum is not None and numeric.minimum < column.minimum:
                return False
            if column.maximum is not None and numeric.maximum > column.maximum:
                return False
    if column.type == "category" and column.categories is not None:
        stats = profile.categorical
        if stats is None or not stats.complete:
            return profile.non_null == 0
        allowed = set(column.categories)
        return all(value in allowed for value, _ in stats.categories)
    return True


def _canonical(array: pa.Array, column_type: ColumnType) -> pa.Array:
    """Cast to the one Arrow type per column type that :func:`to_pandera` expects."""
    if pa.types.is_null(array.type):
        target = {
            "integer": pa.int64(),
            "float": pa.float64(),
            "boolean": pa.bool_(),
            "datetime": pa.timestamp("us"),
        }.get(column_type, pa.string())
        return array.cast(target)
    if pa.types.is_integer(array.type) and not pa.types.is_uint64(array.type):
        return array.cast(pa.float64() if column_type == "float" else pa.int64())
    if pa.types.is_uint64(array.type) and column_type == "float":
        return array.cast(pa.float64())
    if pa.types.is_floating(array.type):
        return array.cast(pa.float64())
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        return array.cast(pa.string())
    return array


def _pandas_type(arrow_type: pa.DataType) -> Any:
    if pa.types.is_int64(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_uint64(arrow_type):
        return pd.UInt64Dtype()
    if pa.types.is_float64(arrow_type):
        return pd.Float64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    if pa.types.is_string(arrow_type):
        return pd.StringDtype("pyarrow")
    return None


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float | np.floating):
        return exact(float(value))
    return str(value)
