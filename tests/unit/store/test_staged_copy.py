"""Staging a file into the local store: one read that copies and hashes, with the
writeback of each stretch started behind the copy."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

import pathtolive.store.artifacts.local as local
from pathtolive.hashing import hash_file
from pathtolive.store.artifacts import LocalArtifactStore


def test_a_staged_copy_is_the_file_byte_for_byte_across_many_writeback_stretches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small stretches and chunks, so that a few MiB go through many of both and a stretch
    # boundary falls inside a chunk.
    monkeypatch.setattr(local, "_WRITEBACK_BYTES", 300_000)
    monkeypatch.setattr(local, "CHUNK_BYTES", 128 << 10)
    advised: list[tuple[int, int]] = []
    real_advise = getattr(os, "posix_fadvise", None)

    def advise(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append((offset, length))
        if real_advise is not None:
            real_advise(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", advise, raising=False)
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 << 20) + b"tail")
    store = LocalArtifactStore(tmp_path / "store")

    with store.stage_file(source) as staged:
        info = staged.commit()

    assert info.digest == hash_file(source)
    assert store.get_bytes(info.digest) == source.read_bytes()
    # The stretches handed to writeback follow one another from the start of the file.
    assert advised[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(advised))
    # ... up to the last stretch, which the fsync writes.
    written = advised[-1][0] + advised[-1][1]
    assert 0 < source.stat().st_size - written < 300_000 + (128 << 10)


def test_writeback_advice_that_fails_does_not_fail_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "_WRITEBACK_BYTES", 1 << 10)

    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        raise OSError(22, "Invalid argument")  # e.g. a filesystem that takes no advice

    monkeypatch.setattr(os, "posix_fadvise", refuse, raising=False)
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(64 << 10))
    store = LocalArtifactStore(tmp_path / "store")

    with store.stage_file(source) as staged:
        info = staged.commit()

    assert store.get_bytes(info.digest) == source.read_bytes()
