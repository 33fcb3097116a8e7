"""The live side of drift: inputs accumulated batch by batch on the reference's bins.

A :class:`CurrentSketch` is built from the reference :class:`~pathtolive.data.profile.Profile`
of the dataset version a model was trained on, and fed the live inputs (a prediction log's
Parquet segments, a table, a DataFrame) one batch at a time. Whatever the size of the
window, it holds only

- per numeric column: counts on the profile's own histogram bins (the same edges, binned
  by the same arithmetic as the profile: :mod:`pathtolive.data.bins`) and on its
  equal-mass bins (the same cuts), the missing (null or NaN) count, and its values
  in a uniform random sample of at most ``sample_size`` rows, for the Kolmogorov-Smirnov
  and Wasserstein figures (the same rows for every column, as in profiles: a column's
  sample is its finite values in those rows);
- per categorical column: counts on the profile's stored categories plus one count for
  every other value, and the missing count.

So memory does not grow with the window. The sample is a bottom-k sample: each row draws
a uniform key from one random stream seeded with ``seed``, and the ``sample_size`` rows
with the smallest keys are kept (a row enters only when its key beats the largest key
held, so after the first rows few do, and one comparison per row decides for every
column). Keys are drawn per row in order, so the sketch is the same however the rows are
split into batches.

:func:`iter_segment_batches` reads only the needed columns of Parquet files or bytes (the
prediction log's segments), batch by batch, string columns as dictionaries (so
categories are matched once per distinct value, not once per row), one batch ahead in a
background thread; :func:`~pathtolive.data.formats.iter_batches` reads each file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pathtolive.data.bins import histogram, mass_bin_counts
from pathtolive.data.formats import (
    BATCH_ROWS,
    FILE_ADVICE,
    iter_batches,
    open_parquet,
    table_from_frame,
)
from pathtolive.data.profile import ColumnProfile, Profile
from pathtolive.errors import InvalidInputError
from pathtolive.format import first_line

__all__ = [
    "DEFAULT_SAMPLE_SIZE",
    "ColumnSketch",
    "CurrentSketch",
    "FeatureKind",
    "comparable_columns",
    "iter_segment_batches",
]

DEFAULT_SAMPLE_SIZE = 20_000
"""Rows sampled for the Kolmogorov-Smirnov and Wasserstein figures (each numeric column
keeps its values in them)."""

FeatureKind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ColumnSketch:
    """What a :class:`CurrentSketch` holds for one column, as plain arrays.

    ``rows`` are the rows seen (every row added, whether the batch had the column or not);
    ``missing`` the null ones (NaN too, for numerics); ``values`` the values counted on
    the bins or categories (the finite ones, for numerics: infinities are neither binned
    nor missing, as in profiles). ``counts`` has one count per reference bin, or per
    stored category plus a last one for every other value. ``sample`` is the numeric
    sample, sorted (empty for categoricals). ``present`` is False when no batch had the
    column with a type other than null. ``mass_counts`` has one count per equal-mass bin
    of the reference (empty when it has none, and for categoricals).
    """

    name: str
    kind: FeatureKind
    rows: int
    missing: int
    values: int
    counts: IntArray
    sample: FloatArray
    present: bool
    mass_counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def comparable_columns(reference: Profile) -> tuple[str, ...]:
    """The reference's columns drift can compare: numeric columns (with or without values)
    and categorical ones with stored categories (not ``pii`` or ``id`` columns)."""
    return tuple(column.name for column in reference.columns if _feature_kind(column) is not None)


def _feature_kind(column: ColumnProfile) -> FeatureKind | None:
    if column.kind in ("integer", "float") and column.numeric is not None:
        return "numeric"
    if column.categorical is not None and column.categorical.categories:
        return "categorical"
    return None


@dataclass
class _State:
    """One column's accumulators (mutable; :meth:`CurrentSketch.column` snapshots it)."""

    name: str
    kind: FeatureKind
    counts: IntArray
    missing: int = 0
    values: int = 0
    present: bool = False
    # numeric only
    low: float = 0.0
    high: float = 0.0
    sample: FloatArray = field(default_factory=lambda: np.empty(0))  # NaN: missing rows
    mass_cuts: FloatArray = field(default_factory=lambda: np.empty(0))
    mass_counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # categorical only
    categories: pa.Array | None = None


