"""The fsspec ArtifactStore: objects in an object store such as ``s3://bucket/prefix``.

A writer uploads to ``<prefix>/tmp/<uuid>``, hashing the bytes as they go, and only when
they match the digest moves the upload to ``<prefix>/objects/ab/cdef…``. On S3 the move is
a server-side copy and a delete; a copy, like a PUT, makes an object visible under its key
all at once, so a reader never sees half an object. Every read checks the bytes against
their digest; :meth:`FsspecArtifactStore.local_path` keeps verified copies in a local cache
keyed by digest.

Any fsspec protocol works (``memory://`` is handy in tests); the S3 one needs the optional
``s3fs`` package, installed by the ``s3`` extra.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from pathtolive import env
from pathtolive.errors import (
    MissingExtraError,
    StoreError,
    UnknownSchemeError,
    storage_error,
)
from pathtolive.hashing import hash_bytes, hash_file, is_digest, new_hasher
from pathtolive.store.artifacts.base import (
    DEFAULT_GRACE_SECONDS,
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
    missing_source_error,
    object_key,
    owner_tag,
    temporary_is_stale,
)

__all__ = ["S3_ENDPOINT_URL_ENV", "FsspecArtifactStore", "s3_storage_options_from_env"]

S3_ENDPOINT_URL_ENV = env.S3_ENDPOINT_URL
"""Environment variable naming an S3-compatible endpoint (MinIO, Ceph, a test server)."""

_S3_PROTOCOLS = frozenset({"s3", "s3a"})
_CHUNK = 8 << 20
_CONDITIONAL_ATTEMPTS = 4
"""Tries of a conditional PUT that S3 answers with 409 ConditionalRequestConflict (two
conditional writes to one key at once)."""

_REUSE_WITHOUT_REFRESH = DEFAULT_GRACE_SECONDS / 2
"""Seconds an existing object may be reused by an add without being written again."""

# Standard AWS variables and the s3fs options they become. botocore would also read them
# from os.environ by itself; passing them explicitly lets callers (and tests) decide which
# environment is used.
_AWS_ENV_OPTIONS = (
    ("AWS_ACCESS_KEY_ID", "key"),
    ("AWS_SECRET_ACCESS_KEY", "secret"),
    ("AWS_SESSION_TOKEN", "token"),
    ("AWS_PROFILE", "profile"),
)


def s3_storage_options_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """s3fs storage options from the standard AWS variables in ``environ``, plus the
    endpoint from ``PATHTOLIVE_S3_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3`` /
    ``AWS_ENDPOINT_URL``) and server-side encryption from ``PATHTOLIVE_S3_SSE`` (and
    ``PATHTOLIVE_S3_SSE_KMS_KEY_ID``). Variables that are absent are left to botocore's usual chain
    (config files, instance roles)."""
    options: dict[str, Any] = {
        option: environ[name] for name, option in _AWS_ENV_OPTIONS if environ.get(name)
    }
    client_kwargs: dict[str, str] = {}
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    endpoint = (
        environ.get(S3_ENDPOINT_URL_ENV)
        or environ.get("AWS_ENDPOINT_URL_S3")
        or environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    # Server-side encryption composes with pathtolive's own (client-side) encryption:
    # S3 then encrypts the already encrypted bytes again under its key.
    sse = environ.get(env.S3_SSE)
    if sse:
        extra = {"ServerSideEncryption": sse}
        if environ.get(env.S3_SSE_KMS_KEY_ID):
            extra["SSEKMSKeyId"] = environ[env.S3_SSE_KMS_KEY_ID]
        options["s3_additional_kwargs"] = extra
    return options


class FsspecArtifactStore(ArtifactStore):
    """Content-addressed objects under a prefix of any fsspec filesystem (S3 for teams).

    ``storage_options`` go to the fsspec filesystem (for S3 see
    :func:`s3_storage_options_from_env`); ``cache_dir`` holds the verified copies that
    :meth:`local_path` returns, by default ``~/.cache/pathtolive/artifacts``. The cache is
    keyed by digest alone, so stores may share it.
    """

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, Any] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.url = url if url.endswith("://") else url.rstrip("/")
        protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
        self._backend_errors: tuple[type[BaseException], ...] = (OSError,)
        if protocol in _S3_PROTOCOLS:
            self._backend_errors += _require_s3fs(url)
        # fsspec is imported by the stores that use it: a local workspace never loads it.
        from fsspec.core import url_to_fs

        # Conditional PUTs (If-None-Match) are asked of S3 alone: another fsspec
        # filesystem may not take pipe_file's mode.
        self._conditional_puts = protocol in _S3_PROTOCOLS
        try:
            fs, root = url_to_fs(url, **dict(storage_options or {}))
        except ImportError as exc:
            raise MissingExtraError(
                f"the artifact store {url} needs a package that is not installed ({exc}); "
                "install it, or use a local folder or s3:// store",
                details={"store": url},
            ) from exc
        except ValueError as exc:
            raise UnknownSchemeError(
                f"fsspec knows no protocol {protocol!r} (from {url}); use a local folder, "
                "file://, s3:// or memory://",
                details={"store": url},
            ) from exc
        # fsspec ships no type hints, so the filesystem is Any to mypy.
        self._fs: Any = fs
        self._root = str(root).rstrip("/")
        self._cache_dir = (
            Path(cache_dir)
            if cache_dir is not None
            else Path.home() / ".cache" / "pathtolive" / "artifacts"
        )

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.url!r})"

    def put_file(self, path: Path, *, digest: str | None = None, link: bool = False) -> ObjectInfo:
        """Upload a file's bytes (``link`` is ignored: a remote store always copies)."""
        source = Path(path)
        expected = check_digest(digest) if digest is not None else hash_source(source)
        key = self._key(expected)
        with self._backend("add an object"):
            size = source.stat().st_size
            # An object of the same size is taken to be the same content (re-downloading it
            # to hash it would cost more than uploading); one of another size is damaged
            # and is uploaded again.
            existed = self._remote_size(key) == size
            if existed and self._recent(key):
                return ObjectInfo(expected, size, created=False)
            tmp = self._tmp_key()
            try:
                actual = self._upload_hashing(source, tmp)
                if actual != expected:
                    raise changed_source_error(source, expected, actual)
                self._publish(tmp, key)
            except BaseException:
                self._discard(tmp)
                raise
        return ObjectInfo(expected, size, created=not existed)

    def stage_file(self, path: Path, *, link: bool = False) -> StagedObject:
        """Upload the file to a temporary key, hashing it as it goes (``link`` is ignored)."""
        source = Path(path)
        if not source.is_file():
            raise missing_source_error(source)
        tmp = self._tmp_key()
        with self._backend("add an object"):
            try:
                digest = self._upload_hashing(source, tmp)
            except BaseException:
                self._discard(tmp)
                raise
        size = source.stat().st_size
        return StagedObject(
            digest,
            size,
            publish=lambda: self._commit_staged(tmp, digest, size),
            remove=lambda: self._discard(tmp),
        )

    def _commit_staged(self, tmp: str, digest: str, size: int) -> ObjectInfo:
        key = self._key(digest)
        with self._backend("add an object"):
            existed = self._remote_size(key) == size
            if existed and self._recent(key):
                self._discard(tmp)
                return ObjectInfo(digest, size, created=False)
            try:
                self._publish(tmp, key)
            except BaseException:
                self._discard(tmp)
                raise
        return ObjectInfo(digest, size, created=not existed)

    def put_bytes(self, data: bytes) -> ObjectInfo:
        """Upload in-memory bytes."""
        digest = hash_bytes(data)
        key = self._key(digest)
        with self._backend("add an object"):
            existed = self._remote_size(key) == len(data)
            if existed and self._recent(key):
                return ObjectInfo(digest, len(data), created=False)
            tmp = self._tmp_key()
            try:
                self._fs.pipe_file(tmp, data)
                self._publish(tmp, key)
            except BaseException:
                self._discard(tmp)
                raise
        return ObjectInfo(digest, len(data), created=not existed)

    def get_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified against its digest."""
        key = self._key(digest)
        with self._backend("read an object"):
            try:
                data = bytes(self._fs.cat_file(key))
            except FileNotFoundError as exc:
                raise missing_object_error(digest, self.url) from exc
        actual = hash_bytes(data)
        if actual != digest:
            raise corrupt_object_error(digest, actual, self.url, data[:8])
        return data

    def get_file(self, digest: str, dest: Path) -> Path:
        """Download the object to ``dest``; ``dest`` appears only once it is verified."""
        dest = Path(dest)
        self._download_verified(digest, dest, read_only=False)
        return dest

    def local_path(self, digest: str) -> Path:
        """A verified copy in the local cache, downloaded unless a good one is there.

        The cached copy is hashed again on every call: hashing is much cheaper than a
        download, and a copy damaged on disk (or edited by a careless caller) is replaced
        rather than returned.
        """
        cached = self._cache_dir / object_key(check_digest(digest))
        try:
            if hash_file(cached) == digest:
                return cached
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(
                f"could not read the artifact cache {self._cache_dir}: {exc}",
                details={"cache_dir": str(self._cache_dir)},
            ) from exc
        self._download_verified(digest, cached, read_only=True)
        return cached

    def exists(self, digest: str) -> bool:
        """True when an object is stored under ``digest`` (its bytes are not checked)."""
        key = self._key(digest)
        with self._backend("look up an object"):
            self._fs.invalidate_cache(key)
            return bool(self._fs.exists(key))

    def size(self, digest: str) -> int:
        """The object's size in bytes."""
        key = self._key(digest)
        with self._backend("look up an object"):
            size = self._remote_size(key)
        if size is None:
            raise missing_object_error(digest, self.url)
        return size

    def delete(self, digest: str) -> None:
        """Remove an object, and this machine's cached copy of it (an erasure must not
        leave one behind); an absent one is ignored."""
        key = self._key(digest)
        with self._backend("delete an object"):
            self._remove_quietly(key)
        with contextlib.suppress(FileNotFoundError):
            (self._cache_dir / object_key(digest)).unlink()

    def iter_digests(self) -> Iterator[str]:
        """Every stored digest, sorted; uploads in progress under ``tmp/`` are skipped."""
        objects_root = f"{self._root}/objects"
        with self._backend("list objects"):
            self._fs.invalidate_cache(objects_root)
            paths = sorted(self._fs.find(objects_root))
        prefix = objects_root + "/"
        for path in paths:
            shard, _, name = str(path).removeprefix(prefix).partition("/")
            if str(path).startswith(prefix) and len(shard) == 2 and is_digest(shard + name):
                yield shard + name

    def clean_temporary(self, older_than_seconds: float = DEFAULT_TEMPORARY_AGE) -> int:
        """Remove uploads of crashed writers; return how many were removed. An upload named
        by a process of this host goes once that process is gone, any other once older
        than ``older_than_seconds`` (see :func:`temporary_is_stale`)."""
        tmp_root = f"{self._root}/tmp"
        removed = 0
        # Encrypted objects are written to a local scratch file before their upload.
        scratch = self._cache_dir.parent / "tmp"
        with contextlib.suppress(OSError):
            for entry in os.scandir(scratch):
                modified = entry.stat(follow_symlinks=False).st_mtime
                if temporary_is_stale(entry.name, modified, older_than_seconds):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        with self._backend("clean temporary files"):
            self._fs.invalidate_cache(tmp_root)
            for path in self._fs.find(tmp_root):
                try:
                    modified = self._fs.modified(path).timestamp()
                    if temporary_is_stale(
                        str(path).rpartition("/")[2], modified, older_than_seconds
                    ):
                        self._fs.rm_file(path)
                        removed += 1
                except FileNotFoundError:
                    continue  # its writer moved it into place meanwhile
        return removed

    def object_modified(self, digest: str) -> float | None:
        """The object's last-modified time as the backend reports it."""
        key = self._key(digest)
        with self._backend("look up an object"):
            self._fs.invalidate_cache(key)
            try:
                return float(self._fs.modified(key).timestamp())
            except (FileNotFoundError, NotImplementedError):
                return None

    def remove_unreferenced(self, digest: str, written_before: float) -> int | None:
        """Remove the object if the backend says it was last written before
        ``written_before``. An object store cannot rename atomically, so the age check and
        the delete are two requests; the grace period and gc's second look at the metadata
        just before deleting are what protect an add in flight."""
        key = self._key(digest)
        with self._backend("remove an object"):
            self._fs.invalidate_cache(key)
            try:
                info = self._fs.info(key)
                if self._fs.modified(key).timestamp() >= written_before:
                    return None
            except (FileNotFoundError, NotImplementedError):
                return None
            self._remove_quietly(key)
        return int(info["size"])

    def put_record(self, name: str, data: bytes) -> None:
        """Upload the record in one request (a single PUT is atomic on S3). It is never
        replaced: an existing name is refused, and a bucket with Object Lock refuses an
        overwrite or delete of its own accord. On S3 the PUT is conditional
        (``If-None-Match: *``), so of two writers racing for one name the server lets
        only one succeed; elsewhere the look-up before it is what guards the name."""
        key = f"{self._root}/{check_record_name(name)}"
        with self._backend("write a record"):
            self._fs.invalidate_cache(key)
            if self._fs.exists(key):
                raise existing_record_error(name, self.url)
            try:
                self._create(key, data)
            except FileExistsError as exc:
                raise existing_record_error(name, self.url) from exc
            finally:
                self._fs.invalidate_cache(key)

    def get_record(self, name: str) -> bytes:
        key = f"{self._root}/{check_record_name(name)}"
        with self._backend("read a record"):
            try:
                return bytes(self._fs.cat_file(key))
            except FileNotFoundError as exc:
                raise missing_record_error(name, self.url) from exc

    def list_records(self, prefix: str) -> list[str]:
        folder = f"{self._root}/{check_record_prefix(prefix)}"
        with self._backend("list records"):
            self._fs.invalidate_cache(folder)
            try:
                paths = self._fs.find(folder)
            except FileNotFoundError:
                return []
        head = f"{self._root}/"
        names = [str(path).lstrip("/").removeprefix(head.lstrip("/")) for path in paths]
        return sorted(name for name in names if name.startswith(f"{prefix.rstrip('/')}/"))

    def raw_size(self, digest: str) -> int | None:
        with self._backend("look up an object"):
            return self._remote_size(self._key(digest))

    def raw_reusable(self, digest: str, size: int) -> bool:
        key = self._key(digest)
        with self._backend("look up an object"):
            return self._remote_size(key) == size and self._recent(key)

    @contextlib.contextmanager
    def raw_open(self, digest: str) -> Iterator[BinaryIO]:
        key = self._key(digest)
        with self._backend("read an object"):
            try:
                reader = self._fs.open(key, "rb", block_size=_CHUNK)
            except FileNotFoundError as exc:
                raise missing_object_error(digest, self.url) from exc
            with reader:
                yield reader

    def raw_scratch(self) -> Path:
        folder = self._cache_dir.parent / "tmp"
        with self._backend("add an object"):
            folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{owner_tag()}-{uuid.uuid4().hex}.tmp"

    def raw_publish(self, digest: str, scratch: Path) -> bool:
        key = self._key(digest)
        tmp = self._tmp_key()
        with self._backend("add an object"):
            try:
                self._fs.put_file(str(scratch), tmp)
                self._publish(tmp, key)
            except BaseException:
                self._discard(tmp)
                raise
        return True

    def raw_stage(
        self, digest: str, scratch: Path
    ) -> tuple[Callable[[], bool], Callable[[], None]]:
        """Upload ``scratch`` to a temporary key now; publishing is then a server-side
        copy, as for :meth:`stage_file`."""
        key = self._key(digest)
        tmp = self._tmp_key()
        with self._backend("add an object"):
            try:
                self._fs.put_file(str(scratch), tmp)
            except BaseException:
                self._discard(tmp)
                raise
            finally:
                scratch.unlink(missing_ok=True)

        def publish() -> bool:
            with self._backend("add an object"):
                try:
                    self._publish(tmp, key)
                except BaseException:
                    self._discard(tmp)
                    raise
            return True

        return publish, lambda: self._discard(tmp)

    def raw_rewrite_header(
        self, digest: str, size: int, rewrite: Callable[[bytes], bytes | None]
    ) -> None:
        """An object store cannot edit part of an object, so the object is streamed into a
        new upload with the new header and the same bytes after it (nothing is
        re-encrypted), which then replaces it. On S3 the new copy keeps the bucket's
        server-side encryption, and with versioning the old copy stays as a version."""
        key = self._key(digest)
        tmp = self._tmp_key()
        with self._backend("rewrite an object's header"):
            try:
                with self._fs.open(key, "rb", block_size=_CHUNK) as reader:
                    header = rewrite(reader.read(size))
                    if header is None:
                        return
                    if len(header) != size:
                        raise ValueError("the new header is not the old one's length")
                    with self._fs.open(tmp, "wb") as writer:
                        writer.write(header)
                        while chunk := reader.read(_CHUNK):
                            writer.write(chunk)
                self._publish(tmp, key)
            except FileNotFoundError as exc:
                self._discard(tmp)
                raise missing_object_error(digest, self.url) from exc
            except BaseException:
                self._discard(tmp)
                raise

    def _create(self, key: str, data: bytes) -> None:
        """Write ``key`` unless it exists (FileExistsError then), with a conditional PUT
        where the store supports one."""
        if not self._conditional_puts:
            self._fs.pipe_file(key, data)
            return
        for attempt in range(_CONDITIONAL_ATTEMPTS):
            try:
                self._fs.pipe_file(key, data, mode="create")
                return
            except FileExistsError:
                raise
            except OSError as exc:
                code = _s3_error_code(exc)
                if code == "PreconditionFailed":
                    # s3fs says FileExistsError only when the reply names the condition,
                    # which not every S3 server does (SeaweedFS does not).
                    raise FileExistsError(str(exc)) from exc
                if code == "NotImplemented":
                    # A server without conditional writes: the look-up before is all.
                    self._conditional_puts = False
                    self._fs.pipe_file(key, data)
                    return
                if code != "ConditionalRequestConflict" or attempt + 1 == _CONDITIONAL_ATTEMPTS:
                    raise
                # Another conditional write to the key was in flight; once it is done,
                # this one either fails on the condition or succeeds.
                time.sleep(0.05 * (attempt + 1))

    def _key(self, digest: str) -> str:
        return f"{self._root}/{object_key(check_digest(digest))}"

    def _tmp_key(self) -> str:
        return f"{self._root}/tmp/{owner_tag()}-{uuid.uuid4().hex}"

    def _recent(self, key: str) -> bool:
        """Whether an existing object was written recently enough to be reused as it is.
        An older one is written again (the same bytes) before an add refers to it: its new
        modification time keeps a concurrent gc from removing it (see
        :meth:`remove_unreferenced`). Objects are rarely reused, so this costs little."""
        try:
            modified = self._fs.modified(key).timestamp()
        except FileNotFoundError:
            return False
        except NotImplementedError:
            return True  # a filesystem without modification times: gc never removes there
        return bool(time.time() - modified < _REUSE_WITHOUT_REFRESH)

    def _remote_size(self, key: str) -> int | None:
        # Listings are cached per filesystem instance (and fsspec shares instances), so an
        # object another process added or deleted would go unseen: always ask the backend.
        self._fs.invalidate_cache(key)
        try:
            info = self._fs.info(key)
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            return None
        return int(info["size"])

    def _upload_hashing(self, source: Path, key: str) -> str:
        """Upload ``source`` to ``key`` and return the digest of the bytes uploaded."""
        hasher = new_hasher()
        with source.open("rb") as reader, self._fs.open(key, "wb") as writer:
            while chunk := reader.read(_CHUNK):
                hasher.update(chunk)
                writer.write(chunk)
        digest: str = hasher.hexdigest()
        return digest

    def _publish(self, tmp: str, key: str) -> None:
        # A copy and a delete rather than fsspec's mv, which first lists both paths to
        # find out whether they are directories: three more requests per object on S3.
        self._fs.cp_file(tmp, key)
        self._fs.invalidate_cache(key)
        # The object is in place; an upload left behind is only clutter for
        # clean_temporary, not a reason to fail the add.
        self._discard(tmp)

    def _remove_quietly(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(key)
        self._fs.invalidate_cache(key)

    def _discard(self, tmp: str) -> None:
        """Remove a temporary upload without letting a failure hide the error at hand."""
        with contextlib.suppress(*self._backend_errors):
            self._remove_quietly(tmp)

    def _download_verified(self, digest: str, dest: Path, *, read_only: bool) -> None:
        key = self._key(digest)
        with self._backend("download an object"):
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
            try:
                try:
                    self._fs.get_file(key, str(tmp))
                except FileNotFoundError as exc:
                    raise missing_object_error(digest, self.url) from exc
                # Verify the local copy, not the remote object: it is what the caller reads.
                actual = hash_file(tmp)
                if actual != digest:
                    with tmp.open("rb") as reader:
                        head = reader.read(8)
                    raise corrupt_object_error(digest, actual, self.url, head)
                if read_only:
                    os.chmod(tmp, READ_ONLY)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _backend(self, action: str) -> Iterator[None]:
        """Translate the backend's errors (OSError, botocore's) into StoreError."""
        try:
            yield
        except self._backend_errors as exc:
            # A full or read-only local disk (the cache, a scratch file) says so by path.
            full_or_read_only = storage_error(exc, self._cache_dir)
            if full_or_read_only is not None:
                raise full_or_read_only from exc
            raise StoreError(
                f"could not {action} in the artifact store {self.url}: {exc}; check the "
                "URL, the credentials and that the store is reachable",
                details={"store": self.url},
            ) from exc


def _s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an error s3fs translated (its cause is botocore's
    ClientError), or None."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code else None


def _require_s3fs(url: str) -> tuple[type[BaseException], ...]:
    """Import s3fs (only when an s3:// store is opened) and return botocore's error types,
    which s3fs lets through for failures that are not HTTP errors (no credentials, no
    connection)."""
    try:
        importlib.import_module("s3fs")
        botocore_exceptions = importlib.import_module("botocore.exceptions")
    except ImportError as exc:
        raise MissingExtraError(
            f"the artifact store {url} needs s3fs, which is not installed; "
            "run: pip install 'pathtolive[s3]'",
            details={"store": url, "extra": "s3"},
        ) from exc
    errors: tuple[type[BaseException], ...] = (
        botocore_exceptions.BotoCoreError,
        botocore_exceptions.ClientError,
    )
    return errors
