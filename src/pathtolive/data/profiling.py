"""Computing a profile: one streaming pass over a Parquet file or a DataFrame.

The canonical Parquet file is read by record batches
(:func:`~pathtolive.data.formats.iter_batches`), with memory bounded whatever the size of
the file; each column's statistics are an accumulator of
:mod:`pathtolive.data.accumulators`. The calling thread reads and decodes while worker
threads, each owning a share of the columns, process every batch for them, so decoding
and statistics overlap on separate cores.

A numeric column's histogram edges must be known before its values are read: they come
from the Parquet footer's min/max statistics, and a first pass finds min and max only
when the footer has none. Its quantiles and equal-mass bins come from a uniform random
sample of at most ``sample_size`` rows, drawn by row position with a fixed seed, so a
profile is reproducible; the sample is the whole column when the table has at most
``sample_size`` rows.

:func:`bin_values` and :func:`category_counts` count new values on a stored profile's
bins and categories exactly as the pass counted the reference.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pathtolive import progress
from pathtolive.data.accumulators import (
    ColumnAccumulator,
    accumulator_for,
    scan_ranges,
    value_counts,
)
from pathtolive.data.bins import histogram
from pathtolive.data.formats import (
    BATCH_ROWS,
    check_columns,
    column_kind,
    iter_batches,
    open_parquet,
    table_from_frame,
)
from pathtolive.data.profile import ColumnProfile, NumericStats, Profile
from pathtolive.data.schema import check_tags
from pathtolive.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow.parquet as pq

__all__ = [
    "ProfilePass",
    "bin_values",
    "category_counts",
    "check_settings",
    "compute_profile",
    "feed",
    "finish_profile",
    "footer_range",
    "new_accumulators",
    "numeric_columns",
    "profile_frame",
    "profile_pass",
    "sample_positions",
]

_SAMPLE_SEED = 0
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_PASS_BATCH_BYTES = 16 << 20


def compute_profile(
    path: Path,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    bins: int = 20,
    max_categories: int = 50,
    sample_size: int = 100_000,
    parent: tuple[int, Profile] | None = None,
) -> Profile:
    """Profile a Parquet file in one streaming pass (see the module docstring).

    ``tags`` maps column names to tags (``pii`` and ``id`` limit what is kept).
    ``parent``, the previous version of the dataset (its number and profile), gets each
    numeric column's sample counted on its drift bins (``parent_counts``, ``counted_on``).
    """
    return profile_pass(
        path, tags=tags, bins=bins, max_categories=max_categories, sample_size=sample_size
    ).finish(parent)


@dataclass
class ProfilePass:
    """Every row of a file fed to its columns' accumulators: a profile but for its
    finish, which is when the parent's bins are needed (:meth:`finish`). So the pass can
    begin before the previous version is known (``data add`` reads the file while the
    metadata store opens)."""

    accumulators: list[ColumnAccumulator]
    rows: int
    tags: Mapping[str, tuple[str, ...]]
    bins: int
    max_categories: int
    sample_size: int

    def finish(self, parent: tuple[int, Profile] | None = None) -> Profile:
        """The profile, each numeric sample counted on ``parent``'s drift bins."""
        return finish_profile(
            self.accumulators, self.rows, self.bins, self.max_categories, self.sample_size, parent
        )