class CurrentSketch:
    """The live side of a drift comparison, accumulated on ``reference``'s bins.

    ``columns`` are reference column names (default: :func:`comparable_columns`); a name
    the reference does not have is a ``NotFoundError``, and one it keeps no histogram or
    category frequencies for (datetime, ``pii``, ``id``) is left out, in :attr:`skipped`.
    With the default, a column that no batch ever has is left out of the comparison (a
    target column, say, that the live inputs do not carry); a column asked for by name
    and missing from a batch counts as null for that batch's rows.
    """

    def __init__(
        self,
        reference: Profile,
        columns: Sequence[str] | None = None,
        *,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        seed: int = 0,
    ) -> None:
        if sample_size < 1:
            raise InvalidInputError(f"sample_size must be at least 1, not {sample_size}")
        self.reference = reference
        self.sample_size = sample_size
        self.explicit = columns is not None
        names = tuple(columns) if columns is not None else comparable_columns(reference)
        if len(set(names)) != len(names):
            raise InvalidInputError("the columns to compare name a column more than once")
        self.rows = 0
        self._rng = np.random.default_rng(seed)
        self._keys: FloatArray = np.empty(0)  # of the sampled rows
        self._threshold = 1.0  # the largest key held once the sample is full
        self._states: dict[str, _State] = {}
        skipped: list[str] = []
        for name in names:
            column = reference.column(name)  # NotFoundError naming the known columns
            kind = _feature_kind(column)
            if kind is None:
                skipped.append(name)
            else:
                self._states[name] = _new_state(column, kind)
        self.skipped = tuple(skipped)
        """Columns asked for whose profile keeps no histogram or category frequencies
        (datetime, ``pii`` and ``id`` columns): not compared."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The reference columns this sketch accumulates."""
        return tuple(self._states)

    @property
    def nbytes(self) -> int:
        """Bytes held by the accumulators' arrays: bounded by the bins, the categories and
        ``sample_size``, whatever the rows added."""
        return self._keys.nbytes + sum(
            state.counts.nbytes + state.sample.nbytes + state.mass_counts.nbytes
            for state in self._states.values()
        )

    def add(self, batch: pa.RecordBatch | pa.Table | pd.DataFrame, *, prefix: str = "") -> None:
        """Accumulate one batch; its columns are named ``prefix + column`` (the prediction
        log names inputs ``input.<column>``). Other columns of the batch are ignored."""
        if isinstance(batch, pd.DataFrame):
            wanted = [f"{prefix}{name}" for name in self._states]
            chosen = [name for name in wanted if name in batch.columns]
            rows = len(batch)
            batch = table_from_frame(batch[chosen]) if chosen else pa.table({})
        else:
            rows = batch.num_rows
        if rows == 0:
            return
        names = set(batch.schema.names)
        keys: FloatArray | None = None
        if any(state.kind == "numeric" for state in self._states.values()):
            # One key per row, drawn in row order: the sample does not depend on batching.
            keys = self._rng.random(rows)
        # Every column is read and converted before any is counted: a batch with a column
        # that cannot be read leaves the sketch as it was.
        prepared: list[tuple[_State, FloatArray | pa.Array | None]] = []
        for name, state in self._states.items():
            label = f"{prefix}{name}"
            if label not in names:
                prepared.append((state, None))
                continue
            array = _combined(batch.column(label))
            if pa.types.is_null(array.type):
                prepared.append((state, None))
            elif state.kind == "numeric":
                prepared.append((state, _float_values(array, label)))
            else:
                prepared.append((state, _text_values(array, label)))
        for state, values in prepared:
            if values is None:
                state.missing += rows
            elif isinstance(values, np.ndarray):
                state.present = True
                _add_numeric(state, values)
            else:
                state.present = True
                _add_categorical(state, values)
        if keys is not None:
            self._sample(keys, prepared)
        self.rows += rows

    def column(self, name: str) -> ColumnSketch:
        """A snapshot of one column's accumulators."""
        state = self._states.get(name)
        if state is None:
            raise InvalidInputError(
                f"this sketch does not accumulate column {name!r}; "
                f"it has {', '.join(self._states) or 'no column'}"
            )
        return ColumnSketch(
            name=name,
            kind=state.kind,
            rows=self.rows,
            missing=state.missing,
            values=state.values,
            counts=state.counts.copy(),
            sample=np.sort(state.sample[np.isfinite(state.sample)]),
            present=state.present,
            mass_counts=state.mass_counts.copy(),
        )

    def sketches(self) -> tuple[ColumnSketch, ...]:
        """The columns to compare: every column asked for by name, or, by default, every
        column that some batch had."""
        return tuple(
            self.column(name)
            for name, state in self._states.items()
            if self.explicit or state.present
        )

    def _sample(
        self, keys: FloatArray, prepared: list[tuple[_State, FloatArray | pa.Array | None]]
    ) -> None:
        """Keep the ``sample_size`` rows with the smallest keys seen so far: their keys, and
        each numeric column's value in them (NaN where missing or not finite)."""
        size = self.sample_size
        entering = (
            np.flatnonzero(keys < self._threshold)
            if self._keys.size >= size
            else np.arange(keys.size)
        )
        if entering.size == 0:
            return
        merged = np.concatenate((self._keys, keys[entering]))
        smallest = np.argpartition(merged, size - 1)[:size] if merged.size > size else None
        for state, values in prepared:
            if state.kind != "numeric":
                continue
            new = values[entering] if isinstance(values, np.ndarray) else np.nan
            column = np.concatenate((state.sample, np.broadcast_to(new, entering.shape)))
            state.sample = column if smallest is None else column[smallest]
        self._keys = merged if smallest is None else merged[smallest]
        if self._keys.size >= size:
            self._threshold = float(self._keys.max())


