"""The ArtifactStore seam: content-addressed, immutable objects.

An object is addressed by the BLAKE3 digest of its bytes and kept at
``<root>/objects/<digest[:2]>/<digest[2:]>``. Writers put bytes under a temporary name and
rename them into place, so a reader never sees half an object; the same content is stored
once; every read checks the bytes against their digest.

Beside the objects, a store keeps a few *records*: small write-once files under a named
prefix (``checkpoints/…``, the audit chain's signed checkpoints). A record is created and
never replaced, so a bucket with S3 Object Lock (or any write-once storage) can make it
immutable.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pathtolive.errors import (
    ConfigError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StoreError,
)
from pathtolive.hashing import hash_file, is_digest

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_TEMPORARY_AGE",
    "ENCRYPTED_MAGIC",
    "LIVE_OWNER_MAX_AGE",
    "READ_ONLY",
    "RECORD_PREFIXES",
    "ArtifactStore",
    "ObjectInfo",
    "StagedObject",
    "changed_source_error",
    "check_digest",
    "check_record_name",
    "check_record_prefix",
    "corrupt_object_error",
    "existing_record_error",
    "hash_source",
    "missing_object_error",
    "missing_record_error",
    "missing_source_error",
    "object_key",
    "owner_tag",
    "reading_source",
    "temporary_is_stale",
]


READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
"""The mode of a stored object's file: nobody edits an object in place."""

DEFAULT_TEMPORARY_AGE = 3600.0
"""Seconds after which :meth:`ArtifactStore.clean_temporary` takes a temporary file for
one a crashed writer left behind."""


LIVE_OWNER_MAX_AGE = 24 * 3600.0
"""Seconds after which a temporary file is taken for a leftover even though a process with
its writer's id runs on this host: that id was reused by another process."""

DEFAULT_GRACE_SECONDS = 3600.0
"""Seconds an unreferenced object is kept by ``gc``: an add publishes its object before the
metadata row that refers to it commits, and that object must survive a concurrent gc."""

_OWNER = re.compile(r"p(?P<pid>\d+)-h(?P<host>[0-9a-f]{8})-")


@functools.cache
def _host_tag() -> str:
    # A digest of the host name and the process-id namespace: a fixed-width token for
    # temporary names. Two containers that share a folder (and maybe a host name) number
    # their processes each in their own namespace, so an id means something only in the
    # same one.
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{socket.gethostname()}\0{namespace}".encode()).hexdigest()[:8]


def owner_tag() -> str:
    """``p<pid>-h<host>``: put at the start of a temporary name, it lets a later writer
    tell a leftover of a crashed (killed) process from the file of a live one."""
    return f"p{os.getpid()}-h{_host_tag()}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    except OSError:
        return True  # cannot tell: keep its files
    try:
        # A killed process its parent has not reaped yet is a zombie: it writes nothing.
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return True
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


def temporary_is_stale(name: str, modified: float, older_than_seconds: float) -> bool:
    """Whether the temporary entry ``name`` (last changed at ``modified``, a POSIX time) was
    left behind by a crashed writer.

    A name that starts with an :func:`owner_tag` of this host is stale as soon as that
    process is gone (after ``kill -9`` too), and otherwise only after
    :data:`LIVE_OWNER_MAX_AGE`. Any other name (another host's, or an older release's) is
    stale once older than ``older_than_seconds``.
    """
    age = time.time() - modified
    # ``p<pid>-h<host>-...`` (a store's temporary) or ``add-p<pid>-h<host>-...`` (a folder).
    match = _OWNER.match(name) or _OWNER.match(name.partition("-")[2])
    if match is None or match["host"] != _host_tag():
        return age > older_than_seconds
    if int(match["pid"]) == os.getpid() or _process_alive(int(match["pid"])):
        return age > LIVE_OWNER_MAX_AGE
    return True


RECORD_PREFIXES = ("checkpoints",)
"""The folders records may be kept in: never ``objects`` or ``tmp``, which the store
lists and cleans as its own."""

