"""Reading a user's table into its canonical form: one Parquet file.

A dataset version is content-addressed by the bytes of its canonical Parquet file, so the
conversion is deterministic: the same input gives the same bytes, whatever the block size
the input was read with. Rows are re-chunked into row groups of a fixed size that depends
only on the column types, and the writer settings are fixed (:data:`WRITER_SETTINGS`).

Every input is streamed (CSV and JSON Lines block by block, a folder file by file), so
memory stays bounded by one row group whatever the size of the input. A single Parquet
file is already canonical and is used as it is, without a rewrite. The reading of Parquet
and the column kinds are :mod:`pathtolive.data.formats`.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from pathtolive import progress
from pathtolive.data.formats import (
    canonical_schema,
    canonical_type,
    check_columns,
    check_readable,
    column_kind,
    iter_batches,
    open_parquet,
    permission_denied,
    table_from_frame,
    unnamed_pandas_index,
)
from pathtolive.errors import InvalidInputError, UnsupportedFormatError, storage_error
from pathtolive.faces import spelled
from pathtolive.format import first_line

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SUPPORTED_FORMATS",
    "WRITER_SETTINGS",
    "CanonicalTable",
    "folder_files",
    "stored_as_is",
    "to_canonical_parquet",
]

SourceFormat = Literal["csv", "parquet", "jsonl", "dataframe", "partitions"]

SUPPORTED_FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "parquet")
"""Values accepted by ``fmt`` (and ``--format``); ``json`` and ``ndjson`` mean ``jsonl``."""

# zstd at level 1 writes about as fast as snappy and reads as fast, but its files are
# smaller, which matters because every canonical file is kept in the artifact store.
WRITER_SETTINGS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "store_schema": True,
}
"""Fixed ``pyarrow.parquet.ParquetWriter`` settings of every canonical file."""

_CSV_BLOCK_BYTES = 16 << 20  # types are inferred from the first block: make it generous
_JSON_BLOCK_BYTES = 16 << 20
_ROW_GROUP_BYTES = 64 << 20
_MIN_ROW_GROUP_ROWS = 1 << 14
_MAX_ROW_GROUP_ROWS = 1 << 20

_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"),
    (".tsv.gz", "tsv"),
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".csv", "csv"),
    (".tsv", "tsv"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".json", "jsonl"),
    (".parquet", "parquet"),
    (".pq", "parquet"),
)
_FORMAT_NAMES = {
    "csv": "csv",
    "tsv": "tsv",
    "jsonl": "jsonl",
    "json": "jsonl",
    "ndjson": "jsonl",
    "parquet": "parquet",
}
_CONVERSION_ERROR = re.compile(
    r"In CSV column #(\d+): CSV conversion error to (\w+): invalid value '(.*)'", re.S
)
_ROW_ERROR = re.compile(r"Expected (\d+) columns, got (\d+)")


@dataclass(frozen=True)
class CanonicalTable:
    """A table in its canonical Parquet form, ready to be hashed, profiled and stored.

    ``temporary`` is True when the file was written into the work folder: the caller
    deletes it once it is stored. A Parquet source is its own canonical form and is
    returned untouched (``temporary=False``). ``source_bytes`` is the size of the source
    file(s), or for a DataFrame the size of its Arrow buffers.
    """

    path: Path
    temporary: bool
    source_format: SourceFormat
    rows: int
    arrow_schema: pa.Schema
    source_bytes: int


def to_canonical_parquet(
    source: Path | pd.DataFrame, work_dir: Path, *, fmt: str | None = None
) -> CanonicalTable:
    """Bring a CSV, JSON Lines or Parquet file, a folder of them, or a DataFrame to Parquet.

    ``fmt`` (one of :data:`SUPPORTED_FORMATS`) overrides the detection by file extension.
    Written files go to ``work_dir`` and are marked ``temporary``. Raises
    ``InvalidInputError`` (or its ``UnsupportedFormatError``) for anything unreadable,
    empty, malformed or unsupported.
    """
    if not isinstance(source, str | os.PathLike):  # a DataFrame, told without importing pandas
        table = table_from_frame(source)
        if table.num_rows == 0:
            raise _no_rows("the DataFrame")
        path, rows = _write_canonical(work_dir, table.schema, table.to_batches(), "DataFrame")
        return CanonicalTable(path, True, "dataframe", rows, table.schema, table.nbytes)

    source = Path(source)
    if source.is_dir():
        return _folder_to_parquet(source, work_dir, fmt)
    check_readable(source)
    file_format = _format_of(source, fmt)
    if file_format == "parquet":
        return _parquet_as_is(source, work_dir)
    opened = _open_text(source, file_format, None)
    schema = canonical_schema(opened.schema)
    batches = _reporting_bytes(opened.batches, source, file_format)
    path, rows = _write_canonical(work_dir, schema, batches, str(source))
    return CanonicalTable(
        path, True, _source_format(file_format), rows, schema, source.stat().st_size
    )


def _reporting_bytes(
    batches: Iterator[pa.RecordBatch], source: Path, file_format: str
) -> Iterator[pa.RecordBatch]:
    """``batches`` of a text file, its bytes reported as read: Arrow's streaming readers
    make one batch of each block, so a batch stands for a block's bytes. A compressed
    file's blocks are of its uncompressed text: its stage has no total."""
    size = source.stat().st_size
    compressed = source.name.lower().endswith(".gz")
    block = _JSON_BLOCK_BYTES if file_format == "jsonl" else _CSV_BLOCK_BYTES
    progress.stage(f"reading {source.name}", total=None if compressed else size, unit="bytes")
    done = 0
    for batch in batches:
        yield batch
        step = min(block, size - done)
        done += step
        progress.advance(step)
    progress.advance(size - done)


