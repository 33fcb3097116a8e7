"""The ArtifactStore contract: every backend (local folder, S3, memory) must pass it."""

from __future__ import annotations

import os
import random
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pytest
from blake3 import blake3

from pathtolive.errors import (
    IntegrityError,
    InvalidInputError,
    MissingExtraError,
    NotFoundError,
    StoreError,
    UnknownSchemeError,
)
from pathtolive.store.artifacts import (
    S3_ENDPOINT_URL_ENV,
    ArtifactBackends,
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    fsspec_store,
    object_key,
    open_artifact_store,
    s3_storage_options_from_env,
)
from pathtolive.store.artifacts.base import owner_tag
from tests.support.moto import S3_CREDENTIALS
from tests.support.s3 import S3Server

from .conftest import Backend

ABSENT_DIGEST = "0" * 64


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the contract, for every backend -------------------------------------------------------


def test_put_bytes_round_trip(backend: Backend) -> None:
    data = b"model weights"
    info = backend.store.put_bytes(data)

    assert info.digest == blake3(data).hexdigest()
    assert info.size == len(data)
    assert info.created
    assert backend.store.get_bytes(info.digest) == data
    assert backend.store.exists(info.digest)
    assert backend.store.size(info.digest) == len(data)


def test_put_file_round_trip(backend: Backend, tmp_path: Path) -> None:
    data = random_bytes(10_000)
    info = backend.store.put_file(write(tmp_path / "model.bin", data))

    assert info.digest == blake3(data).hexdigest()
    assert info.created
    out = tmp_path / "out" / "model.bin"
    assert backend.store.get_file(info.digest, out) == out
    assert out.read_bytes() == data
    assert os.listdir(out.parent) == ["model.bin"]  # no temporary file next to it
    assert backend.store.local_path(info.digest).read_bytes() == data
    assert backend.store.get_bytes(info.digest) == data


def test_get_file_replaces_an_existing_destination(backend: Backend, tmp_path: Path) -> None:
    info = backend.store.put_bytes(b"new")
    dest = write(tmp_path / "dest", b"old contents")

    backend.store.get_file(info.digest, dest)

    assert dest.read_bytes() == b"new"


def test_empty_object_round_trips(backend: Backend, tmp_path: Path) -> None:
    info = backend.store.put_file(write(tmp_path / "empty", b""))

    assert info.size == 0
    assert backend.store.get_bytes(info.digest) == b""
    assert backend.store.put_bytes(b"").created is False


def test_same_content_is_stored_once(backend: Backend, tmp_path: Path) -> None:
    data = b"the same bytes"
    first = backend.store.put_bytes(data)
    second = backend.store.put_bytes(data)
    from_file = backend.store.put_file(write(tmp_path / "copy", data))

    assert first.created
    assert not second.created
    assert not from_file.created
    assert first.digest == second.digest == from_file.digest
    assert list(backend.store.iter_digests()) == [first.digest]
    assert len(backend.list_objects()) == 1


def test_put_file_uses_a_digest_passed_in(backend: Backend, tmp_path: Path) -> None:
    data = b"already hashed"
    digest = blake3(data).hexdigest()

    info = backend.store.put_file(write(tmp_path / "f", data), digest=digest)

    assert info.digest == digest
    assert backend.store.get_bytes(digest) == data


