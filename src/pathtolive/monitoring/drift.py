"""Data drift: live inputs against the reference profile of the training data.

The training side is never reread: it is the :class:`~pathtolive.data.profile.Profile`
stored with the dataset version (histograms on fixed bins, 101 quantiles of a sample,
category frequencies, null counts). The live side is a :class:`CurrentSketch`
accumulated batch by batch on the same bins (see :mod:`pathtolive.monitoring.sketch`).
:func:`compare` turns the two into one :class:`FeatureDrift` per column.

Figures, per numeric column (the statistics themselves are in
:mod:`pathtolive.monitoring.statistics`):

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
- ``wasserstein``: the first Wasserstein distance over the central 98% of the two
  distributions — the mean gap between the two quantile functions from p1 to p99 (the
  reference's interpolated between its quantiles, the current sample's own; trapezoid
  rule on steps of 0.001) — divided by the reference standard deviation, so that one
  threshold fits every column (as Evidently's "normed" Wasserstein). The extreme
  percentiles are left out because a sketch cannot place their mass: between p99 and
  the maximum of a heavy-tailed sample lies most of the untrimmed distance's error. A
  shift of the mean shows exactly (a shift of ``d`` standard deviations gives ``d``), a
  change of scale nearly fully; the raw distance is used when the reference deviation
  is zero.

Per categorical column (string, boolean): ``psi`` and ``js`` on the stored categories'
shares plus one share for every other value ("(other)"); ``chi2``, ``chi2_pvalue``:
Pearson's chi-square test of homogeneity on the 2 x k table of reference and current
counts (empty categories dropped, ``k - 1`` degrees of freedom); ``unseen_share``: the
share of current values the reference never had — only when the profile lists every
reference value (``CategoricalStats.complete``), else the figure is left out.

Every column also gets ``null_rate_reference`` and ``null_rate_current``: the missing
share (null, and NaN for numerics) of its rows. A figure that cannot be computed (no
current value, no reference histogram) is left out of ``figures`` rather than NaN.

Verdicts (:mod:`pathtolive.monitoring.verdict`): under the default rule, ``verdict =
"effect+significance"``, a column has drifted when an effect size (``psi``, ``js``,
``wasserstein``) reaches its threshold and its test (KS, chi-square) says the move is
beyond chance; ``"significance"`` and ``"effect"`` take one side alone. A missing share
that moves, or unseen categories, flag a column under every rule.

``score`` is the PSI (0 without one), and columns are ranked drifted first, then by
score, then by name. :func:`with_importance` adds each column's share of the model's
attribution and the importance-weighted drift.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from pathtolive.data.profile import QUANTILE_POINTS, ColumnProfile, Profile
from pathtolive.data.profiling import compute_profile, profile_frame
from pathtolive.display import HtmlDisplay
from pathtolive.errors import InvalidInputError
from pathtolive.monitoring.sketch import (
    ColumnSketch,
    CurrentSketch,
    FeatureKind,
    iter_segment_batches,
)
from pathtolive.monitoring.statistics import (
    SHARE_FLOOR,
    chi2_test,
    jensen_shannon,
    ks_pvalue,
    ks_statistic,
    normed_wasserstein,
    psi,
    psi_noise,
)
from pathtolive.monitoring.verdict import (
    EFFECT_STATISTICS,
    VERDICTS,
    DriftThresholds,
    Verdict,
    judge,
)

__all__ = [
    "EFFECT_STATISTICS",
    "OTHER_LABEL",
    "SHARE_FLOOR",
    "VERDICTS",
    "CurrentSketch",
    "DriftResult",
    "DriftThresholds",
    "FeatureDrift",
    "Histogram",
    "Verdict",
    "compare",
    "drift",
    "drift_from_scratch",
    "iter_segment_batches",
    "with_importance",
]

OTHER_LABEL = "(other)"
"""The label of the values outside a categorical profile's stored categories."""

