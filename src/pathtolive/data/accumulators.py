"""The statistics of one column of a profile, fed one record batch at a time.

Each accumulator's state is bounded whatever the rows fed to it, so a profile's pass
(:mod:`pathtolive.data.profiling`) keeps memory flat in the size of the file:

- numeric columns: counts, min and max, and mean and M2 merged across batches with
  Chan's parallel algorithm (never revisiting a batch), kept in units of a power of two
  near the largest magnitude so that squares near the float limit do not overflow; counts
  on the histogram's bins (:mod:`pathtolive.data.bins`); and the column's values in the
  sampled rows, whose quantiles and equal-mass bins are taken at the end.
- categorical columns: the count of every value, exact up to :data:`DISTINCT_CAP`
  distinct values; beyond, only the values that lead at that moment keep being counted,
  so their counts stay exact and memory stays bounded.
- ``pii`` columns: counts only; distinct values are counted by hash, in memory.
- datetime columns: min and max, compared as integer ticks.

Every accumulator can also :meth:`~ColumnAccumulator.merge` another one of the same column
fed other rows (a dataset version stored as partitions is profiled partition by partition,
possibly on several machines): counts, null counts, min and max, histogram counts and
category counts add up exactly; mean and M2 merge with Chan's formula (equal to the
single pass up to floating-point rounding); samples are concatenated in partition order.
Categories stay exact while the merged distinct values are within :data:`DISTINCT_CAP`.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pathtolive.data.bins import (
    bin_edges,
    equal_mass_bins,
    histogram,
    one_bin_per_integer,
    sorted_mass_bin_counts,
    sorted_quantiles,
)
from pathtolive.data.formats import Kind, column_kind, decoded
from pathtolive.data.profile import (
    QUANTILE_POINTS,
    CategoricalStats,
    ColumnProfile,
    DatetimeStats,
    NumericStats,
)

__all__ = [
    "DISTINCT_CAP",
    "ColumnAccumulator",
    "accumulator_for",
    "parent_bin_counts",
    "scan_ranges",
    "value_counts",
]

DISTINCT_CAP = 10_000
"""Distinct values counted exactly per categorical column; beyond, counts are partial."""

_LARGE = 1e150  # magnitudes whose squares come near the float limit
_QUANTILE_LEVELS = np.linspace(0.0, 1.0, QUANTILE_POINTS)

FloatArray = npt.NDArray[np.float64]


class ColumnAccumulator(ABC):
    """Statistics of one column, fed batch by batch (``offset``: the batch's first row)."""

    name: str

    @abstractmethod
    def add(self, array: pa.Array, offset: int) -> None:
        """Take in one batch's values of the column."""

    @property
    def settled(self) -> bool:
        """Whether :meth:`settle` has nothing left to do."""
        return True

    def settle(self) -> None:  # noqa: B027 (most have nothing to settle)
        """Do the end-of-pass work that does not depend on a parent (sorting a sample,
        its quantiles), so that :meth:`result` is quick. :meth:`result` settles what is
        not settled; feeding or merging more rows unsettles."""

    @abstractmethod
    def result(self, rows: int) -> ColumnProfile:
        """The column's profile, once every one of the ``rows`` rows is in."""

    def count_on(self, parent: NumericStats | None) -> None:  # noqa: B027 (most have no sample)
        """Count the sample on ``parent``'s drift bins too, in :meth:`result` (only
        numeric columns have a sample to count)."""

    @abstractmethod
    def merge(self, other: ColumnAccumulator) -> None:
        """Take in ``other``'s state: the same column, built with the same settings, fed
        the rows that follow this one's."""


def accumulator_for(
    field: pa.Field,
    tags: Sequence[str],
    value_range: tuple[float, float] | None,
    *,
    bins: int,
    max_categories: int,
    sample_rows: npt.NDArray[np.int64],
    parent: NumericStats | None = None,
) -> ColumnAccumulator:
    """The accumulator of a column by its kind and ``tags``.

    ``value_range`` is the range of a numeric column's finite values (the histogram's
    edges); ``sample_rows``, sorted, are the row positions whose values are sampled.
    ``parent``, the previous version's statistics of a numeric column, gets the sample
    counted on its drift bins (``parent_counts``).
    """
    kind = cast(Kind, column_kind(field.type))
    if "pii" in tags:
        return _CountAccumulator(field.name, kind)
    if kind in ("integer", "float"):
        return _NumericAccumulator(field.name, kind, value_range, bins, sample_rows, parent)
    if kind == "datetime":
        return _DatetimeAccumulator(field.name)
    return _CategoricalAccumulator(field.name, kind, max_categories, keep_values="id" not in tags)


def scan_ranges(
    batches: Iterable[pa.RecordBatch], names: Sequence[str]
) -> dict[str, tuple[float, float] | None]:
    """Min and max of the finite values of ``names`` (the first pass, when needed)."""
    low: dict[str, Any] = dict.fromkeys(names)
    high: dict[str, Any] = dict.fromkeys(names)
    for batch in batches:
        for name in names:
            finite = _finite_values(decoded(batch.column(name)))
            if finite.low is None:
                continue
            batch_low, batch_high = finite.low, finite.high
            low[name] = batch_low if low[name] is None else min(low[name], batch_low)
            high[name] = batch_high if high[name] is None else max(high[name], batch_high)
    return {name: None if low[name] is None else (low[name], high[name]) for name in names}


def value_counts(array: pa.Array) -> dict[str, int]:
    """The count of each non-null value, keyed as profiles keep categories (booleans as
    "true"/"false", other values as text)."""
    array = decoded(array)
    if len(array) == array.null_count:
        return {}
    counted = pc.value_counts(array.drop_null())
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    return {_category_key(value): count for value, count in zip(values, counts, strict=True)}


class _CountAccumulator(ColumnAccumulator):
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
        hashes = pc.unique(decoded(array).drop_null()).to_pylist()
        self.distinct.update(_stable_hash(value) for value in hashes)
        if len(self.distinct) > DISTINCT_CAP:
            self.distinct_exact = False

    def merge(self, other: ColumnAccumulator) -> None:
        assert isinstance(other, _CountAccumulator)
        self.nulls += other.nulls
        if self.distinct is None or other.distinct is None:
            return
        self.distinct_exact = self.distinct_exact and other.distinct_exact
        if self.distinct_exact:
            self.distinct |= other.distinct
            self.distinct_exact = len(self.distinct) <= DISTINCT_CAP

    def result(self, rows: int) -> ColumnProfile:
        categorical = None
        if self.distinct is not None:
            categorical = CategoricalStats(
                (), rows - self.nulls, len(self.distinct), self.distinct_exact
            )
        return ColumnProfile(self.name, self.kind, rows, self.nulls, categorical=categorical)


class _NumericAccumulator(ColumnAccumulator):
    def __init__(
        self,
        name: str,
        kind: Kind,
        value_range: tuple[float, float] | None,
        bins: int,
        sample_rows: npt.NDArray[np.int64],
        parent: NumericStats | None = None,
    ) -> None:
        self.parent = parent
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
        self.edges = bin_edges(value_range, bins, kind == "integer")
        self.bins = bins
        # One bin per integer is exact already: equal-mass bins would only merge values.
        self.per_value = one_bin_per_integer(value_range, bins, kind == "integer")
        # Moments are kept in units of a power of two near the largest magnitude, so that
        # squares of values near the float limit do not overflow (the scaling is exact).
        self.scale = _scale_for(max(abs(value_range[0]), abs(value_range[1])) if value_range else 0)
        self.counts = np.zeros(max(len(self.edges) - 1, 0), dtype=np.int64)
        self.sample_rows = sample_rows
        self.samples: list[FloatArray] = []
        self._summary: _SampleSummary | None = None

    @property
    def settled(self) -> bool:
        return self._summary is not None

    def settle(self) -> None:
        # The quantiles and the equal-mass bins below take their order statistics from
        # the sorted sample (up to 100,000 values per column whatever the file's size, so
        # this is a fixed cost of every profile, paid at the end of the pass). Each
        # batch's share was sorted as it came in, beside the reading of the next one; a
        # stable sort (a merge sort that finds runs) merges the sorted runs in a third of
        # the time a sort of the whole sample takes.
        sample = (
            np.sort(np.concatenate(self.samples), kind="stable") if self.samples else np.empty(0)
        )
        quantiles: tuple[float, ...] = ()
        cuts: tuple[float, ...] = ()
        mass_counts: tuple[int, ...] = ()
        if sample.size:
            scale = _scale_for(max(abs(float(sample[0])), abs(float(sample[-1]))))
            points = sorted_quantiles(sample / scale, _QUANTILE_LEVELS) * scale
            quantiles = tuple(float(value) for value in points)
            if not self.per_value:
                cuts, mass_counts = equal_mass_bins(sample, self.bins)
        self._summary = _SampleSummary(sample, quantiles, cuts, mass_counts)

    def add(self, array: pa.Array, offset: int) -> None:
        self._summary = None
        array = decoded(array)
        self.nulls += array.null_count
        start, stop = np.searchsorted(self.sample_rows, (offset, offset + len(array)))
        if stop > start:
            picked = array.take(_positions(self.sample_rows[start:stop] - offset))
            sample = _finite_values(picked).values
            self.samples.append(np.sort(sample.astype(np.float64, copy=False)))
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
        self._merge_moments(count, batch_mean, batch_m2)
        if self.counts.size:
            self.counts += histogram(
                floats, self.edges[0], self.edges[-1], self.counts.size, scratch=deviations
            )

    def count_on(self, parent: NumericStats | None) -> None:
        self.parent = parent

    def _merge_moments(self, count: int, mean: float, m2: float) -> None:
        # Chan et al.: merge (n, mean, M2) of two parts without revisiting either.
        if count == 0:
            return
        total = self.n + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.m2 += m2 + delta * delta * self.n * count / total
        self.n = total

    def merge(self, other: ColumnAccumulator) -> None:
        assert isinstance(other, _NumericAccumulator)
        self._summary = None
        self.nulls += other.nulls
        self.nan_count += other.nan_count
        self.inf_count += other.inf_count
        if other.low is not None:
            self.low = other.low if self.low is None else min(self.low, other.low)
            self.high = other.high if self.high is None else max(self.high, other.high)
        # Both were built on the same value range, so they share the scale and the edges.
        self._merge_moments(other.n, other.mean, other.m2)
        self.counts += other.counts
        self.samples.extend(other.samples)

    def result(self, rows: int) -> ColumnProfile:
        if self._summary is None:
            self.settle()
        assert self._summary is not None
        sample, quantiles, cuts, mass_counts = self._summary
        has_values = self.n > 0
        parent_counts = () if self.parent is None else parent_bin_counts(self.parent, sample)
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
            parent_counts=parent_counts,
        )
        return ColumnProfile(self.name, self.kind, rows, self.nulls, numeric=stats)


