"""Encryption at rest: AES-256-GCM envelope encryption around any ArtifactStore.

:class:`EncryptedArtifactStore` wraps a backend (a local folder, S3 through fsspec) and
keeps each object as::

    header (64 bytes)  magic "PTLENC", format version, chunk size, nonce prefix,
                       id of the key-encryption key, the object's data key wrapped by it
    chunk 0 .. n-1     each chunk of plaintext sealed by AES-256-GCM

A chunk's nonce is the header's random prefix, the chunk index and a final flag, so a
reordered, dropped or appended chunk fails to authenticate; the final chunk alone also
authenticates the object's address (the BLAKE3 digest of the plaintext), so the bytes of
one object cannot be passed off under another address. Objects are still addressed by the
plaintext's digest, so content addressing and deduplication work as before, and every
read hashes the decrypted bytes again. Objects stream through in chunks: a large file is
never held in memory.

The header's authenticated part (magic, version, chunk size, nonce prefix) never changes;
the key id and wrapped key are outside it, so rotating the key-encryption key rewrites
only the header (:func:`rewrap_object`) and never the data. On S3, whose objects cannot
be edited in part, that means the object is copied once with its new header (same
ciphertext) — see :meth:`ArtifactStore.raw_rewrite_header`.

Objects written before encryption was switched on have no header; they are read as plain
objects (verified by their hash) so a workspace can turn encryption on at any time.

:class:`LineSealer` and :func:`open_lines` do the same for append-only files of lines
(the prediction log's crash journal): a header line, then one sealed record a line.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import io
import os
import shutil
import struct
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pathtolive.errors import IntegrityError, StoreError
from pathtolive.hashing import hash_bytes, new_hasher
from pathtolive.store.artifacts.base import (
    DEFAULT_TEMPORARY_AGE,
    ENCRYPTED_MAGIC,
    ArtifactStore,
    ObjectInfo,
    StagedObject,
    changed_source_error,
    check_digest,
    corrupt_object_error,
    reading_source,
)
from pathtolive.store.artifacts.keyring import KEY_ID_BYTES, WRAPPED_KEY_BYTES, Keyring

__all__ = [
    "DEFAULT_CHUNK_LOG2",
    "HEADER_BYTES",
    "JOURNAL_HEADER_LINE_BYTES",
    "JOURNAL_MAGIC",
    "OBJECT_MAGIC",
    "EncryptedArtifactStore",
    "Header",
    "LineSealer",
    "RewrapOutcome",
    "ciphertext_size",
    "decrypt_stream",
    "encrypt_plain_object",
    "encrypt_stream",
    "journal_header",
    "open_lines",
    "rewrap_object",
]

OBJECT_MAGIC = ENCRYPTED_MAGIC
JOURNAL_MAGIC = b"PTLJNL"
FORMAT_VERSION = 1
HEADER_BYTES = 64
DEFAULT_CHUNK_LOG2 = 20
"""1 MiB chunks: 16 bytes of tag per MiB, and two chunks in memory at a time."""
_CHUNK_LOG2_RANGE = range(10, 27)
_TAG = 16
_NONCE_PREFIX = 7
_FIXED = struct.Struct(f">6sBB{_NONCE_PREFIX}s")  # authenticated, never rewritten
_KEYED = struct.Struct(f">{KEY_ID_BYTES}s{WRAPPED_KEY_BYTES}s")  # rewritten by rotation
_PADDING = HEADER_BYTES - _FIXED.size - _KEYED.size


@dataclass(frozen=True)
class Header:
    """The header of an encrypted object or journal file."""

    magic: bytes
    chunk_log2: int
    nonce_prefix: bytes
    key_id: bytes
    wrapped_key: bytes

    @property
    def fixed(self) -> bytes:
        """The part every chunk authenticates: rotation leaves it as it is."""
        return _FIXED.pack(self.magic, FORMAT_VERSION, self.chunk_log2, self.nonce_prefix)

    def to_bytes(self) -> bytes:
        return self.fixed + _KEYED.pack(self.key_id, self.wrapped_key) + bytes(_PADDING)

    @classmethod
    def new(cls, magic: bytes, keyring: Keyring, chunk_log2: int) -> tuple[Header, bytes]:
        """A header with a fresh data key, and that data key."""
        data_key, wrapped, key_id = keyring.new_data_key()
        return cls(magic, chunk_log2, os.urandom(_NONCE_PREFIX), key_id, wrapped), data_key

    @classmethod
    def parse(cls, data: bytes, magic: bytes, *, what: str) -> Header | None:
        """The header at the start of ``data``; None when ``data`` does not start with
        ``magic`` (a plain object); IntegrityError when it does but is malformed."""
        if not data.startswith(magic):
            return None
        if len(data) < HEADER_BYTES:
            raise _tampered(what, "its header is cut short")
        _, version, chunk_log2, prefix = _FIXED.unpack_from(data)
        if version != FORMAT_VERSION:
            raise IntegrityError(
                f"{what} uses encryption format {version}, which this pathtolive does not "
                "read; upgrade pathtolive",
                details={"format": version},
            )
        if chunk_log2 not in _CHUNK_LOG2_RANGE:
            raise _tampered(what, "its header names an impossible chunk size")
        key_id, wrapped = _KEYED.unpack_from(data, _FIXED.size)
        return cls(magic, chunk_log2, prefix, key_id, wrapped)

    def open(self, keyring: Keyring, *, what: str) -> AESGCM:
        return AESGCM(keyring.unwrap(self.key_id, self.wrapped_key, what=what))


def _tampered(what: str, how: str) -> IntegrityError:
    return IntegrityError(
        f"{what} fails authentication ({how}): it was altered, truncated or written under "
        "another address; restore it from a backup",
        details={"object": what},
    )


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if final else 0)


def ciphertext_size(size: int, chunk_log2: int = DEFAULT_CHUNK_LOG2) -> int:
    """How many bytes a plaintext of ``size`` bytes takes encrypted."""
    chunks = max(1, -(-size // (1 << chunk_log2)))
    return HEADER_BYTES + size + _TAG * chunks


def _plaintext_size(stored: int, chunk_log2: int) -> int:
    body = stored - HEADER_BYTES
    chunks = max(1, -(-body // ((1 << chunk_log2) + _TAG)))
    return body - _TAG * chunks


def _read_full(read: Callable[[int], bytes], size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end (raw streams may return short reads)."""
    data = read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size and (more := read(size - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def encrypt_stream(
    read: Callable[[int], bytes],
    write: Callable[[bytes], object],
    keyring: Keyring,
    *,
    chunk_log2: int = DEFAULT_CHUNK_LOG2,
) -> tuple[str, int]:
    """Encrypt what ``read`` gives into ``write``; return the plaintext's digest and size.

    One chunk is held back so that the last one is known to be last: it is sealed with
    the final flag and the digest, which is known only once everything was read."""
    header, data_key = Header.new(OBJECT_MAGIC, keyring, chunk_log2)
    aead = AESGCM(data_key)
    fixed = header.fixed
    write(header.to_bytes())
    chunk = 1 << chunk_log2
    hasher = new_hasher()
    size = 0
    index = 0
    pending = _read_full(read, chunk)
    while True:
        following = _read_full(read, chunk) if len(pending) == chunk else b""
        hasher.update(pending)
        size += len(pending)
        if not following:
            digest: str = hasher.hexdigest()
            nonce = _nonce(header.nonce_prefix, index, True)
            write(aead.encrypt(nonce, pending, fixed + bytes.fromhex(digest)))
            return digest, size
        write(aead.encrypt(_nonce(header.nonce_prefix, index, False), pending, fixed))
        index += 1
        pending = following


def decrypt_stream(
    read: Callable[[int], bytes], keyring: Keyring, digest: str, *, store_url: str
) -> Iterator[bytes]:
    """The plaintext of a stored object, chunk by chunk; a plain (legacy) object passes
    through. Raises at the end when the bytes do not hash to ``digest``, so a caller must
    consume it all before trusting what it wrote."""
    what = f"object {digest} in {store_url}"
    head = _read_full(read, HEADER_BYTES)
    header = Header.parse(head, OBJECT_MAGIC, what=what)
    hasher = new_hasher()
    if header is None:
        chunk = head
        while chunk:
            hasher.update(chunk)
            yield chunk
            chunk = read(1 << DEFAULT_CHUNK_LOG2)
    else:
        aead = header.open(keyring, what=what)
        fixed = header.fixed
        sealed = (1 << header.chunk_log2) + _TAG
        pending = _read_full(read, sealed)
        index = 0
        while True:
            following = _read_full(read, sealed) if len(pending) == sealed else b""
            final = not following
            aad = fixed + bytes.fromhex(digest) if final else fixed
            try:
                plain = aead.decrypt(_nonce(header.nonce_prefix, index, final), pending, aad)
            except InvalidTag:
                raise _tampered(what, f"chunk {index}") from None
            hasher.update(plain)
            yield plain
            if final:
                break
            index += 1
            pending = following
    actual = hasher.hexdigest()
    if actual != digest:
        raise corrupt_object_error(digest, actual, store_url)


RewrapOutcome = Literal["rewrapped", "current", "plain"]


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
        head = _read_full(reader.read, len(OBJECT_MAGIC))
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
        if chunk_log2 not in _CHUNK_LOG2_RANGE:
            raise ValueError(f"chunk_log2 must be in {_CHUNK_LOG2_RANGE}")
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
            try:
                return ObjectInfo(digest, size, created=publish_raw())
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
        # content (its address and final chunk bind it); one of another size (plain,
        # truncated) is written again.
        return self.inner.raw_size(digest) == ciphertext_size(size, self.chunk_log2)

    def _publish(self, digest: str, size: int, scratch: Path) -> bool:
        if self._stored_already(digest, size):
            return False
        return self.inner.raw_publish(digest, scratch)

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
            raise StoreError(
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
            raise StoreError(
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
            head = _read_full(reader.read, HEADER_BYTES)
        header = Header.parse(head, OBJECT_MAGIC, what=f"object {digest} in {self.url}")
        return stored if header is None else _plaintext_size(stored, header.chunk_log2)

    def delete(self, digest: str) -> None:
        self.inner.delete(digest)

    def iter_digests(self) -> Iterator[str]:
        return self.inner.iter_digests()

    def clean_temporary(self, older_than_seconds: float = DEFAULT_TEMPORARY_AGE) -> int:
        return self.inner.clean_temporary(older_than_seconds)

    def raw_size(self, digest: str) -> int | None:
        return self.inner.raw_size(digest)

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


# -- files of sealed lines: the prediction log's journal ------------------------------------


class LineSealer:
    """Seals the records of one append-only file of lines under one data key.

    The file starts with :meth:`header_line`; each record is then one line: base64 of its
    sequence number and its AES-GCM ciphertext. The nonce is the sequence number (unique
    within the file, whose data key is used nowhere else), so records cannot be reordered
    unnoticed. Call :meth:`seal` under the writer's lock."""

    def __init__(self, keyring: Keyring) -> None:
        self.header, data_key = Header.new(JOURNAL_MAGIC, keyring, DEFAULT_CHUNK_LOG2)
        self._aead = AESGCM(data_key)
        self._fixed = self.header.fixed
        self._sequence = 0

    def header_line(self) -> bytes:
        return base64.b64encode(self.header.to_bytes()) + b"\n"

    def seal(self, line: bytes) -> bytes:
        sequence = self._sequence
        self._sequence += 1
        nonce = sequence.to_bytes(12, "big")
        sealed = self._aead.encrypt(nonce, line.rstrip(b"\n"), self._fixed)
        return base64.b64encode(sequence.to_bytes(8, "big") + sealed) + b"\n"


JOURNAL_HEADER_LINE_BYTES = len(base64.b64encode(bytes(HEADER_BYTES))) + 1


def journal_header(data: bytes, *, what: str) -> Header | None:
    """The header of a sealed journal file, None for a plain one."""
    first = data[:JOURNAL_HEADER_LINE_BYTES]
    if not first.startswith(base64.b64encode(JOURNAL_MAGIC)[:8]):
        return None
    try:
        raw = base64.b64decode(first.rstrip(b"\n"), validate=True)
    except (binascii.Error, ValueError):
        raise _tampered(what, "its header line is not base64") from None
    return Header.parse(raw, JOURNAL_MAGIC, what=what)


def open_lines(
    data: bytes, keyring: Keyring | None, *, what: str
) -> tuple[list[bytes], int] | None:
    """The plaintext records of a sealed file and how many lines failed to open (a torn
    last line, or tampering); None when ``data`` is a plain file."""
    header = journal_header(data, what=what)
    if header is None:
        return None
    if keyring is None:
        raise _no_keyring(what, header)
    aead = header.open(keyring, what=what)
    records: list[bytes] = []
    failed = 0
    expected = 0
    for line in data[JOURNAL_HEADER_LINE_BYTES:].split(b"\n"):
        if not line.strip():
            continue
        try:
            raw = base64.b64decode(line, validate=True)
            sequence = int.from_bytes(raw[:8], "big")
            if sequence < expected:
                raise ValueError("replayed record")
            records.append(aead.decrypt(sequence.to_bytes(12, "big"), raw[8:], header.fixed))
            expected = sequence + 1
        except (binascii.Error, ValueError, InvalidTag):
            failed += 1
    return records, failed


def _no_keyring(what: str, header: Header) -> Exception:
    from pathtolive.errors import ConfigError

    return ConfigError(
        f"{what} is encrypted under key {header.key_id.hex()} but no key is configured; set "
        "PATHTOLIVE_KEK (base64), or [security] key_file or key_command in pathtolive.toml",
        details={"key_id": header.key_id.hex()},
    )