def _add_numeric(state: _State, values: FloatArray) -> None:
    """Count the finite values on the bins; NaN (and null) are missing."""
    if values.size == 0:
        return
    # min and max are finite only when every value is: one cheap check, the common case.
    if not (np.isfinite(values.min()) and np.isfinite(values.max())):
        state.missing += int(np.count_nonzero(np.isnan(values)))
        values = values[np.isfinite(values)]
    state.values += values.size
    if state.counts.size and values.size:
        state.counts += histogram(values, state.low, state.high, state.counts.size)
    if state.mass_counts.size and values.size:
        state.mass_counts += mass_bin_counts(state.mass_cuts, values)


def _new_state(column: ColumnProfile, kind: FeatureKind) -> _State:
    if kind == "numeric":
        assert column.numeric is not None
        edges = column.numeric.bin_edges
        bins = len(column.numeric.bin_counts)
        state = _State(column.name, kind, np.zeros(bins, dtype=np.int64))
        if edges:
            state.low, state.high = float(edges[0]), float(edges[-1])
        if column.numeric.mass_counts:
            state.mass_cuts = np.asarray(column.numeric.mass_cuts, dtype=np.float64)
            state.mass_counts = np.zeros(len(column.numeric.mass_counts), dtype=np.int64)
        return state
    assert column.categorical is not None
    names = [value for value, _ in column.categorical.categories]
    state = _State(column.name, kind, np.zeros(len(names) + 1, dtype=np.int64))
    state.categories = pa.array(names, type=pa.string())
    return state


