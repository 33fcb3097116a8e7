"""The prediction log: every served prediction, with its request id, time, inputs (PII
hashed or redacted), output, model version and lineage, kept as Parquet segments.

The request path only appends to an in-memory buffer (:meth:`PredictionLogger.log`) and,
when a journal is kept, one line to the journal file (below): no other I/O and no lock
held while anything slow happens. One background thread turns the buffer into Parquet
files, one per (model, version) per flush, and hands each to a :class:`SegmentSink`,
which the service layer provides (it stores the bytes in the ArtifactStore and records
the segment in the metadata database); the journal files are the only I/O of this module.

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

**The journal** (crash safety). Given a ``journal`` folder, :meth:`PredictionLogger.log`
also appends the record, as one line of compact JSON (request id, time in microseconds,
model, version, role, protocol, latency, trained-on, the inputs, PII columns already
hashed or redacted, and the outputs), to an append-only file ``<pid>-<uuid>.jsonl`` in
that folder: one ``os.write`` on an ``O_APPEND`` file descriptor, before ``log``
returns, so before the server answers. The inputs are the request's validated columns
when the record carries them (``PredictionRecord.columns``; replayed through the version's
signature as a request is, so they get the types serving gave them), else the frame's
columns with their dtypes (slower to write). The kernel keeps the line once the call
returns, so a process killed with ``kill -9`` loses no logged record; surviving a power
cut needs ``fsync=True`` (one ``fdatasync`` per request, under the logger's lock).
Each flush starts a new journal file together with the new buffer; once every row of the
old files is in a segment (or counted as dropped), the old files are deleted. A flush
whose sink failed keeps them, so rows the sink still refuses at ``close`` stay on disk.

A logger holds an exclusive ``flock`` on each of its journal files for as long as it may
write or delete them. :meth:`PredictionLogger.recover` takes over every journal file in
the folder whose lock it can take (its writer is gone: the lock dies with the process,
whatever killed it; another live process or worker keeps its own), writes its rows as
segments and deletes it. Recovery is idempotent: a crash after a segment was stored but
before its journal was deleted would replay rows already logged, so the rows of each
(model, version) are first checked against what the log already holds for their time
range (a record is its (request id, role, time to the microsecond)), and only the
missing ones are written. A line cut short by the crash (the last one, at most) is
skipped and counted.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from blake3 import blake3

from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import Signature

if sys.platform != "win32":
    import fcntl

__all__ = [
    "FIXED_COLUMNS",
    "INPUT_PREFIX",
    "JOURNAL_SUFFIX",
    "LoggedRows",
    "LoggerStats",
    "PiiMode",
    "PredictionLogger",
    "PredictionRecord",
    "Recovery",
    "SegmentSink",
    "encode_segment",
    "read_predictions",
]

_log = logging.getLogger(__name__)

PiiMode = Literal["hash", "redact"]
INPUT_PREFIX = "input."
FIXED_COLUMNS = ("request_id", "row", "at", "protocol", "role", "latency_ms", "trained_on")
OUTPUT_COLUMNS = ("output", "prediction", "label")
JOURNAL_SUFFIX = ".jsonl"
_HASH_CHARS = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PII_DTYPE = "pii"
_JOURNAL_ERROR_EVERY = 60.0
"""Seconds between two log lines about a failing journal (each failure is counted)."""


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
    columns: Mapping[str, Any] | None = None
    """The same rows as the request's validated columns (an
    :class:`~pathtolive.serving.validation.InputBatch`'s), when the caller has them: the
    journal writes those (a few microseconds) instead of taking the frame apart."""

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
LoggedRows = Callable[[str, int, datetime, datetime], pd.DataFrame]
"""What the log already holds of (model, version) from one time to another, inclusive:
a frame with at least the columns ``request_id``, ``role`` and ``at``."""


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
    journal_errors: int = 0
    """Records the journal could not take (they are still buffered, but a crash before
    the next flush would lose them)."""
    buffered_rows: int = 0


@dataclass(frozen=True)
class Recovery:
    """What :meth:`PredictionLogger.recover` found in journals left by other processes."""

    files: int = 0
    """Journal files taken over and replayed (and deleted)."""
    rows: int = 0
    """Rows written to the log from them."""
    duplicate_rows: int = 0
    """Rows the log already held (the writer died after the segment, before the delete)."""
    torn_lines: int = 0
    """Lines that could not be read (cut short by the crash) and were skipped."""
    failed_files: int = 0
    """Files left in place because their rows could not be written (retried next time)."""


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
    replicas; the default is random per logger. ``journal`` is the folder of the crash
    journal (see the module docs; None: no journal, a crash loses the buffer); with
    ``fsync`` each journal line is also flushed to the disk (survives a power cut, at the
    cost of one ``fdatasync`` per request).
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
        journal: Path | str | None = None,
        fsync: bool = False,
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
        self._counts["journal_errors"] = 0
        self._journal = None if journal is None else _Journal(Path(journal), fsync=fsync)
        self._journal_warned = 0.0
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
        line: bytes | None = None
        journal_failed: Exception | None = None
        if self._journal is not None and not sampled_out:
            try:
                line = self._journal_line(record)
            except Exception as exc:  # a value the journal cannot hold; still buffered
                journal_failed = exc
        with self._lock:
            if self._closed or (not sampled_out and self._buffered + rows > self.buffer_rows):
                self._counts["dropped_rows"] += rows
                return False
            if sampled_out:
                self._counts["sampled_out"] += rows
                return True
            if line is not None:
                assert self._journal is not None
                # Under the lock: the line must land in the journal file that the flush
                # taking this record's buffer retires.
                try:
                    self._journal.append(line)
                except OSError as exc:
                    journal_failed = exc
            if journal_failed is not None:
                self._counts["journal_errors"] += 1
            self._buffer.append(record)
            self._buffered += rows
            self._counts["logged_rows"] += rows
            full = self._buffered >= self.segment_rows
        if journal_failed is not None:
            self._warn_journal(record, journal_failed)
        if full:
            self._wake.set()
        return True

    def _journal_line(self, record: PredictionRecord) -> bytes:
        pii = self._pii_columns(record.model, record.version, self._pii)
        entry: dict[str, Any] = {
            "id": record.request_id,
            "at": _micros(record.at),
            "m": record.model,
            "v": record.version,
            "r": record.role,
            "p": record.protocol,
            "l": float(record.latency_ms),
            "t": record.trained_on,
            "n": len(record.inputs),
            "o": record.outputs,
        }
        if record.columns is not None:
            batch: dict[str, Any] = {
                name: values.tolist()
                if isinstance(values, np.ndarray) and values.dtype.kind not in "biuf"
                else values
                for name, values in record.columns.items()
            }
            hashed = [name for name in batch if name in pii]
            for name in hashed:
                # From the frame, so the hash is the one a segment written now would hold.
                batch[name] = _pii_array(record.inputs[name], self.pii_mode, self._salt).to_pylist()
            entry["b"] = batch
            if hashed:
                entry["h"] = hashed
        else:
            columns: dict[str, Any] = {}
            dtypes: dict[str, str] = {}
            for name in record.inputs.columns:
                series = record.inputs[name]
                key = str(name)
                if key in pii:
                    dtypes[key] = _PII_DTYPE
                    columns[key] = _pii_array(series, self.pii_mode, self._salt).to_pylist()
                else:
                    dtypes[key], columns[key] = _journal_values(series)
            entry["d"] = dtypes
            entry["c"] = columns
        return orjson.dumps(entry, option=_ORJSON_OPTIONS, default=_journal_default) + b"\n"

    def _warn_journal(self, record: PredictionRecord, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._journal_warned < _JOURNAL_ERROR_EVERY:
            return
        self._journal_warned = now
        _log.error(
            "prediction log: the journal did not take request %s to %s@%d (a crash before "
            "the next flush would lose it; failures so far: %d): %s",
            record.request_id,
            record.model,
            record.version,
            self.stats.journal_errors,
            exc,
        )

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
                if self._journal is not None:
                    self._journal.rotate()
            if not pending:
                # Every row of the retired journals is in a segment or counted dropped.
                self._settle_journal()
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
            else:
                self._settle_journal()
            return written

    def _settle_journal(self) -> None:
        if self._journal is None:
            return
        try:
            self._journal.settle()
        except OSError as exc:  # a journal left behind is replayed, without duplicates
            _log.warning("prediction log: cannot delete a written journal file: %s", exc)

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
        kept = self._journal.close() if self._journal is not None else 0
        if left:
            _log.error(
                "prediction log: %d rows dropped at close: the sink kept failing%s",
                left,
                f"; {kept} journal file(s) keep them for the next start" if kept else "",
            )

    # -- recovery ----------------------------------------------------------------------

    def recover(
        self,
        logged: LoggedRows | None = None,
        signature: Callable[[str, int], Signature | None] | None = None,
    ) -> Recovery:
        """Replay the journal files other processes left behind (see the module docs):
        write their rows as segments through the sink, then delete them. ``logged`` says
        what the log already holds, so that no row is written twice; without it every
        row is written. ``signature`` gives a version's signature, so that replayed inputs
        get the types serving gave them. Files whose writer still runs are left to it; a
        file whose rows the sink refuses stays for the next attempt. Call it before
        serving."""
        if self._journal is None:
            return Recovery()
        totals = dict.fromkeys(("files", "rows", "duplicate_rows", "torn_lines", "failed_files"), 0)
        for claimed in self._journal.orphans():
            with claimed:
                try:
                    entries, torn = _read_journal(claimed.data)
                    totals["torn_lines"] += torn
                    rows, duplicates = self._replay(entries, logged, signature)
                except Exception as exc:
                    totals["failed_files"] += 1
                    _log.error(
                        "prediction log: cannot replay journal %s, kept for the next start: %s",
                        claimed.path.name,
                        exc,
                    )
                    continue
                claimed.delete()
                totals["files"] += 1
                totals["rows"] += rows
                totals["duplicate_rows"] += duplicates
        recovery = Recovery(**totals)
        if recovery.files or recovery.failed_files:
            _log.warning(
                "prediction log: replayed %d journal file(s) of stopped processes: %d rows "
                "logged, %d already in the log, %d torn lines skipped, %d file(s) kept",
                recovery.files,
                recovery.rows,
                recovery.duplicate_rows,
                recovery.torn_lines,
                recovery.failed_files,
            )
        return recovery

    def _replay(
        self,
        entries: list[_JournalEntry],
        logged: LoggedRows | None,
        signature_of: Callable[[str, int], Signature | None] | None,
    ) -> tuple[int, int]:
        """Write ``entries`` not yet in the log; (rows written, rows already there)."""
        written = duplicates = 0
        groups: dict[tuple[str, int], list[_JournalEntry]] = {}
        for entry in entries:
            groups.setdefault((entry.model, entry.version), []).append(entry)
        for (model, version), group in groups.items():
            if logged is not None:
                first = min(entry.at for entry in group)
                last = max(entry.at for entry in group)
                known = _logged_keys(logged(model, version, first, last))
                fresh = [entry for entry in group if entry.key not in known]
                duplicates += sum(entry.rows for entry in group) - sum(e.rows for e in fresh)
                group = fresh
            if not group:
                continue
            signature = signature_of(model, version) if signature_of is not None else None
            for chunk in _chunks(group, self.segment_rows):
                hashed = frozenset(
                    name
                    for entry in chunk
                    for name, kind in entry.dtypes.items()
                    if kind == _PII_DTYPE
                )
                parquet = _encode_table(
                    chunk,
                    _entries_frame(chunk, signature),
                    [output for entry in chunk for output in entry.outputs],
                    hashed=hashed,
                )
                rows = sum(entry.rows for entry in chunk)
                self._write(
                    model,
                    version,
                    parquet,
                    rows,
                    min(entry.at for entry in chunk),
                    max(entry.at for entry in chunk),
                )
                written += rows
        return written, duplicates

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


class _Head(Protocol):
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


_H = TypeVar("_H", bound=_Head)


def _chunks(records: list[_H], limit: int) -> Iterable[list[_H]]:
    """Records grouped by (model, version) in arrival order, in chunks of about ``limit``
    rows (whole records)."""
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


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- the journal ---------------------------------------------------------------------------

_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass(eq=False)
class _JournalFile:
    path: Path
    fd: int


class _Journal:
    """The journal files of one logger: the one being appended to, and those retired by
    a flush whose rows may not all be in segments yet. Each is held open and locked
    until it is deleted (or the process ends).

    ``append`` and ``rotate`` run under the logger's lock; ``rotate`` and ``settle``
    under its flush lock; ``close`` once the writer thread has stopped."""

    def __init__(self, directory: Path, *, fsync: bool) -> None:
        self.directory = directory
        self.fsync = fsync
        self._current: _JournalFile | None = None
        self._retired: list[_JournalFile] = []
        self._mine: set[str] = set()

    def append(self, line: bytes) -> None:
        if self._current is None:
            self._current = self._open()
        fd = self._current.fd
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        if self.fsync:
            _fdatasync(fd)

    def _open(self) -> _JournalFile:
        """A new journal file, locked before it gets its visible name (so a recovering
        process never claims a file whose writer is alive)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{os.getpid()}-{uuid.uuid4().hex}{JOURNAL_SUFFIX}"
        staging = self.directory / f".{name}.new"
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _CLOEXEC, 0o600)
        try:
            if not _try_lock(fd, staging):
                raise OSError(f"cannot lock the new journal file {staging}")
            path = self.directory / name
            os.rename(staging, path)
            if self.fsync:
                _fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            staging.unlink(missing_ok=True)
            raise
        self._mine.add(name)
        return _JournalFile(path, fd)

    def rotate(self) -> None:
        """Later lines go to a new file; the current one waits for ``settle``."""
        if self._current is not None:
            self._retired.append(self._current)
            self._current = None

    def settle(self) -> None:
        """Delete the retired files: every row in them is in a segment."""
        while self._retired:
            file = self._retired[0]
            file.path.unlink(missing_ok=True)  # still locked: nobody else claims it meanwhile
            os.close(file.fd)
            self._mine.discard(file.path.name)
            self._retired.pop(0)

    def close(self) -> int:
        """Let go of every file (their rows were not all written: they stay for the next
        start to replay); returns how many were kept."""
        self.rotate()
        kept = len(self._retired)
        for file in self._retired:
            os.close(file.fd)
        self._retired = []
        return kept

    def orphans(self) -> Iterable[_Claimed]:
        """The journal files of processes that are gone, each claimed (locked) in turn."""
        try:
            paths = sorted(self.directory.iterdir())
        except FileNotFoundError:
            return
        for path in paths:
            if path.name in self._mine:
                continue
            stale_staging = path.name.startswith(".") and path.name.endswith(".new")
            if not path.name.endswith(JOURNAL_SUFFIX) and not stale_staging:
                continue
            claimed = _claim(path)
            if claimed is None:
                continue
            if stale_staging:  # a writer died between creating and naming it: empty
                with claimed:
                    claimed.delete()
                continue
            yield claimed


