"""The ArtifactStore seam: content-addressed, immutable objects.

An object is addressed by the BLAKE3 digest of its bytes and kept at
``<root>/objects/<digest[:2]>/<digest[2:]>``. Writers put bytes under a temporary name and
rename them into place, so a reader never sees half an object; the same content is stored
once; every read checks the bytes against their digest.
"""

from __future__ import annotations

import abc
import stat
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pathtolive.errors import (
    ConfigError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)
from pathtolive.hashing import hash_file, is_digest

__all__ = [
    "DEFAULT_TEMPORARY_AGE",
    "ENCRYPTED_MAGIC",
    "READ_ONLY",
    "ArtifactStore",
    "ObjectInfo",
    "StagedObject",
    "changed_source_error",
    "check_digest",
    "corrupt_object_error",
    "hash_source",
    "missing_object_error",
    "missing_source_error",
    "object_key",
    "reading_source",
]


READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
"""The mode of a stored object's file: nobody edits an object in place."""

DEFAULT_TEMPORARY_AGE = 3600.0
"""Seconds after which :meth:`ArtifactStore.clean_temporary` takes a temporary file for
one a crashed writer left behind."""


def object_key(digest: str) -> str:
    """Relative key of an object inside a store root."""
    return f"objects/{digest[:2]}/{digest[2:]}"


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows of one object."""

    digest: str
    size: int
    created: bool  # False when the content was already stored


class StagedObject:
    """Bytes copied into the store under a temporary name and hashed in the same pass,
    not yet visible as an object. ``commit()`` publishes them under their digest;
    ``discard()`` (or leaving the ``with`` block without a commit) removes them. This lets
    a caller copy a large file while it checks the data, and decide afterwards.

    A backend makes one with the two actions that finish it: publish the temporary bytes
    under the digest, or remove them."""

    def __init__(
        self,
        digest: str,
        size: int,
        *,
        publish: Callable[[], ObjectInfo],
        remove: Callable[[], None],
    ) -> None:
        self.digest = digest
        self.size = size
        self._publish: Callable[[], ObjectInfo] | None = publish
        self._remove = remove

    def commit(self) -> ObjectInfo:
        """Publish the object (``created=False`` when it was stored already)."""
        if self._publish is None:
            raise StoreError("this staged object was committed or discarded already")
        publish, self._publish = self._publish, None
        return publish()

    def discard(self) -> None:
        """Remove the staged bytes; a no-op after a commit."""
        if self._publish is not None:
            self._publish = None
            self._remove()

    def __enter__(self) -> StagedObject:
        return self

    def __exit__(self, *_: object) -> None:
        self.discard()


class ArtifactStore(abc.ABC):
    """Content-addressed object storage. Implementations: local folder, fsspec (``s3://``)."""

    url: str

    @abc.abstractmethod
    def put_file(self, path: Path, *, digest: str | None = None, link: bool = False) -> ObjectInfo:
        """Store the file's bytes. ``digest`` may be passed when already computed (it is
        trusted only if the caller computed it from these very bytes). ``link`` allows a
        hard link or reflink instead of a copy where the backend and filesystem allow; the
        source must then never be modified in place."""

    @abc.abstractmethod
    def stage_file(self, path: Path, *, link: bool = False) -> StagedObject:
        """Copy (or with ``link``, hard-link) the file into the store's temporary area,
        hashing it in the same read; see :class:`StagedObject`."""

    @abc.abstractmethod
    def put_bytes(self, data: bytes) -> ObjectInfo:
        """Store in-memory bytes."""

    @abc.abstractmethod
    def get_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified; raises IntegrityError on mismatch, NotFoundError
        when absent."""

    @abc.abstractmethod
    def get_file(self, digest: str, dest: Path) -> Path:
        """Write the object to ``dest`` (verified) and return ``dest``."""

    @abc.abstractmethod
    def local_path(self, digest: str) -> Path:
        """A local path holding the verified object: the object itself for a local store,
        a verified cached copy for a remote one. The caller must not modify it."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abc.abstractmethod
    def size(self, digest: str) -> int: ...

    @abc.abstractmethod
    def delete(self, digest: str) -> None:
        """Remove an object (used to undo a failed operation); absent objects are ignored."""

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored digest (temporary files excluded)."""

    @abc.abstractmethod
    def clean_temporary(self, older_than_seconds: float = DEFAULT_TEMPORARY_AGE) -> int:
        """Remove temporary files that crashed writers left behind and that are older than
        ``older_than_seconds``; return how many were removed. Keep the age well above the
        time one write takes, or a live writer loses its file."""

    # -- stored bytes as they are, for a wrapper that transforms them (encryption) ------
    # These neither hash nor verify: the wrapper authenticates what it reads. A backend
    # that lacks them cannot be encrypted; it says so when encryption is switched on.

    def raw_size(self, digest: str) -> int | None:
        """The stored size of an object, None when absent."""
        raise self._no_raw()

    def raw_open(self, digest: str) -> AbstractContextManager[BinaryIO]:
        """The stored bytes of an object as a binary stream (NotFoundError when absent)."""
        raise self._no_raw()

    def raw_scratch(self) -> Path:
        """A new, unused local path for a wrapper to write an object's stored form to,
        on the same filesystem as the objects where the store is local."""
        raise self._no_raw()

    def raw_publish(self, digest: str, scratch: Path) -> bool:
        """Publish the file at ``scratch`` (from :meth:`raw_scratch`) as the stored form of
        ``digest``, atomically; False when another writer published it first."""
        raise self._no_raw()

    def raw_stage(
        self, digest: str, scratch: Path
    ) -> tuple[Callable[[], bool], Callable[[], None]]:
        """Start publishing ``scratch`` as ``digest``: the two actions that finish it,
        publish (as :meth:`raw_publish`) and abandon. A remote store uploads here, so the
        upload overlaps whatever the caller does before it decides."""

        def abandon() -> None:
            scratch.unlink(missing_ok=True)

        return (lambda: self.raw_publish(digest, scratch)), abandon

    def raw_rewrite_header(
        self, digest: str, size: int, rewrite: Callable[[bytes], bytes | None]
    ) -> None:
        """Replace the first ``size`` bytes of a stored object by ``rewrite(those
        bytes)`` (of the same length), leaving the rest as it is; nothing when it returns
        None. The header is read and written in one opening of the object, so a writer
        replacing the object meanwhile cannot get another object's header. (Encryption's
        key rotation rewrites nothing but the header.)"""
        raise self._no_raw()

    def _no_raw(self) -> ConfigError:
        return ConfigError(
            f"the artifact store {self.url} ({type(self).__name__}) cannot hold encrypted "
            "objects; turn [security] encrypt off or use a local folder or s3:// store"
        )


# Helpers shared by the backends, so every backend words its errors the same way. They are
# not part of the seam's public API.


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a hex BLAKE3 digest; raise InvalidInputError otherwise.

    Backends turn digests into paths and keys, so anything else (``../``, an empty string)
    must never reach them.
    """
    if not is_digest(digest):
        raise InvalidInputError(
            f"{digest!r} is not an object digest (64 lowercase hex characters of BLAKE3); "
            "copy the digest exactly as pathtolive printed it"
        )
    return digest


