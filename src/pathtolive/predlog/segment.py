"""Prediction-log segments: the Parquet files the prediction log is kept in.

Every served prediction is kept with its request id, time, inputs (PII hashed or
redacted), output, model version and lineage. The server hands the logger one
:class:`PredictionRecord` per request and version; the logger writes them, one file per
(model, version) per flush (:func:`segment_chunks`), with :func:`encode_segment`, and hands
each file to a :class:`SegmentSink`, which the service layer provides (it stores the bytes
in the ArtifactStore and records the segment in the metadata database).
:func:`read_predictions` reads segments back as one frame.

Segment columns, in order: ``request_id`` (string), ``row`` (int32, the row's index in
its request), ``at`` (timestamp[us, UTC]), ``protocol``, ``role`` (string),
``latency_ms`` (float64), ``trained_on`` (string, comma-joined dataset versions), one
``input.<column>`` per input column in its own type (PII columns: string, the first 16
hex characters of BLAKE3(salt + value) under ``hash``, all null under ``redact``), then
``output`` (string, the row's output as JSON), ``prediction`` (float64: a numeric output,
or the probability of the last class for a list of probabilities) and ``label`` (string:
a class output as text).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from blake3 import blake3

from pathtolive.data.formats import dictionary_columns
from pathtolive.format import utc

__all__ = [
    "FIXED_COLUMNS",
    "INPUT_PREFIX",
    "OUTPUT_COLUMNS",
    "PiiMode",
    "PredictionRecord",
    "SegmentHead",
    "SegmentSink",
    "SinkFunction",
    "encode_rows",
    "encode_segment",
    "pii_array",
    "read_predictions",
    "segment_chunks",
]

PiiMode = Literal["hash", "redact"]
INPUT_PREFIX = "input."
FIXED_COLUMNS = ("request_id", "row", "at", "protocol", "role", "latency_ms", "trained_on")
OUTPUT_COLUMNS = ("output", "prediction", "label")
_HASH_CHARS = 16


@dataclass(frozen=True, eq=False)
class PredictionRecord:
    """One request's predictions by one model version."""

    request_id: str
    at: datetime  # UTC
    model: str
    version: int
    trained_on: tuple[str, ...]  # dataset versions, e.g. ("loans@3",)
    protocol: str  # "v1" | "mlflow" | "v2"
    role: str  # "live" | "canary" | "shadow"
    latency_ms: float
    inputs: pd.DataFrame  # the validated input rows of the request
    outputs: list[Any] | np.ndarray
    """One JSON-able output per row, or the rows' class probabilities as one float matrix
    (kept as the model answered them: the request path makes no Python object per row)."""
    columns: Mapping[str, Any] | None = None
    """The same rows as the request's validated columns (an
    :class:`~pathtolive.registry.batch.InputBatch`'s), when the caller has them: the
    journal writes those (a few microseconds) instead of taking the frame apart."""
    span: tuple[int, int] | None = None
    """The request's rows of ``inputs``, ``(start, stop)``, when ``inputs`` is the frame
    of a micro-batch several requests shared: the request path then makes no frame of its
    own for each request (nor objects for the collector to walk while it waits in the
    buffer), and a segment takes the batch's rows in one piece."""

    @property
    def rows(self) -> int:
        return len(self.inputs) if self.span is None else self.span[1] - self.span[0]

    def frame(self) -> pd.DataFrame:
        """The request's own input rows."""
        if self.span is None:
            return self.inputs
        start, stop = self.span
        return self.inputs.iloc[start:stop]


class SegmentSink(Protocol):
    """Where finished segments go (the service layer stores them)."""

    def write(
        self,
        model: str,
        version: int,
        parquet: bytes,
        rows: int,
        first_at: datetime,
        last_at: datetime,
    ) -> None: ...


SinkFunction = Callable[[str, int, bytes, int, datetime, datetime], None]
"""A :class:`SegmentSink`'s ``write`` as a plain function."""


