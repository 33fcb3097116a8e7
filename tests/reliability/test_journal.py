"""The prediction log's crash journal: what a killed process logged is replayed at the
next start, exactly once, with the types and hashes a normal flush would have written.

The end-to-end version (a real server killed with SIGKILL under load) is in
test_crash_serving.py; these tests kill small logger processes, which is quick."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pathtolive.predlog import (
    JOURNAL_SUFFIX,
    PredictionLogger,
    PredictionRecord,
    encode_segment,
    read_predictions,
)
from pathtolive.registry.batch import to_frame
from pathtolive.registry.signature import FieldSpec, OutputSpec, Signature
from pathtolive.registry.validation import validate_columns
from tests.reliability.checks import report_figures

T0 = datetime(2026, 3, 4, 5, 6, 7, 891_011, tzinfo=UTC)


class DirectorySink:
    """Keeps each segment as a file; what the log holds is read back from them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, model: str, version: int, parquet: bytes, *_: object) -> None:
        name = f"{time.time_ns()}-{model}-{version}.parquet"
        (self.folder / name).write_bytes(parquet)

    def segments(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted(self.folder.iterdir())]

    def frame(self) -> pd.DataFrame:
        return read_predictions(self.segments())

    def logged(self, model: str, version: int, first: datetime, last: datetime) -> pd.DataFrame:
        return self.frame()


class FailingSink:
    def write(self, *_: object) -> None:
        raise OSError("the store is down")


def journal_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{JOURNAL_SUFFIX}"))


# -- the replayed segment is the segment a flush writes ------------------------------------

KINDS = ("integer", "float", "boolean", "string", "category", "datetime")
CATEGORIES = ("NE", "NW", "SE", "SW")


def _values(kind: str, aware: bool) -> st.SearchStrategy[Any]:
    if kind == "integer":
        return st.integers(-(2**63), 2**63 - 1)
    if kind == "float":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=5)
    if kind == "category":
        return st.sampled_from(CATEGORIES)
    moments = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
    return moments.map(lambda d: d.isoformat() + ("+00:00" if aware else ""))


@st.composite
def logged_requests(draw: st.DrawFn) -> tuple[Signature, list[dict[str, list[Any]]], set[str]]:
    """A signature, a few requests' columns that pass its validation, and PII columns."""
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    fields = tuple(
        FieldSpec(
            f"c{i}_{kind}",
            kind,  # type: ignore[arg-type]
            nullable=draw(st.booleans()),
            categories=CATEGORIES if kind == "category" else None,
        )
        for i, kind in enumerate(kinds)
    )
    signature = Signature(fields, OutputSpec("probability", (0, 1)))
    aware = draw(st.booleans())
    requests = []
    for _ in range(draw(st.integers(1, 4))):
        rows = draw(st.integers(1, 4))
        columns = {}
        for spec in fields:
            value = _values(spec.type, aware)
            if spec.nullable:
                value = st.one_of(st.none(), value)
            columns[spec.name] = draw(st.lists(value, min_size=rows, max_size=rows))
        requests.append(columns)
    pii = set(draw(st.sets(st.sampled_from([f.name for f in fields]), max_size=2)))
    return signature, requests, pii


def _records(signature: Signature, requests: list[dict[str, list[Any]]]) -> list[PredictionRecord]:
    """The requests as the server logs them when they were micro-batched together: each
    one's rows of one frame (so the dtypes are the batch's, as a replay gives them)."""
    batches = [
        validate_columns(columns, len(next(iter(columns.values()))), signature, max_rows=100)
        for columns in requests
    ]
    together = to_frame(batches, signature)
    records = []
    start = 0
    for number, batch in enumerate(batches):
        rows = batch.n_rows
        records.append(
            PredictionRecord(
                request_id=f"req-{number}",
                at=T0 + timedelta(microseconds=number),
                model="risk",
                version=3,
                trained_on=("loans@2",),
                protocol="v1",
                role="live",
                latency_ms=1.25,
                # Its rows of the batch's frame, as serving logs them, or a frame of its own.
                inputs=together if number % 2 else together.iloc[start : start + rows],
                span=(start, start + rows) if number % 2 else None,
                # As serving hands them over (a float matrix), or as a list of rows.
                outputs=np.tile([0.25, 0.75], (rows, 1)) if number % 2 else [[0.5, 0.5]] * rows,
                columns=batch.columns,
            )
        )
        start += rows
    return records


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logged_requests(), st.sampled_from(["hash", "redact"]))
def test_a_replayed_journal_gives_the_segment_a_flush_would_have_written(
    case: tuple[Signature, list[dict[str, list[Any]]], set[str]], pii_mode: str
) -> None:
    signature, requests, pii = case
    records = _records(signature, requests)
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder) / "journal"
        # The writer's sink refuses everything: its rows survive only in the journal.
        crashed = PredictionLogger(
            FailingSink(),
            journal=journal,
            pii_columns={("risk", 3): pii},
            pii_mode=pii_mode,  # type: ignore[arg-type]
            salt=b"pepper",
        )
        for record in records:
            assert crashed.log(record)
        crashed.close()
        assert crashed.stats.journal_errors == 0
        assert journal_files(journal)

        sink = DirectorySink(Path(folder) / "segments")
        recovery = PredictionLogger(sink, journal=journal).recover(
            sink.logged, lambda model, version: signature
        )
        assert recovery.rows == sum(record.rows for record in records)
        assert journal_files(journal) == []

        expected = pq.read_table(
            io.BytesIO(
                encode_segment(
                    records,
                    pii_columns=pii,
                    pii_mode=pii_mode,  # type: ignore[arg-type]
                    salt=b"pepper",
                )
            )
        )
        (segment,) = sink.segments()
        replayed = pq.read_table(io.BytesIO(segment))
        assert replayed.schema == expected.schema
        assert replayed.equals(expected), _difference(expected, replayed)