ENCRYPTED_MAGIC = b"PTLENC"
"""How an object encrypted at rest starts (see :mod:`.encryption`)."""


def corrupt_object_error(
    digest: str, actual: str, store_url: str, head: bytes = b""
) -> IntegrityError | ConfigError:
    """The error raised when an object's bytes do not hash to its address. ``head``, the
    object's first bytes, tells an object encrypted at rest, read without the key
    configured, from a corrupt one."""
    if head.startswith(ENCRYPTED_MAGIC):
        return ConfigError(
            f"object {digest} in {store_url} is encrypted at rest, and no key is "
            "configured here; set [security] encrypt = true with the key (PATHTOLIVE_KEK, "
            "[security] key_file or key_command) in pathtolive.toml",
            details={"digest": digest, "store": store_url},
        )
    return IntegrityError(
        f"object {digest} in {store_url} is corrupt (its bytes hash to {actual}); "
        "restore it from a backup, or delete it and add the same data again",
        details={"digest": digest, "actual": actual, "store": store_url},
    )


def missing_object_error(digest: str, store_url: str) -> NotFoundError:
    """The error raised when an object is not in the store."""
    return NotFoundError(
        f"object {digest} is not in the artifact store {store_url}; check that the "
        "workspace points at the store the object was added to",
        details={"digest": digest, "store": store_url},
    )


def changed_source_error(source: Path, expected: str, actual: str) -> IntegrityError:
    """The error raised when the bytes stored from ``source`` do not hash to the digest it
    was added under."""
    return IntegrityError(
        f"{source} hashes to {actual}, not {expected}: it changed while it was being added, "
        "or the digest passed for it is wrong; add it again once nothing is writing to it",
        details={"path": str(source), "expected": expected, "actual": actual},
    )


def missing_source_error(path: Path) -> NotFoundError:
    """The error raised when a file the caller asked to store does not exist."""
    return NotFoundError(f"{path} does not exist; check the path")


@contextmanager
def reading_source(path: Path) -> Iterator[None]:
    """Around opening a file the caller asked to store: a missing or unreadable file is
    the caller's mistake (NotFoundError, InvalidInputError), not a store failure."""
    try:
        yield
    except FileNotFoundError as exc:
        raise missing_source_error(path) from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def hash_source(path: Path) -> str:
    """Digest of a file the caller asked to store (see :func:`reading_source`)."""
    with reading_source(path):
        return hash_file(path)