_RECORD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


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
        try:
            return publish()
        except BaseException:
            # A publish that failed (a full disk, a read-only objects folder) leaves no
            # staged bytes behind; the remover ignores bytes already gone.
            with suppress(Exception):
                self._remove()
            raise

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
        """Remove temporary files that crashed writers left behind; return how many were
        removed. A file named with an :func:`owner_tag` of this host goes as soon as its
        process is gone; any other once older than ``older_than_seconds`` (keep that well
        above the time one write takes, or a live writer on another host loses its file)."""

    def object_modified(self, digest: str) -> float | None:
        """When the object was last written or refreshed (POSIX time), None when absent or
        unknown. A backend that cannot tell keeps the default, and gc never removes its
        objects."""
        check_digest(digest)
        return None

    def remove_unreferenced(self, digest: str, written_before: float) -> int | None:
        """Remove an object nothing refers to, but only if it was last written or
        refreshed before ``written_before`` (POSIX time); return its size, or None when it
        was kept. The age check is what keeps an object a concurrent add has just
        published (and is about to refer to) from being lost; the default keeps all."""
        check_digest(digest)
        return None

    # Records: not abstract, so that a store without them (a test double, a wrapper)
    # still works for everything else and says plainly what it lacks.

    def put_record(self, name: str, data: bytes) -> None:
        """Create the record ``name`` (``prefix/file``, see :data:`RECORD_PREFIXES`) with
        ``data``; a ConflictError if it exists. A record is never replaced."""
        raise StoreError(f"the artifact store {self.url} keeps no records")

    def get_record(self, name: str) -> bytes:
        """The bytes of record ``name``; NotFoundError when absent."""
        raise StoreError(f"the artifact store {self.url} keeps no records")

    def list_records(self, prefix: str) -> list[str]:
        """The names of the records under ``prefix``, sorted."""
        raise StoreError(f"the artifact store {self.url} keeps no records")

    # -- stored bytes as they are, for a wrapper that transforms them (encryption) ------
    # These neither hash nor verify: the wrapper authenticates what it reads. A backend
    # that lacks them cannot be encrypted; it says so when encryption is switched on.

    def raw_size(self, digest: str) -> int | None:
        """The stored size of an object, None when absent."""
        raise self._no_raw()

    def raw_reusable(self, digest: str, size: int) -> bool:
        """Whether an add may reuse the stored object of ``size`` bytes as it is: present,
        of that size, and marked as just written where the backend can (else False, and
        the caller writes it again), so that a concurrent gc keeps it."""
        return self.raw_size(digest) == size

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


def check_record_name(name: str) -> str:
    """Return ``name`` if it is ``prefix/file`` with a known prefix and a plain file name;
    raise InvalidInputError otherwise (names become paths and keys)."""
    prefix, _, file = name.partition("/")
    if prefix not in RECORD_PREFIXES or not _RECORD_NAME.fullmatch(file) or ".." in file:
        raise InvalidInputError(
            f"{name!r} is not a record name: use PREFIX/FILE with PREFIX one of "
            f"{', '.join(RECORD_PREFIXES)} and FILE of letters, digits, '.', '_' or '-'"
        )
    return name


def check_record_prefix(prefix: str) -> str:
    """Return ``prefix`` if records may be kept under it; raise InvalidInputError."""
    if prefix.rstrip("/") not in RECORD_PREFIXES:
        raise InvalidInputError(
            f"{prefix!r} is not a record prefix; use one of {', '.join(RECORD_PREFIXES)}"
        )
    return prefix.rstrip("/")


def existing_record_error(name: str, store_url: str) -> ConflictError:
    """The error raised when a record to create exists already."""
    return ConflictError(
        f"record {name} exists already in {store_url}; records are never replaced, "
        "write a new one under another name",
        details={"record": name, "store": store_url},
    )


def missing_record_error(name: str, store_url: str) -> NotFoundError:
    """The error raised when a record is not in the store."""
    return NotFoundError(
        f"record {name} is not in the artifact store {store_url}",
        details={"record": name, "store": store_url},
    )


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
