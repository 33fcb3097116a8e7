"""Data drift: live inputs against the reference profile of the training data.

The training side is never reread: it is the :class:`~pathtolive.data.profile.Profile`
stored with the dataset version (histograms on fixed bins, 101 quantiles of a sample,
category frequencies, null counts). The live side is a :class:`CurrentSketch`
accumulated batch by batch on the same bins (see :mod:`pathtolive.monitoring.sketch`).
:func:`compare` turns the two into one :class:`FeatureDrift` per column.

Figures, per numeric column:

- ``psi``: population stability index on the profile's equal-mass bins (cut at the
  reference sample's quantiles 1/bins, 2/bins, ...; see
  :class:`~pathtolive.data.profile.NumericStats`), ``sum((c - r) * ln(c / r))`` over the
  bins' shares ``r`` (reference) and ``c`` (current), each share floored at
  :data:`SHARE_FLOOR` so empty bins stay finite. Equal-mass bins are the usual choice
  for PSI (deciles, in credit scoring) and keep their resolution when an outlier
  stretches the range; integer columns with one bin per value, and profiles without
  equal-mass bins, use the histogram's bins instead (values outside the reference range
  then count in the first or last bin, as in the profile).
- ``js``: Jensen-Shannon distance (base 2, so in [0, 1]; the square root of the
  divergence) between the same shares, without a floor.
- ``ks``, ``ks_pvalue``: two-sample Kolmogorov-Smirnov. The reference CDF ``F_ref``
  is known at its 101 quantiles q0..q100 (p0..p100 of a sample of ``sample_count``
  values): ``F_ref(q_k) = k / 100``. The current CDF ``F_cur`` is the empirical CDF of
  the current sample (every value, when the window has at most ``sample_size``). The
  statistic ``D`` is the largest gap between the two at the distinct quantile values,
  on both sides of each (``F_cur(v)`` and ``F_cur(v-)``). Where ``v`` is an atom — a
  value repeated among the quantiles, or one the current sample holds more than once
  (integers, rounded readings) — the reference CDF is only known to lie between
  neighbouring percentiles (``F_ref(v)`` in ``[p_b, p_b+1]`` for the last index ``b``
  with ``q_b = v``, ``F_ref(v-)`` in ``[p_a-1, p_a]`` for the first ``a``), and the gap
  is the distance to that interval. Looking only where the reference CDF is known,
  rather than interpolating between quantiles, invents no reference mass (in the tails,
  interpolation is off by up to half a percentile, which is a false alarm at these
  sample sizes). So ``D`` is never above the statistic of the raw data, and at most
  0.01 (one percentile) below it, plus sampling error; the tests hold it to 0.01 of
  ``scipy.stats.ks_2samp`` on the raw data. The p-value is the asymptotic one
  ``ks_2samp`` uses, ``kstwo.sf(D, round(n m / (n + m)))``, with ``n`` the size of the
  reference sample behind the quantiles and ``m`` the current sample's: the sizes the
  two CDFs come from, not those of the tables (so it is conservative for large windows,
  and for atoms, as the KS test always is with ties).
- ``wasserstein``: the first Wasserstein distance between the central 98% of the two
  distributions — the area between the two quantile functions from p1 to p99 (the
  reference's interpolated between its quantiles, the current sample's own; trapezoid
  rule on steps of 0.001) — divided by the reference standard deviation, so that one
  threshold fits every column (as Evidently's "normed" Wasserstein). The extreme
  percentiles are left out because a sketch cannot place their mass: between p99 and
  the maximum of a heavy-tailed sample lies most of the untrimmed distance's error. A
  shift or a change of scale shows fully; the raw distance is used when the reference
  deviation is zero.

Per categorical column (string, boolean): ``psi`` and ``js`` on the stored categories'
shares plus one share for every other value ("(other)"); ``chi2``, ``chi2_pvalue``:
Pearson's chi-square test of homogeneity on the 2 x k table of reference and current
counts (empty categories dropped, ``k - 1`` degrees of freedom); ``unseen_share``: the
share of current values the reference never had — only when the profile lists every
reference value (``CategoricalStats.complete``), else the figure is left out.

Every column also gets ``null_rate_reference`` and ``null_rate_current``: the missing
share (null, and NaN for numerics) of its rows. A figure that cannot be computed (no
current value, no reference histogram) is left out of ``figures`` rather than NaN.

Verdicts: a column has drifted when any figure crosses its threshold in
:class:`DriftThresholds` (``psi``, ``js``, ``wasserstein``, ``unseen_share`` above;
p-values below; the null rate moving by more than ``null_rate_change``). p-value
thresholds are family-wise by default (``correction="bonferroni"``): a column's p-value
is held against the threshold divided by the number of columns tested with that test,
so that a comparison of many columns of unchanged data flags none with the probability
the threshold says, not one per hundred columns. A PSI above its threshold counts only
when it is also above ``psi_noise`` (reported with it): the PSI that two samples of these
sizes from one distribution exceed one time in a hundred. With the usual sizes (a
training set against a window of hundreds of rows) that level is far below 0.2 and
changes nothing; on a few dozen rows, or against a small reference such as a version's
first outputs, it keeps sampling noise from passing for drift. ``score`` is the PSI (0 without one),
and columns are ranked drifted first, then by score, then by name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from scipy import stats as sps  # type: ignore[import-untyped,unused-ignore]

from pathtolive.data.profile import QUANTILE_POINTS, ColumnProfile, Profile
from pathtolive.data.profiling import compute_profile, profile_frame
from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.monitoring.sketch import (
    ColumnSketch,
    CurrentSketch,
    FeatureKind,
    iter_segment_batches,
)

__all__ = [
    "OTHER_LABEL",
    "SHARE_FLOOR",
    "CurrentSketch",
    "DriftResult",
    "DriftThresholds",
    "FeatureDrift",
    "Histogram",
    "compare",
    "drift",
    "drift_from_scratch",
    "iter_segment_batches",
]

SHARE_FLOOR = 1e-4
"""Smallest bin share in the PSI, so that an empty bin on either side stays finite."""

NOISE_DRAWS = 1000
NOISE_SEED = 20240601
"""Draws and seed of the PSI's noise level (:func:`_psi_noise`)."""

