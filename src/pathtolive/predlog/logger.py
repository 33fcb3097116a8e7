"""The prediction logger: every served prediction queued without blocking, written in
segments by one background thread.

The request path only appends to an in-memory buffer (:meth:`PredictionLogger.log`) and,
when a journal is kept, one line to the journal file (:mod:`pathtolive.predlog.journal`):
no other I/O and no lock held while anything slow happens. One background thread turns the
buffer into Parquet files, one per (model, version) per flush
(:mod:`pathtolive.predlog.segment`), and hands each to a
:class:`~pathtolive.predlog.segment.SegmentSink`, which the service layer provides; the
journal files are the only I/O of this package.

The buffer is bounded. A record that does not fit is dropped and counted
(``dropped_rows``), never silently lost; a sink that fails keeps its rows for the next
attempt (still within the bound), and the failure is counted and logged.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from pathtolive.format import utc
from pathtolive.predlog.journal import Journal, journal_line
from pathtolive.predlog.replay import LoggedRows, Recovery, SignatureOf, replay_orphans
from pathtolive.predlog.segment import (
    PiiMode,
    PredictionRecord,
    SegmentSink,
    SinkFunction,
    encode_segment,
    segment_chunks,
)
from pathtolive.store.artifacts.keyring import Keyring

__all__ = ["LoggerStats", "PiiColumns", "PredictionLogger"]

_log = logging.getLogger(__name__)

_JOURNAL_ERROR_EVERY = 60.0
"""Seconds between two log lines about a failing journal (each failure is counted)."""

PiiColumns = Callable[[str, int], Collection[str]] | Mapping[tuple[str, int], Collection[str]]
"""Each version's PII columns: a mapping keyed by (model, version), or a function."""


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


class PredictionLogger:
    """A non-blocking, bounded, batching prediction logger (see the module docs).

    ``sink`` receives each segment: an object with a ``write`` method (a
    :class:`~pathtolive.predlog.segment.SegmentSink`) or a function with the same
    arguments. ``buffer_rows`` bounds the rows held in memory; the thread flushes every
    ``flush_seconds``, or as soon as ``segment_rows`` rows are waiting (a segment holds at
    most about ``segment_rows`` rows: a request's rows are never split). ``sample`` is the
    share of requests logged. ``pii_columns`` names each version's PII columns (a mapping
    keyed by (model, version) or a function); :meth:`set_pii` adds to it. ``salt`` keys
    the hashes of PII values: pass a fixed secret to get the same hash for the same value
    across restarts and replicas; the default is random per logger. ``journal`` is the
    folder of the crash journal (see :mod:`pathtolive.predlog.journal`; None: no journal,
    a crash loses the buffer); with ``fsync`` each journal line is also flushed to the
    disk (survives a power cut, at the cost of one ``fdatasync`` per request). With
    ``seal_journal`` the journal is encrypted under ``keyring`` (encryption at rest; the
    segments are encrypted by the sink's store, on the writer thread); ``keyring`` alone
    lets :meth:`recover` read the sealed journals of stopped processes.
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
        keyring: Keyring | None = None,
        seal_journal: bool = False,
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
        self._journal = (
            None
            if journal is None
            else Journal(Path(journal), fsync=fsync, keyring=keyring, seal=seal_journal)
        )
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
        rows = record.rows
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
                line = journal_line(
                    record,
                    self._pii_columns(record.model, record.version, self._pii),
                    self.pii_mode,
                    self._salt,
                )
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
            for records in segment_chunks(pending, self.segment_rows):
                model, version = records[0].model, records[0].version
                chunk, parquet = self._encode(records, self._pii_columns(model, version, pii))
                if parquet is None:
                    continue
                rows = sum(record.rows for record in chunk)
                try:
                    self._write(
                        model,
                        version,
                        parquet,
                        rows,
                        utc(min(record.at for record in chunk)),
                        utc(max(record.at for record in chunk)),
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
                    record.rows,
                    exc,
                )
                with self._lock:
                    self._counts["dropped_rows"] += record.rows
            else:
                good.append(record)
        if not good:
            return good, None
        return good, encode(good)

    def _requeue(self, failed: list[PredictionRecord]) -> None:
        with self._lock:
            records = failed + self._buffer
            total = self._buffered + sum(record.rows for record in failed)
            dropped = 0
            while total > self.buffer_rows:
                rows = records.pop(0).rows
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
        signature: SignatureOf | None = None,
    ) -> Recovery:
        """Replay the journal files other processes left behind (see
        :mod:`pathtolive.predlog.replay`): write their rows as segments through the sink,
        then delete them. ``logged`` says what the log already holds, so that no row is
        written twice; without it every row is written. ``signature`` gives a version's
        signature, so that replayed inputs get the types serving gave them. Files whose
        writer still runs are left to it; a file whose rows the sink refuses stays for the
        next attempt. Call it before serving."""
        if self._journal is None:
            return Recovery()
        return replay_orphans(
            self._journal,
            self._write,
            segment_rows=self.segment_rows,
            logged=logged,
            signature=signature,
        )

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
