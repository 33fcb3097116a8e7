"""MLflow scoring (``/invocations``), JSON or CSV, answered and refused as MLflow's own
scoring server does.

``application/json`` (the default when no content type is given) holds exactly one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, and may hold
``params``; ``text/csv`` holds a header row and one row per prediction, its cells typed
by the model's signature. An error is ``{"error_code": ..., "message": ...}`` with
MLflow's code for the HTTP status.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from pathtolive.errors import InvalidInputError, UnsupportedFormatError
from pathtolive.registry.batch import InputBatch
from pathtolive.registry.signature import FieldSpec, Signature
from pathtolive.registry.validation import (
    UnseenCategories,
    describe_value,
    validate_columns,
    validate_records,
)
from pathtolive.serving.codecs.base import (
    Prediction,
    decode_positional,
    decode_rows,
    encode_predictions,
    json_object,
)

__all__ = ["decode_mlflow", "encode_mlflow", "mlflow_error"]

_MLFLOW_INPUTS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def decode_mlflow(
    body: bytes,
    content_type: str | None,
    signature: Signature,
    *,
    unseen_categories: UnseenCategories = "reject",
    max_rows: int,
) -> tuple[InputBatch, dict[str, Any]]:
    """The rows and ``params`` of an MLflow ``/invocations`` body.

    ``application/json`` (the default when no content type is given) holds exactly one of
    ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, and may hold
    ``params``; ``text/csv`` holds a header row and one row per prediction. Any other
    content type is an ``UnsupportedFormatError``.
    """
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "text/csv":
        return _decode_csv(body, signature, unseen_categories, max_rows), {}
    if media not in ("", "application/json"):
        raise UnsupportedFormatError(
            f"content type {media!r} is not supported; send application/json or text/csv"
        )
    data = json_object(body)
    unknown = [key for key in data if key not in (*_MLFLOW_INPUTS, "params")]
    present = [key for key in _MLFLOW_INPUTS if key in data]
    if unknown or len(present) != 1:
        problem = (
            f"unknown key {unknown[0]!r}"
            if unknown
            else f"{'several' if present else 'no'} input keys"
        )
        raise InvalidInputError(
            f"the body has {problem}; send exactly one of {', '.join(_MLFLOW_INPUTS)}, "
            'and optionally "params"'
        )
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise InvalidInputError(f'"params" must be an object, not {describe_value(params)}')
    key = present[0]
    value = data[key]
    if key == "dataframe_split":
        batch = _decode_split(value, signature, unseen_categories, max_rows)
    elif key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidInputError(
                f'"dataframe_records" must be a list of objects, not {describe_value(value)}'
            )
        batch = validate_records(
            value, signature, unseen_categories=unseen_categories, max_rows=max_rows
        )
    else:
        batch = decode_rows(value, key, signature, unseen_categories, max_rows)
    return batch, params


def encode_mlflow(prediction: Prediction, signature: Signature) -> bytes:
    """``{"predictions": [...]}``, with the rows shaped as KServe V1 shapes them."""
    return encode_predictions(prediction)


_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "INVALID_STATE",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    422: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def mlflow_error(exc: BaseException) -> bytes:
    """An error body as MLflow's scoring server writes it: ``error_code`` (MLflow's code
    for the exception's HTTP status, ``INTERNAL_ERROR`` for anything unexpected) and
    ``message``."""
    status = getattr(exc, "http_status", 500)
    code = _MLFLOW_CODES.get(status, "INTERNAL_ERROR") if isinstance(status, int) else None
    return orjson.dumps({"error_code": code or "INTERNAL_ERROR", "message": str(exc)})


def _decode_split(
    value: Any, signature: Signature, policy: UnseenCategories, max_rows: int
) -> InputBatch:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidInputError(
            '"dataframe_split" must be an object with "columns" and "data" (a list of rows), '
            f"not {describe_value(value)}"
        )
    unknown = [key for key in value if key not in ("columns", "data", "index")]
    if unknown:
        raise InvalidInputError(
            f'unknown key {unknown[0]!r} in "dataframe_split"; it holds columns, data and index'
        )
    columns = value.get("columns")
    if columns is None:
        return decode_positional(value["data"], signature, policy, max_rows)
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise InvalidInputError('"dataframe_split" "columns" must be a list of column names')
    if len(set(columns)) != len(columns):
        twice = next(name for name in columns if columns.count(name) > 1)
        raise InvalidInputError(f'"dataframe_split" lists column {twice!r} twice')
    return decode_positional(value["data"], signature, policy, max_rows, columns)


# --- CSV -------------------------------------------------------------------------------

_BOOLEANS = {"true": True, "false": False}


def _decode_csv(
    body: bytes, signature: Signature, policy: UnseenCategories, max_rows: int
) -> InputBatch:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"the CSV body is not UTF-8: {exc}") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if row]
    except csv.Error as exc:
        raise InvalidInputError(f"the body is not valid CSV: {exc}") from None
    if not rows:
        raise InvalidInputError(
            "the CSV body is empty: send a header row of column names, then one row per prediction"
        )
    header, data = rows[0], rows[1:]
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise InvalidInputError(f"the CSV header lists column {twice!r} twice")
    for index, row in enumerate(data):
        if len(row) != len(header):
            raise InvalidInputError(
                f"CSV row {index} has {len(row)} cells but the header has {len(header)}"
            )
    fields = {spec.name: spec for spec in signature.inputs}
    cells = zip(*data, strict=True) if data else ([] for _ in header)
    columns = {
        name: _from_csv(fields.get(name), list(column))
        for name, column in zip(header, cells, strict=True)
    }
    return validate_columns(
        columns, len(data), signature, unseen_categories=policy, max_rows=max_rows
    )


def _from_csv(spec: FieldSpec | None, cells: list[str]) -> Sequence[Any] | np.ndarray:
    """CSV cells typed for their field: an empty cell is null, and a cell that does not
    parse is left a string, for validation to name."""
    kind = spec.type if spec is not None else None
    if kind == "float" or kind == "integer":
        dtype = np.float64 if kind == "float" else np.int64
        try:
            return np.array(cells, dtype=dtype)
        except (ValueError, OverflowError):
            return [_csv_number(cell) for cell in cells]
    if kind == "boolean":
        return [None if cell == "" else _BOOLEANS.get(cell.lower(), cell) for cell in cells]
    if kind is None:
        return cells
    return [None if cell == "" else cell for cell in cells]


def _csv_number(cell: str) -> int | float | str | None:
    if cell == "":
        return None
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell
