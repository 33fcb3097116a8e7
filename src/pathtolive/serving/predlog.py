"""The prediction log: every served prediction, with its request id, time, inputs (PII
hashed or redacted), output, model version and lineage, kept as Parquet segments.

The request path only appends to an in-memory buffer (:meth:`PredictionLogger.log`): no
I/O and no lock held while anything slow happens. One background thread turns the buffer
into Parquet files, one per (model, version) per flush, and hands each to a
:class:`SegmentSink`, which the service layer provides (it stores the bytes in the
ArtifactStore and records the segment in the metadata database); this module does no
I/O of its own.

The buffer is bounded. A record that does not fit is dropped and counted
(``dropped_rows``), never silently lost; a sink that fails keeps its rows for the next
attempt (still within the bound), and the failure is counted and logged.

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
import logging
import math
import os
import random
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from blake3 import blake3

__all__ = [
    "FIXED_COLUMNS",
    "INPUT_PREFIX",
    "LoggerStats",
    "PiiMode",
    "PredictionLogger",
    "PredictionRecord",
    "SegmentSink",
    "encode_segment",
    "read_predictions",
]

_log = logging.getLogger(__name__)

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
    outputs: list[Any]  # one JSON-able output per row

    @property
    def rows(self) -> int:
        return len(self.inputs)


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
PiiColumns = Callable[[str, int], Collection[str]] | Mapping[tuple[str, int], Collection[str]]


@dataclass(frozen=True)
class LoggerStats:
    """Counters since the logger was made, in rows (never requests).

    Every row offered to :meth:`PredictionLogger.log` ends up in exactly one of
    ``written_rows``, ``dropped_rows``, ``sampled_out`` or the buffer; ``logged_rows``
    counts the rows the buffer accepted."""

    logged_rows: int = 0
    written_rows: int = 0
    dropped_rows: int = 0
    sampled_out: int = 0
    segments: int = 0
    write_errors: int = 0
    buffered_rows: int = 0


class PredictionLogger:
    """A non-blocking, bounded, batching prediction logger (see the module docs).

    ``sink`` receives each segment: an object with a ``write`` method (a
    :class:`SegmentSink`) or a function with the same arguments. ``buffer_rows`` bounds
    the rows held in memory; the thread flushes every ``flush_seconds``, or as soon as
    ``segment_rows`` rows are waiting (a segment holds at most about ``segment_rows``
    rows: a request's rows are never split). ``sample`` is the share of requests logged.
    ``pii_columns`` names each version's PII columns (a mapping keyed by (model, version)
    or a function); :meth:`set_pii` adds to it. ``salt`` keys the hashes of PII values:
    pass a fixed secret to get the same hash for the same value across restarts and
    replicas; the default is random per logger.
    """

    def __init__(
        self,
        sink: SegmentSink | SinkFunction,
        *,
        buffer_rows: int = 100_000,
        flush_seconds: float = 5.0,
        segment_rows: int = 50_000,
        sample: float = 1.0,
        pii_columns: PiiColumns | None = None,
        pii_mode: PiiMode = "hash",
        salt: bytes | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if buffer_rows < 1 or segment_rows < 1:
            raise ValueError("buffer_rows and segment_rows must be positive")
        if flush_seconds <= 0:
            raise ValueError("flush_seconds must be positive")
        if not 0 <= sample <= 1:
            raise ValueError("sample must be a share between 0 and 1")
        if pii_mode not in ("hash", "redact"):
            raise ValueError("pii_mode must be 'hash' or 'redact'")
        write = getattr(sink, "write", None)
        self._write = cast(SinkFunction, write if callable(write) else sink)
        self.buffer_rows = buffer_rows
        self.flush_seconds = flush_seconds
        self.segment_rows = segment_rows
        self.sample = sample
        self.pii_mode: PiiMode = pii_mode
        self._salt = os.urandom(16) if salt is None else bytes(salt)
        self._pii_source = pii_columns
        self._pii: dict[tuple[str, int], frozenset[str]] = {}
        self._random = rng or random.Random()
        # Guards the buffer and the counters; held only for list and integer operations.
        self._lock = threading.Lock()
        # Serialises flushes (the thread's, explicit ones, close's); log() never takes it.
        self._flush_lock = threading.Lock()
        self._buffer: list[PredictionRecord] = []
        self._buffered = 0
        self._counts = dict.fromkeys(
            ("logged_rows", "written_rows", "dropped_rows", "sampled_out", "segments"), 0
        )
        self._counts["write_errors"] = 0
        self._closed = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the request path --------------------------------------------------------------

    def log(self, record: PredictionRecord) -> bool:
        """Queue ``record``; never blocks. True when it was taken (buffered, or left out
        by sampling); False when it was dropped because the buffer is full or the logger
        is closed (its rows are counted in ``dropped_rows``)."""
        rows = len(record.inputs)
        if len(record.outputs) != rows:
            raise ValueError(
                f"request {record.request_id}: {len(record.outputs)} outputs for {rows} rows"
            )
        if rows == 0:
            return True
        sampled_out = self.sample < 1 and self._random.random() >= self.sample
        with self._lock:
            if self._closed or (not sampled_out and self._buffered + rows > self.buffer_rows):
                self._counts["dropped_rows"] += rows
                return False
            if sampled_out:
                self._counts["sampled_out"] += rows
                return True
            self._buffer.append(record)
            self._buffered += rows
            self._counts["logged_rows"] += rows
            full = self._buffered >= self.segment_rows
        if full:
            self._wake.set()
        return True

    def set_pii(self, model: str, version: int, columns: Collection[str]) -> None:
        """Treat ``columns`` of ``model@version``'s inputs as PII from the next flush on."""
        with self._lock:
            self._pii[(model, version)] = frozenset(columns)

    @property
    def stats(self) -> LoggerStats:
        with self._lock:
            return LoggerStats(**self._counts, buffered_rows=self._buffered)

    # -- the background side -----------------------------------------------------------

    def start(self) -> None:
        """Start the one background thread that flushes the buffer."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the prediction logger is closed")
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="pathtolive-prediction-log", daemon=True
            )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            if self._flush_safely() and not self._stop.is_set():
                # A failing sink is retried after the interval, not at every new record.
                self._stop.wait(self.flush_seconds)
        self._flush_safely()

    def _flush_safely(self) -> bool:
        """Flush; True when something failed."""
        errors = self.stats.write_errors
        try:
            self.flush()
        except Exception:  # the thread must outlive any surprise
            _log.exception("prediction log: a flush failed")
            return True
        return self.stats.write_errors > errors

    def flush(self) -> int:
        """Write everything buffered now; returns the rows written. Rows of a segment the
        sink refused go back to the buffer (oldest dropped, and counted, beyond its
        bound)."""
        with self._flush_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
                self._buffered = 0
                pii = dict(self._pii)
            if not pending:
                return 0
            written = 0
            failed: list[PredictionRecord] = []
            for records in _chunks(pending, self.segment_rows):
                model, version = records[0].model, records[0].version
                chunk, parquet = self._encode(records, self._pii_columns(model, version, pii))
                if parquet is None:
                    continue
                rows = sum(len(record.inputs) for record in chunk)
                try:
                    self._write(
                        model,
                        version,
                        parquet,
                        rows,
                        _utc(min(record.at for record in chunk)),
                        _utc(max(record.at for record in chunk)),
                    )
                except Exception as exc:
                    _log.error(
                        "prediction log: writing %d rows of %s@%d failed, kept for the next "
                        "attempt: %s",
                        rows,
                        model,
                        version,
                        exc,
                    )
                    with self._lock:
                        self._counts["write_errors"] += 1
                    failed.extend(chunk)
                    continue
                written += rows
                with self._lock:
                    self._counts["written_rows"] += rows
                    self._counts["segments"] += 1
            if failed:
                self._requeue(failed)
            return written

    def _encode(
        self, records: list[PredictionRecord], pii_columns: frozenset[str]
    ) -> tuple[list[PredictionRecord], bytes | None]:
        """The records that can be encoded and their segment (None when none can). A
        record that cannot be encoded would fail at every attempt, so it is dropped,
        counted and logged instead of being kept."""

        def encode(chunk: list[PredictionRecord]) -> bytes:
            return encode_segment(
                chunk, pii_columns=pii_columns, pii_mode=self.pii_mode, salt=self._salt
            )

        try:
            return records, encode(records)
        except Exception:
            pass
        good: list[PredictionRecord] = []
        for record in records:
            try:
                encode([record])
            except Exception as exc:
                _log.error(
                    "prediction log: request %s to %s@%d cannot be encoded, its %d rows "
                    "are dropped: %s",
                    record.request_id,
                    record.model,
                    record.version,
                    len(record.inputs),
                    exc,
                )
                with self._lock:
                    self._counts["dropped_rows"] += len(record.inputs)
            else:
                good.append(record)
        if not good:
            return good, None
        return good, encode(good)

    def _requeue(self, failed: list[PredictionRecord]) -> None:
        with self._lock:
            records = failed + self._buffer
            total = self._buffered + sum(len(record.inputs) for record in failed)
            dropped = 0
            while total > self.buffer_rows:
                rows = len(records.pop(0).inputs)
                total -= rows
                dropped += rows
            self._buffer = records
            self._buffered = total
            self._counts["dropped_rows"] += dropped
        if dropped:
            _log.error(
                "prediction log: %d rows dropped: the buffer is full while the sink fails",
                dropped,
            )

    def close(self, timeout: float = 30) -> None:
        """Flush everything and stop the thread; ``log`` refuses records from now on.
        Rows the sink still refuses at the end are dropped, counted and logged."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                _log.error(
                    "prediction log: the writer did not finish within %.0f s; %d rows may be lost",
                    timeout,
                    self.stats.buffered_rows,
                )
                return
        else:
            self._flush_safely()
        with self._lock:
            left, self._buffer = self._buffered, []
            self._buffered = 0
            self._counts["dropped_rows"] += left
        if left:
            _log.error("prediction log: %d rows dropped at close: the sink kept failing", left)

    def __enter__(self) -> PredictionLogger:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _pii_columns(
        self, model: str, version: int, overrides: Mapping[tuple[str, int], frozenset[str]]
    ) -> frozenset[str]:
        columns = set(overrides.get((model, version), ()))
        source = self._pii_source
        if callable(source):
            columns.update(source(model, version))
        elif source is not None:
            columns.update(source.get((model, version), ()))
        return frozenset(columns)


