"""The prediction log's crash journal: what a process logged, kept on disk until it is in
a segment.

Given a ``journal`` folder, :meth:`~pathtolive.predlog.logger.PredictionLogger.log` also
appends the record, as one line of compact JSON (:func:`journal_line`: request id, time in
microseconds, model, version, role, protocol, latency, trained-on, the inputs, PII columns
already hashed or redacted, and the outputs), to an append-only file
``<pid>-<uuid>.jsonl`` in that folder: one ``os.write`` on an ``O_APPEND`` file
descriptor, before ``log`` returns, so before the server answers. The inputs are the
request's validated columns when the record carries them (``PredictionRecord.columns``;
replayed through the version's signature as a request is, so they get the types serving
gave them), else the frame's columns with their dtypes (slower to write). The kernel keeps
the line once the call returns, so a process killed with ``kill -9`` loses no logged
record; surviving a power cut needs ``fsync=True`` (one ``fdatasync`` per request, under
the logger's lock). Each flush starts a new journal file together with the new buffer
(:meth:`Journal.rotate`); once every row of the old files is in a segment (or counted as
dropped), the old files are deleted (:meth:`Journal.settle`). A flush whose sink failed
keeps them, so rows the sink still refuses at ``close`` stay on disk.

A logger holds an exclusive ``flock`` on each of its journal files for as long as it may
write or delete them; the lock dies with the process, whatever killed it. So a file whose
lock another process can take (:meth:`Journal.orphans`) belongs to a writer that is gone,
and a live process or worker keeps its own. :func:`read_journal` reads such a file back
(see :mod:`pathtolive.predlog.replay` for what is done with it).
"""

from __future__ import annotations

import base64
import os
import sys
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from pathtolive.format import utc
from pathtolive.predlog.segment import PiiMode, PredictionRecord, pii_array
from pathtolive.store.artifacts.envelope import (
    JOURNAL_HEADER_LINE_BYTES,
    LineSealer,
    RewrapOutcome,
    journal_header,
    open_lines,
)
from pathtolive.store.artifacts.keyring import Keyring

if sys.platform != "win32":
    import fcntl

__all__ = [
    "JOURNAL_DIR",
    "JOURNAL_SUFFIX",
    "PII_DTYPE",
    "ClaimedFile",
    "Journal",
    "JournalEntry",
    "journal_line",
    "prune_journals",
    "read_journal",
    "rewrap_journal_file",
]

JOURNAL_DIR = "journal"
"""The folder of a server's crash journal, under the workspace's state folder."""
JOURNAL_SUFFIX = ".jsonl"
PII_DTYPE = "pii"
"""The dtype a journal line gives a column of hashed or redacted values."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


# -- the files: appended, rotated, settled, claimed ----------------------------------------


@dataclass(eq=False)
class _JournalFile:
    path: Path
    fd: int
    sealer: LineSealer | None = None


class Journal:
    """The journal files of one logger: the one being appended to, and those retired by
    a flush whose rows may not all be in segments yet. Each is held open and locked
    until it is deleted (or the process ends).

    ``append`` and ``rotate`` run under the logger's lock; ``rotate`` and ``settle``
    under its flush lock; ``close`` once the writer thread has stopped.

    With ``seal`` (encryption at rest), each file starts with a header holding its own
    data key wrapped by ``keyring``'s current key, and each line is sealed with AES-GCM
    (:class:`~pathtolive.store.artifacts.encryption.LineSealer`): a few microseconds per
    record, spent in ``append``, so no plaintext reaches the disk even for a moment.
    ``keyring`` also opens sealed files of stopped processes in :meth:`orphans`' replay."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool,
        keyring: Keyring | None = None,
        seal: bool = False,
    ) -> None:
        if seal and keyring is None:
            raise ValueError("a sealed journal needs a keyring")
        self.directory = directory
        self.fsync = fsync
        self.keyring = keyring
        self.seal = seal
        self._current: _JournalFile | None = None
        self._retired: list[_JournalFile] = []
        self._mine: set[str] = set()

    def append(self, line: bytes) -> None:
        if self._current is None:
            self._current = self._open()
        fd = self._current.fd
        if self._current.sealer is not None:
            line = self._current.sealer.seal(line)
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
            sealer = None
            if self.seal:
                assert self.keyring is not None
                sealer = LineSealer(self.keyring)
                header = sealer.header_line()
                if os.write(fd, header) != len(header):
                    raise OSError(f"short write of the journal header to {staging}")
            path = self.directory / name
            os.rename(staging, path)
            if self.fsync:
                _fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            staging.unlink(missing_ok=True)
            raise
        self._mine.add(name)
        return _JournalFile(path, fd, sealer)

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

    def orphans(self) -> Iterable[ClaimedFile]:
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
class ClaimedFile:
    """A journal file of a stopped process, locked by this one until closed."""

    path: Path
    fd: int
    data: bytes

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ClaimedFile:
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self.fd)


