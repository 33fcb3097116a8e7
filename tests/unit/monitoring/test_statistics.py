"""The effect sizes and tests of drift, against known values and scipy on raw samples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from pathtolive.data.profiling import profile_frame
from pathtolive.monitoring.statistics import (
    chi2_test,
    jensen_shannon,
    normed_wasserstein,
    psi,
    psi_noise,
)


def counts(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def test_psi_of_known_shares() -> None:
    # Half and half against 60/40: (0.6 - 0.5) ln(0.6/0.5) + (0.4 - 0.5) ln(0.4/0.5).
    assert psi(counts(50, 50), counts(60, 40)) == pytest.approx(
        0.1 * math.log(1.2) + 0.1 * math.log(1.25)
    )
    assert psi(counts(10, 20, 30), counts(1, 2, 3)) == 0.0  # shares, not counts
    # A category the reference never had: its share floored at 1e-4, so finite.
    assert psi(counts(100, 0), counts(90, 10)) == pytest.approx(
        -0.1 * math.log(0.9) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    )


def test_psi_of_a_normal_shift_is_about_its_square() -> None:
    """For a shift of d standard deviations, PSI (a symmetric Kullback-Leibler divergence)
    is about d squared: 0.1 is a shift of about a third of a deviation."""
    rng = np.random.default_rng(0)
    edges = np.quantile(rng.normal(0, 1, 200_000), np.linspace(0, 1, 21)[1:-1])
    reference = np.bincount(np.searchsorted(edges, rng.normal(0, 1, 200_000)), minlength=20)
    for shift in (0.2, 0.3, 0.5):
        current = np.bincount(np.searchsorted(edges, rng.normal(shift, 1, 200_000)), minlength=20)
        assert psi(reference.astype(float), current.astype(float)) == pytest.approx(
            shift**2, rel=0.15
        )


@pytest.mark.parametrize("seed", range(5))
def test_jensen_shannon_agrees_with_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 50, 12).astype(float)
    current = rng.integers(0, 50, 12).astype(float)
    current[seed] = 0.0  # an empty bin on one side
    expected = distance.jensenshannon(reference, current, base=2)
    assert jensen_shannon(reference, current) == pytest.approx(expected, abs=1e-12)


def test_jensen_shannon_of_known_shares() -> None:
    assert jensen_shannon(counts(1, 0), counts(0, 1)) == 1.0  # nothing in common
    assert jensen_shannon(counts(3, 7), counts(30, 70)) == 0.0
    # Half of the mass moved to a new bin: divergence 1 - (3/4) log2(4/3) - ... by hand.
    r, c = np.array([1.0, 0.0]), np.array([0.5, 0.5])
    m = (r + c) / 2
    by_hand = 0.5 * (math.log2(1 / m[0])) + 0.5 * (
        0.5 * math.log2(0.5 / m[0]) + 0.5 * math.log2(0.5 / m[1])
    )
    assert jensen_shannon(counts(10, 0), counts(5, 5)) == pytest.approx(math.sqrt(by_hand))


@pytest.mark.parametrize(
    ("make_current", "expected"),
    [
        (lambda r: r.normal(0.0, 1, 20_000), 0.0),
        (lambda r: r.normal(0.1, 1, 20_000), 0.1),
        (lambda r: r.normal(0.5, 1, 20_000), 0.5),
        (lambda r: r.normal(0.0, 1.2, 20_000), 0.2 * math.sqrt(2 / math.pi)),
    ],
)
def test_normed_wasserstein_agrees_with_scipy_on_raw_samples(make_current, expected) -> None:  # type: ignore[no-untyped-def]
    """A shift of the mean by d deviations is d; a change of spread by s is about
    (s - 1) E|Z|; both as scipy's distance on the raw samples over the reference's
    deviation (the tails beyond p1 and p99, left out, cost a little for the spread)."""
    rng = np.random.default_rng(3)
    raw_reference = rng.normal(0, 1, 50_000)
    raw_current = make_current(rng)
    profile = profile_frame(pd.DataFrame({"x": raw_reference}))
    numeric = profile.column("x").numeric
    assert numeric is not None
    figure = normed_wasserstein(
        np.asarray(numeric.quantiles), np.sort(raw_current), numeric.std or 0.0
    )
    scipy_figure = stats.wasserstein_distance(raw_reference, raw_current) / raw_reference.std()
    assert figure == pytest.approx(scipy_figure, abs=0.01 + 0.05 * scipy_figure)
    assert figure == pytest.approx(expected, abs=0.015 + 0.05 * expected)


def test_normed_wasserstein_is_in_deviations_whatever_the_unit() -> None:
    rng = np.random.default_rng(4)
    raw = rng.normal(0, 1, 20_000)
    moved = np.sort(rng.normal(0.3, 1, 20_000))
    figures = []
    for unit in (1.0, 1000.0):
        numeric = profile_frame(pd.DataFrame({"x": raw * unit})).column("x").numeric
        assert numeric is not None
        figures.append(
            normed_wasserstein(np.asarray(numeric.quantiles), moved * unit, numeric.std or 0.0)
        )
    assert figures[0] == pytest.approx(figures[1], rel=1e-6)
    assert figures[0] == pytest.approx(0.3, abs=0.02)


def test_chi2_agrees_with_scipy() -> None:
    reference, current = counts(120, 80, 40, 0), counts(30, 30, 10, 5)
    statistic, pvalue = chi2_test(reference, current)
    expected = stats.chi2_contingency(np.vstack((reference, current))[:, :], correction=False)
    assert statistic == pytest.approx(expected.statistic)
    assert pvalue == pytest.approx(expected.pvalue)


def test_psi_noise_falls_with_the_sample_sizes() -> None:
    shares = counts(0.1, 0.2, 0.3, 0.4)
    levels = [psi_noise(shares * n, shares * n) for n in (100, 1_000, 10_000)]
    assert levels[0] > levels[1] > levels[2]
    # About the chi-square approximation's 99th percentile: chi2(k - 1) (1/n + 1/m).
    assert levels[2] == pytest.approx(stats.chi2.ppf(0.99, 3) * 2 / 10_000, rel=0.25)
