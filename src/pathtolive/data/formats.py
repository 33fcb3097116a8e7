"""Reading tables: the column kinds pathtolive knows, and one way to stream Parquet.

Whatever streams a Parquet file (the conversion to canonical form, profiles, validation,
the live side of drift) opens it with :func:`open_parquet` and reads it with
:func:`iter_batches`, so every reader has the same memory bounds, the same batch size
(:data:`BATCH_ROWS`) and the same message for a file that cannot be read. A pandas frame
becomes an Arrow table of the canonical types with :func:`table_from_frame`.

Foreign errors (pyarrow, the file system) are translated here into
:class:`~pathtolive.errors.InvalidInputError` with a one-line message that says what is
wrong and what to do. Writing a user's file in its canonical form is
:mod:`pathtolive.data.canonical`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from pathtolive.errors import InvalidInputError
from pathtolive.format import first_line

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BATCH_ROWS",
    "FILE_ADVICE",
    "Kind",
    "canonical_schema",
    "canonical_type",
    "check_columns",
    "check_readable",
    "column_kind",
    "decoded",
    "dictionary_columns",
    "iter_batches",
    "open_parquet",
    "permission_denied",
    "table_from_frame",
    "unnamed_pandas_index",
]

Kind = Literal["integer", "float", "boolean", "string", "datetime"]
_READ_BUFFER = 1 << 20
_UNNAMED_INDEX = re.compile(r"__index_level_\d+__")

FILE_ADVICE = "check that the file is complete, or convert it again"
"""What to do about a user's file that cannot be read."""

BATCH_ROWS = 65_536
"""Rows per record batch when a table is streamed: batches of this size stay in the CPU
caches while many passes run over them."""

_SUPPORTED_TYPES = "integers, floats, booleans, strings, dates and timestamps"
_FRAME_COLUMN = re.compile(r"Conversion failed for column (.+?) with type")


def column_kind(arrow_type: pa.DataType) -> Kind | None:
    """The kind of values an Arrow type holds, or None when pathtolive does not support it.

    A dictionary type has the kind of its values. The null type (a column without any
    value) counts as an empty string column.
    """
    if pa.types.is_dictionary(arrow_type):
        return column_kind(arrow_type.value_type)
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "float"
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
        or pa.types.is_null(arrow_type)
    ):
        return "string"
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return "datetime"
    return None


def check_columns(schema: pa.Schema, label: str) -> None:
    """Reject tables pathtolive cannot hold: no columns, unnamed, duplicate or odd types."""
    if len(schema) == 0:
        raise InvalidInputError(
            f"{label} has no columns; a dataset version needs at least one column"
        )
    seen: set[str] = set()
    for position, field in enumerate(schema, start=1):
        if not field.name:
            raise InvalidInputError(
                f"{label}: column {position} has an empty name; give every column a name"
            )
        if field.name in seen:
            raise InvalidInputError(
                f"{label} has more than one column named {field.name!r}; "
                "rename them so that each name is unique"
            )
        seen.add(field.name)
        if column_kind(field.type) is None:
            raise InvalidInputError(
                f"{label}: column {field.name!r} has type {field.type}, which pathtolive "
                f"does not support ({_SUPPORTED_TYPES} are); flatten or convert it"
            )


def open_parquet(
    source: Path | bytes,
    *,
    label: str | None = None,
    read_dictionary: Sequence[str] | None = None,
    advice: str = FILE_ADVICE,
) -> pq.ParquetFile:
    """Open a Parquet file, or Parquet bytes, for streamed reads.

    Every failure is an ``InvalidInputError`` that names ``label`` (by default the path,
    or "the Parquet bytes") and ends with ``advice``. Columns named in
    ``read_dictionary`` are read as dictionaries.
    """
    if isinstance(source, bytes | bytearray):
        try:
            return pq.ParquetFile(
                pa.BufferReader(source), read_dictionary=read_dictionary, pre_buffer=False
            )
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(label or "the Parquet bytes", exc, advice) from exc
    check_readable(source)
    try:
        # Without these, iter_batches pre-buffers whole column chunks and keeps them: a
        # 4 GiB file then peaks at about 4.5 GB of memory. Streamed reads through a 1 MiB
        # buffer stay near 200 MB whatever the file size, and are faster too.
        return pq.ParquetFile(
            source, read_dictionary=read_dictionary, pre_buffer=False, buffer_size=_READ_BUFFER
        )
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(label or str(source), exc, advice) from exc


