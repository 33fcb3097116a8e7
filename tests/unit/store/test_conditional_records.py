"""How the fsspec store reads an S3 server's answers to a conditional record PUT
(``If-None-Match: *``), including those neither moto nor SeaweedFS give: a server that
does not implement the condition, and AWS's 409 for two conditional writes at once."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pathtolive.errors import ConflictError
from pathtolive.store.artifacts import FsspecArtifactStore

NAME = "checkpoints/0001-a.json"


def s3_error(code: str, status: int) -> OSError:
    """An error as s3fs raises it: an OSError caused by botocore's ClientError."""
    error = OSError(errno.EIO, code)
    error.__cause__ = ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )
    return error


@pytest.fixture
def store(tmp_path: Path) -> FsspecArtifactStore:
    """A memory store that asks for conditional PUTs as an S3 one does (the S3 server's
    answers are played by :func:`answering`)."""
    store = FsspecArtifactStore(f"memory://records-{os.urandom(4).hex()}", cache_dir=tmp_path)
    store._conditional_puts = True
    return store


def answering(
    store: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch, *answers: OSError
) -> list[str]:
    """Make conditional PUTs fail with ``answers`` in turn, then succeed; return the
    modes of every PUT made."""
    real: Callable[..., Any] = store._fs.pipe_file
    pending = list(answers)
    modes: list[str] = []

    def pipe_file(path: str, data: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        modes.append(mode)
        if mode == "create" and pending:
            raise pending.pop(0)
        real(path, data)

    monkeypatch.setattr(store._fs, "pipe_file", pipe_file)
    return modes


def test_a_412_without_the_condition_named_is_an_existing_record(
    store: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering(store, monkeypatch, s3_error("PreconditionFailed", 412))

    with pytest.raises(ConflictError, match="never replaced"):
        store.put_record(NAME, b"late")

    assert store.list_records("checkpoints") == []


def test_a_server_without_conditional_puts_gets_plain_ones(
    store: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes = answering(store, monkeypatch, s3_error("NotImplemented", 501))

    store.put_record(NAME, b"first")
    store.put_record("checkpoints/0002-b.json", b"second")

    assert modes == ["create", "overwrite", "overwrite"]  # asked once, then not again
    assert store.get_record(NAME) == b"first"
    with pytest.raises(ConflictError):  # the look-up before the PUT still guards names
        store.put_record(NAME, b"other")


def test_a_conditional_put_in_conflict_with_another_is_tried_again(
    store: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    conflicts = [s3_error("ConditionalRequestConflict", 409) for _ in range(2)]
    modes = answering(store, monkeypatch, *conflicts)

    store.put_record(NAME, b"written")

    assert modes == ["create"] * 3
    assert store.get_record(NAME) == b"written"