def profile_pass(
    path: Path,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    bins: int = 20,
    max_categories: int = 50,
    sample_size: int = 100_000,
    stop: threading.Event | None = None,
) -> ProfilePass:
    """The streaming pass of :func:`compute_profile` over a Parquet file, unfinished.
    Setting ``stop`` ends it early with ``CancelledError`` (its result is not needed)."""
    check_settings(bins, max_categories, sample_size)
    parquet = open_parquet(path)
    schema = parquet.schema_arrow
    check_columns(schema, str(path))
    tag_map = check_tags(tags or {}, schema.names)
    rows = parquet.metadata.num_rows
    numeric = numeric_columns(schema, tag_map)
    ranges: dict[str, tuple[float, float] | None] = {}
    unknown: list[str] = []
    for name in numeric:
        known, value_range = footer_range(parquet, schema, name)
        if known:
            ranges[name] = value_range
        else:
            unknown.append(name)
    if unknown:
        ranges.update(scan_ranges(iter_batches(parquet, unknown, label=str(path)), unknown))
    accumulators = new_accumulators(
        schema,
        ranges,
        tag_map,
        bins=bins,
        max_categories=max_categories,
        sample_rows=sample_positions(rows, sample_size),
    )
    # Decoded on this thread, not on Arrow's pool: the workers below already overlap the
    # decoding with the statistics, and the pool's hand-offs only add CPU time (the same
    # wall time for about a tenth less CPU, measured on 3 million rows).
    batches = iter_batches(parquet, label=str(path), batch_rows=_pass_rows(parquet), threads=False)
    _run(batches if stop is None else _until(stop, batches), accumulators)
    _settle(accumulators)
    return ProfilePass(accumulators, rows, tag_map, bins, max_categories, sample_size)


