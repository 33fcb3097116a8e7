"""Strict validation of request rows against a model's signature: the server's hot path,
and the same rules for every row a batch-scoring job reads.

A request decodes to columns of plain values (from JSON or CSV) or NumPy arrays (from
binary tensors). :func:`validate_columns` and :func:`validate_records` check them against
the :class:`~pathtolive.registry.signature.Signature` and coerce them to one
representation per field type, an :class:`~pathtolive.registry.batch.InputBatch`;
:func:`~pathtolive.registry.batch.to_frame` turns one or more of them into the DataFrame
the model reads.

Checks run column-wise: the set of Python types in a column decides in one C-level pass
whether NumPy may convert it whole; only when that fast conversion is refused does a
per-value scan run, to find the first offending value and name it. Every error is an
:class:`~pathtolive.errors.InvalidInputError` naming the column, the row and the problem,
such as ``column 'age', row 3: expected an integer, got the string "forty"``.

The rules, per field type (``null`` is accepted only in a nullable column):

- ``integer``: integers, and floats with an integral value (``1.0``); never booleans.
- ``float``: integers and floats, never booleans; NaN and infinities are refused, because
  a missing value is ``null``.
- ``boolean``: ``true`` and ``false`` only.
- ``string`` and ``category``: strings only; a category outside the signature's known
  categories is refused unless the ``unseen_categories`` policy is ``"allow"``.
- ``datetime``: ISO-8601 strings; within one batch either all carry a UTC offset or none.

What each field type's validated column holds is described in
:mod:`pathtolive.registry.batch`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Literal

import numpy as np

from pathtolive.errors import InvalidInputError, PayloadTooLargeError
from pathtolive.format import listing
from pathtolive.registry.batch import Column, InputBatch, SignaturePlan, signature_plan
from pathtolive.registry.signature import FieldSpec, FieldType, Signature

__all__ = [
    "UnseenCategories",
    "describe_value",
    "name_list",
    "validate_columns",
    "validate_records",
]

UnseenCategories = Literal["reject", "allow"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_NAN_PROBLEM = "NaN/Infinity is not a valid value; send null for a missing value"
_NULL_PROBLEM = "null is not allowed (the column is not nullable)"
_EXPECTED: dict[FieldType, str] = {
    "integer": "an integer",
    "float": "a number",
    "boolean": "a boolean (true or false)",
    "string": "a string",
    "category": "a string",
    "datetime": "an ISO-8601 date-time string",
}
_NUMBERS = frozenset({int, float})
_NUMBERS_OR_NULL = frozenset({int, float, type(None)})
_SHOWN_NAMES = 20


def validate_columns(
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    n_rows: int,
    signature: Signature,
    *,
    unseen_categories: UnseenCategories = "reject",
    max_rows: int,
) -> InputBatch:
    """Check ``columns`` (name to ``n_rows`` values) against ``signature``.

    Every signature input must be present, no other column may be, and every value must
    fit its field (see the module docstring). ``InvalidInputError`` names the column, the
    row and the problem; ``PayloadTooLargeError`` when ``n_rows`` is over ``max_rows``.
    """
    plan = signature_plan(signature)
    _check_size(n_rows, max_rows)
    if len(columns) != len(plan.names) or columns.keys() != plan.name_set:
        unknown = [name for name in columns if name not in plan.name_set]
        if unknown:
            raise _unknown_columns_error(unknown, plan.names)
        raise _missing_columns_error([name for name in plan.names if name not in columns], plan)
    for name in plan.names:
        values = columns[name]
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise InvalidInputError(
                f"column {name!r} must be one-dimensional, not of shape {list(values.shape)}"
            )
        if len(values) != n_rows:
            raise InvalidInputError(
                f"column {name!r} has {len(values)} values but the batch has {n_rows} rows; "
                "send one value per row in every column"
            )
    return _validate(plan, columns, n_rows, unseen_categories)


def validate_records(
    records: Sequence[Any],
    signature: Signature,
    *,
    unseen_categories: UnseenCategories = "reject",
    max_rows: int,
) -> InputBatch:
    """Check ``records``, one JSON object per row keyed by column name, against
    ``signature``. A nullable column may be left out of a record (it is then null); any
    other missing or unknown key, or an item that is not an object, is an
    ``InvalidInputError`` naming its row."""
    plan = signature_plan(signature)
    n_rows = len(records)
    _check_size(n_rows, max_rows)
    width = len(plan.names)
    columns: dict[str, Sequence[Any]]
    if set(map(type, records)) == {dict} and set(map(len, records)) == {width}:
        try:
            rows = list(map(plan.getter, records))
        except KeyError:
            columns = _columns_from_odd_records(plan, records)
        else:
            if width == 1:
                columns = {plan.names[0]: rows}
            else:
                columns = dict(zip(plan.names, zip(*rows, strict=True), strict=True))
    else:
        columns = _columns_from_odd_records(plan, records)
    return _validate(plan, columns, n_rows, unseen_categories)


# --- validation ------------------------------------------------------------------------


def _check_size(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise InvalidInputError("the batch is empty: send at least one row")
    if n_rows > max_rows:
        raise PayloadTooLargeError(
            f"the batch has {n_rows} rows, over the limit of {max_rows}; split it"
        )


def _validate(
    plan: SignaturePlan,
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    n_rows: int,
    policy: UnseenCategories,
) -> InputBatch:
    done: dict[str, Column] = {}
    for kind, group in plan.groups:
        done.update(_validate_group(kind, group, columns))
    validated: dict[str, Column] = {}
    for field in plan.fields:
        column = done.get(field.name)
        if column is None:
            column = _VALIDATORS[field.type](field, columns[field.name], plan, policy)
        validated[field.name] = column
    return InputBatch(columns=validated, n_rows=n_rows)


_GROUP_TYPES: dict[FieldType, tuple[frozenset[type], type]] = {
    "float": (_NUMBERS, np.float64),
    "integer": (frozenset({int}), np.int64),
    "boolean": (frozenset({bool}), np.bool_),
}


def _validate_group(
    kind: FieldType, group: tuple[FieldSpec, ...], columns: Mapping[str, Any]
) -> dict[str, Column]:
    """Several columns of one numeric type converted in one NumPy call, when every value
    is of a plain accepted type; else nothing, and each column goes its own way."""
    values = [columns[field.name] for field in group]
    if np.ndarray in set(map(type, values)):
        return {}
    accepted, dtype = _GROUP_TYPES[kind]
    if not set(map(type, chain.from_iterable(values))) <= accepted:
        return {}
    try:
        block: np.ndarray = np.array(values, dtype=dtype)
    except (OverflowError, ValueError, TypeError):
        return {}
    if kind == "float" and not np.isfinite(block).all():
        return {}
    return dict(zip((field.name for field in group), block, strict=True))


def _validate_float(
    field: FieldSpec,
    column: Sequence[Any] | np.ndarray,
    plan: SignaturePlan,
    policy: UnseenCategories,
) -> Column:
    if isinstance(column, np.ndarray) and column.dtype.kind in "iuf":
        array = column.astype(np.float64, copy=False)
        if np.isfinite(array).all():
            return array
        row = int(np.flatnonzero(~np.isfinite(array))[0])
        raise _cell_error(field, row, _NAN_PROBLEM)
    values: Sequence[Any] = column.tolist() if isinstance(column, np.ndarray) else column
    types = set(map(type, values))
    if types <= _NUMBERS_OR_NULL:
        try:
            array = np.array(values, dtype=np.float64)
        except (OverflowError, ValueError, TypeError):
            return _scan_float(field, values)
        finite = np.isfinite(array)
        if finite.all():
            return array
        for row in np.flatnonzero(~finite).tolist():
            if values[row] is not None:
                raise _cell_error(field, row, _NAN_PROBLEM)
            if not field.nullable:
                raise _cell_error(field, row, _NULL_PROBLEM)
        return array
    return _scan_float(field, values)


def _scan_float(field: FieldSpec, values: Sequence[Any]) -> np.ndarray:
    out: list[float] = []
    for row, value in enumerate(values):
        if value is None:
            if not field.nullable:
                raise _cell_error(field, row, _NULL_PROBLEM)
            out.append(math.nan)
        elif isinstance(value, bool | np.bool_) or not isinstance(
            value, int | float | np.integer | np.floating
        ):
            raise _type_error(field, row, value)
        else:
            try:
                number = float(value)
            except OverflowError:
                raise _cell_error(
                    field, row, f"the integer {value} is too large for a float"
                ) from None
            if not math.isfinite(number):
                raise _cell_error(field, row, _NAN_PROBLEM)
            out.append(number)
    return np.array(out, dtype=np.float64)


def _validate_integer(
    field: FieldSpec,
    column: Sequence[Any] | np.ndarray,
    plan: SignaturePlan,
    policy: UnseenCategories,
) -> Column:
    if isinstance(column, np.ndarray):
        kind = column.dtype.kind
        if kind == "i":
            return column.astype(np.int64, copy=False)
        if kind == "u" and (column.size == 0 or column.max() <= _INT64_MAX):
            return column.astype(np.int64)
        if kind == "f":
            wide = column.astype(np.float64, copy=False)
            with np.errstate(invalid="ignore"):
                whole = np.isfinite(wide) & (wide == np.trunc(wide)) & (np.abs(wide) < 2**63)
            if whole.all():
                return wide.astype(np.int64)
    values: Sequence[Any] = column.tolist() if isinstance(column, np.ndarray) else column
    if set(map(type, values)) == {int}:
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    return _with_nulls(_scan_integer(field, values), np.int64)


def _scan_integer(field: FieldSpec, values: Sequence[Any]) -> list[int | None]:
    out: list[int | None] = []
    for row, value in enumerate(values):
        if value is None:
            if not field.nullable:
                raise _cell_error(field, row, _NULL_PROBLEM)
            out.append(None)
            continue
        if isinstance(value, bool | np.bool_):
            raise _type_error(field, row, value)
        if isinstance(value, int | np.integer):
            number = int(value)
        elif isinstance(value, float | np.floating):
            if not math.isfinite(value):
                raise _cell_error(field, row, _NAN_PROBLEM)
            if not float(value).is_integer():
                raise _type_error(field, row, value)
            number = int(value)
        else:
            raise _type_error(field, row, value)
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise _cell_error(field, row, f"the integer {number} is outside the 64-bit range")
        out.append(number)
    return out


def _validate_boolean(
    field: FieldSpec,
    column: Sequence[Any] | np.ndarray,
    plan: SignaturePlan,
    policy: UnseenCategories,
) -> Column:
    if isinstance(column, np.ndarray) and column.dtype.kind == "b":
        return column
    values: Sequence[Any] = column.tolist() if isinstance(column, np.ndarray) else column
    if set(map(type, values)) == {bool}:
        return np.array(values, dtype=np.bool_)
    out: list[bool | None] = []
    for row, value in enumerate(values):
        if value is None:
            if not field.nullable:
                raise _cell_error(field, row, _NULL_PROBLEM)
            out.append(None)
        elif isinstance(value, bool | np.bool_):
            out.append(bool(value))
        else:
            raise _type_error(field, row, value)
    return _with_nulls(out, np.bool_)


def _validate_string(
    field: FieldSpec,
    values: Sequence[Any] | np.ndarray,
    plan: SignaturePlan,
    policy: UnseenCategories,
) -> Column:
    strings: list[Any] = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if set(map(type, strings)) == {str}:
        return strings
    for row, value in enumerate(strings):
        if value is None:
            if not field.nullable:
                raise _cell_error(field, row, _NULL_PROBLEM)
        elif not isinstance(value, str):
            raise _type_error(field, row, value)
        elif type(value) is not str:
            strings[row] = str(value)  # a str subclass such as numpy.str_
    return strings


def _validate_category(
    field: FieldSpec,
    values: Sequence[Any] | np.ndarray,
    plan: SignaturePlan,
    policy: UnseenCategories,
) -> Column:
    strings = _validate_string(field, values, plan, policy)
    known = plan.categories.get(field.name)
    if known is None or policy == "allow":
        return strings
    unseen = set(strings) - known
    unseen.discard(None)
    if unseen:
        row = next(index for index, value in enumerate(strings) if value in unseen)
        listed = name_list(field.categories or sorted(known))
        raise _cell_error(
            field, row, f"unseen category {json.dumps(strings[row])}; known: {listed}"
        )
    return strings


def _validate_datetime(
    field: FieldSpec,
    column: Sequence[Any] | np.ndarray,
    plan: SignaturePlan,
    policy: UnseenCategories,
) -> Column:
    values: Sequence[Any] = column.tolist() if isinstance(column, np.ndarray) else column
    out: list[datetime | None] = []
    aware: bool | None = None
    for row, value in enumerate(values):
        if value is None:
            if not field.nullable:
                raise _cell_error(field, row, _NULL_PROBLEM)
            out.append(None)
            continue
        if not isinstance(value, str):
            raise _type_error(field, row, value)
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _type_error(field, row, value) from None
        has_offset = moment.tzinfo is not None
        if aware is None:
            aware = has_offset
        elif aware != has_offset:
            raise _cell_error(
                field,
                row,
                f"{json.dumps(value)} {'has' if has_offset else 'lacks'} a UTC offset but "
                f"earlier values {'do not' if has_offset else 'do'}; give every value an "
                "offset or none",
            )
        out.append(moment.astimezone(UTC) if has_offset else moment)
    return out


_Validator = Callable[[FieldSpec, Any, SignaturePlan, UnseenCategories], Column]
_VALIDATORS: dict[FieldType, _Validator] = {
    "integer": _validate_integer,
    "float": _validate_float,
    "boolean": _validate_boolean,
    "string": _validate_string,
    "category": _validate_category,
    "datetime": _validate_datetime,
}


def _with_nulls(values: list[Any], dtype: type) -> Column:
    return values if None in values else np.array(values, dtype=dtype)


def _columns_from_odd_records(
    plan: SignaturePlan, records: Sequence[Any]
) -> dict[str, Sequence[Any]]:
    """The slow way, for records that are not all objects with exactly the signature's
    keys: name the first bad row, or fill the nullable columns a record leaves out."""
    required = [field.name for field in plan.fields if not field.nullable]
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"row {row} is {describe_value(record)}, not an object; send one object per row, "
                "keyed by column name"
            )
        if len(record) != len(plan.names) or record.keys() != plan.name_set:
            unknown = [name for name in record if name not in plan.name_set]
            if unknown:
                raise _unknown_columns_error(unknown, plan.names, row=row)
            missing = [name for name in required if name not in record]
            if missing:
                raise _missing_columns_error(missing, plan, row=row)
    return {name: [record.get(name) for record in records] for name in plan.names}


# --- errors ----------------------------------------------------------------------------


def _cell_error(field: FieldSpec, row: int, problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"column {field.name!r}, row {row}: {problem}",
        details={"column": field.name, "row": row},
    )


def _type_error(field: FieldSpec, row: int, value: object) -> InvalidInputError:
    return _cell_error(field, row, f"expected {_EXPECTED[field.type]}, got {describe_value(value)}")


def describe_value(value: object) -> str:
    """A request value as an error message shows it (``the string "forty"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {json.dumps(text, ensure_ascii=False)}"
    if isinstance(value, int | np.integer):
        return f"the integer {int(value)}"
    if isinstance(value, float | np.floating):
        return f"the number {float(value)!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bytes):
        return "bytes"
    return f"a value of type {type(value).__name__}"


def name_list(names: Sequence[str]) -> str:
    """Names joined for an error message, the first twenty and a count of the rest."""
    return listing(names, _SHOWN_NAMES)


def _unknown_columns_error(
    unknown: Sequence[Any], names: Sequence[str], *, row: int | None = None
) -> InvalidInputError:
    where = f"row {row}: " if row is not None else ""
    plural = "s" if len(unknown) > 1 else ""
    listed = ", ".join(repr(name) for name in unknown[:_SHOWN_NAMES])
    return InvalidInputError(
        f"{where}unknown column{plural} {listed}; the model reads: {name_list(names)}",
        details={"unknown_columns": [str(name) for name in unknown]},
    )


def _missing_columns_error(
    missing: Sequence[str], plan: SignaturePlan, *, row: int | None = None
) -> InvalidInputError:
    where = f"row {row}: " if row is not None else ""
    plural = "s" if len(missing) > 1 else ""
    listed = ", ".join(repr(name) for name in missing[:_SHOWN_NAMES])
    return InvalidInputError(
        f"{where}missing column{plural} {listed} (the model reads: {name_list(plan.names)})",
        details={"missing_columns": list(missing)},
    )
