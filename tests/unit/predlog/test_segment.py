"""Prediction-log segments: the documented columns and types, and segments of different
shapes read back together."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pathtolive.predlog import encode_segment, read_predictions
from tests.unit.predlog.helpers import T0, loans, record


def test_the_segment_has_the_documented_columns_and_types() -> None:
    inputs = pd.DataFrame(
        {
            "amount": [1.5, 2.5, None],
            "term": pd.array([12, None, 36], dtype="Int64"),
            "purpose": pd.Categorical(["car", "home", "car"]),
            "urgent": [True, False, True],
            "opened": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
        }
    )
    outputs: list[Any] = [np.array([0.1, 0.9]), "home", np.int64(1)]
    regression = record("reg", inputs=inputs.iloc[:2], outputs=[3.25, np.float64(4.5)])
    data = encode_segment([record("cls", inputs=inputs, outputs=outputs), regression])
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.names == [
        "request_id",
        "row",
        "at",
        "protocol",
        "role",
        "latency_ms",
        "trained_on",
        "input.amount",
        "input.term",
        "input.purpose",
        "input.urgent",
        "input.opened",
        "output",
        "prediction",
        "label",
    ]
    types = {f.name: f.type for f in table.schema}
    assert types["request_id"] == pa.string()
    assert types["row"] == pa.int32()
    assert types["at"] == pa.timestamp("us", tz="UTC")
    assert types["latency_ms"] == pa.float64()
    assert types["trained_on"] == pa.string()
    assert types["input.amount"] == pa.float64()
    assert types["input.term"] == pa.int64()
    assert types["input.purpose"] == pa.string()
    assert types["input.urgent"] == pa.bool_()
    assert pa.types.is_timestamp(types["input.opened"])
    assert (types["output"], types["prediction"], types["label"]) == (
        pa.string(),
        pa.float64(),
        pa.string(),
    )
    assert pq.read_metadata(io.BytesIO(data)).row_group(0).column(0).compression == "ZSTD"

    frame = read_predictions([data])
    assert frame["row"].tolist() == [0, 1, 2, 0, 1]
    assert frame["trained_on"].unique().tolist() == ["loans@3,regions@1"]
    assert (frame["at"] == pd.Timestamp(T0)).all()
    assert frame["output"].tolist() == ["[0.1, 0.9]", '"home"', "1", "3.25", "4.5"]
    assert frame["prediction"].tolist()[0] == 0.9
    assert pd.isna(frame["prediction"].tolist()[1])
    assert frame["prediction"].tolist()[2:] == [1.0, 3.25, 4.5]
    labels = frame["label"].tolist()
    assert labels[1:3] == ["home", "1"]
    assert all(pd.isna(label) for label in (labels[0], labels[3], labels[4]))
    assert frame["input.term"].isna().tolist() == [False, True, False, False, True]


def test_segments_with_different_columns_and_types_read_back_together() -> None:
    as_int = record("a", inputs=pd.DataFrame({"x": [1, 2]}))
    as_float = record("b", inputs=pd.DataFrame({"x": [0.5], "y": ["new"]}))
    as_text = record("c", inputs=pd.DataFrame({"x": ["seven"]}))
    segments = [encode_segment([r]) for r in (as_int, as_float, as_text)]
    frame = read_predictions(segments[:2])
    assert frame["input.x"].tolist() == [1.0, 2.0, 0.5]
    assert frame["input.y"].isna().tolist() == [True, True, False]
    mixed = read_predictions(segments)
    assert mixed["input.x"].tolist() == ["1", "2", "0.5", "seven"]

    empty = read_predictions([])
    assert list(empty.columns)[:3] == ["request_id", "row", "at"]
    assert len(empty) == 0


def test_probability_rows_read_as_one_call_per_row_would_write_them() -> None:
    from pathtolive.predlog.segment import _row_texts

    rng = np.random.default_rng(0)
    for matrix in (
        rng.random((1000, 3)),
        rng.random((4321, 2)),  # written in several pieces
        np.array([[1.0, 2.0]]),
        np.zeros((0, 2)),
        np.array([[1e300, -0.0], [5e-324, 3.0]]),
        rng.normal(size=(7, 1)),
    ):
        texts = _row_texts(matrix)
        texts.validate(full=True)
        assert len(texts) == len(matrix)
        assert texts.to_pylist() == [
            orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY).decode() for row in matrix
        ]


def test_measurements_and_unique_columns_are_not_dictionary_encoded() -> None:
    from pathtolive.data.formats import dictionary_columns

    schema = pa.schema(
        [("request_id", pa.string()), ("region", pa.string()), ("age", pa.int64()),
         ("income", pa.float64()), ("share", pa.float32()), ("member", pa.bool_())]
    )  # fmt: skip
    assert dictionary_columns(schema, unique=("request_id",)) == ["region", "age", "member"]


def test_probability_matrices_give_the_segment_lists_of_rows_give() -> None:
    rng = np.random.default_rng(1)
    sizes = [3, 1, 5, 2]
    matrices = [rng.random((rows, 2)) for rows in sizes]
    as_lists = [
        record(f"r{n}", rows, outputs=matrix.tolist())
        for n, (rows, matrix) in enumerate(zip(sizes, matrices, strict=True))
    ]
    as_matrices = [
        record(f"r{n}", rows, outputs=matrix)  # type: ignore[arg-type]
        for n, (rows, matrix) in enumerate(zip(sizes, matrices, strict=True))
    ]
    mixed = [as_matrices[0], as_lists[1], as_matrices[2], as_lists[3]]
    expected = pq.read_table(io.BytesIO(encode_segment(as_lists)))
    for records in (as_matrices, mixed):
        assert pq.read_table(io.BytesIO(encode_segment(records))).equals(expected)
    frame = read_predictions([encode_segment(as_matrices)])
    assert frame["request_id"].tolist() == [
        f"r{n}" for n, rows in enumerate(sizes) for _ in range(rows)
    ]
    assert frame["row"].tolist() == [row for rows in sizes for row in range(rows)]
    assert np.allclose(frame["prediction"], np.concatenate(matrices)[:, 1])


def test_requests_of_shared_batch_frames_are_logged_with_their_own_rows() -> None:
    from dataclasses import replace

    first, second = loans(6), loans(5, start=100)  # the frames of two predict calls
    spans = [(first, 0, 2), (second, 0, 3), (first, 2, 3), (first, 3, 6), (second, 3, 5)]
    records = [
        replace(record(f"r{n}", stop - start), inputs=frame, span=(start, stop))
        for n, (frame, start, stop) in enumerate(spans)
    ]
    assert [r.rows for r in records] == [2, 3, 1, 3, 2]
    own = [replace(record(f"r{n}", r.rows), inputs=r.frame()) for n, r in enumerate(records)]
    expected = pq.read_table(io.BytesIO(encode_segment(own)))
    assert pq.read_table(io.BytesIO(encode_segment(records))).equals(expected)
    logged = read_predictions([encode_segment(records)])
    assert logged["input.amount"].tolist() == [
        amount for frame, start, stop in spans for amount in frame["amount"][start:stop]
    ]
