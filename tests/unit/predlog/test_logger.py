"""The prediction logger: never blocks, never loses a row without counting it, and writes
every row it took to a segment."""

from __future__ import annotations

import io
import json
import logging
import random
import threading
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from blake3 import blake3

from pathtolive.predlog import LoggerStats, PredictionLogger, read_predictions
from tests.unit.predlog.helpers import T0, CollectingSink, loans, record


def test_records_logged_from_many_threads_are_all_written() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, flush_seconds=0.001, segment_rows=50)
    logger.start()
    threads = 8
    per_thread = 150
    barrier = threading.Barrier(threads)
    expected: set[tuple[str, int]] = set()
    for worker in range(threads):
        for n in range(per_thread):
            expected.update((f"w{worker}-{n}", row) for row in range(1 + n % 3))

    def work(worker: int) -> None:
        barrier.wait()
        for n in range(per_thread):
            assert logger.log(record(f"w{worker}-{n}", 1 + n % 3, version=1 + worker % 2))

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    logger.close()

    stats = logger.stats
    assert stats.logged_rows == stats.written_rows == len(expected)
    assert (stats.dropped_rows, stats.sampled_out, stats.write_errors) == (0, 0, 0)
    assert stats.buffered_rows == 0
    assert stats.segments == len(sink.segments)
    assert sink.rows == len(expected)
    frame = sink.frame()
    assert set(zip(frame["request_id"], frame["row"], strict=True)) == expected
    assert len(frame) == len(expected)
    # Segments are per version: every request's rows are in its own version's segments.
    for segment in sink.segments:
        part = read_predictions([segment.parquet])
        workers = part["request_id"].str.extract(r"w(\d+)-")[0].astype(int)
        assert set(1 + workers % 2) == {segment.version}


def test_a_full_buffer_drops_exactly_the_records_that_do_not_fit() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, buffer_rows=10)
    accepted = [logger.log(record(f"r{n}", 3)) for n in range(4)]
    assert accepted == [True, True, True, False]
    assert logger.log(record("one", 1))  # the tenth row still fits
    assert not logger.log(record("two", 1))
    assert logger.stats == LoggerStats(logged_rows=10, dropped_rows=4, buffered_rows=10)
    assert sink.calls == 0  # log() never writes

    assert logger.flush() == 10
    frame = sink.frame()
    assert sorted(set(frame["request_id"])) == ["one", "r0", "r1", "r2"]
    # Room again once flushed.
    assert logger.log(record("r9", 3))
    logger.close()
    assert logger.stats.written_rows == 13
    assert logger.stats.dropped_rows == 4


def test_probability_matrices_are_all_written_in_order_and_counted_when_dropped() -> None:
    # Serving hands the log each request's probabilities as one float matrix.
    sink = CollectingSink()
    logger = PredictionLogger(sink, buffer_rows=40, segment_rows=16, flush_seconds=60)
    sizes = [7, 1, 12, 5, 9, 3, 8]  # 45 rows: the last request does not fit
    matrices = [np.full((rows, 2), (n, 1 - n / 10)) for n, rows in enumerate(sizes)]
    taken = [
        logger.log(record(f"r{n}", rows, outputs=matrix))  # type: ignore[arg-type]
        for n, (rows, matrix) in enumerate(zip(sizes, matrices, strict=True))
    ]
    assert taken == [True] * 6 + [False]
    assert logger.stats.dropped_rows == 8
    logger.close()
    assert logger.stats.written_rows == 37
    assert len(sink.segments) > 1  # several segments, read back in the order written
    frame = sink.frame()
    kept = range(6)
    assert frame["request_id"].tolist() == [f"r{n}" for n in kept for _ in range(sizes[n])]
    assert frame["row"].tolist() == [row for n in kept for row in range(sizes[n])]
    assert [json.loads(text) for text in frame["output"]] == [
        row for n in kept for row in matrices[n].tolist()
    ]


