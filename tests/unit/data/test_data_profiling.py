"""Profiling: one streaming pass, statistics that match numpy, new values counted alike."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pathtolive.data import accumulators as accumulators_module
from pathtolive.data import formats as formats_module
from pathtolive.data import profiling as profiling_module
from pathtolive.data.canonical import to_canonical_parquet
from pathtolive.data.profile import QUANTILE_POINTS
from pathtolive.data.profiling import bin_values, category_counts, compute_profile, profile_frame
from pathtolive.errors import InvalidInputError


def parquet_of(frame: pd.DataFrame, path: Path, **options: object) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, **options)
    return path


def test_numeric_statistics_match_numpy(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(10.0, 3.0, 30_000)
    path = parquet_of(pd.DataFrame({"x": values}), tmp_path / "x.parquet", row_group_size=7_000)

    column = compute_profile(path).column("x")

    stats = column.numeric
    assert stats is not None
    assert (column.kind, column.count, column.nulls) == ("float", 30_000, 0)
    assert stats.minimum == values.min()
    assert stats.maximum == values.max()
    assert stats.mean == pytest.approx(values.mean(), rel=1e-12)
    assert stats.std == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert len(stats.bin_edges) == 21
    expected, _ = np.histogram(values, bins=np.asarray(stats.bin_edges))
    assert list(stats.bin_counts) == list(expected)


def test_quantiles_are_exact_when_the_column_fits_the_sample(tmp_path: Path) -> None:
    values = np.random.default_rng(2).exponential(2.0, 5_000)

    stats = profile_frame(pd.DataFrame({"x": values})).column("x").numeric

    assert stats is not None
    assert stats.sample_count == 5_000
    assert len(stats.quantiles) == QUANTILE_POINTS
    expected = np.quantile(values, np.linspace(0, 1, QUANTILE_POINTS))
    assert stats.quantiles == pytest.approx(tuple(expected))


def test_quantiles_come_from_a_bounded_uniform_sample() -> None:
    values = np.random.default_rng(3).uniform(0, 1, 50_000)

    stats = profile_frame(pd.DataFrame({"x": values}), sample_size=5_000).column("x").numeric

    assert stats is not None
    assert stats.sample_count == 5_000
    assert stats.quantiles[50] == pytest.approx(0.5, abs=0.03)
    assert stats.quantiles[90] == pytest.approx(0.9, abs=0.03)


def test_the_pass_does_not_depend_on_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=20_000),
            "n": rng.integers(-5, 1_000, 20_000),
            "s": rng.choice(["a", "b", "c"], 20_000),
        }
    )
    path = parquet_of(frame, tmp_path / "f.parquet")
    whole = compute_profile(path, sample_size=1_000)

    monkeypatch.setattr(formats_module, "BATCH_ROWS", 999)
    batched = compute_profile(path, sample_size=1_000)

    for name in ("x", "n"):
        one, many = whole.column(name).numeric, batched.column(name).numeric
        assert one is not None
        assert many is not None
        assert many.bin_counts == one.bin_counts
        assert many.quantiles == one.quantiles
        assert (many.minimum, many.maximum) == (one.minimum, one.maximum)
        assert many.mean == pytest.approx(one.mean, rel=1e-12, abs=1e-15)
        assert many.std == pytest.approx(one.std, rel=1e-12)
    assert batched.column("s") == whole.column("s")


def test_the_pass_runs_on_one_thread_as_well(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = pd.DataFrame({"x": np.arange(1_000.0), "s": ["a", "b"] * 500})
    threaded = profile_frame(frame)

    monkeypatch.setattr(profiling_module, "_WORKERS", 1)

    assert profile_frame(frame) == threaded


def test_files_without_statistics_get_a_first_pass_for_the_range(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(5).normal(size=5_000)})
    with_stats = parquet_of(frame, tmp_path / "a.parquet")
    without = parquet_of(frame, tmp_path / "b.parquet", write_statistics=False)
    assert not pq.ParquetFile(without).metadata.row_group(0).column(0).is_stats_set

    assert compute_profile(without) == compute_profile(with_stats)


def test_nan_and_infinities_are_counted_apart_from_the_histogram(tmp_path: Path) -> None:
    nan, inf = float("nan"), float("inf")
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"x": pa.array([1.0, nan, inf, -inf, 3.0, None])}), path)

    column = compute_profile(path).column("x")

    stats = column.numeric
    assert stats is not None
    assert (column.nulls, stats.nan_count, stats.inf_count) == (1, 1, 2)
    assert (stats.minimum, stats.maximum) == (1.0, 3.0)
    assert sum(stats.bin_counts) == 2
    json.dumps(column.to_dict(), allow_nan=False)


def test_a_column_without_values() -> None:
    frame = pd.DataFrame({"x": pd.array([None, None], dtype="Float64")})

    column = profile_frame(frame).column("x")

    assert column.nulls == 2
    assert column.numeric is not None
    assert column.numeric.mean is None
    assert column.numeric.bin_edges == ()
    assert column.numeric.quantiles == ()


def test_categories_are_counted_most_frequent_first() -> None:
    frame = pd.DataFrame({"g": ["b", "a", "b", "c", None, "b", "a"]})

    column = profile_frame(frame, max_categories=2).column("g")

    stats = column.categorical
    assert stats is not None
    assert column.kind == "string"
    assert stats.categories == (("b", 3), ("a", 2))
    assert stats.other_count == 1
    assert (stats.distinct, stats.distinct_exact, stats.complete) == (3, True, False)
    assert column.nulls == 1


def test_booleans_are_categorical() -> None:
    stats = profile_frame(pd.DataFrame({"ok": [True, False, True]})).column("ok").categorical

    assert stats is not None
    assert stats.categories == (("true", 2), ("false", 1))


def test_distinct_values_over_the_cap_become_a_lower_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(accumulators_module, "DISTINCT_CAP", 50)
    values = ["common"] * 500 + [f"v{i}" for i in range(200)] + ["common"] * 100
    frame = pd.DataFrame({"s": values})

    stats = profile_frame(frame, max_categories=3).column("s").categorical

    assert stats is not None
    assert not stats.distinct_exact
    assert stats.distinct > 50
    assert stats.categories[0] == ("common", 600)
    assert stats.other_count == len(values) - sum(count for _, count in stats.categories)


def test_datetimes_keep_their_range_in_iso_format() -> None:
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(
                pd.Series(["2024-03-01 12:00:00", None, "2023-01-01 00:00:00.5"]),
                format="ISO8601",
            ),
            "day": [dt.date(2024, 1, 2), dt.date(2020, 5, 6), None],
        }
    )

    profile = profile_frame(frame)

    at = profile.column("at")
    assert at.kind == "datetime"
    assert at.nulls == 1
    assert at.datetime is not None
    assert (at.datetime.minimum, at.datetime.maximum) == (
        "2023-01-01T00:00:00.500000",
        "2024-03-01T12:00:00",
    )
    day = profile.column("day").datetime
    assert day is not None
    assert (day.minimum, day.maximum) == ("2020-05-06", "2024-01-02")


def test_pii_columns_keep_no_values(loans: pd.DataFrame) -> None:
    profile = profile_frame(loans, tags={"loan_id": ["pii"], "income": ["pii"]})

    text = json.dumps(profile.to_dict())
    assert "L00001" not in text
    loan_id = profile.column("loan_id")
    assert loan_id.categorical is not None
    assert loan_id.categorical.categories == ()
    assert loan_id.categorical.distinct == len(loans)
    income = profile.column("income")
    assert (income.numeric, income.count, income.nulls) == (None, len(loans), 0)


def test_a_profile_withholding_columns_is_the_profile_of_those_columns_tagged_pii(
    loans: pd.DataFrame,
) -> None:
    """A column declared PII after its profile was stored is shown exactly as if it had
    been tagged when the data was added."""
    tagged = profile_frame(loans, tags={"loan_id": ["pii"], "income": ["pii"]})
    withheld = profile_frame(loans).withholding({"loan_id", "income", "not_a_column"})

    assert withheld == tagged
    assert profile_frame(loans).withholding(set()) == profile_frame(loans)


def test_id_columns_keep_no_category_frequencies(loans: pd.DataFrame) -> None:
    stats = profile_frame(loans, tags={"loan_id": ["id"]}).column("loan_id").categorical

    assert stats is not None
    assert stats.categories == ()
    assert stats.distinct == len(loans)


def test_tags_must_name_known_tags_and_columns(loans: pd.DataFrame) -> None:
    with pytest.raises(
        InvalidInputError, match=r"unknown tag 'secret'.*target, id, timestamp, pii"
    ):
        profile_frame(loans, tags={"age": ["secret"]})
    with pytest.raises(InvalidInputError, match="cannot tag 'nope': there is no such column"):
        profile_frame(loans, tags={"nope": ["id"]})


def test_settings_must_be_positive(loans: pd.DataFrame) -> None:
    with pytest.raises(InvalidInputError, match="bins must be at least 1, not 0"):
        profile_frame(loans, bins=0)


def test_a_file_and_its_dataframe_give_the_same_profile(
    loans: pd.DataFrame, work_dir: Path
) -> None:
    canonical = to_canonical_parquet(loans, work_dir)

    assert compute_profile(canonical.path) == profile_frame(loans)


def test_a_corrupt_file_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"nope")

    with pytest.raises(InvalidInputError, match="not a readable Parquet file"):
        compute_profile(path)


def test_new_values_are_binned_on_the_stored_edges() -> None:
    column = profile_frame(pd.DataFrame({"x": np.linspace(0.0, 10.0, 101)}), bins=10).column("x")

    counts = bin_values(column, np.array([-5.0, 0.0, 0.5, 9.99, 10.0, 50.0, np.nan, np.inf]))

    # below the first edge → first bin, above the last → last bin, NaN not counted
    assert counts.tolist() == [3, 0, 0, 0, 0, 0, 0, 0, 0, 4]


def test_binning_the_profiled_values_gives_the_profile_counts() -> None:
    values = np.random.default_rng(6).gamma(2.0, 2.0, 10_000)
    column = profile_frame(pd.DataFrame({"x": values})).column("x")

    assert column.numeric is not None
    assert tuple(bin_values(column, values)) == column.numeric.bin_counts


def test_new_values_are_counted_on_the_stored_categories() -> None:
    column = profile_frame(pd.DataFrame({"g": ["a", "a", "b"]})).column("g")

    counts = category_counts(column, ["a", "b", "b", "z", None])

    assert counts.tolist() == [1, 2, 1]  # a, b, then every other value


def test_binning_needs_the_right_kind_of_column(loans: pd.DataFrame) -> None:
    profile = profile_frame(loans)

    with pytest.raises(InvalidInputError, match="column 'grade' has no histogram"):
        bin_values(profile.column("grade"), np.array([1.0]))
    with pytest.raises(InvalidInputError, match="column 'age' has no category frequencies"):
        category_counts(profile.column("age"), ["a"])
