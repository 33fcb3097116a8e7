"""One partition of a batch-scoring job, scored where it runs: in this process, or on a
Dask worker.

A worker gets a :class:`ScoringSpec` (plain, picklable values: the model version's
registry entry, never a pickled live model) and a :class:`Partition`. It opens the
artifact store itself (credentials from its own environment), reads the model's bytes by
hash, checked against the registry's digest before they are loaded, and keeps the loaded
model for the next partition of the same version. It reads the partition in Arrow
batches, validates each against the model's signature with the server's rules, scores it
and appends the rows to one Parquet part file under the job's temporary prefix; the part
is renamed into place only when complete, so a retried partition (a worker killed
mid-way) rewrites it whole and every input row lands in exactly one part.

Sampled rows go to the prediction log as segments in the artifact store; the job's
driver records them in the metadata database, so workers need no database access. A
user error (a row the signature refuses) comes back as a value naming the partition and
the row, not as an exception: a retry would not fix it.
"""

from __future__ import annotations

import io
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pathtolive.data.formats import dictionary_columns
from pathtolive.entities import ModelVersion
from pathtolive.errors import InvalidInputError
from pathtolive.predlog.segment import PiiMode, encode_rows
from pathtolive.registry import LoadedModel, get_flavor
from pathtolive.registry.batch import to_frame
from pathtolive.registry.signature import Signature
from pathtolive.store.artifacts import ArtifactStore

__all__ = [
    "BATCH_ROLE",
    "LogSettings",
    "PartResult",
    "Partition",
    "ScoringSpec",
    "SegmentWritten",
    "StoreAddress",
    "filesystem",
    "keep_loaded",
    "part_name",
    "probability_column",
    "score_partition",
]

BATCH_ROLE = "batch"
"""The role a batch job's rows carry in the prediction log."""
BATCH_PROTOCOL = "batch"
CHUNK_ROWS = 65_536
"""Rows read, validated and scored at once: memory stays flat in the input's size."""
SEGMENT_ROWS = 50_000
"""Rows per prediction-log segment, as the server's logger writes them."""
_MAX_ROWS = 1 << 62  # a partition's chunks are bounded by CHUNK_ROWS, not by this


@dataclass(frozen=True)
class StoreAddress:
    """What a worker needs to open the workspace's artifact store: its URL, the folder
    relative paths are read from, and the workspace file's settings (encryption)."""

    root: str
    artifact_url: str
    document: Mapping[str, Any]

    def open(self) -> ArtifactStore:
        from pathtolive.config import Settings
        from pathtolive.service.encryption import open_workspace_store

        settings = Settings(
            root=Path(self.root),
            metadata_url="",
            artifact_url=self.artifact_url,
            document=self.document,
            environ=dict(os.environ),
        )
        return open_workspace_store(settings)


@dataclass(frozen=True)
class Partition:
    """A slice of the input: a file (``path``, a local path or fsspec URL), or a
    dataset version's object (``digest``), or some row groups of either."""

    index: int
    name: str
    """How errors and progress name it (a file name, ``garages@7 row group 3``)."""
    format: Literal["parquet", "csv"]
    rows: int | None
    path: str | None = None
    digest: str | None = None
    row_groups: tuple[int, ...] | None = None


@dataclass(frozen=True)
class LogSettings:
    sample: float
    pii_columns: frozenset[str]
    pii_mode: PiiMode
    salt: bytes


@dataclass(frozen=True)
class ScoringSpec:
    """Everything a partition is scored with; plain values, shipped to workers."""

    job_id: str
    version: ModelVersion
    trained_on: tuple[str, ...]
    id_columns: tuple[str, ...]
    staging: str
    """The job's temporary prefix (local folder or fsspec URL) parts are written under."""
    store: StoreAddress
    log: LogSettings
    fail_once_marker: str | None = field(default=None, repr=False)
    """Tests only: a file whose presence makes the worker process kill itself once."""


@dataclass(frozen=True)
class SegmentWritten:
    digest: str
    rows: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class PartResult:
    index: int
    rows: int
    part: str
    digest: str
    segments: tuple[SegmentWritten, ...] = ()
    error: str | None = None


def filesystem(location: str, environ: Mapping[str, str]) -> tuple[Any, str]:
    """The fsspec filesystem of ``location`` and its path there; an ``s3://`` one with
    the credentials and endpoint of ``environ`` (the workspace's variables: a worker
    uses its own)."""
    import fsspec

    options: dict[str, Any] = {}
    if location.startswith(("s3://", "s3a://")):
        from pathtolive.store.artifacts import s3_storage_options_from_env

        options = s3_storage_options_from_env(environ)
    fs, path = fsspec.core.url_to_fs(location, **options)
    return fs, str(path).rstrip("/")


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


