"""Fixtures for the artifact store contract suite: one real store per backend.

Each backend comes with direct access to its storage, bypassing the store, so that tests
can damage objects and look for leftover temporary files the way a disk fault or a crashed
writer would.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pathtolive.store.artifacts import (
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    object_key,
)
from pathtolive.store.artifacts.encryption import EncryptedArtifactStore
from pathtolive.store.artifacts.keyring import Keyring
from tests.support.s3 import S3Server


@dataclass(frozen=True)
class Backend:
    """A store under test plus raw access to the storage behind it."""

    name: str
    store: ArtifactStore
    overwrite_object: Callable[[str, bytes], None]
    """Replace an object's bytes behind the store's back, as a disk fault would."""
    remove_object: Callable[[str], None]
    """Remove an object behind the store's back, as another process would."""
    add_temporary: Callable[..., None]
    """Leave a temporary file the way a writer that crashed mid-write would; an optional
    second argument names it (without the backend's suffix)."""
    list_temporary: Callable[[], list[str]]
    list_objects: Callable[[], list[str]]
    """Every raw object key or file under ``objects/``, whatever its name."""


def _local_backend(root: Path) -> Backend:
    store = LocalArtifactStore(root)

    def overwrite_object(digest: str, data: bytes) -> None:
        path = root / object_key(digest)
        os.chmod(path, 0o644)  # stored objects are read-only
        with open(path, "r+b") as file:  # in place, as a disk fault would
            file.write(data)
            file.truncate()

    def remove_object(digest: str) -> None:
        (root / object_key(digest)).unlink()

    def add_temporary(data: bytes, name: str | None = None) -> None:
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        (root / "tmp" / f"{name or uuid.uuid4().hex}.tmp").write_bytes(data)

    def list_temporary() -> list[str]:
        tmp = root / "tmp"
        return sorted(os.listdir(tmp)) if tmp.is_dir() else []

    def list_objects() -> list[str]:
        objects = root / "objects"
        return sorted(str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file())

    return Backend(
        "local",
        store,
        overwrite_object,
        remove_object,
        add_temporary,
        list_temporary,
        list_objects,
    )


def _s3_backend(server: S3Server, cache_dir: Path) -> Backend:
    prefix = f"contracts/{uuid.uuid4().hex}"
    store = FsspecArtifactStore(
        server.url(prefix), storage_options=server.storage_options(), cache_dir=cache_dir
    )

    def overwrite_object(digest: str, data: bytes) -> None:
        server.put(f"{prefix}/{object_key(digest)}", data)

    def remove_object(digest: str) -> None:
        server.delete(f"{prefix}/{object_key(digest)}")

    def add_temporary(data: bytes, name: str | None = None) -> None:
        server.put(f"{prefix}/tmp/{name or uuid.uuid4().hex}", data)

    return Backend(
        server.name,
        store,
        overwrite_object,
        remove_object,
        add_temporary,
        lambda: server.keys(f"{prefix}/tmp/"),
        lambda: server.keys(f"{prefix}/objects/"),
    )


def _memory_backend(cache_dir: Path) -> tuple[Backend, Callable[[], None]]:
    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"/contracts-{uuid.uuid4().hex}"
    store = FsspecArtifactStore(f"memory://{root}", cache_dir=cache_dir)

    def overwrite_object(digest: str, data: bytes) -> None:
        memory.pipe_file(f"{root}/{object_key(digest)}", data)

    def remove_object(digest: str) -> None:
        memory.rm_file(f"{root}/{object_key(digest)}")

    def add_temporary(data: bytes, name: str | None = None) -> None:
        memory.pipe_file(f"{root}/tmp/{name or uuid.uuid4().hex}", data)

    def list_under(folder: str) -> list[str]:
        return sorted(memory.find(f"{root}/{folder}")) if memory.exists(f"{root}/{folder}") else []

    def cleanup() -> None:
        # The memory filesystem is global to the process; free what this test stored.
        if memory.exists(root):
            memory.rm(root, recursive=True)

    backend = Backend(
        "memory",
        store,
        overwrite_object,
        remove_object,
        add_temporary,
        lambda: list_under("tmp"),
        lambda: list_under("objects"),
    )
    return backend, cleanup


def _encrypted(backend: Backend) -> Backend:
    """The same backend behind encryption at rest (small chunks, so objects span many)."""
    keyring = Keyring((bytes(range(32)),))
    store = EncryptedArtifactStore(backend.store, keyring, chunk_log2=12)
    return dataclasses.replace(backend, name=f"{backend.name}+encrypted", store=store)


_S3_FIXTURES = {"moto": "moto_s3", "seaweedfs": "seaweed_s3"}
"""S3 backends by the server behind them: moto's emulator and SeaweedFS's object store."""


def _param(name: str) -> object:
    server = name.partition("+")[0]
    if server == "moto":
        return pytest.param(name, marks=pytest.mark.s3)
    if server == "seaweedfs":
        return pytest.param(name, marks=[pytest.mark.s3, pytest.mark.seaweedfs])
    return name


@pytest.fixture(
    params=[
        _param(name + encrypted)
        for encrypted in ("", "+encrypted")
        for name in ("local", "moto", "seaweedfs", "memory")
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each store backend in turn, empty, plain and encrypted at rest: a local folder,
    S3 (moto's emulator and SeaweedFS's object store) and fsspec's memory filesystem."""
    name, _, encrypted = request.param.partition("+")
    wrap = _encrypted if encrypted else (lambda backend: backend)
    if name == "local":
        yield wrap(_local_backend(tmp_path / "store"))
    elif name in _S3_FIXTURES:
        server = request.getfixturevalue(_S3_FIXTURES[name])
        yield wrap(_s3_backend(server, tmp_path / "cache"))
    else:
        memory_backend, cleanup = _memory_backend(tmp_path / "cache")
        try:
            yield wrap(memory_backend)
        finally:
            cleanup()