def test_a_sink_that_fails_once_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    sink = CollectingSink(failures=1)
    logger = PredictionLogger(sink)
    for n in range(5):
        logger.log(record(f"r{n}", 2, at=T0 + timedelta(seconds=n)))
    with caplog.at_level(logging.ERROR, logger="pathtolive.predlog.logger"):
        assert logger.flush() == 0
    assert "risk@1" in caplog.text
    assert "disk full" in caplog.text
    assert logger.stats.write_errors == 1
    assert logger.stats.buffered_rows == 10
    logger.log(record("late", 1, at=T0 + timedelta(seconds=9)))

    assert logger.flush() == 11
    logger.close()
    stats = logger.stats
    assert (stats.written_rows, stats.dropped_rows, stats.write_errors) == (11, 0, 1)
    frame = sink.frame()
    assert list(frame["request_id"]) == [f"r{n}" for n in range(5) for _ in range(2)] + ["late"]
    assert sink.segments[0].first_at == T0
    assert sink.segments[0].last_at == T0 + timedelta(seconds=9)


def test_rows_kept_after_a_failure_stay_within_the_bound_and_the_rest_is_counted() -> None:
    logger: PredictionLogger

    def log_while_writing() -> None:
        # The event loop keeps logging while the writer is busy failing.
        for n in range(4):
            assert logger.log(record(f"new{n}", 2))

    sink = CollectingSink(failures=1, during_write=log_while_writing)
    logger = PredictionLogger(sink, buffer_rows=10)
    for n in range(4):
        assert logger.log(record(f"old{n}", 2))
    assert logger.flush() == 0
    # 8 failed rows + 8 new ones > 10: the three oldest records (6 rows) are dropped.
    assert logger.stats.dropped_rows == 6
    assert logger.stats.buffered_rows == 10
    sink.during_write = None
    logger.close()
    stats = logger.stats
    offered = 16
    assert stats.written_rows + stats.dropped_rows == offered
    assert sorted(set(sink.frame()["request_id"])) == [
        "new0",
        "new1",
        "new2",
        "new3",
        "old3",
    ]


def test_close_flushes_everything_then_refuses_records() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, flush_seconds=3600)
    logger.start()
    for n in range(7):
        assert logger.log(record(f"r{n}", 2))
    logger.close()
    assert sink.rows == 14
    assert logger.stats.written_rows == 14
    assert not logger.log(record("after", 1))
    assert logger.stats.dropped_rows == 1
    logger.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        logger.start()


def test_close_counts_rows_a_failing_sink_never_took(caplog: pytest.LogCaptureFixture) -> None:
    sink = CollectingSink(failures=10**6)
    logger = PredictionLogger(sink, flush_seconds=3600)
    logger.start()
    for n in range(3):
        logger.log(record(f"r{n}", 2))
    with caplog.at_level(logging.ERROR, logger="pathtolive.predlog.logger"):
        logger.close()
    stats = logger.stats
    assert (stats.written_rows, stats.dropped_rows, stats.buffered_rows) == (0, 6, 0)
    assert stats.write_errors >= 1
    assert "6 rows dropped at close" in caplog.text


def test_reaching_segment_rows_wakes_the_writer() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, flush_seconds=3600, segment_rows=5)
    logger.start()
    logger.log(record("a", 2))
    logger.log(record("b", 3))
    assert sink.written.wait(30), "the writer did not wake up at segment_rows"
    assert sink.rows == 5
    logger.close()


def test_segments_hold_at_most_segment_rows_of_whole_requests() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, segment_rows=4)
    for n in range(5):
        logger.log(record(f"r{n}", 3))
    logger.log(record("other", 1, model="churn"))
    logger.flush()
    sizes = [(s.model, s.rows) for s in sink.segments]
    assert sizes == [("risk", 3)] * 5 + [("churn", 1)]


