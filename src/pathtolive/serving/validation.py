"""Strict validation of request rows against a model's signature: the server's hot path.

A request decodes to columns of plain values (from JSON or CSV) or NumPy arrays (from
binary tensors). :func:`validate_columns` and :func:`validate_records` check them against
the :class:`~pathtolive.registry.signature.Signature` and coerce them to one
representation per field type; :func:`to_frame` turns one or more validated batches into
the DataFrame the model reads.

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

Validated columns hold: ``float`` a float64 array (NaN for null); ``integer`` and
``boolean`` an int64 or bool array, or a list with ``None`` when the batch has nulls;
``string`` and ``category`` a list of ``str`` or ``None``; ``datetime`` a list of
:class:`~datetime.datetime` (offsets converted to UTC) or ``None``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import pandas as pd

from pathtolive.errors import InvalidInputError, PayloadTooLargeError
from pathtolive.registry.signature import FieldSpec, FieldType, Signature

_frame_from_blocks: Callable[..., pd.DataFrame] | None
try:  # pandas >= 3: a frame built straight from its blocks, several times faster
    from pandas.api.internals import (  # type: ignore[import-not-found,unused-ignore]
        create_dataframe_from_blocks as _from_blocks,
    )

    _frame_from_blocks = _from_blocks
except ImportError:  # pragma: no cover - pandas 2
    _frame_from_blocks = None

__all__ = [
    "InputBatch",
    "UnseenCategories",
    "to_frame",
    "validate_columns",
    "validate_records",
]

UnseenCategories = Literal["reject", "allow"]

Column = list[Any] | np.ndarray

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


@dataclass(frozen=True)
class InputBatch:
    """Validated request rows: one column per signature input, in signature order, each
    coerced to its field type's representation (see the module docstring)."""

    columns: dict[str, list[Any] | np.ndarray]
    n_rows: int


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
    plan = _plan(signature)
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
    plan = _plan(signature)
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


def to_frame(batches: Sequence[InputBatch], signature: Signature) -> pd.DataFrame:
    """One DataFrame of every row of ``batches`` (validated against ``signature``), in
    order, with the dtypes the model was fitted on.

    ``integer`` is int64 (``Int64`` when there are nulls), ``float`` float64, ``boolean``
    bool (``boolean`` when there are nulls), ``string`` object, ``category`` a
    ``Categorical`` over the signature's categories (object when the categories are not
    known or when values outside them were allowed in), and ``datetime``
    ``datetime64[ns]``, or ``datetime64[ns, UTC]`` when the values carried an offset.
    """
    if not batches:
        raise ValueError("to_frame needs at least one batch")
    plan = _plan(signature)
    n_rows = batches[0].n_rows if len(batches) == 1 else sum(b.n_rows for b in batches)
    arrays: list[Any] = []
    for field in plan.fields:
        parts = [batch.columns[field.name] for batch in batches]
        arrays.append(_FRAME_COLUMNS[field.type](plan, field, parts))
    return _assemble(plan, arrays, n_rows)


# --- the per-signature plan ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Plan:
    signature: Signature
    fields: tuple[FieldSpec, ...]
    names: tuple[str, ...]
    name_set: frozenset[str]
    getter: Callable[[Any], Any]
    groups: tuple[tuple[FieldType, tuple[FieldSpec, ...]], ...]
    categories: dict[str, frozenset[str]]
    category_codes: dict[str, dict[str | None, int]]
    category_dtypes: dict[str, pd.CategoricalDtype]
    frame_columns: pd.Index


_PLANS: dict[int, _Plan] = {}


def _no_columns(record: object) -> tuple[()]:
    return ()


_GROUPED: tuple[FieldType, ...] = ("float", "integer", "boolean")


def _plan(signature: Signature) -> _Plan:
    plan = _PLANS.get(id(signature))
    if plan is not None and plan.signature is signature:
        return plan
    if len(_PLANS) > 256:
        _PLANS.clear()
    fields = signature.inputs
    names = tuple(field.name for field in fields)
    known = {f.name: f.categories for f in fields if f.type == "category" and f.categories}
    plan = _Plan(
        signature=signature,
        fields=fields,
        names=names,
        name_set=frozenset(names),
        getter=itemgetter(*names) if names else _no_columns,
        groups=tuple(
            (kind, group)
            for kind in _GROUPED
            if len(group := tuple(f for f in fields if f.type == kind)) > 1
        ),
        categories={name: frozenset(values) for name, values in known.items()},
        category_codes={
            name: {None: -1, **{value: code for code, value in enumerate(values)}}
            for name, values in known.items()
        },
        category_dtypes={name: pd.CategoricalDtype(list(values)) for name, values in known.items()},
        frame_columns=pd.Index(list(names)),
    )
    _PLANS[id(signature)] = plan
    return plan


# --- validation ------------------------------------------------------------------------