def _difference(expected: pa.Table, replayed: pa.Table) -> str:
    return "; ".join(
        f"{name}: {expected[name].to_pylist()} != {replayed[name].to_pylist()}"
        for name in expected.column_names
        if not expected[name].equals(replayed[name])
    )


def test_a_frame_logged_without_its_request_columns_is_replayed_with_its_dtypes(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame(
        {
            "age": [41, 52],
            "income": [1.5, float("nan")],
            "region": pd.Categorical(["NW", None], categories=list(CATEGORIES)),
            "member": [True, False],
            "seen": pd.to_datetime(pd.Series(["2026-01-01T00:00:00Z", None]), utc=True),
            "children": pd.array([1, None], dtype="Int64"),
            "owner": pd.array([True, None], dtype="boolean"),
        }
    )
    records = [
        PredictionRecord(f"r{i}", T0, "risk", 1, (), "v1", "canary", 2.0, frame, [1, 0])
        for i in range(3)
    ]
    crashed = PredictionLogger(FailingSink(), journal=tmp_path / "j", salt=b"s")
    for record in records:
        crashed.log(record)
    crashed.close()
    sink = DirectorySink(tmp_path / "segments")
    assert PredictionLogger(sink, journal=tmp_path / "j").recover(sink.logged).rows == 6
    expected = pq.read_table(io.BytesIO(encode_segment(records, salt=b"s")))
    assert pq.read_table(io.BytesIO(sink.segments()[0])).equals(expected)


# -- killed processes ---------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from datetime import UTC, datetime
    from pathlib import Path

    import pandas as pd

    from pathtolive.predlog import PredictionLogger, PredictionRecord

    folder, mode, prefix = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    segments = folder / "segments"
    segments.mkdir(exist_ok=True)
    logger = None
    flushes = 0

    def log(start, count):
        for i in range(start, start + count):
            frame = pd.DataFrame({"age": [i], "region": ["NW"]})
            logger.log(PredictionRecord(
                f"{prefix}-{i}", datetime.now(UTC), "risk", 1, ("d@1",), "v1", "live", 1.0,
                frame, [[0.5, 0.5]], {"age": [i], "region": ["NW"]},
            ))

    def sink(model, version, parquet, rows, first, last):
        global flushes
        flushes += 1
        if mode == "crash-in-second-flush" and flushes == 2:
            log(60, 20)  # arrive while the segment is being stored: the next journal file
        (segments / f"{time.time_ns()}.parquet").write_bytes(parquet)
        if mode == "crash-in-second-flush" and flushes == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # the segment is stored, its journal is not gone

    logger = PredictionLogger(sink, journal=folder / "journal", flush_seconds=3600)
    if mode == "crash-in-second-flush":
        log(0, 30)
        logger.flush()
        log(30, 30)
        logger.flush()
    elif mode == "die":
        log(0, 10)
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "live":
        log(0, 10)
        print("ready", flush=True)
        time.sleep(600)
    """
)


def _writer(folder: Path, mode: str, prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(folder), mode, prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_crash_between_the_segment_and_the_journal_delete_duplicates_nothing(
    tmp_path: Path,
) -> None:
    writer = _writer(tmp_path, "crash-in-second-flush", "a")
    _, stderr = writer.communicate(timeout=120)
    assert writer.returncode == -signal.SIGKILL, stderr
    sink = DirectorySink(tmp_path / "segments")
    assert len(sink.frame()) == 60  # two flushes stored; the second one's journal remains
    assert len(journal_files(tmp_path / "journal")) == 2  # that one, and the newer one

    recovery = PredictionLogger(sink, journal=tmp_path / "journal").recover(sink.logged)

    assert (recovery.files, recovery.rows, recovery.duplicate_rows) == (2, 20, 30)
    log = sink.frame()
    assert sorted(log["request_id"]) == sorted(f"a-{i}" for i in range(80))
    assert journal_files(tmp_path / "journal") == []
    # Replaying again finds nothing: recovery is idempotent.
    again = PredictionLogger(sink, journal=tmp_path / "journal").recover(sink.logged)
    assert again.files == 0
    assert len(sink.frame()) == 80


def test_only_the_journals_of_stopped_processes_are_taken_over(tmp_path: Path) -> None:
    live = _writer(tmp_path, "live", "live")
    try:
        assert live.stdout is not None
        assert live.stdout.readline().strip() == "ready"
        dead = _writer(tmp_path, "die", "dead")
        dead.communicate(timeout=120)
        assert dead.returncode == -signal.SIGKILL
        sink = DirectorySink(tmp_path / "segments")

        first = PredictionLogger(sink, journal=tmp_path / "journal").recover(sink.logged)

        assert (first.files, first.rows) == (1, 10)
        assert set(sink.frame()["request_id"]) == {f"dead-{i}" for i in range(10)}
        (left,) = journal_files(tmp_path / "journal")
        assert left.name.startswith(f"{live.pid}-")  # the live writer keeps its own
    finally:
        live.kill()
        live.communicate(timeout=30)
    second = PredictionLogger(sink, journal=tmp_path / "journal").recover(sink.logged)
    assert (second.files, second.rows) == (1, 10)
    assert len(sink.frame()) == 20


def test_a_line_cut_short_by_the_crash_is_skipped(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": [1]})
    writer = PredictionLogger(FailingSink(), journal=tmp_path / "journal")
    for i in range(3):
        writer.log(PredictionRecord(f"r{i}", T0, "m", 1, (), "v1", "live", 1.0, frame, [0.5]))
    writer.close()
    (path,) = journal_files(tmp_path / "journal")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # the last write was torn

    sink = DirectorySink(tmp_path / "segments")
    recovery = PredictionLogger(sink, journal=tmp_path / "journal").recover(sink.logged)

    assert (recovery.rows, recovery.torn_lines) == (2, 1)
    assert sorted(sink.frame()["request_id"]) == ["r0", "r1"]


def test_flushed_rows_leave_no_journal_behind(tmp_path: Path) -> None:
    sink = DirectorySink(tmp_path / "segments")
    logger = PredictionLogger(sink, journal=tmp_path / "journal", flush_seconds=3600)
    frame = pd.DataFrame({"age": [1, 2]})
    for i in range(5):
        logger.log(PredictionRecord(f"r{i}", T0, "m", 1, (), "v1", "live", 1.0, frame, [0, 1]))
    assert len(journal_files(tmp_path / "journal")) == 1
    logger.flush()
    assert journal_files(tmp_path / "journal") == []
    logger.log(PredictionRecord("r9", T0, "m", 1, (), "v1", "live", 1.0, frame, [0, 1]))
    logger.close()
    assert journal_files(tmp_path / "journal") == []
    assert os.listdir(tmp_path / "journal") == []
    assert len(sink.frame()) == 12


def test_a_journal_that_cannot_be_written_is_counted_and_serving_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "journal"
    blocked.write_text("a file where the folder should be")
    sink = DirectorySink(tmp_path / "segments")
    logger = PredictionLogger(sink, journal=blocked, flush_seconds=3600)
    frame = pd.DataFrame({"age": [1]})
    for i in range(4):
        assert logger.log(PredictionRecord(f"r{i}", T0, "m", 1, (), "v1", "live", 1.0, frame, [1]))
    logger.close()
    assert logger.stats.journal_errors == 4
    assert logger.stats.written_rows == 4
    assert "journal did not take" in caplog.text


def test_journal_cost_per_request(tmp_path: Path) -> None:
    """What the journal adds to ``log()`` for a one-row request of four columns (a
    figure for benchmarks/RESULTS.md; nothing is asserted about time)."""
    signature = Signature(
        (
            FieldSpec("age", "integer", False),
            FieldSpec("income", "float", False),
            FieldSpec("region", "category", False, CATEGORIES),
            FieldSpec("member", "boolean", False),
        ),
        OutputSpec("probability", (0, 1)),
    )
    batch = validate_columns(
        {"age": [41], "income": [52_000.0], "region": ["NW"], "member": [True]},
        1,
        signature,
        max_rows=10,
    )
    frame = to_frame([batch], signature)

    def per_request(
        journal: Path | None, *, count: int = 5_000, columns: bool = True, fsync: bool = False
    ) -> float:
        logger = PredictionLogger(
            lambda *_: None,
            journal=journal,
            fsync=fsync,
            buffer_rows=10**6,
            segment_rows=10**6,
        )
        records = [
            PredictionRecord(
                f"{i:032x}",
                T0,
                "risk",
                1,
                ("d@1",),
                "v1",
                "live",
                1.0,
                frame,
                [[0.2, 0.8]],
                batch.columns if columns else None,
            )
            for i in range(count)
        ]
        started = time.perf_counter()
        for record in records:
            logger.log(record)
        elapsed = time.perf_counter() - started
        logger.close()
        return elapsed / count * 1e6

    figures = {
        "log_us_without_journal": min(per_request(None) for _ in range(3)),
        "log_us_with_journal": min(per_request(tmp_path / f"j{i}") for i in range(3)),
        "log_us_with_journal_from_the_frame": per_request(
            tmp_path / "frame", count=300, columns=False
        ),
        "log_us_with_journal_and_fsync": per_request(tmp_path / "fsync", count=100, fsync=True),
    }
    report_figures("journal_cost", figures, tmp_path)