class SegmentHead(Protocol):
    """What a segment needs of a request besides its inputs and outputs."""

    @property
    def request_id(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def model(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def trained_on(self) -> tuple[str, ...]: ...
    @property
    def protocol(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def rows(self) -> int: ...


_H = TypeVar("_H", bound=SegmentHead)


def segment_chunks(records: list[_H], limit: int) -> Iterable[list[_H]]:
    """Records grouped by (model, version) in arrival order, in chunks of about ``limit``
    rows (whole records): the records of one segment each."""
    groups: dict[tuple[str, int], list[_H]] = {}
    for record in records:
        groups.setdefault((record.model, record.version), []).append(record)
    for group in groups.values():
        chunk: list[_H] = []
        rows = 0
        for record in group:
            if chunk and rows + record.rows > limit:
                yield chunk
                chunk, rows = [], 0
            chunk.append(record)
            rows += record.rows
        if chunk:
            yield chunk


# -- encoding ------------------------------------------------------------------------------


def encode_segment(
    records: list[PredictionRecord],
    *,
    pii_columns: Collection[str] = (),
    pii_mode: PiiMode = "hash",
    salt: bytes = b"",
) -> bytes:
    """One Parquet file (zstd) of ``records`` (see the module docs for its columns)."""
    return encode_rows(
        records,
        _input_frame(records) if records else None,
        _gather_outputs([record.outputs for record in records]),
        pii_columns=pii_columns,
        pii_mode=pii_mode,
        salt=salt,
    )


def _input_frame(records: Sequence[PredictionRecord]) -> pd.DataFrame:
    """The input rows of ``records``, in order, as one frame: the consecutive requests of
    one micro-batch are taken from its frame as one slice (one piece to concatenate per
    batch, not per request)."""
    pieces: list[tuple[pd.DataFrame, int, int]] = []
    for record in records:
        start, stop = record.span or (0, len(record.inputs))
        if pieces and pieces[-1][0] is record.inputs and pieces[-1][2] == start:
            pieces[-1] = (record.inputs, pieces[-1][1], stop)
        else:
            pieces.append((record.inputs, start, stop))
    frames = [
        frame if (start, stop) == (0, len(frame)) else frame.iloc[start:stop]
        for frame, start, stop in pieces
    ]
    return (
        frames[0].reset_index(drop=True)
        if len(frames) == 1
        else pd.concat(frames, ignore_index=True)
    )


def _gather_outputs(parts: Sequence[Sequence[Any] | np.ndarray]) -> list[Any] | np.ndarray:
    """The outputs of several records, in order: one float matrix when every record's is
    one with the same number of columns (a classifier's probabilities, as serving hands
    them over), else one list."""
    if parts and all(_is_matrix(part) for part in parts):
        matrices = [np.asarray(part) for part in parts]
        if len({matrix.shape[1] for matrix in matrices}) == 1:
            return np.concatenate(matrices)
    return [
        output
        for part in parts
        for output in (part.tolist() if isinstance(part, np.ndarray) else part)
    ]


def _is_matrix(part: Sequence[Any] | np.ndarray) -> bool:
    return isinstance(part, np.ndarray) and part.ndim == 2 and part.dtype.kind in "biuf"


def encode_rows(
    records: Sequence[SegmentHead],
    frame: pd.DataFrame | None,
    outputs: list[Any] | np.ndarray,
    *,
    pii_columns: Collection[str] = (),
    pii_mode: PiiMode = "hash",
    salt: bytes = b"",
    hashed: Collection[str] = (),
    row_ids: pa.Array | None = None,
) -> bytes:
    """The segment of ``records`` whose input rows, in order, are ``frame``. Columns in
    ``hashed`` hold values already hashed or redacted (replayed from a journal).

    ``row_ids`` gives every row a request id of its own (row 0 of it), as a batch job's
    rows have: their id column's values, one Arrow string array for all the rows.

    It runs beside the request path (the logger's writer thread), so no step holds the GIL
    for long: the per-request columns are built once per request and spread to their rows
    by Arrow's ``take``, which releases the GIL, and nothing makes a Python object per
    row when the outputs are a float matrix."""
    sizes = np.array([record.rows for record in records], dtype=np.int64)
    total = int(sizes.sum())
    # For each row, the index of its request.
    owner = pa.array(np.repeat(np.arange(len(records), dtype=np.int64), sizes))

    def spread(values: list[Any], type_: pa.DataType) -> pa.Array:
        return pa.array(values, type=type_).take(owner)

    starts = np.cumsum(sizes) - sizes
    arrays: dict[str, pa.Array] = {
        "request_id": spread([r.request_id for r in records], pa.string())
        if row_ids is None
        else row_ids,
        "row": pa.array(
            (np.arange(total, dtype=np.int64) - np.repeat(starts, sizes)).astype(np.int32)
            if row_ids is None
            else np.zeros(total, np.int32),
            type=pa.int32(),
        ),
        "at": spread([utc(r.at) for r in records], pa.timestamp("us", tz="UTC")),
        "protocol": spread([r.protocol for r in records], pa.string()),
        "role": spread([r.role for r in records], pa.string()),
        "trained_on": spread([",".join(r.trained_on) for r in records], pa.string()),
        "latency_ms": spread([float(r.latency_ms) for r in records], pa.float64()),
    }
    columns = [arrays[name] for name in FIXED_COLUMNS]
    names = list(FIXED_COLUMNS)
    if frame is not None:
        for column in frame.columns:
            names.append(f"{INPUT_PREFIX}{column}")
            if column in hashed:
                columns.append(
                    pa.array(
                        [None if _missing(v) else str(v) for v in frame[column]], type=pa.string()
                    )
                )
            elif column in pii_columns:
                columns.append(pii_array(frame[column], pii_mode, salt))
            else:
                columns.append(_input_array(frame[column]))
    names.extend(OUTPUT_COLUMNS)
    columns.extend(
        _probability_columns(outputs)
        or _output_columns(outputs.tolist() if isinstance(outputs, np.ndarray) else outputs)
    )
    table = pa.Table.from_arrays(columns, names=names)
    assert table.num_rows == total
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        use_dictionary=dictionary_columns(table.schema, unique=("request_id", "output")),
    )
    return sink.getvalue()


def _input_array(series: pd.Series) -> pa.Array:
    """An input column in its own Arrow type; text stays plain string, categories are
    decoded, and a column Arrow cannot type (mixed objects) is kept as text."""
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        array = pa.array(
            [None if _missing(value) else str(value) for value in series], type=pa.string()
        )
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    return array


def pii_array(series: pd.Series, mode: PiiMode, salt: bytes) -> pa.Array:
    """A PII column as the log keeps it: the first 16 hex characters of each value's
    BLAKE3(salt + value) under ``hash``, all null under ``redact``."""
    if mode == "redact":
        return pa.nulls(len(series), type=pa.string())
    return pa.array(
        [
            None
            if _missing(value)
            else blake3(salt + str(value).encode("utf-8")).hexdigest()[:_HASH_CHARS]
            for value in series
        ],
        type=pa.string(),
    )


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are values, not missing
        return False


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays turned into Python ones."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _output_columns(outputs: list[Any]) -> list[pa.Array]:
    texts, predictions, labels = (
        zip(*map(_describe_output, outputs), strict=True) if outputs else ((), (), ())
    )
    return [
        pa.array(texts, type=pa.string()),
        pa.array(predictions, type=pa.float64()),
        pa.array(labels, type=pa.string()),
    ]


def _probability_columns(outputs: list[Any] | np.ndarray) -> list[pa.Array] | None:
    """The output columns at once when every output is a row of class probabilities (the
    common case, and the one a big batch makes costly row by row); None otherwise. A
    batch job hands its probabilities over as one float matrix."""
    if isinstance(outputs, np.ndarray):
        matrix = outputs.astype(np.float64, copy=False)
    else:
        if not outputs or not all(type(row) is list for row in outputs):
            return None
        try:
            matrix = np.array(outputs, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
        return None
    return [
        _row_texts(matrix),
        pa.array(matrix[:, -1], type=pa.float64()),
        pa.nulls(len(outputs), type=pa.string()),
    ]


_TEXT_CHUNK_ROWS = 2_000
"""Rows written to JSON in one call: each call holds the GIL, so a big segment is written
in pieces that leave room for the request threads between them."""


def _row_texts(matrix: np.ndarray) -> pa.Array | pa.ChunkedArray:
    """Each row of a finite float matrix as JSON text, as ``orjson.dumps(row)`` writes it,
    written :data:`_TEXT_CHUNK_ROWS` rows at a time (see :func:`_chunk_texts`); a column
    of several chunks when there are more (never past a chunk's 2 GiB of text)."""
    rows = matrix.shape[0]
    if rows <= _TEXT_CHUNK_ROWS:
        return _chunk_texts(matrix)
    chunks = [
        _chunk_texts(matrix[start : start + _TEXT_CHUNK_ROWS])
        for start in range(0, rows, _TEXT_CHUNK_ROWS)
    ]
    return pa.chunked_array(chunks, type=pa.string())


def _chunk_texts(matrix: np.ndarray) -> pa.Array:
    """Each row of a finite float matrix as JSON text. The matrix is written in one call,
    ``[[a,b],[c,d]]``, and becomes one Arrow string array without a Python object per
    row: the commas between rows are dropped and the rows' boundaries, the only ``][``
    left, are the array's offsets. Several times faster than a call per row on a batch
    job's million rows."""
    rows = matrix.shape[0]
    if rows == 0:
        return pa.array([], type=pa.string())
    whole = orjson.dumps(np.ascontiguousarray(matrix), option=orjson.OPT_SERIALIZE_NUMPY)
    data = whole[1:-1].replace(b"],[", b"][")
    raw = np.frombuffer(data, dtype=np.uint8)
    boundaries = np.flatnonzero((raw[:-1] == ord("]")) & (raw[1:] == ord("["))) + 1
    offsets = np.concatenate(([0], boundaries, [len(data)])).astype(np.int32)
    assert offsets.size == rows + 1
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))


def _describe_output(output: Any) -> tuple[str, float | None, str | None]:
    """(JSON text, prediction, label) of one row's output: a float is a regressor's
    value; a list of numbers is class probabilities (prediction: the last class's); a
    string, integer or boolean is a class (label) and, when numeric, also its value."""
    value = _plain(output)
    text = json.dumps(value, default=_json_default)
    if isinstance(value, float):
        return text, _number(value), None
    if isinstance(value, bool | int):
        return text, float(value), str(value)
    if isinstance(value, str):
        return text, None, value
    if isinstance(value, list) and value and all(_number(item) is not None for item in value):
        return text, _number(value[-1]), None
    return text, None, None


# -- reading -------------------------------------------------------------------------------


def read_predictions(segments: Iterable[bytes]) -> pd.DataFrame:
    """The rows of several segments as one DataFrame, in the order given. Columns are the
    union of the segments' (an input column missing from a segment is null there)."""
    tables = [pq.read_table(io.BytesIO(data)) for data in segments]
    if not tables:
        return _empty_frame()
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        table = pa.concat_tables(_as_text_where_types_differ(tables), promote_options="permissive")
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _as_text_where_types_differ(tables: list[pa.Table]) -> list[pa.Table]:
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            if not pa.types.is_null(field.type):
                types.setdefault(field.name, set()).add(field.type)
    mixed = {name for name, found in types.items() if len(found) > 1}
    result = []
    for table in tables:
        for name in mixed & set(table.column_names):
            index = table.column_names.index(name)
            column = table.column(name)
            text = pa.array(
                [None if value is None else str(value) for value in column.to_pylist()],
                type=pa.string(),
            )
            table = table.set_column(index, name, text)
        result.append(table)
    return result


def _empty_frame() -> pd.DataFrame:
    schema = pa.schema(
        [
            ("request_id", pa.string()),
            ("row", pa.int32()),
            ("at", pa.timestamp("us", tz="UTC")),
            ("protocol", pa.string()),
            ("role", pa.string()),
            ("latency_ms", pa.float64()),
            ("trained_on", pa.string()),
            ("output", pa.string()),
            ("prediction", pa.float64()),
            ("label", pa.string()),
        ]
    )
    frame: pd.DataFrame = schema.empty_table().to_pandas()
    return frame
