"""Encryption at rest: :class:`EncryptedArtifactStore`, AES-256-GCM envelope encryption
around any ArtifactStore (a local folder, S3 through fsspec), in the format of
:mod:`pathtolive.store.artifacts.envelope`.

Objects are still addressed by the plaintext's digest, so content addressing and
deduplication work as before; every read is authenticated and hashes the decrypted bytes
again. Rotating the key-encryption key rewrites only each object's header
(:func:`rewrap_object`); on S3, whose objects cannot be edited in part, the object is
copied once with its new header (same ciphertext) — see
:meth:`ArtifactStore.raw_rewrite_header`.

Objects written before encryption was switched on have no header; they are read as plain
objects (verified by their hash), so a workspace can turn encryption on at any time, and
:func:`encrypt_plain_object` encrypts them afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from pathtolive.errors import StoreError, storage_error
from pathtolive.hashing import hash_bytes
from pathtolive.store.artifacts.base import (
    DEFAULT_TEMPORARY_AGE,
    ArtifactStore,
    ObjectInfo,
    StagedObject,
    changed_source_error,
    check_digest,
    corrupt_object_error,
    reading_source,
)
from pathtolive.store.artifacts.envelope import (
    CHUNK_LOG2_RANGE,
    DEFAULT_CHUNK_LOG2,
    HEADER_BYTES,
    OBJECT_MAGIC,
    Header,
    RewrapOutcome,
    ciphertext_size,
    decrypt_stream,
    encrypt_stream,
    plaintext_size,
    read_full,
)
from pathtolive.store.artifacts.keyring import Keyring

__all__ = ["EncryptedArtifactStore", "encrypt_plain_object", "rewrap_object"]


def rewrap_object(store: ArtifactStore, digest: str, keyring: Keyring) -> RewrapOutcome:
    """Rewrap one object's data key under the keyring's current key, rewriting only its
    header: ``current`` when it already is, ``plain`` when it is not encrypted."""
    what = f"object {digest} in {store.url}"
    outcome: list[RewrapOutcome] = []

    def rewrite(head: bytes) -> bytes | None:
        header = Header.parse(head, OBJECT_MAGIC, what=what)
        if header is None:
            outcome.append("plain")
            return None
        if header.key_id == keyring.current_id:
            outcome.append("current")
            return None
        wrapped, key_id = keyring.rewrap(header.key_id, header.wrapped_key, what=what)
        outcome.append("rewrapped")
        return replace(header, key_id=key_id, wrapped_key=wrapped).to_bytes()

    store.raw_rewrite_header(digest, HEADER_BYTES, rewrite)
    return outcome[0] if outcome else "plain"


class _ChunkReader:
    """``read(n)`` over an iterator of byte chunks (a decrypting stream feeding an
    encrypting one, without a file in between)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def encrypt_plain_object(store: EncryptedArtifactStore, digest: str) -> bool:
    """Encrypt an object stored before encryption was switched on, in place of the plain
    one (verified by its hash as it is read); False when it is encrypted already. This
    rewrites the object: the plain bytes' old disk blocks (or, in a versioned bucket, the
    old version) are not scrubbed by it."""
    with store.inner.raw_open(check_digest(digest)) as reader:
        head = read_full(reader.read, len(OBJECT_MAGIC))
    if head == OBJECT_MAGIC:
        return False
    scratch = store.inner.raw_scratch()
    try:
        with store.inner.raw_open(digest) as reader, open(scratch, "xb") as writer:
            plain = decrypt_stream(reader.read, store.keyring, digest, store_url=store.url)
            actual, _ = encrypt_stream(
                _ChunkReader(plain).read, writer.write, store.keyring, chunk_log2=store.chunk_log2
            )
        if actual != digest:  # decrypt_stream verified it; this guards the plumbing
            raise corrupt_object_error(digest, actual, store.url)
        store.inner.raw_publish(digest, scratch)
    finally:
        scratch.unlink(missing_ok=True)
    return True


