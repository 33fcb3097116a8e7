"""A table stored as Parquet partitions: its profile, merged from per-partition
accumulators here and on a multi-process Dask cluster, equals the single-process profile
of the same rows.

Tolerances: counts, null counts, min and max, histogram and category counts, distinct
counts, datetime bounds, quantiles and equal-mass cuts are exact (the merged sample is the
single pass's sample); mean and standard deviation agree to 1e-9 relative.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_diabetes

from pathtolive.compute import connect
from pathtolive.data.partitions import (
    parquet_partitions,
    partitioned_digest,
    partitions_frame,
    profile_partitions,
    validate_partitions,
)
from pathtolive.data.profiling import compute_profile
from pathtolive.data.schema import infer_schema
from pathtolive.errors import InvalidInputError
from pathtolive.hashing import hash_file

# Uneven partitions, one with a single row: merging must not depend on equal sizes.
_BOUNDS = (0, 120, 121, 300, 442)
_TAGS = {"ssn": ["pii"]}
_SAMPLE = 200  # below the rows, so the sampled positions span partitions


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    data: pd.DataFrame = load_diabetes(as_frame=True, scaled=False).frame
    rng = np.random.default_rng(7)
    data["bp"] = data["bp"].mask(rng.random(len(data)) < 0.05)
    data["band"] = np.where(data["bmi"] > data["bmi"].median(), "high", "low")
    data["ssn"] = [f"{n:09d}" for n in rng.integers(0, 10**9, len(data))]
    data["seen"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(data)), "h")
    return data


@pytest.fixture(scope="module")
def folders(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The rows as one file, and as partitions of a folder."""
    root = tmp_path_factory.mktemp("partitions")
    whole = root / "whole.parquet"
    frame.to_parquet(whole, index=False)
    parts = root / "parts"
    parts.mkdir()
    for number, (start, stop) in enumerate(itertools.pairwise(_BOUNDS)):
        frame.iloc[start:stop].to_parquet(parts / f"part-{number:03d}.parquet", index=False)
    (parts / "_SUCCESS").write_text("")  # bookkeeping, skipped
    return whole, parts


def assert_equal_profiles(single: Any, merged: Any, where: str = "") -> None:
    if isinstance(single, dict):
        assert single.keys() == merged.keys(), where
        for key in single:
            assert_equal_profiles(single[key], merged[key], f"{where}.{key}")
    elif isinstance(single, list):
        assert len(single) == len(merged), where
        for index, (one, other) in enumerate(zip(single, merged, strict=True)):
            assert_equal_profiles(one, other, f"{where}[{index}]")
    elif where.endswith((".mean", ".std")) and single is not None:
        assert math.isclose(single, merged, rel_tol=1e-9), where
    else:
        assert single == merged, where


def test_the_merged_profile_equals_the_single_pass(folders: tuple[Path, Path]) -> None:
    whole, parts = folders
    single = compute_profile(whole, tags=_TAGS, sample_size=_SAMPLE)
    merged = profile_partitions(parquet_partitions(parts), tags=_TAGS, sample_size=_SAMPLE)
    assert [Path(p.path).name for p in merged.partitions] == [
        f"part-{n:03d}.parquet" for n in range(4)
    ]
    assert merged.rows == single.rows
    assert_equal_profiles(single.to_dict(), merged.profile.to_dict())
    assert [p.digest for p in merged.partitions] == [hash_file(p.path) for p in merged.partitions]
    assert merged.digest == partitioned_digest(merged.partitions)


@pytest.mark.subprocess
def test_the_profile_merged_on_a_cluster_equals_the_single_pass(
    folders: tuple[Path, Path], dask_cluster: str
) -> None:
    whole, parts = folders
    single = compute_profile(whole, tags=_TAGS, sample_size=_SAMPLE)
    here = profile_partitions(parquet_partitions(parts), tags=_TAGS, sample_size=_SAMPLE)
    with connect(dask_cluster) as client:
        remote = profile_partitions(
            parquet_partitions(parts), tags=_TAGS, sample_size=_SAMPLE, client=client
        )
        schema = infer_schema(pq.read_schema(whole), single)
        report = validate_partitions(parquet_partitions(parts), schema, client=client)
    assert_equal_profiles(single.to_dict(), remote.profile.to_dict())
    assert remote.digest == here.digest
    assert report.ok
    assert report.rows_checked == single.rows


def test_partitions_read_back_in_order(frame: pd.DataFrame, folders: tuple[Path, Path]) -> None:
    _, parts = folders
    pd.testing.assert_frame_equal(partitions_frame(parquet_partitions(parts)), frame)


def test_a_partition_with_other_columns_is_named(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.iloc[:10].to_parquet(tmp_path / "a.parquet", index=False)
    frame.iloc[10:20].drop(columns=["band"]).to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(InvalidInputError, match=r"partition b\.parquet .*missing \['band'\]"):
        profile_partitions(parquet_partitions(tmp_path))


def test_a_folder_with_other_files_is_refused(tmp_path: Path, frame: pd.DataFrame) -> None:
    frame.iloc[:10].to_parquet(tmp_path / "a.parquet", index=False)
    frame.iloc[:10].to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InvalidInputError, match=r"'b\.csv', which is not a Parquet file"):
        parquet_partitions(tmp_path)


def test_a_partition_with_a_pandas_index_column_is_refused(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    frame.iloc[:10].to_parquet(tmp_path / "a.parquet", index=False)
    frame.iloc[10:20].sample(frac=1.0, random_state=0).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InvalidInputError, match=r"b\.parquet holds a pandas index.*index=False"):
        profile_partitions(parquet_partitions(tmp_path))
