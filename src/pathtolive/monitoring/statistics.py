"""The statistics of drift, on what a reference profile and a live sketch keep.

Neither side is raw data: the reference is counts on fixed bins and 101 quantiles of a
sample (:class:`~pathtolive.data.profile.Profile`), the live side counts on the same bins
and a uniform sample (:class:`~pathtolive.monitoring.sketch.CurrentSketch`). Each function
takes those and returns one figure; :mod:`pathtolive.monitoring.drift` says which figure
decides what.

Effect sizes (how far the distribution moved, whatever the number of rows):

- :func:`psi`: population stability index on the bins' shares, ``sum((c - r) ln(c / r))``,
  each share floored at :data:`SHARE_FLOOR` so an empty bin stays finite.
- :func:`jensen_shannon`: Jensen-Shannon distance (base 2, in [0, 1]; the square root of
  the divergence), as ``scipy.spatial.distance.jensenshannon(r, c, base=2)``.
- :func:`normed_wasserstein`: the first Wasserstein distance between the central 98% of
  the two distributions, divided by the reference's standard deviation (Evidently's
  "normed" Wasserstein, so that one threshold fits every column).

Chance (whether samples of these sizes from one distribution would differ as much):

- :func:`psi_noise`: the PSI that two samples of these sizes from one distribution exceed
  one time in a hundred.
- :func:`ks_statistic` and :func:`ks_pvalue`: two-sample Kolmogorov-Smirnov against the
  reference's quantiles.
- :func:`chi2_test`: Pearson's chi-square test of homogeneity on the two count vectors.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import stats as sps  # type: ignore[import-untyped,unused-ignore]

from pathtolive.data.profile import QUANTILE_POINTS

__all__ = [
    "NOISE_DRAWS",
    "NOISE_SEED",
    "SHARE_FLOOR",
    "chi2_test",
    "jensen_shannon",
    "ks_pvalue",
    "ks_statistic",
    "normed_wasserstein",
    "psi",
    "psi_noise",
    "trimmed_wasserstein",
]

FloatArray = npt.NDArray[np.float64]

SHARE_FLOOR = 1e-4
"""Smallest bin share in the PSI, so that an empty bin on either side stays finite."""

NOISE_DRAWS = 1000
NOISE_SEED = 20240601
"""Draws and seed of the PSI's noise level (:func:`psi_noise`)."""

_PROBABILITIES = np.linspace(0.0, 1.0, QUANTILE_POINTS)
_TRIMMED_GRID = np.linspace(0.01, 0.99, 981)  # steps of 0.001 from p1 to p99
_TRIMMED_MASS = 0.98