OTHER_LABEL = "(other)"
"""The label of the values outside a categorical profile's stored categories."""

Correction = Literal["bonferroni", "none"]
FloatArray = npt.NDArray[np.float64]
_PROBABILITIES = np.linspace(0.0, 1.0, QUANTILE_POINTS)
_TRIMMED_GRID = np.linspace(0.01, 0.99, 981)  # steps of 0.001 from p1 to p99


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class DriftThresholds:
    """When a figure means drift. ``js`` and ``wasserstein`` None: figures only.

    ``psi``, ``js``, ``wasserstein``, ``unseen_share``: drift above. ``ks_pvalue``,
    ``chi2_pvalue``: drift below (family-wise under ``correction="bonferroni"``, see the
    module docs). ``null_rate_change``: drift when the missing share moves by more.
    """

    psi: float = 0.2
    ks_pvalue: float = 0.01
    js: float | None = None
    wasserstein: float | None = None
    chi2_pvalue: float = 0.01
    unseen_share: float = 0.05
    null_rate_change: float = 0.1
    correction: Correction = "bonferroni"

    def __post_init__(self) -> None:
        for name in ("psi", "js", "wasserstein", "unseen_share", "null_rate_change"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value >= 0):
                raise ConfigError(f"drift threshold {name} must be a number >= 0, not {value!r}")
        for name in ("ks_pvalue", "chi2_pvalue"):
            value = getattr(self, name)
            if not (_is_number(value) and 0 < value <= 1):
                raise ConfigError(
                    f"drift threshold {name} must be a p-value in (0, 1], not {value!r}"
                )
        if self.correction not in ("bonferroni", "none"):
            raise ConfigError(
                f"drift threshold correction must be 'bonferroni' or 'none', "
                f"not {self.correction!r}"
            )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DriftThresholds:
        """From a TOML table such as ``{psi = 0.2, ks_pvalue = 0.01}``; an unknown key is
        a ``ConfigError`` naming it."""
        known = [item.name for item in fields(cls)]
        for key in data:
            if key not in known:
                raise ConfigError(
                    f"unknown drift threshold {key!r}; the known ones are {', '.join(known)}"
                )
        values = dict(data)
        for key, value in values.items():
            if key != "correction" and _is_number(value):
                values[key] = float(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


@dataclass(frozen=True)
class Histogram:
    """Shares of one side on the reference's bins, for plots.

    Numeric: ``edges`` are the bin edges (one more than ``shares``; the equal-mass bins'
    first and last are infinite, None in JSON) and ``labels`` name the bins (``[a, b)``,
    ``< min`` and ``> max`` beyond the reference's range, or the integer for one-integer
    bins).
    Categorical: ``edges`` is None and ``labels`` are the stored categories and
    :data:`OTHER_LABEL`.
    """

    labels: tuple[str, ...]
    edges: tuple[float, ...] | None
    shares: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "labels": list(self.labels),
            "edges": None if self.edges is None else [_json_float(e) for e in self.edges],
            "shares": [_json_float(share) for share in self.shares],
        }


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one column: its figures, verdict, reasons and rank.

    ``current_rows`` is the number of current values the figures rest on (non-missing;
    finite, for numerics). ``score`` is what the rank orders by (the PSI; see the module
    docs); ``rank`` 1 is the column that moved most.
    """

    feature: str
    kind: FeatureKind
    figures: dict[str, float]
    drifted: bool
    reasons: tuple[str, ...]
    score: float
    rank: int
    reference: Histogram
    current: Histogram
    current_rows: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (a figure that is not finite becomes None)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "rank": self.rank,
            "score": _json_float(self.score),
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "figures": {name: _json_float(value) for name, value in self.figures.items()},
            "current_rows": self.current_rows,
            "reference": self.reference.to_dict(),
            "current": self.current.to_dict(),
        }


@dataclass(frozen=True)
class DriftResult:
    """Every compared column's drift, ranked (see :class:`FeatureDrift`)."""

    features: tuple[FeatureDrift, ...]
    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)

    @property
    def drifted(self) -> tuple[str, ...]:
        """Names of the drifted columns, by rank."""
        return tuple(feature.feature for feature in self.features if feature.drifted)

    def feature(self, name: str) -> FeatureDrift:
        """The drift of column ``name``."""
        for feature in self.features:
            if feature.feature == name:
                return feature
        raise InvalidInputError(
            f"column {name!r} was not compared; the compared columns are "
            f"{', '.join(f.feature for f in self.features) or 'none'}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drifted": list(self.drifted),
            "thresholds": self.thresholds.to_dict(),
            "features": [feature.to_dict() for feature in self.features],
        }