_models: dict[str, LoadedModel] = {}
_models_lock = threading.Lock()


def keep_loaded(digest: str, model: LoadedModel) -> None:
    """Keep ``model``, loaded (and checked) from the object ``digest`` by the caller, for
    the partitions this process scores."""
    with _models_lock:
        _models[digest] = model


def _model(spec: ScoringSpec, store: ArtifactStore) -> LoadedModel:
    """The version's model, loaded once per process from bytes read by hash (the store
    verifies them against the registry's digest before they are deserialised)."""
    version = spec.version
    with _models_lock:
        loaded = _models.get(version.artifact_digest)
        if loaded is None:
            data = store.get_bytes(version.artifact_digest)
            loaded = get_flavor(version.flavor).load(data, trusted=list(version.trusted_types))
            _models[version.artifact_digest] = loaded
        return loaded


def score_partition(spec: ScoringSpec, partition: Partition) -> PartResult:
    """Score ``partition`` into its part file under ``spec.staging`` (see the module)."""
    _maybe_die(spec)
    store = spec.store.open()
    with _SegmentBuffer(spec, store) as log:
        return _score_into_part(spec, partition, store, log)


def _score_into_part(
    spec: ScoringSpec, partition: Partition, store: ArtifactStore, log: _SegmentBuffer
) -> PartResult:
    model = _model(spec, store)
    signature = Signature.from_dict(spec.version.signature or {})
    fs, staging = filesystem(spec.staging, os.environ)
    final = f"{staging}/{part_name(partition.index)}"
    temporary = f"{final}.{uuid.uuid4().hex}.inprogress"
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        with fs.open(temporary, "wb") as sink:
            for batch in _batches(partition, store, signature, spec.id_columns):
                try:
                    table, frame, outputs = _score_batch(
                        spec, model, signature, batch, partition.index, rows
                    )
                except InvalidInputError as exc:
                    return _failed(partition, rows, exc)
                if writer is None:
                    writer = pq.ParquetWriter(
                        sink,
                        table.schema,
                        compression="zstd",
                        use_dictionary=dictionary_columns(table.schema, unique=spec.id_columns),
                    )
                writer.write_table(table)
                log.add(batch, frame, outputs, partition.index, rows)
                rows += batch.num_rows
            if writer is None:  # an empty partition still gets its (empty) part
                writer = pq.ParquetWriter(sink, _empty_schema(spec, model, signature, partition))
            writer.close()
        fs.mv(temporary, final)
    except _UserError as exc:
        return PartResult(partition.index, rows, part_name(partition.index), "", (), str(exc))
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)
    from pathtolive.hashing import new_hasher

    hasher = new_hasher()
    with fs.open(final, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            hasher.update(block)
    segments = log.flush()
    return PartResult(
        partition.index, rows, part_name(partition.index), hasher.hexdigest(), segments
    )


class _UserError(Exception):
    """A problem with the input itself, named for the user."""


def _failed(partition: Partition, offset: int, exc: InvalidInputError) -> PartResult:
    details = exc.details or {}
    message = str(exc)
    if "row" in details and "column" in details:
        problem = message.split(": ", 1)[1] if ": " in message else message
        message = f"row {offset + int(details['row'])}, column {details['column']!r}: {problem}"
    return PartResult(
        partition.index,
        offset,
        part_name(partition.index),
        "",
        (),
        f"partition {partition.index} ({partition.name}), {message}",
    )


def _maybe_die(spec: ScoringSpec) -> None:
    marker = spec.fail_once_marker
    if marker and os.path.exists(marker):
        os.remove(marker)
        os.kill(os.getpid(), 9)


# -- reading ------------------------------------------------------------------------------


def _batches(
    partition: Partition,
    store: ArtifactStore,
    signature: Signature,
    id_columns: Sequence[str],
) -> Iterator[pa.RecordBatch]:
    wanted = [*id_columns, *(n for n in signature.input_names if n not in id_columns)]
    if partition.format == "csv":
        yield from _csv_batches(partition, wanted, signature)
        return
    source: Any
    if partition.digest is not None:
        source = str(store.local_path(partition.digest))
    else:
        assert partition.path is not None
        fs, path = filesystem(partition.path, os.environ)
        source = fs.open(path, "rb")
    parquet = pq.ParquetFile(source)
    _check_columns(partition, parquet.schema_arrow.names, wanted, signature)
    yield from parquet.iter_batches(
        batch_size=CHUNK_ROWS, row_groups=partition.row_groups, columns=wanted
    )


def _csv_batches(
    partition: Partition, wanted: list[str], signature: Signature
) -> Iterator[pa.RecordBatch]:
    assert partition.path is not None
    fs, path = filesystem(partition.path, os.environ)
    with fs.open(path, "rb") as raw:
        reader = pacsv.open_csv(
            raw,
            read_options=pacsv.ReadOptions(block_size=8 << 20),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, include_missing_columns=True
            ),
        )
        _check_columns(partition, _csv_header(fs, path), wanted, signature)
        yield from reader


