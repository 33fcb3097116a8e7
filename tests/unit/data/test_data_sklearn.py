"""The whole data path on real public data: scikit-learn's bundled datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

from pathtolive.data import (
    CanonicalTable,
    Profile,
    Schema,
    classify_change,
    compute_profile,
    diff_profiles,
    infer_schema,
    merge_accepting,
    to_canonical_parquet,
    validate,
)


def add(
    frame: pd.DataFrame, work_dir: Path, tags: dict[str, list[str]] | None = None
) -> tuple[CanonicalTable, Profile, Schema]:
    canonical = to_canonical_parquet(frame, work_dir)
    profile = compute_profile(canonical.path, tags=tags)
    schema = infer_schema(canonical.arrow_schema, profile, tags=tags)
    return canonical, profile, schema


def test_wine_is_profiled_like_pandas_describes_it(work_dir: Path) -> None:
    wine = load_wine(as_frame=True).frame

    canonical, profile, schema = add(wine, work_dir, tags={"target": ["target"]})

    assert canonical.rows == profile.rows == 178
    assert schema.column("target").type == "integer"
    assert schema.column("target").tags == ("target",)
    assert {column.type for column in schema.columns[:-1]} == {"float"}
    described = wine.describe()
    for name in wine.columns:
        stats = profile.column(name).numeric
        assert stats is not None
        assert stats.mean == pytest.approx(described[name]["mean"], rel=1e-9)
        assert stats.std == pytest.approx(described[name]["std"], rel=1e-9)
        assert stats.minimum == described[name]["min"]
        assert stats.maximum == described[name]["max"]
        assert stats.quantiles[50] == pytest.approx(described[name]["50%"])
        assert sum(stats.bin_counts) == 178
    assert validate(canonical.path, schema, profile).ok
    assert validate(canonical.path, schema).ok


def test_iris_species_is_a_category_and_unknown_species_are_caught(work_dir: Path) -> None:
    bunch = load_iris(as_frame=True)
    iris = bunch.frame.assign(species=bunch.target_names[bunch.target]).drop(columns="target")
    _, _, schema = add(iris, work_dir)
    assert schema.column("species").categories == ("setosa", "versicolor", "virginica")

    changed = iris.copy()
    changed.loc[[0, 1, 2], "species"] = "unknown"
    changed.loc[10, "petal length (cm)"] = 25.0
    report = validate(to_canonical_parquet(changed, work_dir).path, schema)

    assert [(v.column, v.kind, v.count) for v in report.violations] == [
        ("petal length (cm)", "above_maximum", 1),
        ("species", "unseen_category", 3),
    ]
    assert "e.g. 'unknown'" in report.violations[1].message


def test_breast_cancer_classes_drift_apart(work_dir: Path) -> None:
    cancer = load_breast_cancer(as_frame=True).frame
    shuffled = cancer.sample(frac=1.0, random_state=0)
    first, second = shuffled.iloc[:280], shuffled.iloc[280:]
    malignant, benign = cancer[cancer.target == 0], cancer[cancer.target == 1]

    def psi(old: pd.DataFrame, new: pd.DataFrame) -> float:
        _, old_profile, old_schema = add(old, work_dir)
        _, new_profile, new_schema = add(new, work_dir)
        result = diff_profiles(old_schema, old_profile, new_schema, new_profile)
        column = next(c for c in result.columns if c.column == "mean radius")
        assert column.psi is not None
        return column.psi

    assert psi(first, second) < 0.25
    assert psi(malignant, benign) > 1.0


def test_diabetes_new_version_with_wider_ranges_is_a_compatible_change(work_dir: Path) -> None:
    diabetes = load_diabetes(as_frame=True).frame
    _, _, old_schema = add(diabetes.iloc[:300], work_dir)
    newer = diabetes.iloc[300:].copy()
    newer["bmi"] = newer["bmi"] * 3

    canonical, profile, _ = add(newer, work_dir)
    report = validate(canonical.path, old_schema, profile)
    # Inferred ranges are soft: reported, not refused. A schema stored before ranges had a
    # strength reads as hard, and refuses the same data.
    legacy = Schema.from_dict(
        {
            "columns": [
                {k: v for k, v in c.items() if not k.endswith("_check")}
                for c in old_schema.to_dict()["columns"]
            ]
        }
    )
    hard_report = validate(canonical.path, legacy, profile)
    accepted = merge_accepting(old_schema, canonical.arrow_schema, profile)

    assert report.ok
    assert {v.column for v in report.soft} >= {"bmi"}
    assert not report.hard
    assert not hard_report.ok
    assert {v.column for v in hard_report.hard} >= {"bmi"}
    assert classify_change(old_schema, accepted).kind == "compatible"
    assert validate(canonical.path, accepted, profile).ok
    bmi = accepted.column("bmi")
    assert bmi.maximum == pytest.approx(max(diabetes.bmi.iloc[:300].max(), newer.bmi.max()))
    assert np.isfinite(bmi.minimum if bmi.minimum is not None else np.nan)