FloatArray = npt.NDArray[np.float64]


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


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

    How the verdict was reached: ``rule`` names the rule that decided it (the
    thresholds' ``verdict``; ``"unseen_share"`` or ``"null_rate"`` when only an
    integrity threshold flagged the column; ``"min_rows"`` when there were too few rows
    for a verdict). ``significant`` says whether the shift is beyond chance (None: no
    test could be run), ``large_effect`` whether an effect size reached its threshold,
    and ``explanation`` says both in a sentence. ``reasons`` are what flagged a drifted
    column (empty when it did not drift). ``importance`` is the column's share of the
    model's attribution, when known (:func:`with_importance`).
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
    rule: str = ""
    significant: bool | None = None
    large_effect: bool = False
    explanation: str = ""
    importance: float | None = None

    @property
    def effect_sizes(self) -> dict[str, float]:
        """The effect sizes that can decide this column's verdict, by statistic."""
        return {
            name: self.figures[name]
            for name in EFFECT_STATISTICS[self.kind]
            if name in self.figures
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (a figure that is not finite becomes None)."""
        return {
            "feature": self.feature,
            "kind": self.kind,
            "rank": self.rank,
            "score": _json_float(self.score),
            "drifted": self.drifted,
            "rule": self.rule,
            "significant": self.significant,
            "large_effect": self.large_effect,
            "effect_sizes": {name: _json_float(value) for name, value in self.effect_sizes.items()},
            "explanation": self.explanation,
            "importance": self.importance,
            "reasons": list(self.reasons),
            "figures": {name: _json_float(value) for name, value in self.figures.items()},
            "current_rows": self.current_rows,
            "reference": self.reference.to_dict(),
            "current": self.current.to_dict(),
        }


@dataclass(frozen=True)
class DriftResult(HtmlDisplay):
    """Every compared column's drift, ranked (see :class:`FeatureDrift`).

    ``weighted_drift`` is the importance-weighted drift, when the model's attributions are
    known (:func:`with_importance`): the share of the model's attribution carried by the
    drifted columns, from 0 (only columns the model ignores moved) to 1.
    """

    features: tuple[FeatureDrift, ...]
    reference_rows: int
    current_rows: int
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    weighted_drift: float | None = None

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
            "verdict": self.thresholds.verdict,
            "weighted_drift": self.weighted_drift,
            "thresholds": self.thresholds.to_dict(),
            "features": [feature.to_dict() for feature in self.features],
        }


def with_importance(result: DriftResult, importance: Mapping[str, float]) -> DriftResult:
    """``result`` with each column's share of the model's attribution and the
    importance-weighted drift.

    ``importance`` is the mean absolute attribution of each input (what the
    explainability gate measured at release); a column it does not name counts as 0.
    The shares are taken over the compared columns, so they add up to 1 (all 0 when
    the model's output moves with none of them), and ``weighted_drift`` is the sum of
    the drifted columns' shares.
    """
    raw = {
        feature.feature: max(float(importance.get(feature.feature, 0.0)), 0.0)
        for feature in result.features
    }
    total = sum(value for value in raw.values() if math.isfinite(value))
    shares = {
        name: value / total if total > 0 and math.isfinite(value) else 0.0
        for name, value in raw.items()
    }
    features = tuple(
        replace(feature, importance=shares[feature.feature]) for feature in result.features
    )
    weighted = sum(shares[feature.feature] for feature in features if feature.drifted)
    return replace(result, features=features, weighted_drift=min(weighted, 1.0))


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
        replace(feature, rank=position) for position, feature in enumerate(ordered, start=1)
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
        figures["js"] = jensen_shannon(reference, current)
    quantiles = np.asarray(stats.quantiles, dtype=np.float64)
    if quantiles.size == QUANTILE_POINTS and sketch.sample.size:
        statistic = ks_statistic(quantiles, sketch.sample)
        figures["ks"] = statistic
        figures["ks_pvalue"] = ks_pvalue(statistic, stats.sample_count, sketch.sample.size)
        figures["wasserstein"] = normed_wasserstein(quantiles, sketch.sample, stats.std or 0.0)
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
        figures["js"] = jensen_shannon(reference, current)
        chi2, pvalue = chi2_test(reference, current)
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
    figures["psi"] = psi(reference, current)
    if limit is not None and figures["psi"] >= limit:
        figures["psi_noise"] = psi_noise(reference, current)


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
    judged = judge(
        sketch.kind, figures, thresholds, tested, values=sketch.values, min_rows=min_rows
    )
    return FeatureDrift(
        feature=sketch.name,
        kind=sketch.kind,
        figures=figures,
        drifted=judged.drifted,
        reasons=judged.reasons,
        score=figures.get("psi", 0.0),
        rank=0,
        reference=reference,
        current=current,
        current_rows=sketch.values,
        rule=judged.rule,
        significant=judged.significant,
        large_effect=judged.large_effect,
        explanation=judged.explanation,
    )