def _csv_header(fs: Any, path: str) -> list[str]:
    with fs.open(path, "rb") as raw:
        first = raw.readline().decode("utf-8-sig").strip()
    table = pacsv.read_csv(io.BytesIO(first.encode() + b"\n"))
    return list(table.column_names)


def _check_columns(
    partition: Partition, present: Sequence[str], wanted: Sequence[str], signature: Signature
) -> None:
    missing = [name for name in wanted if name not in present]
    if missing:
        listed = ", ".join(repr(name) for name in missing[:20])
        reads = ", ".join(signature.input_names)
        raise _UserError(
            f"partition {partition.index} ({partition.name}) has no column {listed}; "
            f"the model reads {reads} (and --id-column names the ids)"
        )


# -- scoring ------------------------------------------------------------------------------


def _columns(batch: pa.RecordBatch, names: Sequence[str]) -> dict[str, Any]:
    """The batch's columns as the server's validation takes them: NumPy arrays where
    Arrow hands them over without nulls, plain lists otherwise."""
    columns: dict[str, Any] = {}
    for name in names:
        column = batch.column(name)
        kind = column.type
        if column.null_count == 0 and (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            columns[name] = column.to_numpy(zero_copy_only=False)
        elif pa.types.is_dictionary(kind):
            columns[name] = column.cast(kind.value_type).to_pylist()
        elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            columns[name] = [None if v is None else v.isoformat() for v in column.to_pylist()]
        else:
            columns[name] = column.to_pylist()
    return columns


def _score_batch(
    spec: ScoringSpec,
    model: LoadedModel,
    signature: Signature,
    batch: pa.RecordBatch,
    partition: int,
    offset: int,
) -> tuple[pa.Table, Any, np.ndarray]:
    from pathtolive.registry.validation import validate_columns

    names = signature.input_names
    validated = validate_columns(
        _columns(batch, names), batch.num_rows, signature, max_rows=_MAX_ROWS
    )
    frame = to_frame([validated], signature)
    outputs = _predict(model, signature, frame)
    table = _output_table(spec, model, batch, outputs, partition, offset)
    return table, frame, outputs


def _predict(model: LoadedModel, signature: Signature, frame: Any) -> np.ndarray:
    """Class probabilities (rows by classes, in ``model.classes`` order) for a model with
    probabilities, else its labels or values."""
    if signature.output.kind == "probability" and model.classes is not None:
        proba = model.predict_proba(frame)
        if proba is not None:
            return np.asarray(proba, dtype=np.float64)
    return np.asarray(model.predict(frame))


def probability_column(label: object) -> str:
    return f"proba_{label}"


def _output_table(
    spec: ScoringSpec,
    model: LoadedModel,
    batch: pa.RecordBatch,
    outputs: np.ndarray,
    partition: int,
    offset: int,
) -> pa.Table:
    n = batch.num_rows
    arrays: list[pa.Array] = [batch.column(name) for name in spec.id_columns]
    names = list(spec.id_columns)
    if not spec.id_columns:  # no id given: the row's partition and place in it name it
        arrays.append(pa.array(np.full(n, partition, dtype=np.int32)))
        arrays.append(pa.array(np.arange(offset, offset + n, dtype=np.int64)))
        names += ["partition", "row"]
    if outputs.ndim == 2:
        classes = model.classes or tuple(range(outputs.shape[1]))
        for position, label in enumerate(classes):
            arrays.append(pa.array(outputs[:, position]))
            names.append(probability_column(label))
        arrays.append(
            pa.array(np.asarray(classes, dtype=object)[outputs.argmax(axis=1)]).cast(pa.string())
        )
        names.append("label")
    else:
        arrays.append(pa.array(outputs))
        names.append("prediction")
    arrays.append(pa.array(np.full(n, spec.version.version, dtype=np.int32)))
    names.append("model_version")
    arrays.append(pa.DictionaryArray.from_arrays(np.zeros(n, np.int8), [spec.job_id]))
    names.append("job_id")
    return pa.Table.from_arrays(arrays, names=names)


def _empty_schema(
    spec: ScoringSpec, model: LoadedModel, signature: Signature, partition: Partition
) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in spec.id_columns] or [
        pa.field("partition", pa.int32()),
        pa.field("row", pa.int64()),
    ]
    if signature.output.kind == "probability" and model.classes is not None:
        fields += [pa.field(probability_column(c), pa.float64()) for c in model.classes]
        fields.append(pa.field("label", pa.string()))
    else:
        fields.append(pa.field("prediction", pa.float64()))
    fields.append(pa.field("model_version", pa.int32()))
    fields.append(pa.field("job_id", pa.dictionary(pa.int8(), pa.string())))
    return pa.schema(fields)