class _Opened(NamedTuple):
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    close: Callable[[], None]


def _source_format(file_format: str) -> SourceFormat:
    if file_format in ("csv", "tsv"):
        return "csv"
    return "jsonl" if file_format == "jsonl" else "parquet"


def stored_as_is(source: Path, fmt: str | None = None) -> pa.Schema | None:
    """The Arrow schema of ``source`` when :func:`to_canonical_parquet` keeps it as it is
    (a Parquet file with rows and named columns only); else None, also for anything
    unreadable (the conversion says what is wrong)."""
    try:
        if not source.is_file() or _format_of(source, fmt) != "parquet":
            return None
        parquet = open_parquet(source)
        try:
            schema = parquet.schema_arrow
            if parquet.metadata.num_rows == 0 or unnamed_pandas_index(schema):
                return None
            check_columns(schema, str(source))
        finally:
            parquet.close()
    except InvalidInputError:
        return None
    return schema


def _parquet_as_is(path: Path, work_dir: Path) -> CanonicalTable:
    parquet = open_parquet(path)
    schema = parquet.schema_arrow
    rows = parquet.metadata.num_rows
    if rows == 0:
        parquet.close()
        raise _no_rows(path)
    unnamed_index = unnamed_pandas_index(schema)
    if not unnamed_index:
        parquet.close()
        check_columns(schema, str(path))
        return CanonicalTable(path, False, "parquet", rows, schema, path.stat().st_size)
    # pandas stores an unnamed non-range index (e.g. after df.sample()) as a column named
    # __index_level_0__: row labels, not data. Rewrite the file without them.
    columns = [name for name in schema.names if name not in unnamed_index]
    data_schema = canonical_schema(pa.schema([schema.field(name) for name in columns]))
    check_columns(data_schema, str(path))

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from iter_batches(parquet, columns, label=str(path))
        finally:
            parquet.close()

    written, written_rows = _write_canonical(work_dir, data_schema, batches(), str(path))
    return CanonicalTable(written, True, "parquet", written_rows, data_schema, path.stat().st_size)