def test_pii_columns_are_hashed_with_the_salt() -> None:
    sink = CollectingSink()
    salt = b"pepper"
    inputs = loans(3)
    inputs.loc[2, "email"] = None
    logger = PredictionLogger(sink, salt=salt, pii_columns={("risk", 1): ["email"]})
    logger.log(record("a", inputs=inputs))
    logger.log(record("b", inputs=loans(1)))
    logger.log(record("c", inputs=loans(1), version=2))  # not PII in version 2
    logger.close()
    frame = sink.frame()

    def hashed(value: str) -> str:
        return blake3(salt + value.encode()).hexdigest()[:16]

    first = frame[frame["request_id"] == "a"]["input.email"].tolist()
    assert first[:2] == [hashed("user0@example.com"), hashed("user1@example.com")]
    assert pd.isna(first[2])
    assert frame[frame["request_id"] == "b"]["input.email"].tolist() == [
        hashed("user0@example.com")
    ]
    assert frame[frame["request_id"] == "c"]["input.email"].tolist() == ["user0@example.com"]
    assert frame["input.amount"].tolist()[:3] == [1000.0, 1012.5, 1025.0]


def test_pii_columns_are_redacted_and_can_come_from_a_function_or_set_pii() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, pii_mode="redact", pii_columns=lambda model, version: ["email"])
    logger.set_pii("risk", 1, ["purpose"])
    logger.log(record("a", 4))
    logger.close()
    table = pq.read_table(io.BytesIO(sink.segments[0].parquet))
    for column in ("input.email", "input.purpose"):
        assert table.schema.field(column).type == pa.string()
        assert table.column(column).null_count == 4
    assert table.column("input.term").to_pylist() == [12, 24, 36, 48]


def test_sampling_keeps_a_share_of_requests_and_counts_the_rest() -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink, sample=0.3, rng=random.Random(7))
    kept = [logger.log(record(f"r{n}", 2)) for n in range(500)]
    assert all(kept)  # sampled out is not dropped
    draws = random.Random(7)
    expected = sum(2 for _ in range(500) if draws.random() < 0.3)
    stats = logger.stats
    assert stats.logged_rows == expected
    assert stats.sampled_out == 1000 - expected
    assert stats.dropped_rows == 0
    logger.close()
    assert sink.rows == expected

    nothing = PredictionLogger(CollectingSink(), sample=0.0)
    nothing.log(record("x", 3))
    assert nothing.stats.sampled_out == 3
    assert nothing.stats.logged_rows == 0
    nothing.close()


def test_records_must_have_one_output_per_row() -> None:
    logger = PredictionLogger(CollectingSink())
    with pytest.raises(ValueError, match="2 outputs for 3 rows"):
        logger.log(record("bad", 3, outputs=[1, 2]))
    assert logger.log(record("empty", inputs=loans(0), outputs=[]))
    assert logger.stats == LoggerStats()
    logger.close()


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="sample"):
        PredictionLogger(CollectingSink(), sample=1.5)
    with pytest.raises(ValueError, match="buffer_rows"):
        PredictionLogger(CollectingSink(), buffer_rows=0)
    with pytest.raises(ValueError, match="pii_mode"):
        PredictionLogger(CollectingSink(), pii_mode="drop")  # type: ignore[arg-type]


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for this value")


def test_a_record_that_cannot_be_encoded_is_dropped_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = CollectingSink()
    logger = PredictionLogger(sink)
    logger.log(record("good1", 2))
    logger.log(record("bad", inputs=pd.DataFrame({"x": [Unprintable(), 1]}), outputs=[1, 2]))
    logger.log(record("good2", 1))
    with caplog.at_level(logging.ERROR, logger="pathtolive.predlog.logger"):
        assert logger.flush() == 3
    assert "request bad to risk@1 cannot be encoded" in caplog.text
    logger.close()
    stats = logger.stats
    assert (stats.written_rows, stats.dropped_rows, stats.write_errors) == (3, 2, 0)
    assert sorted(set(sink.frame()["request_id"])) == ["good1", "good2"]
