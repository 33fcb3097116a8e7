"""Recovery: the journal files of stopped processes written to the log as segments.

:meth:`~pathtolive.predlog.logger.PredictionLogger.recover` (through
:func:`replay_orphans`) takes over every journal file in the folder whose lock it can take
(its writer is gone: the lock dies with the process, whatever killed it; another live
process or worker keeps its own), writes its rows as segments and deletes it. Recovery is
idempotent: a crash after a segment was stored but before its journal was deleted would
replay rows already logged, so the rows of each (model, version) are first checked against
what the log already holds for their time range (a record is its (request id, role, time
to the microsecond)), and only the missing ones are written. A line cut short by the crash
(the last one, at most) is skipped and counted.

Replayed inputs get the types serving gave them: a request's validated columns go through
the version's signature again (:func:`~pathtolive.registry.batch.to_frame`, as a request
does), and a frame's columns get back their logged dtypes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from pathtolive.predlog.journal import PII_DTYPE, Journal, JournalEntry, read_journal
from pathtolive.predlog.segment import SinkFunction, encode_rows, segment_chunks
from pathtolive.registry.batch import InputBatch, to_frame
from pathtolive.registry.signature import Signature

__all__ = ["LoggedRows", "Recovery", "SignatureOf", "replay_orphans"]

_log = logging.getLogger(__name__)

LoggedRows = Callable[[str, int, datetime, datetime], pd.DataFrame]
"""What the log already holds of (model, version) from one time to another, inclusive:
a frame with at least the columns ``request_id``, ``role`` and ``at``."""

SignatureOf = Callable[[str, int], Signature | None]
"""The signature of (model, version), when it is known."""


@dataclass(frozen=True)
class Recovery:
    """What :meth:`~pathtolive.predlog.logger.PredictionLogger.recover` found in journals
    left by other processes."""

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


def replay_orphans(
    journal: Journal,
    write: SinkFunction,
    *,
    segment_rows: int,
    logged: LoggedRows | None = None,
    signature: SignatureOf | None = None,
) -> Recovery:
    """Write the rows of ``journal``'s orphans (the files of stopped processes) through
    ``write``, in segments of about ``segment_rows`` rows, and delete the files (see the
    module docs). ``logged`` says what the log already holds (None: nothing is checked);
    ``signature`` gives a version's signature for its replayed inputs."""
    totals = dict.fromkeys(("files", "rows", "duplicate_rows", "torn_lines", "failed_files"), 0)
    for claimed in journal.orphans():
        with claimed:
            try:
                entries, torn = read_journal(claimed.data, journal.keyring, name=claimed.path.name)
                totals["torn_lines"] += torn
                rows, duplicates = _replay(entries, write, segment_rows, logged, signature)
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
    entries: list[JournalEntry],
    write: SinkFunction,
    segment_rows: int,
    logged: LoggedRows | None,
    signature_of: SignatureOf | None,
) -> tuple[int, int]:
    """Write ``entries`` not yet in the log; (rows written, rows already there)."""
    written = duplicates = 0
    groups: dict[tuple[str, int], list[JournalEntry]] = {}
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
        for chunk in segment_chunks(group, segment_rows):
            hashed = frozenset(
                name for entry in chunk for name, kind in entry.dtypes.items() if kind == PII_DTYPE
            )
            parquet = encode_rows(
                chunk,
                _entries_frame(chunk, signature),
                [output for entry in chunk for output in entry.outputs],
                hashed=hashed,
            )
            rows = sum(entry.rows for entry in chunk)
            write(
                model,
                version,
                parquet,
                rows,
                min(entry.at for entry in chunk),
                max(entry.at for entry in chunk),
            )
            written += rows
    return written, duplicates


# -- the rows of journal entries -----------------------------------------------------------


def _entries_frame(entries: list[JournalEntry], signature: Signature | None) -> pd.DataFrame | None:
    """The input rows of ``entries``, in order, in the dtypes they were served with:
    request columns go through the version's ``signature`` as a request's do (without
    it their dtypes are inferred); a frame's columns get back their logged dtypes."""
    if signature is not None and all(entry.from_request for entry in entries):
        batches = [_request_batch(entry, signature) for entry in entries]
        try:
            frame = to_frame(batches, signature)
        except (TypeError, ValueError):  # requests that were never batched together
            frame = pd.concat([to_frame([b], signature) for b in batches], ignore_index=True)
        for name in {n for e in entries for n, kind in e.dtypes.items() if kind == PII_DTYPE}:
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


def _request_batch(entry: JournalEntry, signature: Signature) -> InputBatch:
    """A journaled request's columns in the representation validation gives them (see
    :mod:`pathtolive.registry.batch`); hashed PII columns are left null here."""
    columns: dict[str, Any] = {}
    for spec in signature.inputs:
        values = entry.columns.get(spec.name)
        if values is None or entry.dtypes.get(spec.name) == PII_DTYPE:
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
    if dtype in (PII_DTYPE, "category"):
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