def psi(reference: FloatArray, current: FloatArray) -> float:
    """Population stability index between two count vectors on the same bins.

    The usual reading (Siddiqi, *Credit Risk Scorecards*, 2006): below 0.1 no real
    change, 0.1 to 0.25 a moderate shift, above 0.25 a major one.
    """
    r = np.maximum(reference / reference.sum(), SHARE_FLOOR)
    c = np.maximum(current / current.sum(), SHARE_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_noise(reference: FloatArray, current: FloatArray) -> float:
    """The PSI that two samples of these sizes from one distribution exceed one time in a
    hundred: the 99th percentile over :data:`NOISE_DRAWS` pairs of multinomial draws
    from the pooled shares (seeded: the same counts give the same figure). Large samples
    make it small (it falls as ``1/n + 1/m``, the chi-square approximation of PSI); a
    small window or reference makes it large, which is why a PSI above the threshold on
    a few rows is not drift by itself."""
    n, m = int(reference.sum()), int(current.sum())
    pooled = (reference + current) / (n + m)
    rng = np.random.default_rng(NOISE_SEED)
    left = rng.multinomial(n, pooled, size=NOISE_DRAWS).astype(np.float64)
    right = rng.multinomial(m, pooled, size=NOISE_DRAWS).astype(np.float64)
    r = np.maximum(left / n, SHARE_FLOOR)
    c = np.maximum(right / m, SHARE_FLOOR)
    draws = np.sum((c - r) * np.log(c / r), axis=1)
    return float(np.quantile(draws, 0.99))


def jensen_shannon(reference: FloatArray, current: FloatArray) -> float:
    """Jensen-Shannon distance, base 2 (0: the same shares, 1: no bin in common), between
    two count vectors on the same bins."""
    r = reference / reference.sum()
    c = current / current.sum()
    middle = (r + c) / 2

    def kl(p: FloatArray) -> float:
        positive = p > 0
        return float(np.sum(p[positive] * np.log2(p[positive] / middle[positive])))

    divergence = (kl(r) + kl(c)) / 2
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def chi2_test(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    """Pearson's chi-square statistic and p-value on the 2 x k table of the two count
    vectors (empty categories dropped, ``k - 1`` degrees of freedom)."""
    table = np.vstack((reference, current))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(sps.chi2.sf(statistic, table.shape[1] - 1))


def ks_statistic(quantiles: FloatArray, sample: FloatArray) -> float:
    """Largest gap between the reference CDF, known at its 101 ``quantiles``, and the
    empirical CDF of the sorted current ``sample`` (see :mod:`pathtolive.monitoring.drift`
    for why only where the reference CDF is known)."""
    values, first = np.unique(quantiles, return_index=True)
    last = np.append(first[1:], quantiles.size) - 1
    size = sample.size
    at = np.searchsorted(sample, values, side="right") / size
    below = np.searchsorted(sample, values, side="left") / size
    # Where a value is an atom (repeated among the quantiles, or in the current sample),
    # the reference CDF is only known to lie between neighbouring percentiles.
    atom = (last > first) | (at > below)
    padded = np.concatenate(([0.0], _PROBABILITIES, [1.0]))  # padded[k + 1] = p_k
    at_low = padded[last + 1]
    at_high = np.where(atom, padded[last + 2], at_low)
    below_high = padded[first + 1]
    below_low = np.where(atom, padded[first], below_high)
    gaps = np.concatenate(
        (
            np.maximum(at_low - at, 0.0),
            np.maximum(at - at_high, 0.0),
            np.maximum(below_low - below, 0.0),
            np.maximum(below - below_high, 0.0),
        )
    )
    return float(gaps.max())


def ks_pvalue(statistic: float, reference_size: int, current_size: int) -> float:
    """The asymptotic two-sample p-value ``scipy.stats.ks_2samp`` uses."""
    if reference_size < 1 or current_size < 1:
        return 1.0
    effective = reference_size * current_size / (reference_size + current_size)
    return float(min(max(sps.kstwo.sf(statistic, max(1, round(effective))), 0.0), 1.0))


def trimmed_wasserstein(quantiles: FloatArray, sample: FloatArray) -> float:
    """The area between the two quantile functions over the central percentiles p1..p99:
    the reference's interpolated between its 101 ``quantiles``, the current ``sample``'s
    own (trapezoid rule on steps of 0.001)."""
    reference = np.interp(_TRIMMED_GRID, _PROBABILITIES, quantiles)
    current = np.quantile(sample, _TRIMMED_GRID)
    gaps = np.abs(reference - current)
    step = _TRIMMED_GRID[1] - _TRIMMED_GRID[0]
    return float(np.sum((gaps[1:] + gaps[:-1]) / 2) * step)


def normed_wasserstein(quantiles: FloatArray, sample: FloatArray, reference_std: float) -> float:
    """The mean gap between the two quantile functions over the central 98% of the mass
    (:func:`trimmed_wasserstein` divided by 0.98), in units of the reference's standard
    deviation (the raw distance when that is zero): 0.1 means the distributions are a
    tenth of a standard deviation apart on average, whatever the column's unit. A pure
    shift of the mean by ``d`` gives exactly ``d / sd``, as the untrimmed distance does;
    for a change of spread it is a little below the untrimmed one, whose tails a sketch
    cannot place."""
    distance = trimmed_wasserstein(quantiles, sample) / _TRIMMED_MASS
    return distance / reference_std if reference_std else distance
