"""Bins: how a profile cuts a numeric column, and how live values are counted on the cuts.

Profiles and drift share every definition here, so a value falls in the same bin at
profile time and on the live side (:mod:`pathtolive.monitoring.sketch`). A numeric column
gets two sets of bins:

- equal-width bins, the histogram a profile shows: :func:`bin_edges` spreads ``bins``
  bins evenly from the column's minimum to its maximum (from the Parquet footer's
  statistics, so they are known before the values are read). An integer column that
  takes at most ``bins`` values gets one bin per integer, centred on it
  (:func:`one_bin_per_integer`): the histogram is then exact. :func:`histogram` counts
  values on them by arithmetic rather than by a search of the edges, which is several
  times faster; values beyond the range are clipped into the first or last bin.
- equal-mass bins, cut at the quantiles 1/bins, 2/bins, ... of the profile's sample
  (:func:`equal_mass_bins`). Equal-width bins are what a histogram shows, but an extreme
  value stretches them until nearly every value falls in one bin; equal-mass bins keep
  their resolution where the values are, whatever the outliers. Heavy values get bins of
  their own, and so does what lies beyond the sample's range. Drift takes the PSI on
  them; an integer column with one bin per integer needs none (merging its values could
  only lose resolution). :func:`mass_bin_counts` counts values on the cuts.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "bin_edges",
    "equal_mass_bins",
    "histogram",
    "mass_bin_counts",
    "one_bin_per_integer",
    "sorted_mass_bin_counts",
    "sorted_quantiles",
]

FloatArray = npt.NDArray[np.float64]

_COUNTED_CUTS = 64  # up to this many equal-mass cuts, count by comparison (see mass_bin_counts)


def one_bin_per_integer(value_range: tuple[float, float] | None, bins: int, integer: bool) -> bool:
    """Whether an integer column takes few enough values for a bin each."""
    return integer and value_range is not None and value_range[1] - value_range[0] + 1 <= bins


def bin_edges(
    value_range: tuple[float, float] | None, bins: int, integer: bool
) -> tuple[float, ...]:
    """The edges of the equal-width histogram of a column whose finite values span
    ``value_range`` (None without any value: no edges).

    An integer column that takes at most ``bins`` values gets one bin per integer, centred
    on it; a constant column one bin of zero width.
    """
    if value_range is None:
        return ()
    low, high = value_range
    if one_bin_per_integer(value_range, bins, integer):
        # One bin per integer value, centred on it.
        return tuple(float(edge) for edge in np.arange(low, high + 2, dtype=np.float64) - 0.5)
    if low == high:
        return (float(low), float(high))  # one bin of zero width: every value falls in it
    # Interpolated rather than low + i * (high - low) / bins: the span may exceed a float.
    steps = np.linspace(0.0, 1.0, bins + 1)
    edges = float(low) * (1.0 - steps) + float(high) * steps
    edges[0], edges[-1] = float(low), float(high)
    return tuple(float(edge) for edge in edges)


def histogram(
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
    equal-width binning that profiles, :func:`~pathtolive.data.profiling.bin_values` and
    the live side of drift share. ``scratch``, an array the size of ``values``, saves an
    allocation; its contents are overwritten.
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


def equal_mass_bins(sample: FloatArray, bins: int) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Cut points, and the count between them of ``sample`` (finite values, sorted).

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
    values, counts = _runs(sample)
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
    counts = sorted_mass_bin_counts(cuts, sample)
    return tuple(float(cut) for cut in cuts), tuple(int(count) for count in counts)


def sorted_mass_bin_counts(cuts: npt.ArrayLike, ordered: FloatArray) -> npt.NDArray[np.int64]:
    """:func:`mass_bin_counts` of sorted values: the count below each cut is where the cut
    would go among them, one search per cut rather than a comparison per value."""
    under_each_cut = np.searchsorted(ordered, np.asarray(cuts, dtype=np.float64), side="left")
    return np.diff(under_each_cut, prepend=0, append=ordered.size).astype(np.int64, copy=False)


def sorted_quantiles(ordered: FloatArray, points: FloatArray) -> FloatArray:
    """``np.quantile(ordered, points)`` (its default, linear method) of a sorted array,
    without partitioning it again: the order statistics are where they stand. The same
    interpolation, written as NumPy writes it, so the values are the same to the bit."""
    virtual = (ordered.size - 1) * points
    below = np.floor(virtual)
    gamma = virtual - below
    lower = below.astype(np.intp)
    upper = np.minimum(lower + 1, ordered.size - 1)
    low, high = ordered[lower], ordered[upper]
    step = high - low
    # NumPy's lerp: from the nearer end, so that a weight of 1 gives the upper value.
    values = low + step * gamma
    return np.where(gamma >= 0.5, high - step * (1 - gamma), values)


def _runs(ordered: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The distinct values of a sorted array and how often each occurs: what
    ``np.unique(..., return_counts=True)`` gives, without sorting a copy again (the
    sample of every numeric column of every profile is sorted already)."""
    if ordered.size == 0:
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(starts, append=ordered.size)


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
