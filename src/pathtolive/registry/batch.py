"""A batch of inputs checked against a version's signature, and the frame a model reads.

Request validation (in the server) checks decoded request columns against the
:class:`~pathtolive.registry.signature.Signature` and coerces them to one representation
per field type: an :class:`InputBatch`. :func:`to_frame` turns one or more batches into the
DataFrame the model reads; the prediction log's crash journal rebuilds batches from its
lines and goes through the same function, so replayed rows get the types serving gave them.

Batch columns hold: ``float`` a float64 array (NaN for null); ``integer`` and ``boolean``
an int64 or bool array, or a list with ``None`` when the batch has nulls; ``string`` and
``category`` a list of ``str`` or ``None``; ``datetime`` a list of
:class:`~datetime.datetime` (offsets converted to UTC) or ``None``.

Both validation and :func:`to_frame` run on every request, so what they derive from a
signature (names, getters, category codes) is computed once per signature object and
kept (:func:`signature_plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import pandas as pd

from pathtolive.registry.signature import FieldSpec, FieldType, Signature

_frame_from_blocks: Callable[..., pd.DataFrame] | None
try:  # pandas >= 3: a frame built straight from its blocks, several times faster
    from pandas.api.internals import (  # type: ignore[import-not-found,unused-ignore]
        create_dataframe_from_blocks as _from_blocks,
    )

    _frame_from_blocks = _from_blocks
except ImportError:  # pragma: no cover - pandas 2
    _frame_from_blocks = None

__all__ = ["Column", "InputBatch", "SignaturePlan", "signature_plan", "to_frame"]

Column = list[Any] | np.ndarray
"""One validated column (see the module docstring for what each field type holds)."""


@dataclass(frozen=True)
class InputBatch:
    """Validated request rows: one column per signature input, in signature order, each
    coerced to its field type's representation (see the module docstring)."""

    columns: dict[str, list[Any] | np.ndarray]
    n_rows: int


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
    plan = signature_plan(signature)
    n_rows = batches[0].n_rows if len(batches) == 1 else sum(b.n_rows for b in batches)
    arrays: list[Any] = []
    for field in plan.fields:
        parts = [batch.columns[field.name] for batch in batches]
        arrays.append(_FRAME_COLUMNS[field.type](plan, field, parts))
    return _assemble(plan, arrays, n_rows)


# --- the per-signature plan ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SignaturePlan:
    """What the hot path derives from a signature once: its fields and names, a getter
    of a record's values in signature order, the numeric fields checked together, and
    the known categories with their codes and dtypes (for validating a batch and for
    building its frame)."""

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


_PLANS: dict[int, SignaturePlan] = {}


def _no_columns(record: object) -> tuple[()]:
    return ()


_GROUPED: tuple[FieldType, ...] = ("float", "integer", "boolean")


def signature_plan(signature: Signature) -> SignaturePlan:
    """The plan of ``signature``, built on first use and then kept (by identity: the
    server holds one signature object per served version)."""
    plan = _PLANS.get(id(signature))
    if plan is not None and plan.signature is signature:
        return plan
    if len(_PLANS) > 256:
        _PLANS.clear()
    fields = signature.inputs
    names = tuple(field.name for field in fields)
    known = {f.name: f.categories for f in fields if f.type == "category" and f.categories}
    plan = SignaturePlan(
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


def _frame_integer(plan: SignaturePlan, field: FieldSpec, parts: list[Column]) -> Any:
    return _numeric_part(parts, np.int64, "Int64")


def _frame_float(plan: SignaturePlan, field: FieldSpec, parts: list[Column]) -> Any:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _frame_boolean(plan: SignaturePlan, field: FieldSpec, parts: list[Column]) -> Any:
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


def _frame_string(plan: SignaturePlan, field: FieldSpec, parts: list[Column]) -> Any:
    return _objects(_joined(parts))


def _frame_category(plan: SignaturePlan, field: FieldSpec, parts: list[Column]) -> Any:
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


def _frame_datetime(plan: SignaturePlan, field: FieldSpec, parts: list[Column]) -> Any:
    values = _joined(parts)
    if any(value is not None and value.tzinfo is not None for value in values):
        naive = [value.replace(tzinfo=None) if value is not None else None for value in values]
        return pd.DatetimeIndex(np.array(naive, dtype="datetime64[ns]")).tz_localize("UTC").array
    return np.array(values, dtype="datetime64[ns]")


_FRAME_COLUMNS: dict[FieldType, Callable[[SignaturePlan, FieldSpec, list[Column]], Any]] = {
    "integer": _frame_integer,
    "float": _frame_float,
    "boolean": _frame_boolean,
    "string": _frame_string,
    "category": _frame_category,
    "datetime": _frame_datetime,
}


def _assemble(plan: SignaturePlan, arrays: list[Any], n_rows: int) -> pd.DataFrame:
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