def _combined(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.combine_chunks()
    return array


def _float_values(array: pa.Array, label: str) -> FloatArray:
    """The values as float64, null as NaN."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not pa.types.is_floating(array.type) or array.type != pa.float64():
        try:
            # Integers beyond 2**53 lose digits as floats, which drift can live with.
            array = pc.cast(array, pa.float64(), safe=not pa.types.is_integer(array.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidInputError(
                f"column {label!r} holds {array.type} values, which cannot be read as "
                f"numbers ({first_line(exc)}); its reference column is numeric"
            ) from exc
    values: FloatArray = array.to_numpy(zero_copy_only=False)
    return values


def _text_values(array: pa.Array, label: str) -> pa.Array:
    """The values as strings (dictionaries keep their indices, with string entries)."""
    if pa.types.is_dictionary(array.type):
        dictionary = _as_text(array.dictionary, label)
        if dictionary is array.dictionary:
            return array
        return pa.DictionaryArray.from_arrays(array.indices, dictionary)
    return _as_text(array, label)


def _add_categorical(state: _State, array: pa.Array) -> None:
    assert state.categories is not None
    other = state.counts.size - 1
    state.missing += array.null_count
    present = len(array) - array.null_count
    state.values += present
    if present == 0:
        return
    if pa.types.is_dictionary(array.type):
        # Match each distinct value once, then count the rows by their dictionary index.
        lookup = pc.index_in(array.dictionary, value_set=state.categories)
        positions = lookup.fill_null(other).to_numpy(zero_copy_only=False)
        indices = array.indices
        if indices.null_count:
            indices = indices.drop_null()
        per_entry = np.bincount(
            indices.to_numpy(zero_copy_only=False), minlength=len(array.dictionary)
        )
        state.counts += np.bincount(positions, weights=per_entry, minlength=other + 1).astype(
            np.int64
        )
        return
    codes = pc.index_in(array, value_set=state.categories)
    if codes.null_count:
        codes = codes.drop_null()
    found = codes.to_numpy(zero_copy_only=False)
    counts = np.bincount(found, minlength=other + 1)
    counts[other] += present - found.size
    state.counts += counts


def _as_text(array: pa.Array, label: str) -> pa.Array:
    """Strings as profiles count them (booleans as "true"/"false", numbers as text)."""
    if pa.types.is_string(array.type):
        return array
    try:
        return pc.cast(array, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInputError(
            f"column {label!r} holds {array.type} values, which cannot be read as "
            f"categories ({first_line(exc)})"
        ) from exc


def iter_segment_batches(
    paths_or_bytes: Iterable[bytes | str | Path],
    columns: Sequence[str],
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """The rows of Parquet files (paths or bytes), ``batch_rows`` at a time, with only
    those of ``columns`` each file has (string columns as dictionaries).

    A file that lacks some of ``columns`` yields batches without them (a sketch counts
    them as null there), and one that has none of them still yields its row counts.
    Reading runs one batch ahead in a background thread, so that decoding the next batch
    overlaps with whatever the caller does with this one (both release the GIL).
    """
    if batch_rows < 1:
        raise InvalidInputError(f"batch_rows must be at least 1, not {batch_rows}")
    return _prefetched(_read_segments(paths_or_bytes, list(dict.fromkeys(columns)), batch_rows))


def _read_segments(
    paths_or_bytes: Iterable[bytes | str | Path], wanted: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    for source in paths_or_bytes:
        if isinstance(source, bytes | bytearray):
            where: bytes | Path = source
            label, advice = "a log segment", "check that it is complete"
        else:
            where = Path(source)
            label, advice = str(source), FILE_ADVICE
        parquet = open_parquet(where, label=label, advice=advice)
        schema = parquet.schema_arrow
        present = [name for name in wanted if name in schema.names]
        text = [
            name
            for name in present
            if pa.types.is_string(schema.field(name).type)
            or pa.types.is_large_string(schema.field(name).type)
        ]
        if text:
            parquet = open_parquet(where, label=label, read_dictionary=text, advice=advice)
        yield from iter_batches(parquet, present, label=label, batch_rows=batch_rows, advice=advice)


_T = TypeVar("_T")


def _prefetched(items: Iterator[_T], depth: int = 1) -> Iterator[_T]:
    """``items``, produced by a background thread at most ``depth`` ahead of the caller.

    An exception in the producer is raised in the caller; a caller that stops early
    (``close``, garbage collection) stops the producer at its next item.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(("item", item)):
                    return
            offer(("end", None))
        except BaseException as exc:  # handed to the caller, raised there
            offer(("error", exc))

    thread = threading.Thread(target=produce, name="pathtolive-segment-reader", daemon=True)
    return _drain(slots, stop, thread)


def _drain(
    slots: queue.Queue[tuple[str, Any]], stop: threading.Event, thread: threading.Thread
) -> Iterator[Any]:
    thread.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
