"""Bins: equal-width histograms, one bin per integer, equal-mass cuts and counts on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathtolive.data.bins import (
    bin_edges,
    equal_mass_bins,
    histogram,
    mass_bin_counts,
    one_bin_per_integer,
    sorted_mass_bin_counts,
    sorted_quantiles,
)
from pathtolive.data.profiling import profile_frame


def test_few_integer_values_get_one_bin_each() -> None:
    column = profile_frame(pd.DataFrame({"k": [1, 2, 2, 3, 3, 3]})).column("k")

    stats = column.numeric
    assert stats is not None
    assert column.kind == "integer"
    assert column.categorical is None  # low-cardinality integers stay numeric
    assert stats.bin_edges == (0.5, 1.5, 2.5, 3.5)
    assert stats.bin_counts == (1, 2, 3)
    assert (stats.minimum, stats.maximum) == (1, 3)


def test_equal_mass_bins_hold_about_equal_shares_of_the_sample() -> None:
    values = np.random.default_rng(3).lognormal(0, 1, 5_000)
    values[0] = 1e9  # an outlier that stretches the equal-width bins
    stats = profile_frame(pd.DataFrame({"x": values})).column("x").numeric

    assert stats is not None
    assert max(stats.bin_counts) > 0.99 * values.size  # equal width: one bin holds all
    # Just below the minimum, 19 quantiles, just above the maximum: 22 bins, the outer
    # two empty.
    assert len(stats.mass_cuts) == 21
    assert values.min() * (1 - 2e-6) < stats.mass_cuts[0] < values.min()
    assert values.max() < stats.mass_cuts[-1] < values.max() * (1 + 2e-6)
    assert list(stats.mass_cuts) == sorted(stats.mass_cuts)
    assert not set(stats.mass_cuts) & set(values.tolist())  # cuts fall between values
    counts = stats.mass_counts
    assert (counts[0], counts[-1]) == (0, 0)
    assert sum(counts) == stats.sample_count == values.size
    assert all(240 <= count <= 260 for count in counts[1:-1])
    assert counts[1] == int(np.count_nonzero(values < stats.mass_cuts[1]))


def test_a_heavy_value_gets_a_bin_of_its_own() -> None:
    positive = np.random.default_rng(4).lognormal(0, 1, 300)
    values = np.concatenate([np.zeros(700), positive])
    stats = profile_frame(pd.DataFrame({"x": values})).column("x").numeric

    assert stats is not None
    cuts = stats.mass_cuts
    assert cuts[0] < 0.0 < cuts[1] == positive.min() / 2  # the bin of the zeros alone
    assert stats.mass_counts[:2] == (0, 700)
    # The quantiles are the positive values': their bins share them about equally.
    assert sum(stats.mass_counts[2:]) == 300
    assert all(13 <= count <= 17 for count in stats.mass_counts[2:-1])


def test_a_float32_column_read_back_as_float64_stays_in_its_bins() -> None:
    # Interest rates in steps of 0.1 stored as float32: 0.3 becomes 0.30000001192...
    rates = np.tile(np.arange(1, 21, dtype=np.float32) / np.float32(10), 50)
    stats = profile_frame(pd.DataFrame({"rate": rates})).column("rate").numeric
    assert stats is not None

    from_json = np.arange(1, 21, dtype=np.float64).repeat(50) / 10  # what clients send
    counts = mass_bin_counts(stats.mass_cuts, from_json)

    assert tuple(counts) == stats.mass_counts
    assert stats.mass_counts == (0, *[50] * 20, 0)  # each rate is heavy: a bin each


@pytest.mark.parametrize("cuts", [1, 22, 64, 65, 300])
def test_counting_on_the_cuts_agrees_with_a_search_of_them(cuts: int) -> None:
    rng = np.random.default_rng(cuts)
    edges = np.unique(rng.normal(size=cuts))
    values = np.concatenate([rng.normal(size=5_000), edges, edges[:3]])  # some on a cut

    counted = mass_bin_counts(edges, values)

    searched = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    assert counted.tolist() == searched.tolist()
    assert counted.sum() == values.size


def test_integers_with_one_bin_each_need_no_equal_mass_bins() -> None:
    stats = profile_frame(pd.DataFrame({"k": [1, 2, 2, 3, 3, 3]})).column("k").numeric

    assert stats is not None
    assert (stats.mass_cuts, stats.mass_counts) == ((), ())


def test_a_constant_float_column_has_one_bin() -> None:
    stats = profile_frame(pd.DataFrame({"c": [2.5] * 4})).column("c").numeric

    assert stats is not None
    assert stats.bin_edges == (2.5, 2.5)
    assert stats.bin_counts == (4,)
    assert stats.std == 0.0


def test_edges_are_one_per_integer_or_equal_width() -> None:
    assert one_bin_per_integer((1, 3), 20, integer=True)
    assert not one_bin_per_integer((1, 3), 20, integer=False)
    assert not one_bin_per_integer((0, 20), 20, integer=True)
    assert bin_edges((1, 3), 20, integer=True) == (0.5, 1.5, 2.5, 3.5)
    assert bin_edges((0.0, 1.0), 4, integer=False) == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert bin_edges(None, 4, integer=False) == ()


def test_the_histogram_clips_into_the_outer_bins_and_spans_any_floats() -> None:
    values = np.array([-np.inf, -1.0, 0.0, 0.49, 0.5, 1.0, 7.0, np.inf])

    assert histogram(values, 0.0, 1.0, 2).tolist() == [4, 4]
    largest = float(np.finfo(np.float64).max)
    wide = np.array([-largest, -largest / 4, largest / 4, largest])
    assert histogram(wide, -largest, largest, 2).tolist() == [2, 2]


@pytest.mark.parametrize("seed", range(4))
def test_equal_mass_bins_of_a_sorted_sample_count_as_the_drift_side_does(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Ties, a heavy value and values on both sides: the shapes the cuts treat apart.
    sample = np.sort(
        np.concatenate([rng.normal(size=3_000), np.zeros(400), rng.integers(0, 9, 600)])
    )

    cuts, counts = equal_mass_bins(sample, 20)

    values, occurrences = np.unique(sample, return_counts=True)
    assert values.size < sample.size  # there are ties to count
    assert counts == tuple(mass_bin_counts(cuts, sample).tolist())
    # Values on a cut, and cuts of another sample (a parent's), count alike too.
    others = np.concatenate([cuts[1:4], rng.normal(size=50)])
    assert (
        sorted_mass_bin_counts(cuts, np.sort(others)).tolist()
        == mass_bin_counts(cuts, others).tolist()
    )
    assert sum(counts) == sample.size
    # The heavy zero has a bin of its own holding exactly its occurrences.
    assert occurrences[values == 0][0] in counts


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101, 5_000])
def test_quantiles_of_a_sorted_sample_are_numpys_to_the_bit(size: int) -> None:
    rng = np.random.default_rng(size)
    # Ties and magnitudes far apart, where interpolating from either end differs.
    values = np.concatenate([rng.normal(size=size) * 1e6, rng.integers(0, 4, size)])
    ordered = np.sort(values[:size])
    levels = np.linspace(0.0, 1.0, 101)

    assert sorted_quantiles(ordered, levels).tolist() == np.quantile(ordered, levels).tolist()