def _folder_to_parquet(folder: Path, work_dir: Path, fmt: str | None) -> CanonicalTable:
    files = folder_files(folder)
    formats = {_format_of(file, fmt) for file in files}
    if len(formats) > 1:
        raise InvalidInputError(
            f"folder {folder} mixes formats ({', '.join(sorted(formats))}); "
            "keep files of one format in a dataset folder"
        )
    file_format = formats.pop()
    first = _open_any(files[0], file_format, None)
    first.close()
    target = canonical_schema(first.schema)

    def batches() -> Iterator[pa.RecordBatch]:
        for file in files:
            opened = _open_any(file, file_format, None if file == files[0] else target)
            try:
                _check_conforms(target, opened.schema, file, files[0])
                for batch in opened.batches:
                    yield _conform(batch, target)
            finally:
                opened.close()

    path, rows = _write_canonical(work_dir, target, batches(), str(folder))
    return CanonicalTable(
        path,
        True,
        _source_format(file_format),
        rows,
        target,
        sum(file.stat().st_size for file in files),
    )


def folder_files(folder: Path) -> list[Path]:
    """The data files of a dataset folder in name order; a nested folder, an unreadable
    file or no file at all is an ``InvalidInputError``."""
    files: list[Path] = []
    # Names starting with "." or "_" are bookkeeping (.DS_Store, Spark's _SUCCESS).
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            raise InvalidInputError(
                f"folder {folder} contains the folder {entry.name!r}; a dataset folder "
                "holds files of one format side by side, not nested folders"
            )
        check_readable(entry)
        files.append(entry)
    if not files:
        raise InvalidInputError(
            f"folder {folder} has no data files; a dataset version needs at least one row"
        )
    return files


def _check_conforms(target: pa.Schema, schema: pa.Schema, file: Path, first: Path) -> None:
    """Raise unless ``file`` can be cast to the first file's columns and types.

    Column order may differ; a column without any value, and integers where the first
    file has floats, are cast. Anything else is a difference the user has to resolve.
    """
    names, expected = set(schema.names), set(target.names)
    if names != expected:
        missing, extra = sorted(expected - names), sorted(names - expected)
        how = "; ".join(
            part
            for part in (
                f"missing {', '.join(map(repr, missing))}" if missing else "",
                f"extra {', '.join(map(repr, extra))}" if extra else "",
            )
            if part
        )
        raise InvalidInputError(
            f"{file} does not have the columns of {first.name} ({how}); "
            "every file in a dataset folder needs the same columns"
        )
    for field in target:
        original = schema.field(field.name).type
        actual = canonical_type(original)
        widening = pa.types.is_integer(actual) and pa.types.is_floating(field.type)
        if actual.equals(field.type) or pa.types.is_null(original) or widening:
            continue
        raise InvalidInputError(
            f"{file}: column {field.name!r} is {actual} but {field.type} in {first.name}; "
            "every file in a dataset folder needs the same column types"
        )