def test_put_file_with_a_wrong_digest_stores_nothing(backend: Backend, tmp_path: Path) -> None:
    wrong = blake3(b"other bytes").hexdigest()

    with pytest.raises(IntegrityError, match="digest passed for it is wrong"):
        backend.store.put_file(write(tmp_path / "f", b"these bytes"), digest=wrong)

    assert not backend.store.exists(wrong)
    assert list(backend.store.iter_digests()) == []
    assert backend.list_temporary() == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: bytes([data[0] ^ 1]) + data[1:], id="bit-flip"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
    ],
)
def test_a_corrupt_object_fails_every_read(
    backend: Backend, tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    data = random_bytes(4096)
    digest = backend.store.put_bytes(data).digest
    damaged = damage(data)
    backend.overwrite_object(digest, damaged)
    dest = tmp_path / "dest"

    reads: dict[str, Callable[[], object]] = {
        "get_bytes": lambda: backend.store.get_bytes(digest),
        "get_file": lambda: backend.store.get_file(digest, dest),
        "local_path": lambda: backend.store.local_path(digest),
    }
    for name, read in reads.items():
        with pytest.raises(IntegrityError) as raised:
            read()
        message = str(raised.value)
        assert digest in message, name
        assert blake3(damaged).hexdigest() in message, name
        assert "corrupt" in message, name
        assert "restore it from a backup" in message, name
    # A failed download leaves nothing behind, not even a temporary file.
    assert not [name for name in os.listdir(tmp_path) if "dest" in name]


def test_adding_the_data_again_repairs_a_truncated_object(backend: Backend) -> None:
    data = random_bytes(4096)
    digest = backend.store.put_bytes(data).digest
    backend.overwrite_object(digest, data[:100])

    assert backend.store.put_bytes(data).created

    assert backend.store.get_bytes(digest) == data


def test_delete_then_add_again_repairs_a_corrupt_object(backend: Backend) -> None:
    data = random_bytes(4096)
    digest = backend.store.put_bytes(data).digest
    backend.overwrite_object(digest, random_bytes(4096, seed=1))

    backend.store.delete(digest)
    backend.store.put_bytes(data)

    assert backend.store.get_bytes(digest) == data


def test_changes_made_by_another_process_are_seen(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"shared").digest
    assert list(backend.store.iter_digests()) == [digest]  # fills any listing cache

    backend.remove_object(digest)

    assert not backend.store.exists(digest)
    assert list(backend.store.iter_digests()) == []
    assert backend.store.put_bytes(b"shared").created
    assert backend.store.get_bytes(digest) == b"shared"


def test_a_missing_object_raises_not_found(backend: Backend, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    reads: list[Callable[[], object]] = [
        lambda: backend.store.get_bytes(ABSENT_DIGEST),
        lambda: backend.store.get_file(ABSENT_DIGEST, dest),
        lambda: backend.store.local_path(ABSENT_DIGEST),
        lambda: backend.store.size(ABSENT_DIGEST),
    ]
    for read in reads:
        with pytest.raises(NotFoundError, match=ABSENT_DIGEST):
            read()
    assert not backend.store.exists(ABSENT_DIGEST)
    assert not dest.exists()


@pytest.mark.parametrize("digest", ["../../etc/passwd", "", "ABCD" * 16, "a" * 63])
def test_a_malformed_digest_is_rejected(backend: Backend, digest: str) -> None:
    with pytest.raises(InvalidInputError, match="not an object digest"):
        backend.store.get_bytes(digest)
    with pytest.raises(InvalidInputError):
        backend.store.delete(digest)


def test_a_missing_source_file_raises_not_found(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        backend.store.put_file(tmp_path / "no-such-file")


def test_a_large_file_round_trips(backend: Backend, tmp_path: Path) -> None:
    data = random_bytes(8 << 20)
    info = backend.store.put_file(write(tmp_path / "large.bin", data))

    assert info.digest == blake3(data).hexdigest()
    assert info.size == len(data)
    out = backend.store.get_file(info.digest, tmp_path / "large.out")
    assert out.read_bytes() == data
    assert backend.store.local_path(info.digest).read_bytes() == data


def test_puts_leave_no_temporary_files(backend: Backend, tmp_path: Path) -> None:
    for seed in range(3):
        data = random_bytes(1000, seed)
        backend.store.put_bytes(data)
        backend.store.put_bytes(data)
        backend.store.put_file(write(tmp_path / f"f{seed}", data))
    backend.store.put_file(write(tmp_path / "new", b"new file"))

    assert backend.list_temporary() == []
    assert len(backend.list_objects()) == 4


def test_concurrent_puts_of_the_same_content_leave_one_object(
    backend: Backend, tmp_path: Path
) -> None:
    data = random_bytes(1 << 20)
    source = write(tmp_path / "shared.bin", data)

    def put(index: int) -> str:
        if index % 2:
            return backend.store.put_bytes(data).digest
        return backend.store.put_file(source).digest

    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = set(pool.map(put, range(16)))

    assert digests == {blake3(data).hexdigest()}
    assert list(backend.store.iter_digests()) == list(digests)
    assert len(backend.list_objects()) == 1
    assert backend.list_temporary() == []
    assert backend.store.get_bytes(digests.pop()) == data


def test_delete(backend: Backend) -> None:
    kept = backend.store.put_bytes(b"kept").digest
    deleted = backend.store.put_bytes(b"deleted").digest

    backend.store.delete(deleted)
    backend.store.delete(deleted)  # absent objects are ignored

    assert not backend.store.exists(deleted)
    with pytest.raises(NotFoundError):
        backend.store.get_bytes(deleted)
    assert list(backend.store.iter_digests()) == [kept]
    assert backend.store.get_bytes(kept) == b"kept"


def test_iter_digests_lists_objects_sorted_and_skips_temporary_files(backend: Backend) -> None:
    assert list(backend.store.iter_digests()) == []
    digests = [backend.store.put_bytes(f"object {i}".encode()).digest for i in range(5)]
    backend.add_temporary(b"half an upload")

    assert list(backend.store.iter_digests()) == sorted(digests)


def test_clean_temporary_removes_only_stale_files(backend: Backend) -> None:
    digest = backend.store.put_bytes(b"an object").digest
    backend.add_temporary(b"left by a crashed writer")

    assert backend.store.clean_temporary(older_than_seconds=3600) == 0
    assert len(backend.list_temporary()) == 1

    time.sleep(1.1)  # object stores keep modification times to the second
    assert backend.store.clean_temporary(older_than_seconds=1) == 1

    assert backend.list_temporary() == []
    assert backend.store.get_bytes(digest) == b"an object"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_clean_temporary_removes_a_killed_writers_file_at_once(backend: Backend) -> None:
    ours = owner_tag()
    dead = ours.replace(f"p{os.getpid()}-", f"p{_dead_pid()}-", 1)
    backend.add_temporary(b"left by a writer killed with -9", f"{dead}-{uuid.uuid4().hex}")
    backend.add_temporary(b"a live writer's upload", f"{ours}-{uuid.uuid4().hex}")
    backend.add_temporary(b"another host's, or an old release's")

    # No age needed for the dead writer's file; the live writer's and the unknown one stay.
    assert backend.store.clean_temporary(older_than_seconds=3600) == 1
    left = backend.list_temporary()
    assert len(left) == 2
    assert not any(dead in name for name in left)


def test_remove_unreferenced_only_removes_objects_older_than_the_cutoff(
    backend: Backend,
) -> None:
    data = b"an object nothing refers to"
    digest = backend.store.put_bytes(data).digest
    modified = backend.store.object_modified(digest)
    assert modified is not None

    # Written after the cutoff: an add in flight may be about to refer to it.
    assert backend.store.remove_unreferenced(digest, written_before=modified - 60) is None
    assert backend.store.get_bytes(digest) == data

    stored = backend.store.raw_size(digest) if "encrypted" in backend.name else len(data)
    # The bytes freed: the stored form, larger than the data where it is encrypted.
    assert backend.store.remove_unreferenced(digest, written_before=time.time() + 60) == stored
    assert not backend.store.exists(digest)
    assert backend.list_temporary() == []
    assert backend.store.object_modified(digest) is None
    assert backend.store.remove_unreferenced(ABSENT_DIGEST, written_before=time.time()) is None


def test_link_is_accepted_by_every_backend(backend: Backend, tmp_path: Path) -> None:
    data = b"linked or copied"
    info = backend.store.put_file(write(tmp_path / "f", data), link=True)

    assert backend.store.get_bytes(info.digest) == data
    assert backend.store.local_path(info.digest).read_bytes() == data


# --- local folder specifics ----------------------------------------------------------------


def test_local_reuse_of_an_old_object_keeps_it_from_gc(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    digest = store.put_bytes(b"an orphan from a crashed add").digest
    path = tmp_path / "store" / object_key(digest)
    os.utime(path, (1_000_000, 1_000_000))  # long ago
    cutoff = time.time() - 1

    # An add of the same content reuses the object: it marks it as just written first...
    assert store.put_bytes(b"an orphan from a crashed add").created is False
    # ...so a gc that chose it as old and unreferenced before the add's row commits keeps it.
    assert store.remove_unreferenced(digest, written_before=cutoff) is None
    assert store.get_bytes(digest) == b"an orphan from a crashed add"


def test_local_clean_temporary_leaves_work_folders_alone(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    folder = tmp_path / "store" / "tmp" / "add-abc"
    folder.mkdir(parents=True)

    assert store.clean_temporary(older_than_seconds=0) == 0
    assert folder.is_dir()


def test_local_link_makes_a_hard_link_and_still_verifies(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    source = write(tmp_path / "data.parquet", b"original bytes")
    mode_before = source.stat().st_mode

    info = store.put_file(source, link=True)

    stored = store.local_path(info.digest)
    assert os.path.samefile(stored, source)
    assert source.stat().st_mode == mode_before  # the caller's file keeps its mode
    # Editing the source in place breaks the promise made with link=True: reads notice.
    with open(source, "r+b") as file:
        file.write(b"EDITED")
    with pytest.raises(IntegrityError, match=info.digest):
        store.get_bytes(info.digest)


def test_local_link_falls_back_to_a_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cross_device_link(source: object, target: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device_link)
    store = LocalArtifactStore(tmp_path / "store")
    source = write(tmp_path / "data", b"copied instead")

    info = store.put_file(source, link=True)

    assert not os.path.samefile(store.local_path(info.digest), source)
    assert store.get_bytes(info.digest) == b"copied instead"


def test_local_copied_objects_are_read_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    from_bytes = store.put_bytes(b"from bytes").digest
    from_file = store.put_file(write(tmp_path / "f", b"from file")).digest

    for digest in (from_bytes, from_file):
        mode = store.local_path(digest).stat().st_mode
        assert mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0


def test_local_store_failure_raises_store_error(tmp_path: Path) -> None:
    not_a_folder = write(tmp_path / "file", b"")
    store = LocalArtifactStore(not_a_folder)

    with pytest.raises(StoreError, match="could not add an object"):
        store.put_bytes(b"anything")


# --- remote specifics ----------------------------------------------------------------------


@pytest.mark.s3
def test_reuse_of_an_old_object_refreshes_it_so_gc_keeps_it(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"an orphan from a crashed upload"
    digest = backend.store.put_bytes(data).digest
    before = backend.store.object_modified(digest)
    assert before is not None
    time.sleep(1.1)  # object stores keep modification times to the second
    cutoff = before + 0.5  # the object as it was is older than this; refreshed, it is not
    # Every existing object counts as old (a remote store writes it again on reuse; a
    # local one touches it).
    monkeypatch.setattr(fsspec_store, "_REUSE_WITHOUT_REFRESH", 0.0)

    assert backend.store.put_bytes(data).created is False

    after = backend.store.object_modified(digest)
    assert after is not None
    assert after > before
    assert backend.store.remove_unreferenced(digest, written_before=cutoff) is None
    assert backend.store.get_bytes(digest) == data
    assert backend.list_temporary() == []


@pytest.mark.s3
def test_s3_local_path_reuses_and_repairs_the_cache(s3_server: S3Server, tmp_path: Path) -> None:
    url = s3_server.url(f"cache-test-{uuid.uuid4().hex[:8]}")
    store = FsspecArtifactStore(
        url, storage_options=s3_server.storage_options(), cache_dir=tmp_path / "cache"
    )
    digest = store.put_bytes(b"cached bytes").digest
    cached = store.local_path(digest)
    assert cached.is_relative_to(tmp_path / "cache")

    # A good cached copy is served even when the remote object is gone (deleted by
    # another machine, whose cache is its own).
    elsewhere = FsspecArtifactStore(
        url, storage_options=s3_server.storage_options(), cache_dir=tmp_path / "elsewhere"
    )
    elsewhere.delete(digest)
    assert store.local_path(digest) == cached

    # A deletion through this store takes its cached copy too (an erasure leaves none).
    store.put_bytes(b"cached bytes")
    store.delete(digest)
    assert not cached.exists()
    with pytest.raises(NotFoundError):
        store.local_path(digest)

    # A damaged cached copy is not served: it is downloaded again.
    store.put_bytes(b"cached bytes")
    assert store.local_path(digest) == cached
    os.chmod(cached, 0o644)
    cached.write_bytes(b"damaged")
    assert store.local_path(digest).read_bytes() == b"cached bytes"


@pytest.mark.s3
def test_s3_listing_cache_does_not_hide_changes(s3_server: S3Server, tmp_path: Path) -> None:
    prefix = f"listing-cache-test-{uuid.uuid4().hex[:8]}"
    store = FsspecArtifactStore(
        s3_server.url(prefix), storage_options=s3_server.storage_options(), cache_dir=tmp_path
    )
    digest = store.put_bytes(b"listed").digest
    # Other code in the process with the same options shares fsspec's filesystem instance,
    # and with it the listing cache that this listing fills.
    shared = fsspec.filesystem("s3", **s3_server.storage_options())
    assert shared.ls(f"{s3_server.bucket}/{prefix}/objects/{digest[:2]}")
    s3_server.delete(f"{prefix}/{object_key(digest)}")

    assert not store.exists(digest)
    assert store.put_bytes(b"listed").created
    assert store.get_bytes(digest) == b"listed"


@pytest.mark.s3
@pytest.mark.parametrize(
    "sse",
    [
        pytest.param({"PATHTOLIVE_S3_SSE": "AES256"}, id="sse-s3"),
        pytest.param(
            {"PATHTOLIVE_S3_SSE": "aws:kms", "PATHTOLIVE_S3_SSE_KMS_KEY_ID": "alias/ml"},
            id="sse-kms",
        ),
    ],
)
def test_s3_server_side_encryption_covers_every_object(
    s3_server: S3Server, tmp_path: Path, sse: dict[str, str]
) -> None:
    if s3_server.name == "seaweedfs" and sse["PATHTOLIVE_S3_SSE"] == "aws:kms":
        pytest.skip("SeaweedFS's S3 gateway has no KMS: it answers an SSE-KMS PUT with a 500")
    prefix = f"sse-{uuid.uuid4().hex[:8]}"
    store = open_artifact_store(
        s3_server.url(prefix), base_dir=tmp_path, environ={**s3_server.environ(), **sse}
    )
    source = write(tmp_path / "model.bin", random_bytes(3 << 20, seed=5))

    # Uploads go to a temporary key, then are copied into place: the copy is encrypted too.
    digests = [store.put_bytes(b"small").digest, store.put_file(source).digest]
    with store.stage_file(write(tmp_path / "staged", b"staged")) as staged:
        digests.append(staged.commit().digest)

    for digest in digests:
        head = s3_server.client.head_object(
            Bucket=s3_server.bucket, Key=f"{prefix}/{object_key(digest)}"
        )
        assert head["ServerSideEncryption"] == sse["PATHTOLIVE_S3_SSE"]
        if "PATHTOLIVE_S3_SSE_KMS_KEY_ID" in sse:
            assert head["SSEKMSKeyId"].endswith(sse["PATHTOLIVE_S3_SSE_KMS_KEY_ID"])
        assert store.get_bytes(digest)
    assert s3_server.keys(f"{prefix}/tmp/") == []


@pytest.mark.s3
def test_s3_unreachable_endpoint_raises_store_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = FsspecArtifactStore(
        "s3://bucket/prefix",
        storage_options={
            **S3_CREDENTIALS,
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
            "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1},
        },
        cache_dir=tmp_path,
    )

    with pytest.raises(StoreError, match="is reachable"):
        store.put_bytes(b"anything")


# --- choosing a backend by URL -------------------------------------------------------------


def test_a_plain_relative_path_opens_a_local_store_in_the_workspace(tmp_path: Path) -> None:
    store = open_artifact_store(".pathtolive/artifacts", base_dir=tmp_path, environ={})

    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / ".pathtolive" / "artifacts"
    digest = store.put_bytes(b"x").digest
    assert (tmp_path / ".pathtolive" / "artifacts" / "objects" / digest[:2]).is_dir()


def test_a_file_url_opens_a_local_store(tmp_path: Path) -> None:
    store = open_artifact_store(
        (tmp_path / "art").as_uri(), base_dir=Path("/elsewhere"), environ={}
    )

    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "art"


@pytest.mark.parametrize("prefix", ["file://", "FILE://", "file://localhost"])
def test_file_url_spellings_open_the_same_local_store(tmp_path: Path, prefix: str) -> None:
    store = open_artifact_store(f"{prefix}{tmp_path}/art", base_dir=Path("/elsewhere"), environ={})

    assert isinstance(store, LocalArtifactStore)
    assert store.root == tmp_path / "art"


def test_a_memory_url_opens_an_fsspec_store(tmp_path: Path) -> None:
    store = open_artifact_store("memory://registry-test", base_dir=tmp_path, environ={})

    assert isinstance(store, FsspecArtifactStore)
    digest = store.put_bytes(b"in memory").digest
    assert store.local_path(digest).is_relative_to(tmp_path / ".pathtolive" / "cache")
    store.delete(digest)


@pytest.mark.s3
def test_an_s3_url_opens_a_store_configured_from_the_environment(
    s3_server: S3Server, tmp_path: Path
) -> None:
    prefix = f"from-env-{uuid.uuid4().hex[:8]}"
    environ = {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": s3_server.region,
        S3_ENDPOINT_URL_ENV: s3_server.endpoint_url,
    }
    store = open_artifact_store(s3_server.url(prefix), base_dir=tmp_path, environ=environ)

    digest = store.put_bytes(b"via the registry").digest

    assert isinstance(store, FsspecArtifactStore)
    assert s3_server.keys(f"{prefix}/objects/") == [f"{prefix}/objects/{digest[:2]}/{digest[2:]}"]


def test_an_unknown_scheme_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UnknownSchemeError) as raised:
        open_artifact_store("ftp://host/store", base_dir=tmp_path, environ={})

    message = str(raised.value)
    assert "ftp://" in message
    for known in ("file://", "memory://", "s3://"):
        assert known in message


def test_s3_without_s3fs_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # makes `import s3fs` fail

    with pytest.raises(MissingExtraError, match=r"pip install 'pathtolive\[s3\]'"):
        open_artifact_store("s3://bucket/prefix", base_dir=tmp_path, environ={})


def test_a_registered_backend_serves_its_scheme(tmp_path: Path) -> None:
    backends = ArtifactBackends()
    opened: list[str] = []

    def open_custom(url: str, *, base_dir: Path, environ: object) -> ArtifactStore:
        opened.append(url)
        return LocalArtifactStore(base_dir / "custom")

    backends.register("custom", open_custom)
    store = backends.open("CUSTOM://anything", base_dir=tmp_path, environ={})

    assert opened == ["CUSTOM://anything"]
    assert isinstance(store, LocalArtifactStore)
    assert backends.schemes() == ["custom"]


def test_s3_storage_options_from_env() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_REGION": "eu-west-1",
        S3_ENDPOINT_URL_ENV: "http://minio:9000",
        "UNRELATED": "ignored",
    }

    assert s3_storage_options_from_env(environ) == {
        "key": "id",
        "secret": "secret",
        "token": "token",
        "client_kwargs": {"region_name": "eu-west-1", "endpoint_url": "http://minio:9000"},
    }
    assert s3_storage_options_from_env({}) == {}


def test_staged_file_is_invisible_until_committed(backend: Backend, tmp_path: Path) -> None:
    data = random_bytes(3 << 20, seed=11)
    source = write(tmp_path / "big.bin", data)
    staged = backend.store.stage_file(source)
    assert staged.digest == blake3(data).hexdigest()
    assert staged.size == len(data)
    assert not backend.store.exists(staged.digest)
    assert backend.list_objects() == []
    info = staged.commit()
    assert info.created
    assert backend.store.get_bytes(staged.digest) == data
    assert backend.list_temporary() == []


def test_discarded_or_abandoned_stage_leaves_nothing(backend: Backend, tmp_path: Path) -> None:
    source = write(tmp_path / "a.bin", random_bytes(5000, seed=12))
    backend.store.stage_file(source).discard()
    with backend.store.stage_file(source) as staged:
        digest = staged.digest
    assert not backend.store.exists(digest)
    assert backend.list_temporary() == []
    assert backend.list_objects() == []


def test_staging_known_content_commits_as_not_created(backend: Backend, tmp_path: Path) -> None:
    data = random_bytes(4096, seed=13)
    backend.store.put_bytes(data)
    source = write(tmp_path / "same.bin", data)
    with backend.store.stage_file(source) as staged:
        info = staged.commit()
    assert not info.created
    assert len(backend.list_objects()) == 1
    assert backend.list_temporary() == []


def test_staging_a_missing_file_is_not_found(backend: Backend, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        backend.store.stage_file(tmp_path / "absent.bin")
    assert backend.list_temporary() == []