def _chunks(records: list[PredictionRecord], limit: int) -> Iterable[list[PredictionRecord]]:
    """Records grouped by (model, version) in arrival order, in chunks of about ``limit``
    rows (whole records)."""
    groups: dict[tuple[str, int], list[PredictionRecord]] = {}
    for record in records:
        groups.setdefault((record.model, record.version), []).append(record)
    for group in groups.values():
        chunk: list[PredictionRecord] = []
        rows = 0
        for record in group:
            if chunk and rows + len(record.inputs) > limit:
                yield chunk
                chunk, rows = [], 0
            chunk.append(record)
            rows += len(record.inputs)
        if chunk:
            yield chunk


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- encoding ------------------------------------------------------------------------------


def encode_segment(
    records: list[PredictionRecord],
    *,
    pii_columns: Collection[str] = (),
    pii_mode: PiiMode = "hash",
    salt: bytes = b"",
) -> bytes:
    """One Parquet file (zstd) of ``records`` (see the module docs for its columns)."""
    sizes = [len(record.inputs) for record in records]
    total = sum(sizes)
    arrays: dict[str, pa.Array] = {
        "request_id": pa.array(
            np.repeat(np.array([r.request_id for r in records], dtype=object), sizes),
            type=pa.string(),
        ),
        "row": pa.array(
            np.concatenate([np.arange(n, dtype=np.int32) for n in sizes])
            if records
            else np.zeros(0, np.int32),
            type=pa.int32(),
        ),
        "at": pa.array(
            np.repeat(np.array([_utc(r.at) for r in records], dtype=object), sizes),
            type=pa.timestamp("us", tz="UTC"),
        ),
    }
    for name, values in (
        ("protocol", [r.protocol for r in records]),
        ("role", [r.role for r in records]),
        ("trained_on", [",".join(r.trained_on) for r in records]),
    ):
        arrays[name] = pa.array(np.repeat(np.array(values, dtype=object), sizes), pa.string())
    arrays["latency_ms"] = pa.array(
        np.repeat(np.array([float(r.latency_ms) for r in records], dtype=np.float64), sizes),
        type=pa.float64(),
    )
    columns = [arrays[name] for name in FIXED_COLUMNS]
    names = list(FIXED_COLUMNS)
    frame = pd.concat([r.inputs for r in records], ignore_index=True) if records else None
    if frame is not None:
        for column in frame.columns:
            names.append(f"{INPUT_PREFIX}{column}")
            if column in pii_columns:
                columns.append(_pii_array(frame[column], pii_mode, salt))
            else:
                columns.append(_input_array(frame[column]))
    outputs = [output for record in records for output in record.outputs]
    names.extend(OUTPUT_COLUMNS)
    columns.extend(_probability_columns(outputs) or _output_columns(outputs))
    table = pa.Table.from_arrays(columns, names=names)
    assert table.num_rows == total
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
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


def _pii_array(series: pd.Series, mode: PiiMode, salt: bytes) -> pa.Array:
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


def _probability_columns(outputs: list[Any]) -> list[pa.Array] | None:
    """The output columns at once when every output is a row of class probabilities (the
    common case, and the one a big batch makes costly row by row); None otherwise."""
    if not outputs or not all(type(row) is list for row in outputs):
        return None
    try:
        matrix = np.array(outputs, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
        return None
    texts = [orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY).decode() for row in outputs]
    return [
        pa.array(texts, type=pa.string()),
        pa.array(matrix[:, -1], type=pa.float64()),
        pa.nulls(len(outputs), type=pa.string()),
    ]


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
