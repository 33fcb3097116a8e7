"""What the three protocol codecs share: the :class:`Prediction` they encode, and the
JSON rows, records and columns that KServe V1 and MLflow JSON both accept.

A body of rows is one of three shapes: a list of objects (records), a list of lists in
the model's column order (positional rows), or an object of columns. The decoders here
only reshape those into columns; every check of the values against the model's
signature is :mod:`pathtolive.registry.validation`'s. Every problem is an
:class:`~pathtolive.errors.InvalidInputError` (HTTP 400) that says what is wrong and what
the protocol accepts instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from pathtolive.errors import InvalidInputError
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.flavors.base import ClassLabel
from pathtolive.registry.signature import Signature
from pathtolive.registry.validation import (
    UnseenCategories,
    describe_value,
    name_list,
    validate_columns,
    validate_records,
)

__all__ = [
    "JSON_OPTIONS",
    "Prediction",
    "decode_positional",
    "decode_rows",
    "encode_predictions",
    "json_object",
]


@dataclass(frozen=True)
class Prediction:
    """What a model answered for a batch: ``labels`` (a classifier's labels or a
    regressor's values, shape ``(n,)``) and, for a classifier with probabilities,
    ``probabilities`` of shape ``(n, len(classes))`` in the order of ``classes``."""

    labels: np.ndarray
    probabilities: np.ndarray | None
    classes: tuple[ClassLabel, ...] | None


JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
"""How every codec writes JSON: numpy arrays as arrays, without a copy to lists."""
_ROW_SHAPES = (
    'a list of objects ([{"age": 41, ...}]), a list of rows in the model\'s column order '
    '([[41, ...]]) or an object of columns ({"age": [41, ...]})'
)


def encode_predictions(prediction: Prediction) -> bytes:
    """``{"predictions": [...]}``: per row the class probabilities (in ``classes`` order)
    for a model with probabilities, else the label or value."""
    return orjson.dumps({"predictions": _json_predictions(prediction)}, option=JSON_OPTIONS)


def json_object(body: bytes | memoryview) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raw = bytes(body)
        hint = (
            "; NaN and Infinity are not JSON: send null for a missing value"
            if b"NaN" in raw or b"Infinity" in raw
            else ""
        )
        raise InvalidInputError(f"the body is not valid JSON: {exc}{hint}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"the body must be a JSON object, not {describe_value(data)}")
    return data


def decode_rows(
    value: Any, key: str, signature: Signature, policy: UnseenCategories, max_rows: int
) -> InputBatch:
    if isinstance(value, dict):
        return _columnar(value, signature, policy, max_rows)
    if not isinstance(value, list):
        raise InvalidInputError(f'"{key}" must hold {_ROW_SHAPES}, not {describe_value(value)}')
    first = value[0] if value else None
    if isinstance(first, list):
        return decode_positional(value, signature, policy, max_rows)
    if value and not isinstance(first, dict):
        raise InvalidInputError(
            f'"{key}" must hold {_ROW_SHAPES}; its first item is {describe_value(first)}'
        )
    return validate_records(value, signature, unseen_categories=policy, max_rows=max_rows)


def decode_positional(
    rows: list[Any],
    signature: Signature,
    policy: UnseenCategories,
    max_rows: int,
    columns: Sequence[str] | None = None,
) -> InputBatch:
    """Rows given as lists of values, in the order of ``columns`` when the body names
    them, else in the model's column order."""
    names = signature.input_names if columns is None else columns
    where = "the model reads" if columns is None else "the columns"
    _check_rows(rows, len(names), lambda: f"{where} ({name_list(names)})")
    cells = zip(*rows, strict=True) if rows else ([] for _ in names)
    return validate_columns(
        dict(zip(names, cells, strict=True)),
        len(rows),
        signature,
        unseen_categories=policy,
        max_rows=max_rows,
    )


def _check_rows(rows: list[Any], width: int, columns: Callable[[], str]) -> None:
    if set(map(type, rows)) <= {list} and set(map(len, rows)) <= {width}:
        return
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise InvalidInputError(
                f"row {index} is {describe_value(row)}; send every row as a list of values"
            )
        if len(row) != width:
            raise InvalidInputError(
                f"row {index} has {len(row)} values but there are {width} columns in "
                f"{columns()}; send one value per column, in that order"
            )


def _columnar(
    value: dict[str, Any], signature: Signature, policy: UnseenCategories, max_rows: int
) -> InputBatch:
    lengths: set[int] = set()
    for name, column in value.items():
        if not isinstance(column, list):
            raise InvalidInputError(
                f"column {name!r} must be a list of values, one per row, not "
                f"{describe_value(column)}"
            )
        lengths.add(len(column))
    if len(lengths) > 1:
        first = len(next(iter(value.values())))
        odd = next(name for name, column in value.items() if len(column) != first)
        raise InvalidInputError(
            f"column {odd!r} has {len(value[odd])} values but the first column has {first}; "
            "send one value per row in every column"
        )
    n_rows = lengths.pop() if lengths else 0
    return validate_columns(value, n_rows, signature, unseen_categories=policy, max_rows=max_rows)


def _json_predictions(prediction: Prediction) -> Any:
    if prediction.probabilities is not None:
        return np.ascontiguousarray(prediction.probabilities, dtype=np.float64)
    labels = prediction.labels
    if labels.dtype.kind in "biuf":
        return np.ascontiguousarray(labels)
    return labels.tolist()
