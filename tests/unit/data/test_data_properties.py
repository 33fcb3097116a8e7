"""Properties of inference, validation and profiles over generated tables."""

from __future__ import annotations

import json
import os
from collections import Counter
from random import Random
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pathtolive.data.canonical import to_canonical_parquet
from pathtolive.data.formats import table_from_frame
from pathtolive.data.profile import Profile
from pathtolive.data.profiling import bin_values, compute_profile, profile_frame
from pathtolive.data.schema import Schema, infer_schema
from pathtolive.data.validation import ValidationReport, validate, validate_frame

PROPERTIES = settings(max_examples=int(os.environ.get("PTL_DATA_EXAMPLES", "40")), deadline=None)

integers = st.one_of(st.none(), st.integers(-(2**53), 2**53))
floats = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
texts = st.one_of(
    st.none(), st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=3)
)
booleans = st.one_of(st.none(), st.booleans())
KINDS: dict[str, tuple[st.SearchStrategy[Any], Any]] = {
    "i": (integers, "Int64"),
    "f": (floats, "float64"),
    "s": (texts, object),
    "b": (booleans, "boolean"),
}


@st.composite
def frames(draw: st.DrawFn, min_rows: int = 1) -> pd.DataFrame:
    """A frame with up to four columns of integers, floats, strings and booleans."""
    rows = draw(st.integers(min_rows, 30))
    names = draw(st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4, unique=True))
    data = {}
    for name in names:
        strategy, dtype = KINDS[name]
        values = draw(st.lists(strategy, min_size=rows, max_size=rows))
        data[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


def inferred(frame: pd.DataFrame) -> tuple[Schema, Profile]:
    profile = profile_frame(frame)
    return infer_schema(table_from_frame(frame).schema, profile), profile


def tallies(report: ValidationReport) -> Counter[tuple[str, str, int]]:
    return Counter((v.column, v.kind, v.count) for v in report.violations)


@PROPERTIES
@given(frames())
def test_data_always_meets_the_schema_inferred_from_it(frame: pd.DataFrame) -> None:
    schema, _ = inferred(frame)

    report = validate_frame(frame, schema)

    assert report.ok, report.summary()


@PROPERTIES
@given(frames())
def test_a_file_meets_its_schema_with_and_without_its_profile(
    tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame
) -> None:
    work_dir = tmp_path_factory.mktemp("work")
    canonical = to_canonical_parquet(frame, work_dir)
    profile = compute_profile(canonical.path)
    schema = infer_schema(canonical.arrow_schema, profile)

    assert validate(canonical.path, schema, profile).ok
    assert validate(canonical.path, schema).ok


@PROPERTIES
@given(frames(), frames(), st.randoms(use_true_random=False))
def test_validation_does_not_depend_on_row_order(
    reference: pd.DataFrame, frame: pd.DataFrame, random: Random
) -> None:
    schema, _ = inferred(reference)
    order = list(range(len(frame)))
    random.shuffle(order)
    shuffled = frame.iloc[order].reset_index(drop=True)

    assert tallies(validate_frame(shuffled, schema)) == tallies(validate_frame(frame, schema))


@PROPERTIES
@given(frames())
def test_profile_counts_add_up(frame: pd.DataFrame) -> None:
    profile = profile_frame(frame)

    assert profile.rows == len(frame)
    for column in profile.columns:
        assert column.count == len(frame)
        assert 0 <= column.nulls <= column.count
        if column.numeric is not None:
            stats = column.numeric
            finite = column.non_null - stats.nan_count - stats.inf_count
            assert sum(stats.bin_counts) == finite
            assert stats.sample_count == finite
            if finite:
                assert stats.minimum is not None
                assert stats.maximum is not None
                assert stats.minimum <= stats.maximum
                assert len(stats.bin_edges) == len(stats.bin_counts) + 1
        if column.categorical is not None:
            stats_c = column.categorical
            listed = sum(count for _, count in stats_c.categories)
            assert listed + stats_c.other_count == column.non_null
            assert stats_c.distinct >= len(stats_c.categories)


@PROPERTIES
@given(frames())
def test_profiles_and_schemas_round_trip_through_json(frame: pd.DataFrame) -> None:
    schema, profile = inferred(frame)

    profile_text = json.dumps(profile.to_dict(), allow_nan=False)
    schema_text = json.dumps(schema.to_dict(), allow_nan=False)

    assert Profile.from_dict(json.loads(profile_text)) == profile
    assert Schema.from_dict(json.loads(schema_text)) == schema


@PROPERTIES
@given(st.lists(st.floats(-1e12, 1e12), min_size=1, max_size=200), st.integers(1, 30))
def test_binning_the_data_again_gives_the_profile_histogram(values: list[float], bins: int) -> None:
    column = profile_frame(pd.DataFrame({"x": values}), bins=bins).column("x")

    assert column.numeric is not None
    assert tuple(bin_values(column, np.array(values))) == column.numeric.bin_counts