def compare(
    reference: Profile,
    current: CurrentSketch,
    thresholds: DriftThresholds = DriftThresholds(),
    *,
    min_rows: int = 0,
) -> DriftResult:
    """Compare the live side accumulated in ``current`` with ``reference``.

    A column with fewer than ``min_rows`` current values gets its figures but no drift
    verdict (reason ``too few rows (n < min_rows)``).
    """
    if min_rows < 0:
        raise InvalidInputError(f"min_rows must be at least 0, not {min_rows}")
    if current.reference is not reference and current.reference != reference:
        raise InvalidInputError(
            "the current sketch was accumulated on another profile's bins; "
            "build it from the same reference profile"
        )
    sketches = current.sketches()
    measured = [
        _measure(reference.column(sketch.name), sketch, thresholds.psi) for sketch in sketches
    ]
    tested = {
        test: sum(1 for figures, *_ in measured if f"{test}_pvalue" in figures)
        for test in ("ks", "chi2")
    }
    unranked = [
        _verdict(sketch, figures, ref_hist, cur_hist, thresholds, tested, min_rows)
        for sketch, (figures, ref_hist, cur_hist) in zip(sketches, measured, strict=True)
    ]
    ordered = sorted(unranked, key=lambda f: (not f.drifted, -f.score, f.feature))
    features = tuple(
        FeatureDrift(
            feature=f.feature,
            kind=f.kind,
            figures=f.figures,
            drifted=f.drifted,
            reasons=f.reasons,
            score=f.score,
            rank=position,
            reference=f.reference,
            current=f.current,
            current_rows=f.current_rows,
        )
        for position, f in enumerate(ordered, start=1)
    )
    return DriftResult(features, reference.rows, current.rows, thresholds)