def _pass_rows(parquet: pq.ParquetFile) -> int:
    """Rows per batch of a file's profile pass: about :data:`_PASS_BATCH_BYTES` decoded,
    from :data:`~pathtolive.data.formats.BATCH_ROWS` up to twice as many.

    Each batch costs each column a dozen NumPy calls, each of which takes the GIL back.
    When another thread holds the GIL for long stretches (the command importing its
    modules, while ``data add``'s head start runs), every one of those waits, so fewer
    batches are faster then. Larger still, a new process's pass spends more on touching
    fresh memory than it saves (measured on 1 million rows of 14 columns: twice the batch
    is the quickest and steadiest, four times varies by half). A wide table keeps the
    usual batch, and so its memory bound."""
    metadata = parquet.metadata
    decoded_bytes = sum(
        metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups)
    )
    row_bytes = max(decoded_bytes / max(metadata.num_rows, 1), 1.0)
    return int(min(max(_PASS_BATCH_BYTES // row_bytes, BATCH_ROWS), 2 * BATCH_ROWS))


def profile_frame(
    frame: pd.DataFrame,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    bins: int = 20,
    max_categories: int = 50,
    sample_size: int = 100_000,
    parent: tuple[int, Profile] | None = None,
) -> Profile:
    """Profile an in-memory DataFrame exactly as :func:`compute_profile` profiles a file."""
    check_settings(bins, max_categories, sample_size)
    table = table_from_frame(frame)
    tag_map = check_tags(tags or {}, table.schema.names)
    numeric = numeric_columns(table.schema, tag_map)
    ranges = scan_ranges(iter_batches(table, numeric), numeric)
    return _profile(
        table.schema,
        table.num_rows,
        iter_batches(table),
        ranges,
        tag_map,
        bins,
        max_categories,
        sample_size,
        parent,
    )


def bin_values(column: ColumnProfile, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Count ``values`` on the histogram bins stored in a numeric column profile.

    Values below the first edge count in the first bin and values above the last edge in
    the last bin (so the counts always add up to the finite and infinite values given);
    NaN and missing values are not counted. Binning is the same as at profile time.
    """
    stats = column.numeric
    if stats is None or not stats.bin_edges:
        raise InvalidInputError(
            f"column {column.name!r} has no histogram in its profile; "
            "only numeric columns with values can be binned"
        )
    # Imported here: profiling a file needs no pandas, so adding one does not load it.
    import pandas as pd

    data = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce")
    array = data.to_numpy(dtype=np.float64, na_value=np.nan)
    array = array[~np.isnan(array)]
    return histogram(array, stats.bin_edges[0], stats.bin_edges[-1], len(stats.bin_counts))


def category_counts(
    column: ColumnProfile, values: npt.ArrayLike | Sequence[Any]
) -> npt.NDArray[np.int64]:
    """Count ``values`` on the categories stored in a categorical column profile.

    Returns one count per stored category, in the stored order, and one last count for
    every other value. Missing values are not counted; booleans count as "true"/"false".
    """
    stats = column.categorical
    if stats is None:
        raise InvalidInputError(
            f"column {column.name!r} has no category frequencies in its profile; "
            "only string and boolean columns can be counted by category"
        )
    array = pa.array(np.asarray(values, dtype=object).ravel(), from_pandas=True)
    counts = value_counts(array)
    index = {value: position for position, (value, _) in enumerate(stats.categories)}
    result = np.zeros(len(stats.categories) + 1, dtype=np.int64)
    for value, count in counts.items():
        result[index.get(value, len(stats.categories))] += count
    return result


# ---------------------------------------------------------------------------------------
# The streaming pass


def check_settings(bins: int, max_categories: int, sample_size: int) -> None:
    for name, value in (
        ("bins", bins),
        ("max_categories", max_categories),
        ("sample_size", sample_size),
    ):
        if value < 1:
            raise InvalidInputError(f"{name} must be at least 1, not {value}")


def numeric_columns(schema: pa.Schema, tags: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The columns that get a histogram (numeric and not ``pii``)."""
    return [
        f.name
        for f in schema
        if column_kind(f.type) in ("integer", "float") and "pii" not in tags.get(f.name, ())
    ]


def footer_range(
    parquet: Any, schema: pa.Schema, name: str
) -> tuple[bool, tuple[float, float] | None]:
    """Min and max of a column from the row-group statistics: (known, range).

    Unknown when a row group with values has no statistics, or when they are not finite
    (the histogram spans the finite values only). The range is None without any value.
    """
    metadata = parquet.metadata
    index = schema.get_field_index(name)
    low: float | None = None
    high: float | None = None
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            all_null = (
                stats is not None
                and stats.has_null_count
                and stats.null_count == metadata.row_group(group).num_rows
            )
            if all_null:
                continue
            return False, None
        if not (_is_finite(stats.min) and _is_finite(stats.max)):
            return False, None
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return True, (None if low is None or high is None else (low, high))


def _is_finite(value: Any) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _profile(
    schema: pa.Schema,
    rows: int,
    batches: Iterator[pa.RecordBatch],
    ranges: Mapping[str, tuple[float, float] | None],
    tags: Mapping[str, tuple[str, ...]],
    bins: int,
    max_categories: int,
    sample_size: int,
    parent: tuple[int, Profile] | None = None,
) -> Profile:
    accumulators = new_accumulators(
        schema,
        ranges,
        tags,
        bins=bins,
        max_categories=max_categories,
        sample_rows=sample_positions(rows, sample_size),
        parent=parent,
    )
    _run(batches, accumulators)
    return finish_profile(accumulators, rows, bins, max_categories, sample_size, parent)


def sample_positions(rows: int, sample_size: int) -> npt.NDArray[np.int64]:
    """The sorted row positions whose values are sampled: every row up to
    ``sample_size`` rows, else a uniform draw with a fixed seed (reproducible)."""
    if rows <= sample_size:
        return np.arange(rows, dtype=np.int64)
    rng = np.random.default_rng(_SAMPLE_SEED)
    return np.sort(rng.choice(rows, size=sample_size, replace=False))


def new_accumulators(
    schema: pa.Schema,
    ranges: Mapping[str, tuple[float, float] | None],
    tags: Mapping[str, tuple[str, ...]],
    *,
    bins: int,
    max_categories: int,
    sample_rows: npt.NDArray[np.int64],
    parent: tuple[int, Profile] | None = None,
) -> list[ColumnAccumulator]:
    """One empty accumulator per column of ``schema``."""
    parent_stats = {} if parent is None else _numeric_stats(parent[1])
    return [
        accumulator_for(
            field,
            tags.get(field.name, ()),
            ranges.get(field.name),
            bins=bins,
            max_categories=max_categories,
            sample_rows=sample_rows,
            parent=parent_stats.get(field.name),
        )
        for field in schema
    ]


def feed(batches: Iterator[pa.RecordBatch], accumulators: list[ColumnAccumulator]) -> None:
    """Feed every batch to every accumulator (the batches' rows numbered from 0)."""
    _run(batches, accumulators)


def finish_profile(
    accumulators: Sequence[ColumnAccumulator],
    rows: int,
    bins: int,
    max_categories: int,
    sample_size: int,
    parent: tuple[int, Profile] | None = None,
) -> Profile:
    """The profile of ``rows`` rows, every one fed to ``accumulators``; with ``parent``,
    each numeric column's sample is also counted on the parent's drift bins."""
    if parent is not None:
        stats = _numeric_stats(parent[1])
        for accumulator in accumulators:
            accumulator.count_on(stats.get(accumulator.name))
    return Profile(
        rows=rows,
        columns=_results(accumulators, rows),
        bins=bins,
        max_categories=max_categories,
        sample_size=sample_size,
        counted_on=None if parent is None else parent[0],
    )


def _numeric_stats(profile: Profile) -> dict[str, NumericStats]:
    return {column.name: column.numeric for column in profile.columns if column.numeric is not None}


def _results(accumulators: Sequence[ColumnAccumulator], rows: int) -> tuple[ColumnProfile, ...]:
    """Each column's statistics (settled first where the pass did not settle them)."""
    _settle(accumulators)
    return tuple(accumulator.result(rows) for accumulator in accumulators)


def _settle(accumulators: Sequence[ColumnAccumulator]) -> None:
    """Settle every column on the workers' threads: sorting a column's sample and taking
    its quantiles are NumPy loops that release the GIL, and with a sample of up to
    ``sample_size`` rows per column they are a fixed cost of every profile, whatever the
    size of the file. The pass settles its columns itself, so that this cost is paid
    where the pass runs (on ``data add``'s head start, while the command starts up)."""
    pending = [accumulator for accumulator in accumulators if not accumulator.settled]
    workers = min(_WORKERS, len(pending))
    if workers <= 1:
        for accumulator in pending:
            accumulator.settle()
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda accumulator: accumulator.settle(), pending))


def _run(batches: Iterator[pa.RecordBatch], accumulators: list[ColumnAccumulator]) -> None:
    """Feed every batch to every accumulator.

    The calling thread reads and decodes; worker threads each own a share of the columns
    and process every batch for them, so decoding and statistics overlap on separate
    cores (numpy and Arrow release the GIL in their loops).
    """
    batches = _reporting_rows(batches)
    workers = min(_WORKERS, len(accumulators))
    if workers <= 1:
        offset = 0
        for batch in batches:
            for index, accumulator in enumerate(accumulators):
                accumulator.add(batch.column(index), offset)
            offset += batch.num_rows
        return
    shares = [list(range(len(accumulators)))[worker::workers] for worker in range(workers)]
    queues: list[queue.Queue[tuple[int, pa.RecordBatch] | None]] = [
        queue.Queue(maxsize=4) for _ in shares
    ]
    errors: list[BaseException] = []

    def work(share: list[int], inbox: queue.Queue[tuple[int, pa.RecordBatch] | None]) -> None:
        while (item := inbox.get()) is not None:
            if errors:
                continue  # keep draining so that the reader never blocks
            offset, batch = item
            try:
                for index in share:
                    accumulators[index].add(batch.column(index), offset)
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(share, inbox), daemon=True)
        for share, inbox in zip(shares, queues, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        offset = 0
        for batch in batches:
            if errors:
                break
            for inbox in queues:
                inbox.put((offset, batch))
            offset += batch.num_rows
    finally:
        for inbox in queues:
            inbox.put(None)
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _until(stop: threading.Event, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if stop.is_set():
            raise CancelledError("the profile pass was stopped")
        yield batch


def _reporting_rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``batches``, each one's rows reported as done once it has been read."""
    for batch in batches:
        yield batch
        progress.advance(batch.num_rows)