def prune_journals(directory: Path, before: datetime) -> list[datetime]:
    """Delete the journal files of stopped processes last written before ``before``
    (retention: their rows are older than the log keeps); returns each deleted file's
    last-write time. A file a live logger holds is locked, so never taken."""
    deleted: list[datetime] = []
    try:
        paths = sorted(directory.iterdir())
    except FileNotFoundError:
        return deleted
    for path in paths:
        if not path.name.endswith(JOURNAL_SUFFIX):
            continue
        try:
            written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except FileNotFoundError:
            continue
        if written >= before:
            continue
        claimed = _claim(path)
        if claimed is None:
            continue
        with claimed:
            claimed.delete()
        deleted.append(written)
    return deleted


def _claim(path: Path) -> ClaimedFile | None:
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
    return ClaimedFile(path, fd, b"".join(chunks))


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


# -- the lines: written, read back ---------------------------------------------------------


def journal_line(
    record: PredictionRecord, pii: Collection[str], pii_mode: PiiMode, salt: bytes
) -> bytes:
    """The journal line of ``record``, its ``pii`` columns hashed or redacted as a segment
    written now would hold them."""
    entry: dict[str, Any] = {
        "id": record.request_id,
        "at": _micros(record.at),
        "m": record.model,
        "v": record.version,
        "r": record.role,
        "p": record.protocol,
        "l": float(record.latency_ms),
        "t": record.trained_on,
        "n": record.rows,
        "o": record.outputs,
    }
    if record.columns is not None:
        batch: dict[str, Any] = {
            name: values.tolist()
            if isinstance(values, np.ndarray) and values.dtype.kind not in "biuf"
            else values
            for name, values in record.columns.items()
        }
        entry["b"] = batch
        hashed = [name for name in batch if name in pii]
        if hashed:
            # From the frame, so the hash is the one a segment written now would hold
            # (the request's rows are sliced from it only then).
            frame = record.frame()
            for name in hashed:
                batch[name] = pii_array(frame[name], pii_mode, salt).to_pylist()
            entry["h"] = hashed
    else:
        columns: dict[str, Any] = {}
        dtypes: dict[str, str] = {}
        frame = record.frame()
        for name in frame.columns:
            series = frame[name]
            key = str(name)
            if key in pii:
                dtypes[key] = PII_DTYPE
                columns[key] = pii_array(series, pii_mode, salt).to_pylist()
            else:
                dtypes[key], columns[key] = _journal_values(series)
        entry["d"] = dtypes
        entry["c"] = columns
    return orjson.dumps(entry, option=_ORJSON_OPTIONS, default=_journal_default) + b"\n"


def _micros(value: datetime) -> int:
    """Microseconds since the epoch (a time as the segments keep it)."""
    return int((utc(value) - _EPOCH) // timedelta(microseconds=1))


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
class JournalEntry:
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
    def from_json(cls, raw: Any) -> JournalEntry:
        micros = int(raw["at"])
        rows = int(raw["n"])
        from_request = "b" in raw
        columns = {str(k): list(v) for k, v in dict(raw["b" if from_request else "c"]).items()}
        if from_request:
            hashed = {str(name) for name in raw.get("h", ())}
            dtypes = {name: PII_DTYPE if name in hashed else "" for name in columns}
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


def read_journal(
    data: bytes, keyring: Keyring | None = None, *, name: str = "a journal file"
) -> tuple[list[JournalEntry], int]:
    """The entries of a journal file, and how many lines could not be read. A sealed file
    is opened with ``keyring`` (a ConfigError naming the key when it lacks the key)."""
    entries: list[JournalEntry] = []
    torn = 0
    opened = open_lines(data, keyring, what=f"the journal file {name}")
    lines = data.split(b"\n")
    if opened is not None:
        lines, torn = opened
    for line in lines:
        if not line.strip():
            continue
        try:
            entries.append(JournalEntry.from_json(orjson.loads(line)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            torn += 1
    return entries, torn


def rewrap_journal_file(path: Path, keyring: Keyring) -> RewrapOutcome:
    """Rewrap a sealed journal file's data key under ``keyring``'s current key, rewriting
    only its header line in place (same length; a writer still appending to the file
    keeps its data key in memory and is not disturbed)."""
    with path.open("rb") as reader:
        head = reader.read(JOURNAL_HEADER_LINE_BYTES)
    what = f"the journal file {path.name}"
    header = journal_header(head, what=what)
    if header is None:
        return "plain"
    if header.key_id == keyring.current_id:
        return "current"
    wrapped, key_id = keyring.rewrap(header.key_id, header.wrapped_key, what=what)
    line = base64.b64encode(replace(header, key_id=key_id, wrapped_key=wrapped).to_bytes())
    # Not O_APPEND: the write lands at offset 0 whatever a live writer appends meanwhile.
    with path.open("r+b", buffering=0) as file:
        file.write(line)
        os.fsync(file.fileno())
    return "rewrapped"