def decoded(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array of plain values from a batch's column: chunks combined, a dictionary
    decoded."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


def dictionary_columns(schema: pa.Schema, *, unique: Sequence[str] = ()) -> list[str]:
    """The columns of ``schema`` worth dictionary-encoding in Parquet: all but floating
    point ones and the ``unique`` ones (a value per row, such as a row's JSON). Writing
    tries a dictionary first for every column it is allowed to; on measurements and
    per-row text, that attempt always fails and made a log segment's write five times
    slower (and its file larger)."""
    skipped = set(unique)
    return [
        field.name
        for field in schema
        if field.name not in skipped and not pa.types.is_floating(field.type)
    ]


def iter_batches(
    source: pq.ParquetFile | pa.Table,
    columns: Sequence[str] | None = None,
    *,
    label: str = "the table",
    batch_rows: int | None = None,
    advice: str = FILE_ADVICE,
    threads: bool = True,
) -> Iterator[pa.RecordBatch]:
    """The rows of an open Parquet file or of a table, ``batch_rows`` at a time (by
    default :data:`BATCH_ROWS`), with only ``columns`` (all by default; none still gives
    the row counts). ``threads=False`` decodes a file's columns on the calling thread
    rather than on Arrow's pool.

    A file that cannot be read is an ``InvalidInputError`` that names ``label`` (the
    path, say) and ends with ``advice``, raised where the reading fails.
    """
    rows = BATCH_ROWS if batch_rows is None else batch_rows
    wanted = None if columns is None else list(columns)
    if isinstance(source, pa.Table):
        yield from (source if wanted is None else source.select(wanted)).to_batches(rows)
        return
    try:
        yield from source.iter_batches(batch_size=rows, columns=wanted, use_threads=threads)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(label, exc, advice) from exc


def table_from_frame(frame: pd.DataFrame) -> pa.Table:
    """Convert a DataFrame to an Arrow table with the canonical types (index dropped)."""
    if len(frame.columns) == 0:
        raise InvalidInputError(
            "the DataFrame has no columns; a dataset version needs at least one column"
        )
    for position, name in enumerate(frame.columns, start=1):
        if not isinstance(name, str):
            raise InvalidInputError(
                f"DataFrame column {position} has a name of type {type(name).__name__} "
                f"({name!r}); column names must be strings, e.g. "
                "df.columns = df.columns.astype(str)"
            )
    duplicated = frame.columns[frame.columns.duplicated()]
    if len(duplicated):
        raise InvalidInputError(
            f"the DataFrame has more than one column named {duplicated[0]!r}; "
            "rename them so that each name is unique"
        )
    index_names = [name for name in frame.index.names if name is not None]
    if index_names:
        # A named index is data (an id, a date); an unnamed one is only row labels.
        clash = [name for name in index_names if name in frame.columns]
        if clash:
            raise InvalidInputError(
                f"the DataFrame's index {clash[0]!r} has the name of one of its columns; "
                "rename it or drop it with df.reset_index(drop=True)"
            )
        frame = frame.reset_index()
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        # pyarrow puts the column in a second argument: "Conversion failed for column m ..."
        parts = [str(part) for part in exc.args] or [type(exc).__name__]
        column = next((m.group(1) for part in parts if (m := _FRAME_COLUMN.search(part))), None)
        where = f"column {column!r}" if column is not None else "a column"
        raise InvalidInputError(
            f"cannot convert DataFrame {where} to Arrow ({parts[0].splitlines()[0]}); "
            "give every value of a column one type"
        ) from exc
    # pandas metadata names the pandas version: dropping it keeps the bytes reproducible.
    table = table.replace_schema_metadata(None)
    check_columns(table.schema, "the DataFrame")
    return table.cast(canonical_schema(table.schema))


def unnamed_pandas_index(schema: pa.Schema) -> set[str]:
    """Columns that hold an unnamed pandas index (``__index_level_N__``)."""
    metadata = schema.pandas_metadata or {}
    stored = metadata.get("index_columns", [])
    return {
        name
        for name in stored
        if isinstance(name, str) and _UNNAMED_INDEX.fullmatch(name) and name in schema.names
    }


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InvalidInputError(f"file not found: {path}")
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file; give a file or a folder of files")
    if not os.access(path, os.R_OK):
        raise permission_denied(path)


def canonical_type(arrow_type: pa.DataType) -> pa.DataType:
    # One string type for all string flavours, so the same data gives the same bytes.
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.string()
    if pa.types.is_null(arrow_type):
        return pa.string()
    if pa.types.is_dictionary(arrow_type):
        return pa.dictionary(arrow_type.index_type, canonical_type(arrow_type.value_type))
    return arrow_type


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, canonical_type(f.type)) for f in schema])


def permission_denied(path: Path) -> InvalidInputError:
    return InvalidInputError(f"cannot read {path}: permission denied; check the file's permissions")


def _unreadable(label: str, exc: BaseException, advice: str) -> InvalidInputError:
    return InvalidInputError(
        f"{label} is not a readable Parquet file ({first_line(exc)}); {advice}"
    )