def drift(
    reference: Profile,
    current: pd.DataFrame | pa.Table,
    thresholds: DriftThresholds = DriftThresholds(),
    *,
    min_rows: int = 0,
    columns: Sequence[str] | None = None,
    prefix: str = "",
) -> DriftResult:
    """Compare a whole table or DataFrame with ``reference`` (one :class:`CurrentSketch`,
    fed in batches, then :func:`compare`)."""
    sketch = CurrentSketch(reference, columns)
    if isinstance(current, pd.DataFrame):
        sketch.add(current, prefix=prefix)
    else:
        for batch in current.to_batches(max_chunksize=65_536):
            sketch.add(batch, prefix=prefix)
    return compare(reference, sketch, thresholds, min_rows=min_rows)


def drift_from_scratch(
    reference: pd.DataFrame | pa.Table | str | Path,
    current: pd.DataFrame | pa.Table | str | Path,
    thresholds: DriftThresholds = DriftThresholds(),
    *,
    min_rows: int = 0,
    columns: Sequence[str] | None = None,
) -> DriftResult:
    """Profile ``reference`` (a DataFrame, an Arrow table or a Parquet file) as a dataset
    version would be, then compare ``current`` (the same kinds; a file is read batch by
    batch, only the compared columns)."""
    profile = _profile_of(reference)
    if not isinstance(current, str | Path):
        return drift(profile, current, thresholds, min_rows=min_rows, columns=columns)
    sketch = CurrentSketch(profile, columns)
    for batch in iter_segment_batches([current], sketch.columns):
        sketch.add(batch)
    return compare(profile, sketch, thresholds, min_rows=min_rows)


def _profile_of(reference: pd.DataFrame | pa.Table | str | Path) -> Profile:
    if isinstance(reference, str | Path):
        return compute_profile(Path(reference))
    if isinstance(reference, pa.Table):
        # Arrow-backed columns come back from pandas as the same Arrow arrays.
        reference = reference.to_pandas(types_mapper=pd.ArrowDtype)
    return profile_frame(reference)


# ---------------------------------------------------------------------------------------
# Figures


def _measure(
    column: ColumnProfile, sketch: ColumnSketch, psi_limit: float | None
) -> tuple[dict[str, float], Histogram, Histogram]:
    """The figures of one column, and both sides' histograms."""
    figures: dict[str, float] = {}
    reference_missing = column.nulls
    if sketch.kind == "numeric":
        assert column.numeric is not None
        reference_missing += column.numeric.nan_count
    if column.count:
        figures["null_rate_reference"] = reference_missing / column.count
    if sketch.rows:
        figures["null_rate_current"] = sketch.missing / sketch.rows
    if sketch.kind == "numeric":
        return _measure_numeric(column, sketch, figures, psi_limit)
    return _measure_categorical(column, sketch, figures, psi_limit)


def _measure_numeric(
    column: ColumnProfile, sketch: ColumnSketch, figures: dict[str, float], psi_limit: float | None
) -> tuple[dict[str, float], Histogram, Histogram]:
    stats = column.numeric
    assert stats is not None
    # The equal-mass bins when both sides have them (see the module docs): PSI and JS are
    # taken on them, and they are what the histograms show, so a plot explains its PSI.
    if stats.mass_counts and sketch.mass_counts.size == len(stats.mass_counts):
        edges = (-math.inf, *(float(cut) for cut in stats.mass_cuts), math.inf)
        low, high = float(stats.minimum or 0.0), float(stats.maximum or 0.0)
        labels = _mass_labels(stats.mass_cuts, low, high)
        reference = np.asarray(stats.mass_counts, dtype=np.float64)
        current = sketch.mass_counts.astype(np.float64)
    else:
        edges = tuple(float(edge) for edge in stats.bin_edges)
        labels = _bin_labels(edges, column.kind == "integer")
        reference = np.asarray(stats.bin_counts, dtype=np.float64)
        current = sketch.counts.astype(np.float64)
    if reference.size and reference.sum() > 0 and current.sum() > 0:
        _add_psi(figures, reference, current, psi_limit)
        figures["js"] = _js(reference, current)
    quantiles = np.asarray(stats.quantiles, dtype=np.float64)
    if quantiles.size == QUANTILE_POINTS and sketch.sample.size:
        statistic = _ks_statistic(quantiles, sketch.sample)
        figures["ks"] = statistic
        figures["ks_pvalue"] = _ks_pvalue(statistic, stats.sample_count, sketch.sample.size)
        distance = _wasserstein(quantiles, sketch.sample)
        scale = stats.std if stats.std else 1.0
        figures["wasserstein"] = distance / scale
    return (
        figures,
        Histogram(labels, edges or None, _shares(reference)),
        Histogram(labels, edges or None, _shares(current)),
    )


