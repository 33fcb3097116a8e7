"""The Dataset a pipeline receives: identity, contract, and rows read lazily."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pathtolive.data import Schema
from pathtolive.data.formats import table_from_frame
from pathtolive.errors import InvalidInputError
from pathtolive.pipelines import Dataset, ParquetParts
from pathtolive.store.artifacts.local import LocalArtifactStore
from tests.unit.pipelines.fakes import FolderOpener


def test_a_frame_becomes_a_dataset_with_an_inferred_contract(
    cancer: Dataset, cancer_frame: pd.DataFrame
) -> None:
    assert cancer.ref == "cancer"
    assert cancer.fingerprint == cancer.content_hash
    assert cancer.rows == len(cancer_frame)
    assert cancer.target == "target"
    assert len(cancer.feature_columns) == 30
    assert "target" not in cancer.feature_columns
    pd.testing.assert_frame_equal(cancer.X, cancer_frame.drop(columns=["target"]))
    pd.testing.assert_series_equal(cancer.y, cancer_frame["target"])


def test_the_same_frame_gets_the_same_fingerprint(cancer_frame: pd.DataFrame) -> None:
    first = Dataset.from_frame(cancer_frame, name="cancer")
    again = Dataset.from_frame(cancer_frame.copy(), name="cancer")
    other = Dataset.from_frame(cancer_frame.iloc[:-1], name="cancer")

    assert again.content_hash == first.content_hash
    assert again == first
    assert hash(again) == hash(first)
    assert other.content_hash != first.content_hash
    assert other != first


def _spy(frame: pd.DataFrame, calls: list[list[str] | None]) -> Dataset:
    def load(columns: Sequence[str] | None) -> pd.DataFrame:
        calls.append(None if columns is None else list(columns))
        chosen = frame if columns is None else frame[list(columns)]
        # Loaders may hand back any index: the dataset makes it row positions.
        return chosen.set_axis(range(100, 100 + len(chosen)))

    schema = Dataset.from_frame(frame, tags={"id": ["id"], "label": ["target"]}).schema
    return Dataset(name="loans", version=2, content_hash="a" * 64, schema=schema, loader=load)


def test_rows_are_read_lazily_and_only_the_columns_asked_for() -> None:
    frame = pd.DataFrame({"id": [7, 8, 9], "income": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    calls: list[list[str] | None] = []
    loans = _spy(frame, calls)

    assert loans.ref == "loans@2"
    assert loans.feature_columns == ("income",)
    assert loans.id_columns == ("id",)
    assert calls == []
    income = loans.to_pandas(["income"])
    assert calls == [["income"]]
    assert isinstance(income.index, pd.RangeIndex)
    assert income.index[0] == 0

    full = loans.df
    loans.df  # noqa: B018 - read again: must not load again
    loans.X  # noqa: B018 - served from the frame already read
    assert calls == [["income"], None]
    pd.testing.assert_frame_equal(full, frame)


def test_changing_the_frame_a_step_got_does_not_change_the_dataset() -> None:
    frame = pd.DataFrame({"id": [7, 8], "income": [1.0, 2.0], "label": [0, 1]})
    loans = _spy(frame, [])

    mine = loans.df
    mine["income"] = mine["income"] * 100
    mine["extra"] = 1
    mine.loc[0, "label"] = 5

    pd.testing.assert_frame_equal(loans.df, frame)


def test_a_dataset_cannot_be_changed() -> None:
    loans = _spy(pd.DataFrame({"id": [1], "income": [1.0], "label": [0]}), [])

    with pytest.raises(AttributeError, match="cannot be changed"):
        loans.content_hash = "b" * 64
    assert isinstance(loans.schema, Schema)


def test_asking_for_what_is_not_there_says_what_is() -> None:
    no_target = Dataset.from_frame(pd.DataFrame({"a": [1, 2]}), name="plain")

    with pytest.raises(
        InvalidInputError, match="dataset plain has no column 'b'; its columns are a"
    ):
        no_target.to_pandas(["b"])
    with pytest.raises(InvalidInputError, match="no column tagged 'target'"):
        no_target.y  # noqa: B018
    assert no_target.target is None


def test_ddf_reads_the_stored_objects_lazily_as_the_frame_df_reads(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "garage": ["a", "b", None, "d"],
            "inspections": [3, 1, 4, 1],
            "risk": [0.5, float("nan"), 0.25, 1.0],
            "opened": pd.to_datetime(["2020-01-01", "2021-06-30", "2022-02-02", "2023-12-31"]),
        }
    )
    store = LocalArtifactStore(tmp_path / "objects")
    halves = [frame.iloc[:3], frame.iloc[3:]]
    digests = []
    for half in halves:
        buffer = io.BytesIO()
        pq.write_table(table_from_frame(half), buffer)
        digests.append(store.put_bytes(buffer.getvalue()).digest)
    reads: list[bool] = []
    source = Dataset.from_frame(frame, name="garages")
    stored = Dataset(
        name="garages",
        version=1,
        content_hash=digests[0],
        schema=source.schema,
        loader=lambda columns: pytest.fail("ddf reads through its parts"),
        parts=ParquetParts(FolderOpener(tmp_path / "objects"), (digests[0],)),
        on_read=lambda: reads.append(True),
    )

    # One object, as every version today: the same frame as df, index and dtypes too.
    pd.testing.assert_frame_equal(stored.ddf.compute(), frame.iloc[:3])
    assert reads  # reading rows is reported to the owner (the service audits it)
    # Several objects: a partition each, in order; only the columns used are read.
    parts = ParquetParts(FolderOpener(tmp_path / "objects"), tuple(digests))
    lazy = parts.to_dask()
    assert lazy.npartitions == 2
    pd.testing.assert_frame_equal(lazy.compute().reset_index(drop=True), parts.read())
    pd.testing.assert_frame_equal(parts.read(), frame)
    assert list(lazy[["risk"]].compute().columns) == ["risk"]
    # A frame never stored is one partition of itself.
    pd.testing.assert_frame_equal(source.ddf.compute(), source.df)
