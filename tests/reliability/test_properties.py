"""Properties of the drift statistics and of the data contract, over generated data.

tests/unit/data/test_data_properties.py already shows that data meets the schema inferred
from it, that validation ignores row order and that profiles add up; these add what it
does not: subsets, detection of a value out of the contract, and the drift figures
(no drift of data against its own profile, symmetry, row-order invariance)."""

from __future__ import annotations

import math
import os
from random import Random

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pathtolive.data.formats import table_from_frame
from pathtolive.data.profiling import profile_frame
from pathtolive.data.schema import infer_schema
from pathtolive.data.validation import validate_frame
from pathtolive.monitoring.drift import drift
from pathtolive.monitoring.statistics import chi2_test as _chi2
from pathtolive.monitoring.statistics import jensen_shannon as _js
from pathtolive.monitoring.statistics import psi as _psi

PROPERTIES = settings(
    max_examples=int(os.environ.get("PTL_RELIABILITY_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)


@st.composite
def tables(draw: st.DrawFn, min_rows: int = 2) -> pd.DataFrame:
    """Up to 200 rows: a float column (with nulls), an integer column and a category."""
    rows = draw(st.integers(min_rows, 200))
    floats = draw(st.lists(st.one_of(st.none(), finite), min_size=rows, max_size=rows))
    assume(any(value is not None for value in floats))
    return pd.DataFrame(
        {
            "amount": pd.Series(floats, dtype="float64"),
            "count": draw(st.lists(st.integers(-1000, 1000), min_size=rows, max_size=rows)),
            "kind": draw(
                st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=rows, max_size=rows)
            ),
        }
    )


def _figures(frame: pd.DataFrame, current: pd.DataFrame) -> dict[str, dict[str, float]]:
    result = drift(profile_frame(frame), current)
    return {feature.feature: dict(feature.figures) for feature in result.features}


# -- drift --------------------------------------------------------------------------------


@PROPERTIES
@given(tables())
def test_data_has_no_drift_against_its_own_profile(frame: pd.DataFrame) -> None:
    result = drift(profile_frame(frame), frame)
    assert result.drifted == ()
    for feature in result.features:
        figures = feature.figures
        assert figures["psi"] == 0.0 or abs(figures["psi"]) < 1e-12, feature.feature
        assert figures["js"] < 1e-6, feature.feature
        assert figures["null_rate_current"] == figures["null_rate_reference"]
        if "chi2" in figures:
            assert figures["chi2"] < 1e-9
            assert figures["chi2_pvalue"] > 0.999
            assert figures.get("unseen_share", 0.0) == 0.0
        if "ks" in figures:
            # The reference CDF is known at 101 quantiles: it is off by at most one
            # percentile, or one step of the empirical CDF of these few values.
            values = frame[feature.feature].notna().sum()
            assert figures["ks"] <= max(0.01, 1 / values) + 1e-9, feature.feature


@PROPERTIES
@given(tables(), tables(min_rows=1), st.randoms(use_true_random=False))
def test_drift_figures_do_not_depend_on_row_order(
    reference: pd.DataFrame, current: pd.DataFrame, random: Random
) -> None:
    order = list(range(len(current)))
    random.shuffle(order)
    shuffled = current.iloc[order].reset_index(drop=True)
    plain, reordered = _figures(reference, current), _figures(reference, shuffled)
    assert plain.keys() == reordered.keys()
    for name, figures in plain.items():
        assert figures.keys() == reordered[name].keys()
        for figure, value in figures.items():
            assert math.isclose(value, reordered[name][figure], rel_tol=1e-9, abs_tol=1e-12), (
                name,
                figure,
            )


counts = arrays(np.float64, st.integers(2, 30), elements=st.integers(0, 10_000).map(float))


@PROPERTIES
@given(counts, st.data())
def test_psi_js_and_chi_square_are_symmetric_and_zero_only_on_equal_shares(
    reference: np.ndarray, data: st.DataObject
) -> None:
    current = data.draw(
        arrays(np.float64, reference.size, elements=st.integers(0, 10_000).map(float))
    )
    assume(reference.sum() > 0 and current.sum() > 0)
    psi, js = _psi(reference, current), _js(reference, current)
    assert psi >= 0
    assert 0 <= js <= 1
    assert math.isclose(psi, _psi(current, reference), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(js, _js(current, reference), rel_tol=1e-9, abs_tol=1e-12)
    chi2, pvalue = _chi2(reference, current)
    assert math.isclose(chi2, _chi2(current, reference)[0], rel_tol=1e-9, abs_tol=1e-9)
    assert 0 <= pvalue <= 1
    # Only the shares matter: the same distribution seen ten times over has no drift.
    assert _psi(reference, reference * 10) < 1e-12
    assert _js(reference, reference * 10) < 1e-6
    same = np.allclose(reference / reference.sum(), current / current.sum())
    if not same:
        assert js > 0


# -- the data contract ---------------------------------------------------------------------


@PROPERTIES
@given(tables(min_rows=3), st.data())
def test_any_subset_of_the_rows_meets_the_schema_of_the_whole(
    frame: pd.DataFrame, data: st.DataObject
) -> None:
    profile = profile_frame(frame)
    schema = infer_schema(table_from_frame(frame).schema, profile)
    rows = data.draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, unique=True))
    report = validate_frame(frame.iloc[sorted(rows)].reset_index(drop=True), schema)
    assert report.ok, report.summary()


@PROPERTIES
@given(tables(min_rows=3), st.integers(1, 10**6), st.booleans())
def test_a_value_past_the_observed_range_is_counted_in_its_column(
    frame: pd.DataFrame, beyond: int, above: bool
) -> None:
    schema = infer_schema(table_from_frame(frame).schema, profile_frame(frame))
    changed = frame.copy()
    extreme = changed["count"].max() + beyond if above else changed["count"].min() - beyond
    changed.loc[0, "count"] = extreme
    report = validate_frame(changed, schema)
    found = {(v.column, v.kind): v.count for v in report.violations}
    assert found == {("count", "above_maximum" if above else "below_minimum"): 1}


@PROPERTIES
@given(tables(min_rows=8), st.text(st.characters(codec="utf-8", categories=["L"]), min_size=2))
def test_a_category_never_seen_is_counted_in_its_column(frame: pd.DataFrame, new: str) -> None:
    # With at least twice as many rows as values, the text column is a category.
    schema = infer_schema(table_from_frame(frame).schema, profile_frame(frame))
    assume(new not in set(frame["kind"]))
    changed = frame.copy()
    changed.loc[1, "kind"] = new
    report = validate_frame(changed, schema)
    found = {(v.column, v.kind): v.count for v in report.violations}
    assert found == {("kind", "unseen_category"): 1}