def _measure_categorical(
    column: ColumnProfile, sketch: ColumnSketch, figures: dict[str, float], psi_limit: float | None
) -> tuple[dict[str, float], Histogram, Histogram]:
    stats = column.categorical
    assert stats is not None
    labels = (*(value for value, _ in stats.categories), OTHER_LABEL)
    reference = np.asarray(
        [*(count for _, count in stats.categories), stats.other_count], dtype=np.float64
    )
    current = sketch.counts.astype(np.float64)
    if reference.sum() > 0 and current.sum() > 0:
        _add_psi(figures, reference, current, psi_limit)
        figures["js"] = _js(reference, current)
        chi2, pvalue = _chi2(reference, current)
        figures["chi2"] = chi2
        figures["chi2_pvalue"] = pvalue
        if stats.complete:
            figures["unseen_share"] = float(current[-1] / current.sum())
    return (
        figures,
        Histogram(labels, None, _shares(reference)),
        Histogram(labels, None, _shares(current)),
    )


def _shares(counts: FloatArray) -> tuple[float, ...]:
    total = float(counts.sum())
    if total <= 0:
        return tuple(0.0 for _ in counts)
    return tuple(float(value) for value in counts / total)


def _add_psi(
    figures: dict[str, float], reference: FloatArray, current: FloatArray, limit: float | None
) -> None:
    """``psi``, and ``psi_noise`` when the PSI is above ``limit``: whether chance alone
    gives as much at these sizes decides whether it counts (see :func:`_psi_noise`)."""
    figures["psi"] = _psi(reference, current)
    if limit is not None and figures["psi"] > limit:
        figures["psi_noise"] = _psi_noise(reference, current)


def _psi_noise(reference: FloatArray, current: FloatArray) -> float:
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


