"""The crash journal under encryption at rest: sealed line by line, replayed with the key,
never readable (nor lost) without it."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from pathtolive.predlog import PredictionLogger, PredictionRecord
from pathtolive.store.artifacts.keyring import Keyring
from tests.reliability.test_journal import T0, DirectorySink, FailingSink, journal_files

SENTINEL = "SENTINEL-journal-4b1d"
KEYRING = Keyring((bytes(range(32)),))
OTHER = Keyring((bytes(range(1, 33)),))


def crash_with_a_sealed_journal(folder: Path, rows: int = 3) -> None:
    """A logger whose segments never get stored, closed as a crash would leave it."""
    writer = PredictionLogger(
        FailingSink(), journal=folder, keyring=KEYRING, seal_journal=True, salt=b"s"
    )
    for i in range(rows):
        frame = pd.DataFrame({"note": [f"{SENTINEL}-{i}"], "age": [i]})
        writer.log(PredictionRecord(f"r{i}", T0, "m", 1, (), "v1", "live", 1.0, frame, [0.5]))
    writer.close()


def test_a_sealed_journal_holds_no_plaintext_and_replays_with_the_key(tmp_path: Path) -> None:
    crash_with_a_sealed_journal(tmp_path / "journal")
    (path,) = journal_files(tmp_path / "journal")
    assert SENTINEL.encode() not in path.read_bytes()

    sink = DirectorySink(tmp_path / "segments")
    recovery = PredictionLogger(sink, journal=tmp_path / "journal", keyring=KEYRING).recover(
        sink.logged
    )

    assert (recovery.files, recovery.rows, recovery.torn_lines) == (1, 3, 0)
    frame = sink.frame()
    assert sorted(frame["request_id"]) == ["r0", "r1", "r2"]
    assert journal_files(tmp_path / "journal") == []


@pytest.mark.parametrize("keyring", [None, OTHER], ids=["no-key", "wrong-key"])
def test_without_its_key_a_sealed_journal_is_kept_and_the_key_named(
    tmp_path: Path, keyring: Keyring | None, caplog: pytest.LogCaptureFixture
) -> None:
    crash_with_a_sealed_journal(tmp_path / "journal")
    sink = DirectorySink(tmp_path / "segments")
    with caplog.at_level(logging.ERROR):
        recovery = PredictionLogger(sink, journal=tmp_path / "journal", keyring=keyring).recover(
            sink.logged
        )
    assert (recovery.files, recovery.failed_files) == (0, 1)
    assert len(journal_files(tmp_path / "journal")) == 1  # kept for a start with the key
    assert KEYRING.ids()[0] in caplog.text
    assert "PATHTOLIVE_KEK" in caplog.text


def test_a_sealed_line_cut_short_by_the_crash_is_skipped(tmp_path: Path) -> None:
    crash_with_a_sealed_journal(tmp_path / "journal")
    (path,) = journal_files(tmp_path / "journal")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])

    sink = DirectorySink(tmp_path / "segments")
    recovery = PredictionLogger(sink, journal=tmp_path / "journal", keyring=KEYRING).recover(
        sink.logged
    )

    assert (recovery.rows, recovery.torn_lines) == (2, 1)
    assert sorted(sink.frame()["request_id"]) == ["r0", "r1"]


def test_a_tampered_sealed_line_is_not_replayed(tmp_path: Path) -> None:
    crash_with_a_sealed_journal(tmp_path / "journal")
    (path,) = journal_files(tmp_path / "journal")
    lines = path.read_bytes().split(b"\n")
    second = bytearray(lines[2])
    second[20] = ord("A") if second[20] != ord("A") else ord("B")
    lines[2] = bytes(second)
    path.write_bytes(b"\n".join(lines))

    sink = DirectorySink(tmp_path / "segments")
    recovery = PredictionLogger(sink, journal=tmp_path / "journal", keyring=KEYRING).recover(
        sink.logged
    )

    assert (recovery.rows, recovery.torn_lines) == (2, 1)
    assert sorted(sink.frame()["request_id"]) == ["r0", "r2"]


def test_plain_journals_left_from_before_encryption_still_replay(tmp_path: Path) -> None:
    writer = PredictionLogger(FailingSink(), journal=tmp_path / "journal")
    frame = pd.DataFrame({"age": [1]})
    writer.log(PredictionRecord("plain", T0, "m", 1, (), "v1", "live", 1.0, frame, [0.5]))
    writer.close()
    sink = DirectorySink(tmp_path / "segments")
    recovery = PredictionLogger(sink, journal=tmp_path / "journal", keyring=KEYRING).recover(
        sink.logged
    )
    assert recovery.rows == 1


def test_a_rewrapped_journal_replays_with_the_new_key_alone(tmp_path: Path) -> None:
    from pathtolive.predlog.journal import rewrap_journal_file

    crash_with_a_sealed_journal(tmp_path / "journal")
    (path,) = journal_files(tmp_path / "journal")
    before = path.read_bytes()
    rotating = Keyring((OTHER.keys[0], KEYRING.keys[0]))
    assert rewrap_journal_file(path, rotating) == "rewrapped"
    assert rewrap_journal_file(path, rotating) == "current"
    after = path.read_bytes()
    assert after.split(b"\n")[1:] == before.split(b"\n")[1:]  # the records are untouched

    sink = DirectorySink(tmp_path / "segments")
    recovery = PredictionLogger(sink, journal=tmp_path / "journal", keyring=OTHER).recover(
        sink.logged
    )
    assert recovery.rows == 3