class _SampleSummary(NamedTuple):
    """A numeric column's sample, sorted, with what is taken from it alone."""

    sample: FloatArray
    quantiles: tuple[float, ...]
    cuts: tuple[float, ...]
    mass_counts: tuple[int, ...]


def parent_bin_counts(parent: NumericStats, sample: FloatArray) -> tuple[int, ...]:
    """``sample`` (sorted) counted on ``parent``'s drift bins (its equal-mass bins, or else
    its histogram's, out-of-range values in the outer bins) as the live side of drift
    counts them: empty when the parent has no bins."""
    if parent.mass_counts and len(parent.mass_counts) == len(parent.mass_cuts) + 1:
        counts = sorted_mass_bin_counts(parent.mass_cuts, sample)
    elif parent.bin_counts and len(parent.bin_edges) == len(parent.bin_counts) + 1:
        low, high = parent.bin_edges[0], parent.bin_edges[-1]
        counts = histogram(sample, low, high, len(parent.bin_counts))
    else:
        return ()
    return tuple(int(count) for count in counts)


class _CategoricalAccumulator(ColumnAccumulator):
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
            array = decoded(array)
            array = array.filter(pc.is_in(array, value_set=self.frozen))
        for value, count in value_counts(array).items():
            self.counts[value] = self.counts.get(value, 0) + count
        if self.frozen is None and len(self.counts) > DISTINCT_CAP:
            # Over the cap, keep counting only the leading values: memory stays bounded
            # and their counts stay exact from here on.
            self.distinct = len(self.counts)
            self._freeze()

    def merge(self, other: ColumnAccumulator) -> None:
        assert isinstance(other, _CategoricalAccumulator)
        self.nulls += other.nulls
        for value, count in other.counts.items():
            self.counts[value] = self.counts.get(value, 0) + count
        if self.frozen is None and other.frozen is None and len(self.counts) <= DISTINCT_CAP:
            return
        # Over the cap in one part or together: the leaders' counts are partial from here.
        self.distinct = max(self.distinct, other.distinct, len(self.counts))
        self._freeze()

    def _freeze(self) -> None:
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