def _psi(reference: FloatArray, current: FloatArray) -> float:
    r = np.maximum(reference / reference.sum(), SHARE_FLOOR)
    c = np.maximum(current / current.sum(), SHARE_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def _js(reference: FloatArray, current: FloatArray) -> float:
    r = reference / reference.sum()
    c = current / current.sum()
    middle = (r + c) / 2

    def kl(p: FloatArray) -> float:
        positive = p > 0
        return float(np.sum(p[positive] * np.log2(p[positive] / middle[positive])))

    divergence = (kl(r) + kl(c)) / 2
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def _chi2(reference: FloatArray, current: FloatArray) -> tuple[float, float]:
    table = np.vstack((reference, current))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    return statistic, float(sps.chi2.sf(statistic, table.shape[1] - 1))


def _ks_statistic(quantiles: FloatArray, sample: FloatArray) -> float:
    """Largest gap between the reference CDF, known at its quantiles, and the empirical
    CDF of the sorted current ``sample`` (see the module docs)."""
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


def _ks_pvalue(statistic: float, reference_size: int, current_size: int) -> float:
    if reference_size < 1 or current_size < 1:
        return 1.0
    effective = reference_size * current_size / (reference_size + current_size)
    return float(min(max(sps.kstwo.sf(statistic, max(1, round(effective))), 0.0), 1.0))


def _wasserstein(quantiles: FloatArray, sample: FloatArray) -> float:
    """The area between the two quantile functions over the central percentiles p1..p99
    (see the module docs): the reference's interpolated between its quantiles."""
    reference = np.interp(_TRIMMED_GRID, _PROBABILITIES, quantiles)
    current = np.quantile(sample, _TRIMMED_GRID)
    gaps = np.abs(reference - current)
    step = _TRIMMED_GRID[1] - _TRIMMED_GRID[0]
    return float(np.sum((gaps[1:] + gaps[:-1]) / 2) * step)


def _bin_labels(edges: tuple[float, ...], integer: bool) -> tuple[str, ...]:
    if len(edges) < 2:
        return ()
    if integer and all(
        edge - math.floor(edge) == 0.5 and right - edge == 1
        for edge, right in itertools.pairwise(edges)
    ):
        return tuple(str(math.ceil(edge)) for edge in edges[:-1])
    last = len(edges) - 2
    return tuple(
        f"[{low:.4g}, {high:.4g}{']' if index == last else ')'}"
        for index, (low, high) in enumerate(itertools.pairwise(edges))
    )


def _mass_labels(cuts: Sequence[float], low: float, high: float) -> tuple[str, ...]:
    """``< low``, ``[low, c2)``, ``[c2, c3)``, ..., ``[ck-1, high]``, ``> high`` for the
    equal-mass bins of a reference whose values run from ``low`` to ``high`` (the first
    and last cuts lie just beyond them)."""
    if len(cuts) < 2:  # an extreme beyond the largest float has no cut: plain names
        return tuple(f"bin {index + 1}" for index in range(len(cuts) + 1))
    bounds = [f"{low:.4g}", *(f"{cut:.4g}" for cut in cuts[1:-1]), f"{high:.4g}"]
    inner = [f"[{a}, {b})" for a, b in itertools.pairwise(bounds)]
    inner[-1] = f"{bounds[0]}" if low == high else inner[-1][:-1] + "]"
    return (f"< {bounds[0]}", *inner, f"> {bounds[-1]}")


# ---------------------------------------------------------------------------------------
# Verdicts


def _verdict(
    sketch: ColumnSketch,
    figures: dict[str, float],
    reference: Histogram,
    current: Histogram,
    thresholds: DriftThresholds,
    tested: Mapping[str, int],
    min_rows: int,
) -> FeatureDrift:
    reasons: list[str] = []
    limits: list[tuple[str, str, float | None]] = [
        ("psi", "psi", thresholds.psi),
        ("js", "js", thresholds.js),
    ]
    if sketch.kind == "numeric":
        limits.append(("wasserstein", "wasserstein", thresholds.wasserstein))
    else:
        limits.append(("unseen_share", "unseen share", thresholds.unseen_share))
    for key, label, limit in limits:
        value = figures.get(key)
        if limit is None or value is None or value <= limit:
            continue
        noise = figures.get(f"{key}_noise")
        if noise is None:
            reasons.append(f"{label} {value:.3g} > {limit:g}")
        elif value > noise:
            reasons.append(f"{label} {value:.3g} > {limit:g} and > {noise:.3g} (chance alone)")
    for test, limit in (("ks", thresholds.ks_pvalue), ("chi2", thresholds.chi2_pvalue)):
        pvalue = figures.get(f"{test}_pvalue")
        if pvalue is None:
            continue
        family = tested.get(test, 1)
        if thresholds.correction == "bonferroni" and family > 1:
            if pvalue < limit / family:
                reasons.append(f"{test} p={pvalue:.2g} < {limit:g}/{family} columns")
        elif pvalue < limit:
            reasons.append(f"{test} p={pvalue:.2g} < {limit:g}")
    before, after = figures.get("null_rate_reference"), figures.get("null_rate_current")
    if (
        before is not None
        and after is not None
        and abs(after - before) > thresholds.null_rate_change
    ):
        change = thresholds.null_rate_change
        reasons.append(f"null rate {before:.3g} -> {after:.3g} (moved more than {change:g})")
    if sketch.values < min_rows:
        reasons = [f"too few rows ({sketch.values} < {min_rows})"]
        drifted = False
    else:
        drifted = bool(reasons)
    return FeatureDrift(
        feature=sketch.name,
        kind=sketch.kind,
        figures=figures,
        drifted=drifted,
        reasons=tuple(reasons),
        score=figures.get("psi", 0.0),
        rank=0,
        reference=reference,
        current=current,
        current_rows=sketch.values,
    )
