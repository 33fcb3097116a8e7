"""The local-folder ArtifactStore, the default store of a workspace.

Objects are files at ``<root>/objects/ab/cdef…``. A writer puts the bytes in a temporary
file under ``<root>/tmp/`` (the same filesystem, so the final ``os.replace`` is an atomic
rename), hashes that file, fsyncs it and renames it into place, then fsyncs the directory so
the rename survives a power cut. A reader sees either no object or the whole object; a
crashed writer leaves only a temporary file, which :meth:`LocalArtifactStore.clean_temporary`
removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pathtolive.errors import StoreError, storage_error
from pathtolive.hashing import CHUNK_BYTES, hash_bytes, hash_file, is_digest, new_hasher
from pathtolive.store.artifacts.base import (
    DEFAULT_TEMPORARY_AGE,
    READ_ONLY,
    ArtifactStore,
    ObjectInfo,
    StagedObject,
    changed_source_error,
    check_digest,
    check_record_name,
    check_record_prefix,
    corrupt_object_error,
    existing_record_error,
    hash_source,
    missing_object_error,
    missing_record_error,
    object_key,
    owner_tag,
    reading_source,
    temporary_is_stale,
)

__all__ = ["LocalArtifactStore"]


class LocalArtifactStore(ArtifactStore):
    """Content-addressed objects in a local folder.

    Copied objects are made read-only so that a tool which opens a path returned by
    :meth:`local_path` cannot edit the object in place by accident.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()
        self._objects = self.root / "objects"
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def put_file(self, path: Path, *, digest: str | None = None, link: bool = False) -> ObjectInfo:
        """Store a file's bytes; with ``link=True`` as a hard link to it where possible.

        A hard link shares the source's inode, so the object is *not* made read-only then:
        that would silently change the mode of the caller's own file. The caller promised
        not to edit the source in place (see :meth:`ArtifactStore.put_file`); if it does
        anyway, every read re-hashes the object and raises IntegrityError instead of
        returning the edited bytes. Editors that save by writing a new file and renaming
        it break the link and leave the object intact.
        """
        source = Path(path)
        expected = check_digest(digest) if digest is not None else hash_source(source)
        final = self._object_path(expected)
        with self._store_errors("add an object"):
            size = source.stat().st_size
            # An object of the same size is taken to be the same content: re-hashing it on
            # every add would make adding known data as slow as adding new data. An object
            # of another size is damaged (truncated, overwritten) and is written again.
            if _size_of(final) == size and _refresh(final):
                return ObjectInfo(expected, size, created=False)
            tmp = self._new_temporary()
            try:
                copied = not (link and _hard_link(source, tmp))
                if copied:
                    shutil.copyfile(source, tmp)
                _fsync_file(tmp)
                if copied:
                    os.chmod(tmp, READ_ONLY)
                # Hash what will be stored rather than trusting the source: the source may
                # have changed since it was hashed, or the digest passed may be wrong.
                actual = hash_file(tmp)
                if actual != expected:
                    raise changed_source_error(source, expected, actual)
                created = self._publish(tmp, final, tmp.stat().st_size)
            finally:
                tmp.unlink(missing_ok=True)
        return ObjectInfo(expected, size, created=created)

    def stage_file(self, path: Path, *, link: bool = False) -> StagedObject:
        """Copy the file to a temporary name in the store, hashing it in the same read
        (one pass over the source instead of a hash and then a copy)."""
        source = Path(path)
        with self._store_errors("add an object"):
            tmp = self._new_temporary()
            try:
                if link and _hard_link(source, tmp):
                    digest, size = hash_source(tmp), tmp.stat().st_size
                else:
                    digest, size = _copy_hashing(source, tmp)
                    os.chmod(tmp, READ_ONLY)
                # Flushed to disk now, while the caller is still busy (profiling the
                # data, on another thread): publishing then only renames.
                _fsync_file(tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return StagedObject(
            digest,
            size,
            publish=lambda: self._commit_staged(tmp, digest, size),
            remove=lambda: tmp.unlink(missing_ok=True),
        )

    def put_bytes(self, data: bytes) -> ObjectInfo:
        """Store in-memory bytes."""
        digest = hash_bytes(data)
        final = self._object_path(digest)
        with self._store_errors("add an object"):
            if _size_of(final) == len(data) and _refresh(final):
                return ObjectInfo(digest, len(data), created=False)
            tmp = self._new_temporary()
            try:
                _write_read_only(tmp, data)
                created = self._publish(tmp, final, len(data))
            finally:
                tmp.unlink(missing_ok=True)
        return ObjectInfo(digest, len(data), created=created)

    def get_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified against its digest."""
        path = self._object_path(digest)
        with self._store_errors("read an object"):
            try:
                data = path.read_bytes()
            except FileNotFoundError as exc:
                raise missing_object_error(digest, self.url) from exc
        actual = hash_bytes(data)
        if actual != digest:
            raise corrupt_object_error(digest, actual, self.url, data[:8])
        return data

    def get_file(self, digest: str, dest: Path) -> Path:
        """Copy the object to ``dest``; ``dest`` appears only once the copy is verified."""
        source = self._object_path(digest)
        dest = Path(dest)
        with self._store_errors("copy an object out"):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
            try:
                try:
                    shutil.copyfile(source, tmp)
                except FileNotFoundError as exc:
                    if not source.exists():
                        raise missing_object_error(digest, self.url) from exc
                    raise
                # Verify the copy, not the object: it is the copy the caller will read.
                actual = hash_file(tmp)
                if actual != digest:
                    raise corrupt_object_error(digest, actual, self.url, _head(tmp))
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        return dest

    def local_path(self, digest: str) -> Path:
        """The object's own path, after hashing it in place."""
        path = self._object_path(digest)
        with self._store_errors("read an object"):
            try:
                actual = hash_file(path)
            except FileNotFoundError as exc:
                raise missing_object_error(digest, self.url) from exc
        if actual != digest:
            raise corrupt_object_error(digest, actual, self.url, _head(path))
        return path

    def exists(self, digest: str) -> bool:
        """True when an object is stored under ``digest`` (its bytes are not checked)."""
        return self._object_path(digest).is_file()

    def size(self, digest: str) -> int:
        """The object's size in bytes."""
        with self._store_errors("read an object"):
            size = _size_of(self._object_path(digest))
        if size is None:
            raise missing_object_error(digest, self.url)
        return size

    def delete(self, digest: str) -> None:
        """Remove an object; for a hard-linked object only the store's link goes."""
        with self._store_errors("delete an object"):
            self._object_path(digest).unlink(missing_ok=True)

    def iter_digests(self) -> Iterator[str]:
        """Every stored digest, sorted; temporary files and stray files are skipped."""
        with self._store_errors("list objects"):
            try:
                shards = sorted(entry.name for entry in os.scandir(self._objects))
            except FileNotFoundError:
                return
            found: list[str] = []
            for shard in shards:
                shard_path = self._objects / shard
                if len(shard) != 2 or not shard_path.is_dir():
                    continue
                found.extend(shard + name for name in sorted(os.listdir(shard_path)))
        yield from (digest for digest in found if is_digest(digest))

    def clean_temporary(self, older_than_seconds: float = DEFAULT_TEMPORARY_AGE) -> int:
        """Remove temporary files of crashed writers; return how many were removed.

        A file named by a process of this host is removed once that process is gone (see
        :func:`temporary_is_stale`); any other once not touched for ``older_than_seconds``.
        The age is taken from the inode change time: a writer's copy keeps updating it, and
        ``link()`` sets it, whereas a hard link keeps the (possibly old) mtime of its source.
        Folders (a workspace's work folders may share this one) are left alone.
        """
        removed = 0
        with self._store_errors("clean temporary files"):
            try:
                entries = list(os.scandir(self._tmp))
            except FileNotFoundError:
                return 0
            for entry in entries:
                try:
                    if not entry.is_file(follow_symlinks=False) or not entry.name.endswith(".tmp"):
                        continue
                    changed = entry.stat(follow_symlinks=False).st_ctime
                    if temporary_is_stale(entry.name, changed, older_than_seconds):
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue  # its writer renamed it into place meanwhile
        return removed

    def object_modified(self, digest: str) -> float | None:
        """The object's mtime: when it was written, or refreshed by an add of the same
        content (a rename into place keeps it)."""
        try:
            return self._object_path(digest).stat().st_mtime
        except FileNotFoundError:
            return None

    def remove_unreferenced(self, digest: str, written_before: float) -> int | None:
        """Remove the object unless it was written or refreshed since ``written_before``.

        The object is first renamed out of its place and its age checked again on the file
        that was moved: an add of the same content refreshes the mtime before it reuses an
        object (and writes the object again when it finds none), so an object an add
        refreshed between the first check and the rename is put back, and one removed
        before the add looked for it is written again by that add.
        """
        final = self._object_path(digest)
        with self._store_errors("remove an object"):
            try:
                if final.stat().st_mtime >= written_before:
                    return None
            except FileNotFoundError:
                return None
            if not self._tmp.is_dir():
                _make_dirs(self._tmp)
            moved = self._tmp / f"{owner_tag()}-gc-{uuid.uuid4().hex}.tmp"
            try:
                os.rename(final, moved)
            except FileNotFoundError:
                return None
            try:
                status = moved.stat()
                if status.st_mtime >= written_before:
                    os.replace(moved, final)  # the same bytes, whichever copy is there now
                    return None
                moved.unlink()
            except BaseException:
                with contextlib.suppress(OSError):
                    os.replace(moved, final)
                raise
            _fsync_dir(final.parent)
        return status.st_size

    def put_record(self, name: str, data: bytes) -> None:
        """Create the record, read-only, through a hard link from a complete temporary
        file: ``link()`` fails when the name exists, so a record is never replaced and a
        reader never sees half of one."""
        final = self.root / check_record_name(name)
        with self._store_errors("write a record"):
            if not final.parent.is_dir():
                _make_dirs(final.parent)
            tmp = self._new_temporary()
            try:
                _write_read_only(tmp, data)
                try:
                    os.link(tmp, final)
                except FileExistsError as exc:
                    raise existing_record_error(name, self.url) from exc
                _fsync_dir(final.parent)
            finally:
                tmp.unlink(missing_ok=True)

    def get_record(self, name: str) -> bytes:
        path = self.root / check_record_name(name)
        with self._store_errors("read a record"):
            try:
                return path.read_bytes()
            except FileNotFoundError as exc:
                raise missing_record_error(name, self.url) from exc

    def list_records(self, prefix: str) -> list[str]:
        folder = check_record_prefix(prefix)
        with self._store_errors("list records"):
            try:
                names = os.listdir(self.root / folder)
            except FileNotFoundError:
                return []
        return sorted(f"{folder}/{name}" for name in names if not name.startswith("."))

    def raw_size(self, digest: str) -> int | None:
        with self._store_errors("read an object"):
            return _size_of(self._object_path(digest))

    def raw_reusable(self, digest: str, size: int) -> bool:
        final = self._object_path(digest)
        with self._store_errors("read an object"):
            return _size_of(final) == size and _refresh(final)

    @contextlib.contextmanager
    def raw_open(self, digest: str) -> Iterator[BinaryIO]:
        path = self._object_path(digest)
        with self._store_errors("read an object"):
            try:
                reader = path.open("rb")
            except FileNotFoundError as exc:
                raise missing_object_error(digest, self.url) from exc
            with reader:
                yield reader

    def raw_scratch(self) -> Path:
        with self._store_errors("add an object"):
            return self._new_temporary()

    def raw_publish(self, digest: str, scratch: Path) -> bool:
        final = self._object_path(digest)
        with self._store_errors("add an object"):
            _fsync_file(scratch)
            os.chmod(scratch, READ_ONLY)
            return self._publish(scratch, final, scratch.stat().st_size)

    def raw_rewrite_header(
        self, digest: str, size: int, rewrite: Callable[[bytes], bytes | None]
    ) -> None:
        """Overwrite the header in place, through one descriptor of the object: one write
        of a few dozen bytes at offset 0 (a single sector, so it lands whole), then an
        fsync. The object is read-only, so its owner's write bit is lent for the write."""
        path = self._object_path(digest)
        with self._store_errors("rewrite an object's header"):
            try:
                mode = path.stat().st_mode
            except FileNotFoundError as exc:
                raise missing_object_error(digest, self.url) from exc
            os.chmod(path, mode | stat.S_IWUSR)
            try:
                with path.open("r+b", buffering=0) as file:
                    header = rewrite(file.read(size))
                    if header is not None:
                        if len(header) != size:
                            raise OSError("the new header is not the old one's length")
                        file.seek(0)
                        file.write(header)
                        os.fsync(file.fileno())
            finally:
                os.chmod(path, mode)

    def _object_path(self, digest: str) -> Path:
        return self.root / object_key(check_digest(digest))

    def _new_temporary(self) -> Path:
        if not self._tmp.is_dir():
            _make_dirs(self._tmp)
        return self._tmp / f"{owner_tag()}-{uuid.uuid4().hex}.tmp"

    def _commit_staged(self, tmp: Path, digest: str, size: int) -> ObjectInfo:
        """Publish a staged file (flushed to disk when it was staged)."""
        final = self._object_path(digest)
        with self._store_errors("add an object"):
            if _size_of(final) == size and _refresh(final):
                tmp.unlink(missing_ok=True)
                return ObjectInfo(digest, size, created=False)
            try:
                # Staged maybe long ago (a large file is profiled meanwhile): its age for
                # gc starts now, when its row is about to be written.
                os.utime(tmp)
                created = self._publish(tmp, final, size)
            finally:
                tmp.unlink(missing_ok=True)  # published, or not to be: never left behind
        return ObjectInfo(digest, size, created=created)

    def _publish(self, tmp: Path, final: Path, size: int) -> bool:
        """Rename ``tmp`` to ``final``; False when another writer published it first."""
        if not final.parent.is_dir():
            _make_dirs(final.parent)
        try:
            os.replace(tmp, final)
        except OSError:
            # Where a read-only or open file cannot be replaced (Windows), a concurrent
            # writer of the same content that won the race is not a failure.
            if _size_of(final) == size:
                return False
            raise
        _fsync_dir(final.parent)
        return True

    @contextlib.contextmanager
    def _store_errors(self, action: str) -> Iterator[None]:
        """Translate the operating system's errors into StoreError at the boundary."""
        try:
            yield
        except OSError as exc:
            full_or_read_only = storage_error(exc, self.root)
            if full_or_read_only is not None:
                raise full_or_read_only from exc
            raise StoreError(
                f"could not {action} in the artifact store {self.url}: {exc}; check that "
                "the folder exists, is writable and has free space",
                details={"store": self.url},
            ) from exc


def _hard_link(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError:
        # EXDEV (another filesystem), EPERM/ENOTSUP (no hard links there), EMLINK (too
        # many links): a copy does the same job, only slower.
        return False
    return True


def _refresh(path: Path) -> bool:
    """Mark an existing object as just written, before an add reuses it, so that a
    concurrent gc keeps it (see :meth:`LocalArtifactStore.remove_unreferenced`); False when
    it is gone (the caller writes it again)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except PermissionError:
        return True  # another user's object in a shared folder: reused as it is
    return True


def _write_read_only(path: Path, data: bytes) -> None:
    """Write ``data`` to the new file ``path``, flushed to disk, and make it read-only."""
    with open(path, "xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.chmod(path, READ_ONLY)


def _head(path: Path) -> bytes:
    """The first bytes of a file, to tell an encrypted object from a corrupt one."""
    try:
        with path.open("rb") as reader:
            return reader.read(8)
    except OSError:
        return b""


def _size_of(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    current = path
    while not current.is_dir():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # a concurrent writer made it first
            directory.mkdir()
        _fsync_dir(directory.parent)


def _fsync_file(path: Path) -> None:
    # POSIX flushes a file through any descriptor; Windows wants one open for writing.
    fd = os.open(path, os.O_RDONLY if os.name == "posix" else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Directories cannot be opened for fsync on Windows, where rename durability is the
    # filesystem's business.
    if os.name != "posix":
        return
    _fsync_file(path)


_WRITEBACK_BYTES = 32 << 20


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``length`` bytes at ``offset`` to disk without waiting for them.

    On Linux ``POSIX_FADV_DONTNEED`` on dirty pages starts their writeback (PostgreSQL's
    ``pg_flush_data`` falls back to it where ``sync_file_range`` is missing): the disk works
    while the copy goes on, where it would otherwise start only at the final fsync, and
    the stored copy's pages leave the page cache instead of crowding out the data being
    profiled. Elsewhere it is only a hint, and the fsync does all the work."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _copy_hashing(source: Path, dest: Path) -> tuple[str, int]:
    """Copy ``source`` to ``dest`` and hash the bytes copied, reading the source once.

    Behind the copy, each written stretch is handed to the kernel for writeback at once
    (see :func:`_start_writeback`), so the fsync that makes the object durable waits for
    the last stretch only rather than for the whole file."""
    hasher = new_hasher()
    size = 0
    flushed = 0
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with reading_source(source):
        reader = source.open("rb", buffering=0)
    with reader, dest.open("xb", buffering=0) as writer:
        while read := reader.readinto(buffer):
            chunk = view[:read]
            hasher.update(chunk)
            while chunk:  # an unbuffered write may take part of the chunk
                chunk = chunk[writer.write(chunk) or 0 :]
            size += read
            if size - flushed >= _WRITEBACK_BYTES:
                _start_writeback(writer.fileno(), flushed, size - flushed)
                flushed = size
    digest: str = hasher.hexdigest()
    return digest, size