class _DatetimeAccumulator(ColumnAccumulator):
    def __init__(self, name: str) -> None:
        self.name = name
        self.nulls = 0
        self.low: Any = None
        self.high: Any = None
        self.arrow_type: pa.DataType | None = None

    def add(self, array: pa.Array, offset: int) -> None:
        array = decoded(array)
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

    def merge(self, other: ColumnAccumulator) -> None:
        assert isinstance(other, _DatetimeAccumulator)
        self.nulls += other.nulls
        if other.low is None:
            return
        self.arrow_type = other.arrow_type
        self.low = other.low if self.low is None else min(self.low, other.low)
        self.high = other.high if self.high is None else max(self.high, other.high)

    def result(self, rows: int) -> ColumnProfile:
        stats = DatetimeStats(_iso(self.low, self.arrow_type), _iso(self.high, self.arrow_type))
        return ColumnProfile(self.name, "datetime", rows, self.nulls, datetime=stats)


def _iso(ticks: int | None, arrow_type: pa.DataType | None) -> str | None:
    if ticks is None or arrow_type is None:
        return None
    storage = pa.int32() if pa.types.is_date32(arrow_type) else pa.int64()
    value = pa.array([ticks], type=storage).view(arrow_type)[0].as_py()
    return str(value.isoformat())


