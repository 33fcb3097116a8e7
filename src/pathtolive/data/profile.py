"""Profiles: the statistics of a dataset version, computed once when it is added.

A profile is the reference that drift is measured against, so drift never rereads the
training data. It is computed in one streaming pass over the canonical Parquet file, by
record batches, with memory bounded whatever the size of the file:

- numeric columns (integer, float): count, nulls, NaN and infinite values (floats), min,
  max, mean and standard deviation (merged across batches with Chan's parallel
  algorithm), a histogram on fixed equal-width bins whose edges come from the Parquet
  footer's min/max statistics (a first pass finds min/max only when the footer has none),
  and 101 quantiles p0..p100 of a uniform random sample of at most ``sample_size`` rows.
  The sample is drawn by row position with a fixed seed, so a profile is reproducible;
  it is the whole column when the table has at most ``sample_size`` rows. The sample
  also gives equal-mass bins: cut points at its quantiles 1/bins, 2/bins, ..., with the
  sample's count in each (and bins of their own for heavy values and for what lies
  beyond the range). Equal-width bins are what a histogram shows, but an extreme
  value stretches them until nearly every value falls in one bin; equal-mass bins keep
  their resolution where the values are, whatever the outliers. Drift compares new data
  against the quantiles (Kolmogorov-Smirnov) and the equal-mass bins (PSI).
- categorical columns (string, boolean): the most frequent values with their counts, the
  count of the rest, and the number of distinct values (exact up to
  :data:`DISTINCT_CAP`, a lower bound beyond). Integers are numeric even when they take
  few values.
- datetime columns (dates, timestamps): count, nulls, min and max as ISO 8601 strings.

Tags change what is kept: a ``pii`` column keeps counts only (no value of it is stored in
the profile), an ``id`` column keeps no category frequencies.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pathtolive.data.formats import Kind, check_columns, column_kind, open_parquet, table_from_frame
from pathtolive.data.schema import check_tags
from pathtolive.errors import InvalidInputError, NotFoundError

__all__ = [
    "DISTINCT_CAP",
    "QUANTILE_POINTS",
    "CategoricalStats",
    "ColumnProfile",
    "DatetimeStats",
    "NumericStats",
    "Profile",
    "bin_values",
    "category_counts",
    "compute_profile",
    "profile_frame",
]

QUANTILE_POINTS = 101
"""Quantiles kept per numeric column: p0, p1, ..., p100."""

DISTINCT_CAP = 10_000
"""Distinct values counted exactly per categorical column; beyond, counts are partial."""

_FORMAT_VERSION = 1
_BATCH_ROWS = 65_536  # batches of this size stay in the CPU caches while many passes run
_SAMPLE_SEED = 0
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_LARGE = 1e150  # magnitudes whose squares come near the float limit
_COUNTED_CUTS = 64  # up to this many equal-mass cuts, count by comparison (see mass_bin_counts)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NumericStats:
    """Statistics of the finite values of a numeric column.

    ``std`` is the sample standard deviation (n - 1). The histogram has ``bin_edges``
    (one more than ``bin_counts``): bins are half-open ``[e_i, e_i+1)`` except the last,
    which is closed. Integer columns that take at most ``bins`` values have one bin per
    integer. ``quantiles`` holds p0..p100 of a sample of ``sample_count`` values.

    ``mass_cuts`` cut the line into the equal-mass bins ``(-inf, c_1)``, ``[c_1, c_2)``,
    ..., ``[c_k, inf)``: at that sample's quantiles 1/bins, ..., (bins-1)/bins, around
    each value that holds half a bin's share or more, and just beyond the minimum and the
    maximum (see :func:`_equal_mass_bins`). ``mass_counts`` (one more than the cuts)
    holds the sample's values in each: about equal, the outer two empty. Both are empty
    when the histogram already has one bin per integer (it is then exact), and in
    profiles made before they were kept.
    Statistics are None (and sequences empty) when the column has no finite value.
    """

    minimum: float | None
    maximum: float | None
    mean: float | None
    std: float | None
    quantiles: tuple[float, ...]
    sample_count: int
    bin_edges: tuple[float, ...]
    bin_counts: tuple[int, ...]
    nan_count: int = 0
    inf_count: int = 0
    mass_cuts: tuple[float, ...] = ()
    mass_counts: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "minimum": self.minimum,
            "maximum": self.maximum,
            "mean": self.mean,
            "std": self.std,
            "quantiles": list(self.quantiles),
            "sample_count": self.sample_count,
            "bin_edges": list(self.bin_edges),
            "bin_counts": list(self.bin_counts),
            "nan_count": self.nan_count,
            "inf_count": self.inf_count,
            "mass_cuts": list(self.mass_cuts),
            "mass_counts": list(self.mass_counts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            minimum=data["minimum"],
            maximum=data["maximum"],
            mean=data["mean"],
            std=data["std"],
            quantiles=tuple(data["quantiles"]),
            sample_count=data["sample_count"],
            bin_edges=tuple(data["bin_edges"]),
            bin_counts=tuple(data["bin_counts"]),
            nan_count=data.get("nan_count", 0),
            inf_count=data.get("inf_count", 0),
            mass_cuts=tuple(data.get("mass_cuts", ())),
            mass_counts=tuple(data.get("mass_counts", ())),
        )


@dataclass(frozen=True)
class CategoricalStats:
    """Value frequencies of a string or boolean column (booleans as "true"/"false").

    ``categories`` holds the most frequent values, most frequent first (ties by value),
    and ``other_count`` the non-null values outside them. When the column has more than
    :data:`DISTINCT_CAP` distinct values, ``distinct_exact`` is False, ``distinct`` is a
    lower bound, and the counts are those of the values that led when the cap was
    reached. ``categories`` is empty for columns tagged ``pii`` or ``id``.
    """

    categories: tuple[tuple[str, int], ...]
    other_count: int
    distinct: int
    distinct_exact: bool

    @property
    def complete(self) -> bool:
        """True when ``categories`` lists every value of the column."""
        return self.distinct_exact and len(self.categories) == self.distinct

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "categories": [[value, count] for value, count in self.categories],
            "other_count": self.other_count,
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalStats:
        """Inverse of :meth:`to_dict`."""
        return cls(
            categories=tuple((str(value), int(count)) for value, count in data["categories"]),
            other_count=data["other_count"],
            distinct=data["distinct"],
            distinct_exact=data["distinct_exact"],
        )


@dataclass(frozen=True)
class DatetimeStats:
    """Earliest and latest value of a date or timestamp column, in ISO 8601."""

    minimum: str | None
    maximum: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {"minimum": self.minimum, "maximum": self.maximum}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatetimeStats:
        """Inverse of :meth:`to_dict`."""
        return cls(minimum=data["minimum"], maximum=data["maximum"])


@dataclass(frozen=True)
class ColumnProfile:
    """The profile of one column: ``count`` rows of which ``nulls`` are null.

    Exactly one of ``numeric``, ``categorical`` and ``datetime`` is set, by ``kind`` —
    except for ``pii`` columns, which keep counts only (and ``distinct`` for categorical
    kinds).
    """

    name: str
    kind: Kind
    count: int
    nulls: int
    numeric: NumericStats | None = None
    categorical: CategoricalStats | None = None
    datetime: DatetimeStats | None = None

    @property
    def non_null(self) -> int:
        """Values that are not null (NaN and infinities included)."""
        return self.count - self.nulls

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "name": self.name,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "numeric": self.numeric.to_dict() if self.numeric else None,
            "categorical": self.categorical.to_dict() if self.categorical else None,
            "datetime": self.datetime.to_dict() if self.datetime else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            kind=data["kind"],
            count=data["count"],
            nulls=data["nulls"],
            numeric=NumericStats.from_dict(data["numeric"]) if data.get("numeric") else None,
            categorical=(
                CategoricalStats.from_dict(data["categorical"]) if data.get("categorical") else None
            ),
            datetime=DatetimeStats.from_dict(data["datetime"]) if data.get("datetime") else None,
        )


@dataclass(frozen=True)
class Profile:
    """The profile of a dataset version: ``rows`` and one :class:`ColumnProfile` per column.

    ``bins``, ``max_categories`` and ``sample_size`` are the settings it was computed with.
    """

    rows: int
    columns: tuple[ColumnProfile, ...]
    bins: int = 20
    max_categories: int = 50
    sample_size: int = 100_000

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnProfile:
        """The profile of column ``name``; ``NotFoundError`` if there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFoundError(
            f"no column {name!r} in this profile; its columns are {', '.join(self.names)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (no NaN or infinity), for storage as JSON text."""
        return {
            "format_version": _FORMAT_VERSION,
            "rows": self.rows,
            "bins": self.bins,
            "max_categories": self.max_categories,
            "sample_size": self.sample_size,
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        """Inverse of :meth:`to_dict`."""
        return cls(
            rows=data["rows"],
            columns=tuple(ColumnProfile.from_dict(column) for column in data["columns"]),
            bins=data.get("bins", 20),
            max_categories=data.get("max_categories", 50),
            sample_size=data.get("sample_size", 100_000),
        )


def compute_profile(
    path: Path,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    bins: int = 20,
    max_categories: int = 50,
    sample_size: int = 100_000,
) -> Profile:
    """Profile a Parquet file in one streaming pass (see the module docstring).

    ``tags`` maps column names to tags (``pii`` and ``id`` limit what is kept).
    """
    _check_settings(bins, max_categories, sample_size)
    parquet = open_parquet(path)
    schema = parquet.schema_arrow
    check_columns(schema, str(path))
    tag_map = check_tags(tags or {}, schema.names)
    rows = parquet.metadata.num_rows
    numeric = [
        f.name
        for f in schema
        if column_kind(f.type) in ("integer", "float") and "pii" not in tag_map.get(f.name, ())
    ]
    ranges: dict[str, tuple[float, float] | None] = {}
    unknown: list[str] = []
    for name in numeric:
        known, value_range = _footer_range(parquet, schema, name)
        if known:
            ranges[name] = value_range
        else:
            unknown.append(name)
    if unknown:
        ranges.update(_scan_ranges(_read_batches(parquet, path, unknown), unknown))
    batches = _read_batches(parquet, path, None)
    return _profile(schema, rows, batches, ranges, tag_map, bins, max_categories, sample_size)


def profile_frame(
    frame: pd.DataFrame,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    bins: int = 20,
    max_categories: int = 50,
    sample_size: int = 100_000,
) -> Profile:
    """Profile an in-memory DataFrame exactly as :func:`compute_profile` profiles a file."""
    _check_settings(bins, max_categories, sample_size)
    table = table_from_frame(frame)
    tag_map = check_tags(tags or {}, table.schema.names)
    numeric = [
        f.name
        for f in table.schema
        if column_kind(f.type) in ("integer", "float") and "pii" not in tag_map.get(f.name, ())
    ]
    ranges = _scan_ranges(table.select(numeric).to_batches(_BATCH_ROWS), numeric)
    return _profile(
        table.schema,
        table.num_rows,
        iter(table.to_batches(_BATCH_ROWS)),
        ranges,
        tag_map,
        bins,
        max_categories,
        sample_size,
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
    data = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce")
    array = data.to_numpy(dtype=np.float64, na_value=np.nan)
    array = array[~np.isnan(array)]
    return _histogram(array, stats.bin_edges[0], stats.bin_edges[-1], len(stats.bin_counts))


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
    counts = _value_counts(array)
    index = {value: position for position, (value, _) in enumerate(stats.categories)}
    result = np.zeros(len(stats.categories) + 1, dtype=np.int64)
    for value, count in counts.items():
        result[index.get(value, len(stats.categories))] += count
    return result


# ---------------------------------------------------------------------------------------
# The streaming pass


def _check_settings(bins: int, max_categories: int, sample_size: int) -> None:
    for name, value in (
        ("bins", bins),
        ("max_categories", max_categories),
        ("sample_size", sample_size),
    ):
        if value < 1:
            raise InvalidInputError(f"{name} must be at least 1, not {value}")


def _read_batches(parquet: Any, path: Path, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    try:
        yield from parquet.iter_batches(batch_size=_BATCH_ROWS, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(
            f"{path} is not a readable Parquet file ({str(exc).splitlines()[0]}); "
            "check that the file is complete, or convert it again"
        ) from exc


def _footer_range(
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


def _scan_ranges(
    batches: Iterable[pa.RecordBatch], names: Sequence[str]
) -> dict[str, tuple[float, float] | None]:
    """Min and max of the finite values of ``names`` (the first pass, when needed)."""
    low: dict[str, Any] = dict.fromkeys(names)
    high: dict[str, Any] = dict.fromkeys(names)
    for batch in batches:
        for name in names:
            finite = _finite_values(_decoded(batch.column(name)))
            if finite.low is None:
                continue
            batch_low, batch_high = finite.low, finite.high
            low[name] = batch_low if low[name] is None else min(low[name], batch_low)
            high[name] = batch_high if high[name] is None else max(high[name], batch_high)
    return {name: None if low[name] is None else (low[name], high[name]) for name in names}


def _profile(
    schema: pa.Schema,
    rows: int,
    batches: Iterator[pa.RecordBatch],
    ranges: Mapping[str, tuple[float, float] | None],
    tags: Mapping[str, tuple[str, ...]],
    bins: int,
    max_categories: int,
    sample_size: int,
) -> Profile:
    rng = np.random.default_rng(_SAMPLE_SEED)
    sample_rows = (
        np.arange(rows, dtype=np.int64)
        if rows <= sample_size
        else np.sort(rng.choice(rows, size=sample_size, replace=False))
    )
    accumulators: list[_Accumulator] = []
    for field in schema:
        column_tags = tags.get(field.name, ())
        kind = cast(Kind, column_kind(field.type))
        if "pii" in column_tags:
            accumulator: _Accumulator = _CountAccumulator(field.name, kind)
        elif kind in ("integer", "float"):
            accumulator = _NumericAccumulator(
                field.name, kind, ranges.get(field.name), bins, sample_rows
            )
        elif kind == "datetime":
            accumulator = _DatetimeAccumulator(field.name)
        else:
            accumulator = _CategoricalAccumulator(
                field.name, kind, max_categories, keep_values="id" not in column_tags
            )
        accumulators.append(accumulator)
    _run(batches, accumulators)
    return Profile(
        rows=rows,
        columns=tuple(accumulator.result(rows) for accumulator in accumulators),
        bins=bins,
        max_categories=max_categories,
        sample_size=sample_size,
    )


def _run(batches: Iterator[pa.RecordBatch], accumulators: list[_Accumulator]) -> None:
    """Feed every batch to every accumulator.

    The calling thread reads and decodes; worker threads each own a share of the columns
    and process every batch for them, so decoding and statistics overlap on separate
    cores (numpy and Arrow release the GIL in their loops).
    """
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


class _Accumulator(ABC):
    """Statistics of one column, fed batch by batch (``offset``: the batch's first row)."""

    name: str

    @abstractmethod
    def add(self, array: pa.Array, offset: int) -> None: ...

    @abstractmethod
    def result(self, rows: int) -> ColumnProfile: ...


class _CountAccumulator(_Accumulator):
    """Counts only: for ``pii`` columns, whose values must not reach the profile."""

    def __init__(self, name: str, kind: Kind) -> None:
        self.name = name
        self.kind = kind
        self.nulls = 0
        self.distinct: set[int] | None = set() if kind in ("string", "boolean") else None
        self.distinct_exact = True

    def add(self, array: pa.Array, offset: int) -> None:
        self.nulls += array.null_count
        if self.distinct is None or not self.distinct_exact:
            return
        # Only hashes are held, and only in memory, to count distinct values.
        hashes = pc.unique(_decoded(array).drop_null()).to_pylist()
        self.distinct.update(hash(value) for value in hashes)
        if len(self.distinct) > DISTINCT_CAP:
            self.distinct_exact = False

    def result(self, rows: int) -> ColumnProfile:
        categorical = None
        if self.distinct is not None:
            categorical = CategoricalStats(
                (), rows - self.nulls, len(self.distinct), self.distinct_exact
            )
        return ColumnProfile(self.name, self.kind, rows, self.nulls, categorical=categorical)


class _NumericAccumulator(_Accumulator):
    def __init__(
        self,
        name: str,
        kind: Kind,
        value_range: tuple[float, float] | None,
        bins: int,
        sample_rows: npt.NDArray[np.int64],
    ) -> None:
        self.name = name
        self.kind = kind
        self.nulls = 0
        self.nan_count = 0
        self.inf_count = 0
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.low: Any = None
        self.high: Any = None
        self.edges = _bin_edges(value_range, bins, kind == "integer")
        self.bins = bins
        # One bin per integer is exact already: equal-mass bins would only merge values.
        self.per_value = _one_bin_per_integer(value_range, bins, kind == "integer")
        # Moments are kept in units of a power of two near the largest magnitude, so that
        # squares of values near the float limit do not overflow (the scaling is exact).
        self.scale = _scale_for(max(abs(value_range[0]), abs(value_range[1])) if value_range else 0)
        self.counts = np.zeros(max(len(self.edges) - 1, 0), dtype=np.int64)
        self.sample_rows = sample_rows
        self.samples: list[FloatArray] = []

    def add(self, array: pa.Array, offset: int) -> None:
        array = _decoded(array)
        self.nulls += array.null_count
        start, stop = np.searchsorted(self.sample_rows, (offset, offset + len(array)))
        if stop > start:
            picked = array.take(pa.array(self.sample_rows[start:stop] - offset))
            sample = _finite_values(picked).values
            self.samples.append(sample.astype(np.float64, copy=False))
        finite = _finite_values(array)
        self.nan_count += finite.nan_count
        self.inf_count += finite.inf_count
        if finite.low is None:
            return
        self.low = finite.low if self.low is None else min(self.low, finite.low)
        self.high = finite.high if self.high is None else max(self.high, finite.high)
        floats = finite.values.astype(np.float64, copy=False)
        count = floats.size
        scaled = floats / self.scale if self.scale != 1.0 else floats
        batch_mean = float(scaled.sum()) / count
        deviations = scaled - batch_mean
        # Not a BLAS dot product: BLAS threads would spin on the core the reader needs.
        batch_m2 = float(np.square(deviations, out=deviations).sum())
        # Chan et al.: merge (n, mean, M2) of two parts without revisiting either.
        total = self.n + count
        delta = batch_mean - self.mean
        self.mean += delta * count / total
        self.m2 += batch_m2 + delta * delta * self.n * count / total
        self.n = total
        if self.counts.size:
            self.counts += _histogram(
                floats, self.edges[0], self.edges[-1], self.counts.size, scratch=deviations
            )

    def result(self, rows: int) -> ColumnProfile:
        sample = np.concatenate(self.samples) if self.samples else np.empty(0)
        quantiles: tuple[float, ...] = ()
        cuts: tuple[float, ...] = ()
        mass_counts: tuple[int, ...] = ()
        if sample.size:
            scale = _scale_for(float(np.abs(sample).max()))
            points = np.quantile(sample / scale, np.linspace(0.0, 1.0, QUANTILE_POINTS)) * scale
            quantiles = tuple(float(value) for value in points)
            if not self.per_value:
                cuts, mass_counts = _equal_mass_bins(sample, self.bins)
        has_values = self.n > 0
        std = math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0
        stats = NumericStats(
            minimum=self.low if has_values else None,
            maximum=self.high if has_values else None,
            mean=self.mean * self.scale if has_values else None,
            # None only when the deviation itself is beyond the largest float.
            std=_finite_or_none(std * self.scale) if has_values else None,
            quantiles=quantiles,
            sample_count=int(sample.size),
            bin_edges=self.edges if has_values else (),
            bin_counts=tuple(int(c) for c in self.counts) if has_values else (),
            nan_count=self.nan_count,
            inf_count=self.inf_count,
            mass_cuts=cuts,
            mass_counts=mass_counts,
        )
        return ColumnProfile(self.name, self.kind, rows, self.nulls, numeric=stats)


class _CategoricalAccumulator(_Accumulator):
    def __init__(self, name: str, kind: Kind, max_categories: int, *, keep_values: bool) -> None:
        self.name = name
        self.kind = kind
        self.nulls = 0
        self.max_categories = max_categories
        self.keep_values = keep_values
        self.counts: dict[str, int] = {}
        self.distinct = 0
        self.frozen: pa.Array | None = None  # the values still counted once over the cap

    def add(self, array: pa.Array, offset: int) -> None:
        self.nulls += array.null_count
        if self.frozen is not None:
            array = _decoded(array)
            array = array.filter(pc.is_in(array, value_set=self.frozen))
        for value, count in _value_counts(array).items():
            self.counts[value] = self.counts.get(value, 0) + count
        if self.frozen is None and len(self.counts) > DISTINCT_CAP:
            # Over the cap, keep counting only the leading values: memory stays bounded
            # and their counts stay exact from here on.
            self.distinct = len(self.counts)
            leaders = _leading(self.counts, self.max_categories)
            self.counts = dict(leaders)
            values = [value for value, _ in leaders]
            self.frozen = pa.array(
                [value == "true" for value in values] if self.kind == "boolean" else values
            )

    def result(self, rows: int) -> ColumnProfile:
        exact = self.frozen is None
        distinct = len(self.counts) if exact else self.distinct
        leaders = _leading(self.counts, self.max_categories) if self.keep_values else []
        stats = CategoricalStats(
            categories=tuple(leaders),
            other_count=rows - self.nulls - sum(count for _, count in leaders),
            distinct=distinct,
            distinct_exact=exact,
        )
        return ColumnProfile(self.name, self.kind, rows, self.nulls, categorical=stats)


class _DatetimeAccumulator(_Accumulator):
    def __init__(self, name: str) -> None:
        self.name = name
        self.nulls = 0
        self.low: Any = None
        self.high: Any = None
        self.arrow_type: pa.DataType | None = None

    def add(self, array: pa.Array, offset: int) -> None:
        array = _decoded(array)
        self.nulls += array.null_count
        if array.null_count == len(array):
            return
        self.arrow_type = array.type
        # Compared as integers (days or ticks since the epoch): exact and cheap.
        ticks = array.cast(pa.int32() if pa.types.is_date32(array.type) else pa.int64())
        bounds = pc.min_max(ticks)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)

    def result(self, rows: int) -> ColumnProfile:
        stats = DatetimeStats(_iso(self.low, self.arrow_type), _iso(self.high, self.arrow_type))
        return ColumnProfile(self.name, "datetime", rows, self.nulls, datetime=stats)


def _iso(ticks: int | None, arrow_type: pa.DataType | None) -> str | None:
    if ticks is None or arrow_type is None:
        return None
    storage = pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()
    value = pa.array([ticks], type=storage).view(arrow_type)[0].as_py()
    return str(value.isoformat())


def _decoded(array: pa.Array) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


class _Finite(NamedTuple):
    values: npt.NDArray[Any]
    low: Any  # min and max as Python numbers, None without values
    high: Any
    nan_count: int
    inf_count: int


def _finite_values(array: pa.Array) -> _Finite:
    """The non-null finite values of a numeric array, their range, NaN and infinity counts."""
    if array.null_count:
        array = array.drop_null()
    values = array.to_numpy(zero_copy_only=False)
    if values.size == 0:
        return _Finite(values, None, None, 0, 0)
    low, high = values.min().item(), values.max().item()
    # min and max are finite only when every value is: one cheap check for the common case.
    if values.dtype.kind != "f" or (math.isfinite(low) and math.isfinite(high)):
        return _Finite(values, low, high, 0, 0)
    finite = np.isfinite(values)
    nan_count = int(np.isnan(values).sum())
    inf_count = int(values.size - np.count_nonzero(finite)) - nan_count
    values = values[finite]
    if values.size == 0:
        return _Finite(values, None, None, nan_count, inf_count)
    return _Finite(values, values.min().item(), values.max().item(), nan_count, inf_count)


def _one_bin_per_integer(value_range: tuple[float, float] | None, bins: int, integer: bool) -> bool:
    """Whether an integer column takes few enough values for a bin each."""
    return integer and value_range is not None and value_range[1] - value_range[0] + 1 <= bins


def _bin_edges(
    value_range: tuple[float, float] | None, bins: int, integer: bool
) -> tuple[float, ...]:
    if value_range is None:
        return ()
    low, high = value_range
    if _one_bin_per_integer(value_range, bins, integer):
        # One bin per integer value, centred on it.
        return tuple(float(edge) for edge in np.arange(low, high + 2, dtype=np.float64) - 0.5)
    if low == high:
        return (float(low), float(high))  # one bin of zero width: every value falls in it
    # Interpolated rather than low + i * (high - low) / bins: the span may exceed a float.
    steps = np.linspace(0.0, 1.0, bins + 1)
    edges = float(low) * (1.0 - steps) + float(high) * steps
    edges[0], edges[-1] = float(low), float(high)
    return tuple(float(edge) for edge in edges)


def _equal_mass_bins(sample: FloatArray, bins: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Cut points, and the sample's count between them.

    Bins start at the sample's quantiles 1/bins .. (bins-1)/bins; then around the edges
    and the heavy values, so that a move there shows:

    - below the minimum and above the maximum: a value beyond the sample's range falls in
      a bin the reference left empty, on either side;
    - a heavy value (at least half a bin's share) gets a bin of its own, and the
      quantiles are taken of the other values. Otherwise the zeros of a mostly-zero
      column would fill the bins, and the values beside them would share the zeros' bin.

    Each cut lies halfway between two neighbouring sample values (a millionth beyond
    the extremes), never on one: a live value that differs from a reference value only
    in its last digits (a float32 column read back as float64) stays in the same bin.
    """
    values, counts = np.unique(sample, return_counts=True)
    heavy = counts * (2 * bins) >= sample.size
    starts: list[int] = []  # indices into values where a bin starts
    light = np.flatnonzero(~heavy)
    if light.size:
        # The light values' quantiles j/bins, as the index of the value each begins at.
        position = np.cumsum(counts[light])
        targets = np.arange(1, bins) * (position[-1] / bins)
        starts.extend(light[np.searchsorted(position, targets, side="right")].tolist())
    for index in np.flatnonzero(heavy).tolist():
        starts.extend((index, index + 1))
    inner = np.array(sorted({i for i in starts if 0 < i < values.size}), dtype=np.int64)
    below, above = values[inner - 1], values[inner]
    middles = below * 0.5 + above * 0.5  # halved first: no overflow near the float limit
    low, high = float(values[0]), float(values[-1])
    cuts = np.concatenate(([low - _margin(low)], middles, [high + _margin(high)]))
    cuts = np.unique(cuts[np.isfinite(cuts)])  # JSON has no infinity
    return tuple(float(cut) for cut in cuts), tuple(
        int(count) for count in mass_bin_counts(cuts, sample)
    )


def _margin(value: float) -> float:
    """A millionth of ``value``: beyond float32 rounding (a ten-millionth). Zero is exact
    in every format, so its margin is the smallest normal float."""
    return abs(value) * 1e-6 or float(np.finfo(np.float64).tiny)


def mass_bin_counts(cuts: npt.ArrayLike, values: FloatArray) -> npt.NDArray[np.int64]:
    """Counts of ``values`` in the bins ``(-inf, c_1)``, ``[c_1, c_2)``, ..., ``[c_k, inf)``
    that ``cuts`` make: the one definition of equal-mass binning that profiles and drift
    share."""
    cut_array = np.asarray(cuts, dtype=np.float64)
    if cut_array.size > _COUNTED_CUTS:
        positions = np.searchsorted(cut_array, values, side="right")
        return np.bincount(positions, minlength=cut_array.size + 1).astype(np.int64, copy=False)
    # One vectorised comparison per cut is 3x faster than a binary search per value for
    # the twenty-odd cuts a profile has: the live side bins every value of every window.
    below = np.fromiter(
        (np.count_nonzero(values < cut) for cut in cut_array), dtype=np.int64, count=cut_array.size
    )
    return np.diff(below, prepend=0, append=np.size(values))


def _scale_for(magnitude: float) -> float:
    if magnitude < _LARGE:
        return 1.0
    # A power of two, so dividing by it is exact; scaled values stay below 2.
    return math.ldexp(1.0, math.frexp(magnitude)[1] - 1)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _histogram(
    values: FloatArray,
    low: float,
    high: float,
    bins: int,
    *,
    scratch: FloatArray | None = None,
) -> npt.NDArray[np.int64]:
    """Counts of finite or infinite ``values`` on ``bins`` equal bins from ``low`` to ``high``.

    Out-of-range values are clipped into the first or last bin. The arithmetic (rather
    than a search of the edges) is several times faster and is the single definition of
    binning that profiles and :func:`bin_values` share.
    """
    if not math.isfinite(high - low):
        # A span beyond the largest float: halve everything (exact) and bin the same way.
        values, low, high, scratch = values * 0.5, low * 0.5, high * 0.5, None
    scale = bins / (high - low) if high > low else 0.0
    positions = np.subtract(values, low, out=scratch)
    if math.isfinite(scale):
        positions *= scale
    else:  # a span of subnormal numbers, whose reciprocal overflows: divide instead
        positions /= high - low
        positions *= bins
    np.clip(positions, 0, bins - 1, out=positions)
    counts = np.bincount(positions.astype(np.int32), minlength=bins)
    return counts.astype(np.int64, copy=False)


def _value_counts(array: pa.Array) -> dict[str, int]:
    array = _decoded(array)
    if len(array) == array.null_count:
        return {}
    counted = pc.value_counts(array.drop_null())
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return {_category_key(value): count for value, count in zip(values, counts, strict=True)}


def _category_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leading(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
