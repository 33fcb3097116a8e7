"""Diffs of two dataset versions from their schemas and profiles."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pathtolive.data.diff import DatasetDiff, diff_profiles, population_stability_index
from pathtolive.data.formats import table_from_frame
from pathtolive.data.profile import Profile
from pathtolive.data.profiling import bin_values, profile_frame
from pathtolive.data.schema import Schema, infer_schema


def version(frame: pd.DataFrame) -> tuple[Schema, Profile]:
    profile = profile_frame(frame)
    return infer_schema(table_from_frame(frame).schema, profile), profile


def diff(old: pd.DataFrame, new: pd.DataFrame) -> DatasetDiff:
    return diff_profiles(*version(old), *version(new))


def test_population_stability_index() -> None:
    assert population_stability_index([10, 20, 30], [1, 2, 3]) == 0.0
    shifted = population_stability_index([50, 50], [90, 10])
    assert shifted == pytest.approx(0.4 * np.log(0.9 / 0.5) - 0.4 * np.log(0.1 / 0.5))
    assert np.isfinite(population_stability_index([100, 0], [0, 100]))
    assert population_stability_index([0, 0], [1, 2]) == 0.0


def test_an_unchanged_version_only_reports_its_rows(loans: pd.DataFrame) -> None:
    result = diff(loans, loans)

    assert result.lines() == ["rows: 200 → 200 (+0.0%)"]
    assert all(column.psi == 0.0 for column in result.columns if column.psi is not None)
    income = next(column for column in result.columns if column.column == "income")
    assert income.psi_method == "same_bins"


def test_a_shifted_numeric_column_is_rebinned_onto_the_old_edges() -> None:
    rng = np.random.default_rng(8)
    old = pd.DataFrame({"x": rng.normal(0.0, 1.0, 20_000)})
    new_values = rng.normal(0.7, 1.0, 20_000)
    new = pd.DataFrame({"x": new_values})

    column = diff(old, new).columns[0]

    assert column.psi_method == "rebinned"
    old_profile = profile_frame(old).column("x")
    assert old_profile.numeric is not None
    exact = population_stability_index(
        old_profile.numeric.bin_counts, bin_values(old_profile, new_values)
    )
    assert column.psi == pytest.approx(exact, rel=0.1)
    assert column.psi is not None
    assert column.psi > 0.25
    assert column.mean_after == pytest.approx(0.7, abs=0.05)


def test_columns_added_removed_and_retyped() -> None:
    old = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [1, 2]})
    new = pd.DataFrame({"a": [1.5, 2.5], "b": [1, 2], "d": [0, 1]})

    result = diff(old, new)

    assert result.added_columns == ("d",)
    assert result.removed_columns == ("c",)
    assert [(t.column, t.before, t.after) for t in result.type_changes] == [
        ("a", "integer", "float"),
        ("b", "string", "integer"),
    ]
    assert [column.column for column in result.columns] == ["a"]  # numeric to numeric only
    lines = result.lines()
    assert "added column: d" in lines
    assert "removed column: c" in lines
    assert "type changed: b string → integer" in lines


def test_categories_that_appear_vanish_and_shift() -> None:
    old = pd.DataFrame({"g": ["a"] * 60 + ["b"] * 30 + ["c"] * 10})
    new = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 30 + ["d"] * 40})

    column = diff(old, new).columns[0]

    assert column.new_categories == ("d",)
    assert column.vanished_categories == ("c",)
    assert column.shifts[0].value == "d"
    assert (column.shifts[0].share_before, column.shifts[0].share_after) == (0.0, 0.4)
    assert column.psi_method == "categories"
    assert column.psi is not None
    assert column.psi > 1.0
    line = column.line()
    assert line.startswith("g: new categories 'd'; vanished 'c'; largest shifts 'd' 0.0% → 40.0%")


def test_null_rates_and_ranges_are_compared() -> None:
    old = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    new = pd.DataFrame({"x": [1.0, None, 3.0, 9.0]})

    line = diff(old, new).columns[0].line()

    assert "nulls 0.0% → 25.0%" in line
    assert "max 4 → 9" in line


def test_diffs_round_trip_through_json(loans: pd.DataFrame) -> None:
    changed = loans.assign(age=loans.age + 5, grade=loans.grade.replace("D", "E"))
    result = diff(loans, changed)

    text = json.dumps(result.to_dict(), allow_nan=False)

    assert DatasetDiff.from_dict(json.loads(text)) == result


def test_identifier_columns_are_not_compared() -> None:
    rng = np.random.default_rng(3)
    old = pd.DataFrame({"loan_id": np.arange(5_000), "x": rng.normal(0.0, 1.0, 5_000)})
    new = pd.DataFrame({"loan_id": np.arange(5_000) + 100_000, "x": rng.normal(0.5, 1.0, 5_000)})
    tagged = {"loan_id": ["id"]}  # as `data add` tags it, by its name
    before, after = profile_frame(old), profile_frame(new)
    result = diff_profiles(
        infer_schema(table_from_frame(old).schema, before, tags=tagged),
        before,
        infer_schema(table_from_frame(new).schema, after, tags=tagged),
        after,
    )
    # New ids every batch: nothing to compare.
    assert [column.column for column in result.columns] == ["x"]
    assert not any(line.startswith("loan_id") for line in result.lines())
    assert result.columns[0].psi is not None
    assert result.columns[0].psi > 0.1


def _zero_inflated_loans(rows: int, seed: int) -> pd.DataFrame:
    """Loans with a mostly-zero amount (delinquencies) and two integer columns: one of
    few values (a bin each) and one of many (equal-mass bins)."""
    rng = np.random.default_rng(seed)
    owed = rng.lognormal(6, 1.5, rows).round(0)
    return pd.DataFrame(
        {
            "delinq_amnt": np.where(rng.random(rows) < 0.97, 0.0, owed),
            "inquiries": rng.poisson(1.2, rows),
            "age": rng.integers(21, 80, rows),
            "income": rng.lognormal(10.8, 0.5, rows),
        }
    )


def test_a_version_counted_on_its_parents_bins_gives_the_psi_monitor_gives() -> None:
    from pathtolive.monitoring.drift import drift

    first, second = _zero_inflated_loans(4_000, 1), _zero_inflated_loans(3_000, 2)
    old_schema, old_profile = version(first)
    new_profile = profile_frame(second, parent=(1, old_profile))
    new_schema = infer_schema(table_from_frame(second).schema, new_profile)
    assert new_profile.counted_on == 1

    counted = diff_profiles(old_schema, old_profile, new_schema, new_profile, counted_on_old=True)
    monitored = drift(old_profile, second)
    rebinned = diff_profiles(old_schema, old_profile, new_schema, new_profile)

    for name in ("delinq_amnt", "inquiries", "age", "income"):
        column = next(c for c in counted.columns if c.column == name)
        assert column.psi_method == "parent_bins"
        assert column.psi == pytest.approx(monitored.feature(name).figures["psi"], abs=1e-9)
    # Without the counts the diff falls back to rebinning the histograms, and says so; for
    # the zero-inflated column that overstates the move.
    fallback = next(c for c in rebinned.columns if c.column == "delinq_amnt")
    assert fallback.psi_method == "rebinned"
    exact = next(c for c in counted.columns if c.column == "delinq_amnt")
    assert exact.psi is not None
    assert exact.psi < 0.1
    assert "approximate" in (fallback.line() or "PSI (approximate: rebinned)")


def test_columns_are_listed_by_how_much_they_moved_and_years_read_as_years() -> None:
    rng = np.random.default_rng(3)
    rows = 500
    first = pd.DataFrame(
        {
            "a_calm": rng.normal(0, 1, rows),
            "b_moved": rng.normal(0, 1, rows),
            "issue_year": rng.integers(2015, 2019, rows),
            "amount": rng.integers(10_000, 90_000, rows),
        }
    )
    second = first.assign(
        b_moved=first["b_moved"] + 2,
        a_calm=first["a_calm"] * 1.01,
        issue_year=first["issue_year"] + 2,
        amount=first["amount"] + 1_000,
    )

    result = diff(first, second)
    lines = result.lines()
    order = [line.split(":")[0] for line in lines[1:]]

    assert [c.column for c in result.ranked() if c.line()] == order
    movements = [c.movement for c in result.ranked()]
    assert movements == sorted(movements, reverse=True)
    assert order.index("b_moved") < order.index("a_calm")
    year = next(line for line in lines if line.startswith("issue_year"))
    assert "min 2015 → 2017" in year
    assert "2,0" not in year
    amount = next(line for line in lines if line.startswith("amount"))
    low = int(first["amount"].min())
    assert f"min {low:,} → {low + 1_000:,}" in amount  # an amount keeps its separator
