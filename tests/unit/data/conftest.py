"""Fixtures for the data package: a work folder and small hand-made tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    """Where canonical Parquet files are written."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def loans() -> pd.DataFrame:
    """A small loans table with one column of each kind."""
    rng = np.random.default_rng(7)
    rows = 200
    return pd.DataFrame(
        {
            "loan_id": [f"L{i:05d}" for i in range(rows)],
            "age": rng.integers(18, 86, rows),
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "grade": rng.choice(["A", "B", "C", "D"], rows),
            "approved": rng.random(rows) > 0.4,
            "applied_at": pd.date_range("2024-01-01", periods=rows, freq="h"),
        }
    )