# -- the prediction log -------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    """The segment header of a batch job's rows (every row its own request)."""

    request_id: str
    at: datetime
    model: str
    version: int
    trained_on: tuple[str, ...]
    protocol: str
    role: str
    latency_ms: float
    rows: int


class _SegmentBuffer:
    """Sampled rows of one partition, written to the artifact store as log segments of
    about :data:`SEGMENT_ROWS` rows. A segment is encoded and stored on a thread of its
    own while the next rows are scored (Parquet's compression and the model's trees
    release the GIL): with every row logged, that work was a quarter of a job's time.
    At most two segments are in hand at once, so memory stays flat."""

    def __init__(self, spec: ScoringSpec, store: ArtifactStore) -> None:
        self.spec = spec
        self.store = store
        self.random = np.random.default_rng()
        self.pending: list[tuple[Any, np.ndarray, pa.Array]] = []
        self.pending_rows = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pathtolive-log")
        self._writing: list[Future[SegmentWritten]] = []

    def __enter__(self) -> _SegmentBuffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A partition that failed leaves no thread behind; its stored segments are
        # unreferenced objects, which gc removes.
        self._writer.shutdown(wait=True, cancel_futures=True)

    def add(
        self, batch: pa.RecordBatch, frame: Any, outputs: np.ndarray, partition: int, offset: int
    ) -> None:
        sample = self.spec.log.sample
        if sample <= 0:
            return
        n = batch.num_rows
        keep = np.ones(n, dtype=bool) if sample >= 1 else self.random.random(n) < sample
        if not keep.any():
            return
        picked = np.flatnonzero(keep)
        ids = self._request_ids(batch, partition, offset).take(pa.array(picked))
        rows = frame.iloc[picked].reset_index(drop=True)
        self.pending.append((rows, outputs[picked], ids))
        self.pending_rows += len(picked)
        if self.pending_rows >= SEGMENT_ROWS:
            self._submit()

    def _request_ids(self, batch: pa.RecordBatch, partition: int, offset: int) -> pa.Array:
        """A batch row's request id: its id column's value (several joined by ``:``), so
        feedback names the row by its id; without ids, ``<job>:<partition>:<row>``."""
        if not self.spec.id_columns:
            rows = np.arange(offset, offset + batch.num_rows).astype(str)
            prefix = f"{self.spec.job_id}:{partition}:"
            return pa.array(np.char.add(prefix, rows), pa.string())
        import pyarrow.compute as pc

        parts = [batch.column(name).cast(pa.string()) for name in self.spec.id_columns]
        if len(parts) == 1:
            return parts[0]
        return pc.binary_join_element_wise(*parts, ":")

    def flush(self) -> tuple[SegmentWritten, ...]:
        """Every segment of the partition, stored (the last one written now)."""
        if self.pending:
            self._submit()
        return tuple(writing.result() for writing in self._writing)

    def _submit(self) -> None:
        import pandas as pd

        frame = pd.concat([rows for rows, _, _ in self.pending], ignore_index=True)
        outputs = np.concatenate([chunk for _, chunk, _ in self.pending])
        ids = pa.concat_arrays([chunk for _, _, chunk in self.pending])
        self.pending, self.pending_rows = [], 0
        if len(self._writing) >= 2:
            self._writing[-2].result()  # one segment written, one waiting, no more
        self._writing.append(self._writer.submit(self._write, frame, outputs, ids))

    def _write(self, frame: Any, outputs: np.ndarray, ids: pa.Array) -> SegmentWritten:
        now = datetime.now(UTC)
        version = self.spec.version
        head = _Head(
            self.spec.job_id,
            now,
            version.model,
            version.version,
            self.spec.trained_on,
            BATCH_PROTOCOL,
            BATCH_ROLE,
            0.0,
            len(frame),
        )
        parquet = encode_rows(
            [head],
            frame,
            outputs,
            pii_columns=self.spec.log.pii_columns,
            pii_mode=self.spec.log.pii_mode,
            salt=self.spec.log.salt,
            row_ids=ids,
        )
        stored = self.store.put_bytes(parquet)
        return SegmentWritten(stored.digest, len(frame), now, now)