@dataclass(eq=False)
class _Claimed:
    """A journal file of a stopped process, locked by this one until closed."""

    path: Path
    fd: int
    data: bytes

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> _Claimed:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def _claim(path: Path) -> _Claimed | None:
    """``path`` locked and read, or None when its writer still holds it or it is gone."""
    try:
        fd = os.open(path, os.O_RDWR | _CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if not _try_lock(fd, path):
            os.close(fd)
            return None
        # Deleted (and perhaps replaced) between the open and the lock: not ours to take.
        opened = os.fstat(fd)
        try:
            now = os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            return None
        if (opened.st_dev, opened.st_ino) != (now.st_dev, now.st_ino):
            os.close(fd)
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except BaseException:
        os.close(fd)
        raise
    return _Claimed(path, fd, b"".join(chunks))


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _try_lock(fd: int, path: Path) -> bool:
    """Take the exclusive lock of an open journal file without waiting."""
    if sys.platform == "win32":  # pragma: no cover - no flock: tell the writer by its pid
        pid_text = path.name.lstrip(".").split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            return True
        try:
            os.kill(int(pid_text), 0)
        except OSError:
            return True
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _fdatasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _micros(value: datetime) -> int:
    """Microseconds since the epoch (a time as the segments keep it)."""
    return int((_utc(value) - _EPOCH) // timedelta(microseconds=1))


def _journal_values(series: pd.Series) -> tuple[str, Any]:
    """A column's dtype and its values as orjson writes them (NumPy numbers as they are,
    anything else as Python objects with None for missing values)."""
    dtype = str(series.dtype)
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
        return dtype, series.to_numpy()
    objects = series.to_numpy(dtype=object, copy=True)
    missing = pd.isna(objects)
    if missing.any():
        objects[missing] = None
    return dtype, objects.tolist()


def _journal_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


@dataclass(frozen=True, eq=False)
class _JournalEntry:
    """One journal line read back. ``columns`` are the request's validated columns
    (``from_request``) or a frame's columns with their ``dtypes``; a column whose dtype is
    ``pii`` holds hashed or redacted values."""

    request_id: str
    at: datetime
    model: str
    version: int
    trained_on: tuple[str, ...]
    protocol: str
    role: str
    latency_ms: float
    rows: int
    dtypes: dict[str, str]
    columns: dict[str, list[Any]]
    outputs: list[Any]
    from_request: bool
    key: tuple[str, str, int]

    @classmethod
    def from_json(cls, raw: Any) -> _JournalEntry:
        micros = int(raw["at"])
        rows = int(raw["n"])
        from_request = "b" in raw
        columns = {str(k): list(v) for k, v in dict(raw["b" if from_request else "c"]).items()}
        if from_request:
            hashed = {str(name) for name in raw.get("h", ())}
            dtypes = {name: _PII_DTYPE if name in hashed else "" for name in columns}
        else:
            dtypes = {str(k): str(v) for k, v in dict(raw["d"]).items()}
        outputs = list(raw["o"])
        if rows < 1 or len(outputs) != rows or any(len(v) != rows for v in columns.values()):
            raise ValueError("the line's columns and outputs do not have its rows")
        return cls(
            request_id=str(raw["id"]),
            at=_EPOCH + timedelta(microseconds=micros),
            model=str(raw["m"]),
            version=int(raw["v"]),
            trained_on=tuple(str(item) for item in raw["t"]),
            protocol=str(raw["p"]),
            role=str(raw["r"]),
            latency_ms=float(raw["l"]),
            rows=rows,
            dtypes=dtypes,
            columns=columns,
            outputs=outputs,
            from_request=from_request,
            key=(str(raw["id"]), str(raw["r"]), micros),
        )


def _read_journal(data: bytes) -> tuple[list[_JournalEntry], int]:
    """The entries of a journal file, and how many lines could not be read."""
    entries: list[_JournalEntry] = []
    torn = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            entries.append(_JournalEntry.from_json(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            torn += 1
    return entries, torn


def _entries_frame(
    entries: list[_JournalEntry], signature: Signature | None
) -> pd.DataFrame | None:
    """The input rows of ``entries``, in order, in the dtypes they were served with:
    request columns go through the version's ``signature`` as a request's do (without
    it their dtypes are inferred); a frame's columns get back their logged dtypes."""
    if signature is not None and all(entry.from_request for entry in entries):
        batches = [_request_batch(entry, signature) for entry in entries]
        try:
            frame = to_frame(batches, signature)
        except (TypeError, ValueError):  # requests that were never batched together
            frame = pd.concat([to_frame([b], signature) for b in batches], ignore_index=True)
        for name in {n for e in entries for n, kind in e.dtypes.items() if kind == _PII_DTYPE}:
            hashes = [v for e in entries for v in e.columns.get(name, [None] * e.rows)]
            frame[name] = pd.Series(hashes, dtype=object, index=frame.index)
        return frame
    dtypes: dict[str, str] = {}
    for entry in entries:
        for name, dtype in entry.dtypes.items():
            dtypes.setdefault(name, dtype)
    if not dtypes:
        return None
    data: dict[str, pd.Series] = {}
    for name, dtype in dtypes.items():
        values: list[Any] = []
        for entry in entries:
            column = entry.columns.get(name)
            values.extend(column if column is not None else [None] * entry.rows)
        data[name] = _restore(values, dtype)
    return pd.DataFrame(data)


def _request_batch(entry: _JournalEntry, signature: Signature) -> InputBatch:
    """A journaled request's columns in the representation validation gives them (see
    :mod:`pathtolive.serving.validation`); hashed PII columns are left null here."""
    columns: dict[str, Any] = {}
    for spec in signature.inputs:
        values = entry.columns.get(spec.name)
        if values is None or entry.dtypes.get(spec.name) == _PII_DTYPE:
            values = [None] * entry.rows
        if spec.type == "float":
            columns[spec.name] = np.array(
                [math.nan if v is None else v for v in values], dtype=np.float64
            )
        elif spec.type in ("integer", "boolean"):
            columns[spec.name] = (
                values
                if None in values
                else np.array(values, dtype=np.int64 if spec.type == "integer" else np.bool_)
            )
        elif spec.type == "datetime":
            columns[spec.name] = [None if v is None else datetime.fromisoformat(v) for v in values]
        else:
            columns[spec.name] = values
    return InputBatch(columns, entry.rows)


def _restore(values: list[Any], dtype: str) -> pd.Series:
    if dtype in (_PII_DTYPE, "category"):
        return pd.Series(values, dtype=object)
    if not dtype:
        return pd.Series(values)
    try:
        if dtype.startswith("datetime64"):
            parsed = pd.to_datetime(pd.Series(values, dtype=object), utc="," in dtype)
            return parsed.astype(pd.api.types.pandas_dtype(dtype))
        return pd.Series(values, dtype=dtype)
    except Exception:  # a dtype this pandas cannot rebuild: the values as they are
        return pd.Series(values, dtype=object)


def _logged_keys(frame: pd.DataFrame) -> set[tuple[str, str, int]]:
    """(request id, role, microseconds) of every row of a frame of the log."""
    if frame is None or len(frame) == 0:
        return set()
    at = pd.to_datetime(frame["at"], utc=True)
    micros = ((at - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)).astype("int64")
    return set(
        zip(
            frame["request_id"].astype(str).tolist(),
            frame["role"].astype(str).tolist(),
            micros.tolist(),
            strict=True,
        )
    )


# -- encoding ------------------------------------------------------------------------------


def encode_segment(
    records: list[PredictionRecord],
    *,
    pii_columns: Collection[str] = (),
    pii_mode: PiiMode = "hash",
    salt: bytes = b"",
) -> bytes:
    """One Parquet file (zstd) of ``records`` (see the module docs for its columns)."""
    frame = pd.concat([r.inputs for r in records], ignore_index=True) if records else None
    outputs = [output for record in records for output in record.outputs]
    return _encode_table(
        records, frame, outputs, pii_columns=pii_columns, pii_mode=pii_mode, salt=salt
    )


def _encode_table(
    records: Sequence[_Head],
    frame: pd.DataFrame | None,
    outputs: list[Any],
    *,
    pii_columns: Collection[str] = (),
    pii_mode: PiiMode = "hash",
    salt: bytes = b"",
    hashed: Collection[str] = (),
) -> bytes:
    """The segment of ``records`` whose input rows, in order, are ``frame``. Columns in
    ``hashed`` hold values already hashed or redacted (replayed from a journal)."""
    sizes = [record.rows for record in records]
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
                columns.append(_pii_array(frame[column], pii_mode, salt))
            else:
                columns.append(_input_array(frame[column]))
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