def _conform(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    columns = [batch.column(field.name).cast(field.type) for field in target]
    return pa.RecordBatch.from_arrays(columns, schema=target)


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        name = _FORMAT_NAMES.get(fmt.lower())
        if name is None:
            raise UnsupportedFormatError(
                f"unknown format {fmt!r}; use one of {', '.join(SUPPORTED_FORMATS)}"
            )
        return name
    lower = path.name.lower()
    for suffix, name in _SUFFIXES:
        if lower.endswith(suffix):
            return name
    raise UnsupportedFormatError(
        f"cannot tell the format of {path} from its extension; pathtolive reads "
        f"{', '.join(SUPPORTED_FORMATS)} (.csv, .tsv, .csv.gz, .jsonl, .ndjson, .json, "
        ".parquet): rename the file or "
        + spelled("pass --format", "read it into a DataFrame and add that")
    )


def _open_any(path: Path, file_format: str, target: pa.Schema | None) -> _Opened:
    if file_format != "parquet":
        return _open_text(path, file_format, target)
    parquet = open_parquet(path)
    check_columns(parquet.schema_arrow, str(path))

    batches = iter_batches(parquet, label=str(path))
    return _Opened(parquet.schema_arrow, batches, parquet.close)


def _open_text(path: Path, file_format: str, target: pa.Schema | None) -> _Opened:
    if file_format == "jsonl":
        return _open_json(path)
    return _open_csv(path, "\t" if file_format == "tsv" else ",", target)


def _open_csv(path: Path, delimiter: str, target: pa.Schema | None) -> _Opened:
    bad_rows: list[Any] = []

    def on_invalid_row(row: Any) -> str:
        bad_rows.append(row)
        return "error"

    def open_reader(column_types: dict[str, pa.DataType]) -> Any:
        try:
            return pa_csv.open_csv(
                path,
                read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(
                    delimiter=delimiter, invalid_row_handler=on_invalid_row
                ),
                convert_options=pa_csv.ConvertOptions(column_types=column_types),
            )
        except (pa.ArrowException, OSError) as exc:
            raise _csv_error(path, exc, bad_rows, None) from exc

    # Later files of a folder are read with the types of the first, so that a column that
    # happens to hold only whole numbers in one file still reads as float there.
    column_types = {f.name: f.type for f in target} if target is not None else {}
    reader = open_reader(column_types)
    empty = {f.name: pa.string() for f in reader.schema if pa.types.is_null(f.type)}
    if empty:
        # A column without a value in the whole first block is read as text, rather than
        # failing on the first value of a later block.
        reader.close()
        reader = open_reader({**empty, **column_types})
    return _opened(reader, path, lambda exc: _csv_error(path, exc, bad_rows, reader.schema))


def _opened(reader: Any, path: Path, error: Callable[[Exception], InvalidInputError]) -> _Opened:
    """An open CSV or JSON Lines ``reader`` whose columns are checked, with what it raises
    while reading turned into ``error(exc)``."""
    schema = reader.schema
    check_columns(schema, str(path))

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (pa.ArrowException, OSError) as exc:
            raise error(exc) from exc

    return _Opened(schema, batches(), reader.close)


def _csv_error(
    path: Path, exc: Exception, bad_rows: Sequence[Any], schema: pa.Schema | None
) -> InvalidInputError:
    detail = first_line(exc)
    if isinstance(exc, FileNotFoundError):
        return InvalidInputError(f"file not found: {path}")
    if isinstance(exc, PermissionError):
        return permission_denied(path)
    if "Empty CSV file" in detail:
        return _no_rows(path)
    if bad_rows or _ROW_ERROR.search(detail):
        row = bad_rows[0] if bad_rows else None
        expected = row.expected_columns if row is not None else None
        actual = row.actual_columns if row is not None else None
        if row is None:
            match = _ROW_ERROR.search(detail)
            assert match is not None
            expected, actual = int(match.group(1)), int(match.group(2))
        line = _line_of(path, row.text) if row is not None else None
        where = f"line {line}" if line is not None else "a row"
        return InvalidInputError(
            f"{path} {where} has {actual} fields where the header has {expected}; "
            "fix that row (quote values that contain the delimiter)"
        )
    conversion = _CONVERSION_ERROR.search(detail)
    if conversion is not None and schema is not None:
        index, type_name, value = conversion.groups()
        column = schema.names[int(index)]
        return InvalidInputError(
            f"{path}: column {column!r} was read as {type_name} from the first rows, but a "
            f"later row has {value!r}; fix that value, or save the data as Parquet with "
            "the column type you want"
        )
    return InvalidInputError(f"cannot read {path} as CSV ({detail}); check the file")


def _line_of(path: Path, text: str) -> int | None:
    """The line number of the first line equal to ``text`` (on the error path only)."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
            for number, line in enumerate(handle, start=1):
                if line.rstrip("\r\n") == text:
                    return number
    except OSError:
        return None
    return None


def _open_json(path: Path) -> _Opened:
    if _starts_with_bracket(path):
        raise UnsupportedFormatError(
            f"{path} holds one JSON array; pathtolive reads JSON Lines (one object per "
            "line): convert it, e.g. pandas.read_json(path).to_json(out, orient='records', "
            "lines=True)"
        )
    try:
        reader = pa_json.open_json(
            path, read_options=pa_json.ReadOptions(block_size=_JSON_BLOCK_BYTES)
        )
    except (pa.ArrowException, OSError) as exc:
        raise _json_error(path, exc) from exc
    return _opened(reader, path, lambda exc: _json_error(path, exc))


def _json_error(path: Path, exc: Exception) -> InvalidInputError:
    detail = first_line(exc)
    if isinstance(exc, PermissionError):
        return permission_denied(path)
    if "Empty JSON file" in detail or path.stat().st_size == 0:
        return _no_rows(path)
    if "unexpected field" in detail:
        return InvalidInputError(
            f"{path}: a later line has a field the first lines do not have; give every "
            "line the same fields (null where a value is missing)"
        )
    if "changed from" in detail:
        return InvalidInputError(
            f"{path}: {detail.removeprefix('JSON parse error: ')}; give each field one "
            "JSON type on every line"
        )
    return InvalidInputError(f"cannot read {path} as JSON Lines ({detail}); check the file")


def _starts_with_bracket(path: Path) -> bool:
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head: bytes = handle.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"[")


def _row_group_rows(schema: pa.Schema) -> int:
    """Rows per row group: about 64 MiB of values, a power of two, from the types alone."""
    row_bytes = sum(_value_bytes(field.type) for field in schema)
    rows = _MAX_ROW_GROUP_ROWS
    while rows > _MIN_ROW_GROUP_ROWS and rows * row_bytes > _ROW_GROUP_BYTES:
        rows //= 2
    return rows


def _value_bytes(arrow_type: pa.DataType) -> int:
    kind = column_kind(arrow_type)
    if kind == "boolean":
        return 1
    if kind == "string":
        return 32  # a guess at a typical string; only the order of magnitude matters
    return 8


def _write_canonical(
    work_dir: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], label: str
) -> tuple[Path, int]:
    work_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="canonical-", suffix=".parquet", dir=work_dir)
    os.close(handle)
    path = Path(name)
    group_rows = _row_group_rows(schema)
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    rows = 0
    try:
        with pq.ParquetWriter(path, schema, **WRITER_SETTINGS) as writer:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                pending.append(batch if batch.schema.equals(schema) else batch.cast(schema))
                pending_rows += batch.num_rows
                if pending_rows >= group_rows:
                    pending = _write_groups(writer, schema, pending, group_rows)
                    rows += pending_rows - sum(b.num_rows for b in pending)
                    pending_rows = sum(b.num_rows for b in pending)
            if pending_rows:
                _write_groups(writer, schema, pending, pending_rows)
                rows += pending_rows
    except BaseException as exc:
        path.unlink(missing_ok=True)
        full_or_read_only = storage_error(exc, path)
        if full_or_read_only is not None:
            raise full_or_read_only from exc
        raise
    if rows == 0:
        path.unlink(missing_ok=True)
        raise _no_rows(label)
    return path, rows


def _write_groups(
    writer: pq.ParquetWriter, schema: pa.Schema, pending: list[pa.RecordBatch], group_rows: int
) -> list[pa.RecordBatch]:
    """Write as many whole row groups as ``pending`` holds; return the rows left over."""
    table = pa.Table.from_batches(pending, schema=schema)
    count = table.num_rows - table.num_rows % group_rows
    # One contiguous chunk per row group: page boundaries then depend on the rows alone,
    # not on how the reader happened to split them into blocks.
    for start in range(0, count, group_rows):
        writer.write_table(
            table.slice(start, group_rows).combine_chunks(), row_group_size=group_rows
        )
    rest = table.slice(count)
    return rest.to_batches() if rest.num_rows else []


def _no_rows(what: object) -> InvalidInputError:
    return InvalidInputError(f"{what} has no rows; a dataset version needs at least one row")