class EncryptedArtifactStore(ArtifactStore):
    """An ArtifactStore whose objects are encrypted at rest in the store it wraps.

    ``encrypt=False`` keeps reading encrypted objects (and plain ones) but writes plain
    objects: a workspace that turns encryption off can still read what it stored.

    :meth:`local_path` needs a file: it decrypts the object into a private folder of this
    process (mode 0700; in memory, ``/dev/shm``, when it fits there), kept for later
    calls and removed when the process exits (or at :meth:`close`); the object in the
    store stays encrypted.
    """

    def __init__(
        self,
        inner: ArtifactStore,
        keyring: Keyring,
        *,
        encrypt: bool = True,
        chunk_log2: int = DEFAULT_CHUNK_LOG2,
    ) -> None:
        if chunk_log2 not in CHUNK_LOG2_RANGE:
            raise ValueError(f"chunk_log2 must be in {CHUNK_LOG2_RANGE}")
        self.inner = inner
        self.keyring = keyring
        self.encrypt = encrypt
        self.chunk_log2 = chunk_log2
        self.url = inner.url
        self._plain_dirs: dict[bool, Path] = {}
        self._plain_copies: dict[str, Path] = {}
        self._plain_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EncryptedArtifactStore({self.inner!r})"

    def __getstate__(self) -> dict[str, Any]:
        # Sent to a Dask worker (which then holds the keys: use a tls:// scheduler): the
        # decrypted copies and their lock belong to this process, not to the copy.
        state = dict(self.__dict__)
        state.update(_plain_dirs={}, _plain_copies={})
        del state["_plain_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._plain_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------

    def put_file(self, path: Path, *, digest: str | None = None, link: bool = False) -> ObjectInfo:
        """Encrypt and store a file (``link`` is ignored: the ciphertext is a new file)."""
        source = Path(path)
        if not self.encrypt:
            return self.inner.put_file(source, digest=digest, link=link)
        with reading_source(source):
            size = source.stat().st_size
        if digest is not None and self._stored_already(check_digest(digest), size):
            return ObjectInfo(digest, size, created=False)
        scratch, actual, size = self._seal_to_scratch(source)
        try:
            if digest is not None and actual != digest:
                raise changed_source_error(source, digest, actual)
            created = self._publish(actual, size, scratch)
        finally:
            scratch.unlink(missing_ok=True)
        return ObjectInfo(actual, size, created=created)

    def stage_file(self, path: Path, *, link: bool = False) -> StagedObject:
        """Encrypt the file into the store's scratch area, hashing it in the same read."""
        if not self.encrypt:
            return self.inner.stage_file(path, link=link)
        scratch, digest, size = self._seal_to_scratch(Path(path))
        try:
            publish_raw, abandon = self.inner.raw_stage(digest, scratch)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise

        def publish() -> ObjectInfo:
            if self._stored_already(digest, size):
                abandon()
                return ObjectInfo(digest, size, created=False)
            existed = self.inner.raw_size(digest) == ciphertext_size(size, self.chunk_log2)
            try:
                return ObjectInfo(digest, size, created=publish_raw() and not existed)
            finally:
                scratch.unlink(missing_ok=True)

        return StagedObject(digest, size, publish=publish, remove=abandon)

    def put_bytes(self, data: bytes) -> ObjectInfo:
        """Encrypt and store in-memory bytes."""
        if not self.encrypt:
            return self.inner.put_bytes(data)
        digest = hash_bytes(data)
        if self._stored_already(digest, len(data)):
            return ObjectInfo(digest, len(data), created=False)
        scratch = self.inner.raw_scratch()
        try:
            with open(scratch, "xb") as writer:
                encrypt_stream(
                    io.BytesIO(data).read, writer.write, self.keyring, chunk_log2=self.chunk_log2
                )
            created = self._publish(digest, len(data), scratch)
        finally:
            scratch.unlink(missing_ok=True)
        return ObjectInfo(digest, len(data), created=created)

    def _stored_already(self, digest: str, size: int) -> bool:
        # As the backends do: an object of the expected stored size is taken to be this
        # content (its address and final chunk bind it) and refreshed for gc; one of
        # another size (plain, truncated), or one the backend would rather write again
        # than refresh, is written again.
        return self.inner.raw_reusable(digest, ciphertext_size(size, self.chunk_log2))

    def _publish(self, digest: str, size: int, scratch: Path) -> bool:
        if self._stored_already(digest, size):
            return False
        # An object the backend would rather write again than refresh (an old one on S3)
        # is written again so gc sees it as new; as the backends count it, not created.
        existed = self.inner.raw_size(digest) == ciphertext_size(size, self.chunk_log2)
        return self.inner.raw_publish(digest, scratch) and not existed

    def _seal_to_scratch(self, source: Path) -> tuple[Path, str, int]:
        """The file encrypted into a new scratch file: its path, digest and size."""
        scratch = self.inner.raw_scratch()
        try:
            with reading_source(source):
                reader = source.open("rb")
            with reader, open(scratch, "xb") as writer:
                digest, size = encrypt_stream(
                    reader.read, writer.write, self.keyring, chunk_log2=self.chunk_log2
                )
        except OSError as exc:
            scratch.unlink(missing_ok=True)
            raise storage_error(exc, scratch.parent) or StoreError(
                f"could not encrypt {source} into {scratch.parent}: {exc}; check that the "
                "folder is writable and has free space",
                details={"store": self.url},
            ) from exc
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        return scratch, digest, size

    # -- reading ---------------------------------------------------------------------

    def _plaintext(self, digest: str) -> Iterator[bytes]:
        with self.inner.raw_open(check_digest(digest)) as reader:
            yield from decrypt_stream(reader.read, self.keyring, digest, store_url=self.url)

    def get_bytes(self, digest: str) -> bytes:
        """The object's plaintext, authenticated and verified against its digest."""
        return b"".join(self._plaintext(digest))

    def get_file(self, digest: str, dest: Path) -> Path:
        """Decrypt the object to ``dest``; ``dest`` appears only once it is verified."""
        dest = Path(dest)
        self._decrypt_to(digest, dest)
        return dest

    def local_path(self, digest: str) -> Path:
        """A verified plaintext copy in this process's private folder (see the class)."""
        check_digest(digest)
        with self._plain_lock:
            cached = self._plain_copies.get(digest)
        if cached is not None and cached.is_file():
            return cached
        path = self._private_folder(self.size(digest)) / digest
        self._decrypt_to(digest, path)
        with self._plain_lock:
            self._plain_copies[digest] = path
        return path

    def _decrypt_to(self, digest: str, dest: Path) -> None:
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as writer:
                    for chunk in self._plaintext(digest):
                        writer.write(chunk)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise storage_error(exc, dest.parent) or StoreError(
                f"could not write the decrypted object {digest} to {dest.parent}: {exc}",
                details={"digest": digest},
            ) from exc

    def _private_folder(self, size: int) -> Path:
        """A folder only this process reads (0700), removed at exit: in memory
        (``/dev/shm``) when the copy fits there with room to spare, else the temporary
        folder (``/dev/shm`` is often small, 64 MiB in a container)."""
        shm = Path("/dev/shm")
        in_memory = False
        with contextlib.suppress(OSError):
            if shm.is_dir() and os.access(shm, os.W_OK):
                stats = os.statvfs(shm)
                in_memory = size * 2 + (64 << 20) < stats.f_bavail * stats.f_frsize
        with self._plain_lock:
            folder = self._plain_dirs.get(in_memory)
            if folder is None or not folder.is_dir():
                base = shm if in_memory else Path(tempfile.gettempdir())
                _remove_orphaned_copies(base)
                folder = Path(tempfile.mkdtemp(prefix=f"{_PLAIN_PREFIX}{os.getpid()}-", dir=base))
                atexit.register(shutil.rmtree, folder, ignore_errors=True)
                self._plain_dirs[in_memory] = folder
            return folder

    def close(self) -> None:
        """Remove the decrypted copies :meth:`local_path` made."""
        with self._plain_lock:
            for folder in self._plain_dirs.values():
                shutil.rmtree(folder, ignore_errors=True)
            self._plain_dirs.clear()
            self._plain_copies.clear()

    # -- the rest is the wrapped store's ------------------------------------------------

    def exists(self, digest: str) -> bool:
        return self.inner.exists(digest)

    def size(self, digest: str) -> int:
        """The plaintext's size, worked out from the stored size and the header."""
        stored = self.inner.size(digest)
        with self.inner.raw_open(check_digest(digest)) as reader:
            head = read_full(reader.read, HEADER_BYTES)
        header = Header.parse(head, OBJECT_MAGIC, what=f"object {digest} in {self.url}")
        return stored if header is None else plaintext_size(stored, header.chunk_log2)

    def delete(self, digest: str) -> None:
        self.inner.delete(digest)

    def iter_digests(self) -> Iterator[str]:
        return self.inner.iter_digests()

    def clean_temporary(self, older_than_seconds: float = DEFAULT_TEMPORARY_AGE) -> int:
        return self.inner.clean_temporary(older_than_seconds)

    def object_modified(self, digest: str) -> float | None:
        return self.inner.object_modified(digest)

    def remove_unreferenced(self, digest: str, written_before: float) -> int | None:
        return self.inner.remove_unreferenced(digest, written_before)

    # Records (signed audit checkpoints) are public by design and verified by signature:
    # they are kept as they are, so verifying them needs no key-encryption key.
    def put_record(self, name: str, data: bytes) -> None:
        self.inner.put_record(name, data)

    def get_record(self, name: str) -> bytes:
        return self.inner.get_record(name)

    def list_records(self, prefix: str) -> list[str]:
        return self.inner.list_records(prefix)

    def raw_size(self, digest: str) -> int | None:
        return self.inner.raw_size(digest)

    def raw_reusable(self, digest: str, size: int) -> bool:
        return self.inner.raw_reusable(digest, size)

    def raw_open(self, digest: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.inner.raw_open(digest)

    def raw_scratch(self) -> Path:
        return self.inner.raw_scratch()

    def raw_publish(self, digest: str, scratch: Path) -> bool:
        return self.inner.raw_publish(digest, scratch)

    def raw_stage(
        self, digest: str, scratch: Path
    ) -> tuple[Callable[[], bool], Callable[[], None]]:
        return self.inner.raw_stage(digest, scratch)

    def raw_rewrite_header(
        self, digest: str, size: int, rewrite: Callable[[bytes], bytes | None]
    ) -> None:
        self.inner.raw_rewrite_header(digest, size, rewrite)


_PLAIN_PREFIX = "pathtolive-plain-"


def _remove_orphaned_copies(base: Path) -> None:
    """Remove the private folders of decrypted copies that processes killed before they
    could clean up (``kill -9``, a power cut) left in ``base``: their name carries the
    owner's pid, and a folder whose owner is gone (and that this user owns) goes."""
    if os.name != "posix":  # signal 0 probes a process only on POSIX
        return
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            if not entry.name.startswith(_PLAIN_PREFIX):
                continue
            pid_text = entry.name.removeprefix(_PLAIN_PREFIX).split("-", 1)[0]
            if not pid_text.isdigit() or entry.stat().st_uid != os.getuid():
                continue
            try:
                os.kill(int(pid_text), 0)
            except ProcessLookupError:
                shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue  # alive, someone else's
