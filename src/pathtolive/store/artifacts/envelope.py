"""The envelope format of encryption at rest: how an object or a journal file is laid out.

An encrypted object is::

    header (64 bytes)  magic "PTLENC", format version, chunk size, nonce prefix,
                       id of the key-encryption key, the object's data key wrapped by it
    chunk 0 .. n-1     each chunk of plaintext sealed by AES-256-GCM

A chunk's nonce is the header's random prefix, the chunk index and a final flag, so a
reordered, dropped or appended chunk fails to authenticate; the final chunk alone also
authenticates the object's address (the BLAKE3 digest of the plaintext), so the bytes of
one object cannot be passed off under another address. Objects stream through in chunks:
a large file is never held in memory.

The header's authenticated part (magic, version, chunk size, nonce prefix) never changes;
the key id and wrapped key are outside it, so rotating the key-encryption key rewrites
only the header and never the data. (Swapping in another object's wrapped key only makes
every chunk fail: the data key it unwraps to is not this object's.)

:class:`LineSealer` and :func:`open_lines` do the same for append-only files of lines
(the prediction log's crash journal): a header line, then one sealed record a line.
Someone who can write the file can drop records (as a crash would) but not alter,
reorder or forge one.

:mod:`pathtolive.store.artifacts.encryption` applies it to an ArtifactStore.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pathtolive.errors import ConfigError, IntegrityError
from pathtolive.hashing import new_hasher
from pathtolive.store.artifacts.base import ENCRYPTED_MAGIC, corrupt_object_error
from pathtolive.store.artifacts.keyring import KEY_ID_BYTES, WRAPPED_KEY_BYTES, Keyring

__all__ = [
    "CHUNK_LOG2_RANGE",
    "DEFAULT_CHUNK_LOG2",
    "HEADER_BYTES",
    "JOURNAL_HEADER_LINE_BYTES",
    "JOURNAL_MAGIC",
    "OBJECT_MAGIC",
    "Header",
    "LineSealer",
    "RewrapOutcome",
    "ciphertext_size",
    "decrypt_stream",
    "encrypt_stream",
    "journal_header",
    "open_lines",
    "plaintext_size",
    "read_full",
]

OBJECT_MAGIC = ENCRYPTED_MAGIC
JOURNAL_MAGIC = b"PTLJNL"
FORMAT_VERSION = 1
HEADER_BYTES = 64
DEFAULT_CHUNK_LOG2 = 20
"""1 MiB chunks: 16 bytes of tag per MiB, and two chunks in memory at a time."""
CHUNK_LOG2_RANGE = range(10, 27)
"""The chunk sizes a header may name (1 KiB to 64 MiB), as powers of two."""
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
        if chunk_log2 not in CHUNK_LOG2_RANGE:
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


def plaintext_size(stored: int, chunk_log2: int) -> int:
    body = stored - HEADER_BYTES
    chunks = max(1, -(-body // ((1 << chunk_log2) + _TAG)))
    return body - _TAG * chunks


def read_full(read: Callable[[int], bytes], size: int) -> bytes:
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
    pending = read_full(read, chunk)
    while True:
        following = read_full(read, chunk) if len(pending) == chunk else b""
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
    head = read_full(read, HEADER_BYTES)
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
        pending = read_full(read, sealed)
        index = 0
        while True:
            following = read_full(read, sealed) if len(pending) == sealed else b""
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


def _no_keyring(what: str, header: Header) -> ConfigError:
    return ConfigError(
        f"{what} is encrypted under key {header.key_id.hex()} but no key is configured; set "
        "PATHTOLIVE_KEK (base64), or [security] key_file or key_command in pathtolive.toml",
        details={"key_id": header.key_id.hex()},
    )