class _Finite(NamedTuple):
    values: npt.NDArray[Any]
    low: Any  # min and max as Python numbers, None without values
    high: Any
    nan_count: int
    inf_count: int


# pyarrow's conversions to and from NumPy (``pa.array``, ``Array.to_numpy``) load pandas
# the first time, when it is installed: half a second that adding a file would spend for
# nothing. Numeric values without nulls cross over as views of the same buffer instead.


def _positions(rows: npt.NDArray[np.int64]) -> pa.Array:
    """Row positions as an Arrow int64 array over the NumPy buffer (``pa.array`` would
    load pandas)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows)])


def _numpy_view(array: pa.Array) -> npt.NDArray[Any]:
    """The values of an integer or floating-point array without nulls, as a read-only
    NumPy view of its data buffer: what ``to_numpy`` returns, without loading pandas."""
    arrow_type = array.type
    kind = "f" if pa.types.is_floating(arrow_type) else "i"
    if pa.types.is_unsigned_integer(arrow_type):
        kind = "u"
    dtype = np.dtype(f"{kind}{arrow_type.bit_width // 8}")
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _finite_values(array: pa.Array) -> _Finite:
    """The non-null finite values of a numeric array, their range, NaN and infinity counts."""
    if array.null_count:
        array = array.drop_null()
    values = _numpy_view(array)
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


def _scale_for(magnitude: float) -> float:
    if magnitude < _LARGE:
        return 1.0
    # A power of two, so dividing by it is exact; scaled values stay below 2.
    return math.ldexp(1.0, math.frexp(magnitude)[1] - 1)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _stable_hash(value: Any) -> int:
    """A hash equal in every process (Python's own ``hash`` of text is salted per
    process), so distinct counts of partitions profiled apart can be merged."""
    digest = hashlib.blake2b(repr(value).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _category_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leading(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