def _check_size(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise InvalidInputError("the batch is empty: send at least one row")
    if n_rows > max_rows:
        raise PayloadTooLargeError(
            f"the batch has {n_rows} rows, over the limit of {max_rows}; split it"
        )


def _validate(
    plan: _Plan,
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
    field: FieldSpec, column: Sequence[Any] | np.ndarray, plan: _Plan, policy: UnseenCategories
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
    field: FieldSpec, column: Sequence[Any] | np.ndarray, plan: _Plan, policy: UnseenCategories
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
    field: FieldSpec, column: Sequence[Any] | np.ndarray, plan: _Plan, policy: UnseenCategories
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
    field: FieldSpec, values: Sequence[Any] | np.ndarray, plan: _Plan, policy: UnseenCategories
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
    field: FieldSpec, values: Sequence[Any] | np.ndarray, plan: _Plan, policy: UnseenCategories
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
    field: FieldSpec, column: Sequence[Any] | np.ndarray, plan: _Plan, policy: UnseenCategories
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


_Validator = Callable[[FieldSpec, Any, _Plan, UnseenCategories], Column]
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


def _columns_from_odd_records(plan: _Plan, records: Sequence[Any]) -> dict[str, Sequence[Any]]:
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
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


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
    missing: Sequence[str], plan: _Plan, *, row: int | None = None
) -> InvalidInputError:
    where = f"row {row}: " if row is not None else ""
    plural = "s" if len(missing) > 1 else ""
    listed = ", ".join(repr(name) for name in missing[:_SHOWN_NAMES])
    return InvalidInputError(
        f"{where}missing column{plural} {listed} (the model reads: {name_list(plan.names)})",
        details={"missing_columns": list(missing)},
    )


# --- the frame -------------------------------------------------------------------------


def _numeric_part(
    parts: list[Column], dtype: type, nullable_dtype: Literal["Int64", "boolean"]
) -> Any:
    if len(parts) == 1:
        part = parts[0]
        if isinstance(part, np.ndarray):
            return part
        return pd.array(part, dtype=nullable_dtype)
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts).astype(dtype, copy=False)
    joined = list(
        chain.from_iterable(p.tolist() if isinstance(p, np.ndarray) else p for p in parts)
    )
    return pd.array(joined, dtype=nullable_dtype)


def _frame_integer(plan: _Plan, field: FieldSpec, parts: list[Column]) -> Any:
    return _numeric_part(parts, np.int64, "Int64")


def _frame_float(plan: _Plan, field: FieldSpec, parts: list[Column]) -> Any:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _frame_boolean(plan: _Plan, field: FieldSpec, parts: list[Column]) -> Any:
    return _numeric_part(parts, np.bool_, "boolean")


def _joined(parts: list[Column]) -> list[Any]:
    if len(parts) == 1:
        part = parts[0]
        return part if isinstance(part, list) else part.tolist()
    return list(chain.from_iterable(parts))


def _objects(values: list[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _frame_string(plan: _Plan, field: FieldSpec, parts: list[Column]) -> Any:
    return _objects(_joined(parts))


def _frame_category(plan: _Plan, field: FieldSpec, parts: list[Column]) -> Any:
    values = _joined(parts)
    codes = plan.category_codes.get(field.name)
    if codes is None:
        return _objects(values)
    try:
        numbers = [codes[value] for value in values]
    except KeyError:  # a category outside the known ones, let in by the "allow" policy
        return _objects(values)
    return pd.Categorical.from_codes(
        np.array(numbers, dtype=np.int64), dtype=plan.category_dtypes[field.name]
    )


def _frame_datetime(plan: _Plan, field: FieldSpec, parts: list[Column]) -> Any:
    values = _joined(parts)
    if any(value is not None and value.tzinfo is not None for value in values):
        naive = [value.replace(tzinfo=None) if value is not None else None for value in values]
        return pd.DatetimeIndex(np.array(naive, dtype="datetime64[ns]")).tz_localize("UTC").array
    return np.array(values, dtype="datetime64[ns]")


_FRAME_COLUMNS: dict[FieldType, Callable[[_Plan, FieldSpec, list[Column]], Any]] = {
    "integer": _frame_integer,
    "float": _frame_float,
    "boolean": _frame_boolean,
    "string": _frame_string,
    "category": _frame_category,
    "datetime": _frame_datetime,
}


def _assemble(plan: _Plan, arrays: list[Any], n_rows: int) -> pd.DataFrame:
    index = pd.RangeIndex(n_rows)
    if _frame_from_blocks is None:  # pragma: no cover - pandas 2
        data = {
            name: pd.Series(array, dtype=object, index=index, copy=False)
            if isinstance(array, np.ndarray) and array.dtype == object
            else array
            for name, array in zip(plan.names, arrays, strict=True)
        }
        return pd.DataFrame(data, index=index, columns=plan.frame_columns)
    same_dtype: dict[np.dtype[Any], list[int]] = {}
    blocks: list[tuple[Any, np.ndarray]] = []
    for position, array in enumerate(arrays):
        if isinstance(array, np.ndarray):
            same_dtype.setdefault(array.dtype, []).append(position)
        else:
            blocks.append((array, np.array([position], dtype=np.intp)))
    for positions in same_dtype.values():
        if len(positions) == 1:
            block = arrays[positions[0]].reshape(1, -1)
        else:
            block = np.stack([arrays[position] for position in positions])
        blocks.append((block, np.array(positions, dtype=np.intp)))
    frame: pd.DataFrame = _frame_from_blocks(blocks, index=index, columns=plan.frame_columns)
    return frame
