"""A head start for ``data add``: the file's copy into the store and its profile's pass
begin before the metadata store is opened.

Opening a workspace's database means importing SQLAlchemy and the metadata tables,
which, with the rest of a command's start-up, takes about as long as copying, hashing and
profiling 100 MB of Parquet. So the command begins that work on the file first, on
threads that spend their time in Arrow, NumPy, BLAKE3 and the kernel (none of them
holding the GIL), and opens the metadata store meanwhile; the add then takes up what is
ready (:func:`~pathtolive.service.datasets.add_dataset`'s ``head_start``) instead of
beginning it.

Nothing becomes visible before the add decides: the copy is a staged object, discarded
unless the add commits it, and every check of the add (permissions, a read-only store,
the contract) still comes first. A head start that does not fit what the add needs (the
contract tags a column ``pii`` that it profiled in full, a format it did not expect) or
that failed is dropped and the add does the work itself, with its own errors.

Only a Parquet file stored as it is gets a head start: the other formats are converted
first, and the conversion is the add's own business. And only into a store on this
machine's disk (a local one, or one encrypting into a local one): there a copy costs what
the disk takes, and an add that fails early waits at exit for at most that. An upload to
a remote store is not begun on speculation, before the add's checks have passed.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pathtolive.config import Settings, parse_tags
from pathtolive.errors import ConfigError, InvalidInputError
from pathtolive.faces import spelled

if TYPE_CHECKING:
    from pathtolive.data.profiling import ProfilePass
    from pathtolive.store.artifacts import ArtifactStore, StagedObject

__all__ = ["HeadStart", "head_start", "merged_tags", "profiled_alike", "stages_locally"]

# While the head start's threads run beside the command's imports, which hold the GIL
# in long stretches, a thread returning from Arrow or NumPy waits up to the switch
# interval for it. A shorter interval for that while keeps the threads fed.
_SWITCH_INTERVAL = 0.0005

# How much lower the head start's threads run than the command's own (see _yielding).
_NICENESS = 10

_T = TypeVar("_T")


def merged_tags(
    configured: Mapping[str, Sequence[str]], given: Mapping[str, Sequence[str]] | None
) -> dict[str, tuple[str, ...]]:
    """The workspace file's column tags for a dataset, then the ones given."""
    merged = {column: tuple(values) for column, values in configured.items()}
    try:
        merged.update(parse_tags(dict(given or {}), where=spelled("--tag", "tags")))
    except ConfigError as exc:
        raise InvalidInputError(exc.message) from None
    return merged


def profiled_alike(a: Mapping[str, Sequence[str]], b: Mapping[str, Sequence[str]]) -> bool:
    """Whether two sets of column tags give the same profile: only ``pii`` (counts only)
    and ``id`` (no category values) change what a column's profile keeps."""
    return _limits(a) == _limits(b)


def _limits(tags: Mapping[str, Sequence[str]]) -> dict[str, tuple[bool, bool]]:
    return {
        column: ("pii" in values, "id" in values)
        for column, values in tags.items()
        if "pii" in values or "id" in values
    }


class HeadStart:
    """The copy and the profile pass of one Parquet file, running or done."""

    def __init__(
        self,
        source: Path,
        tags: Mapping[str, tuple[str, ...]],
        max_categories: int,
        staging: Future[StagedObject],
        profiling: Future[ProfilePass],
        stop: threading.Event,
    ) -> None:
        self.source = source
        self.tags = tags
        self.max_categories = max_categories
        self._staging = staging
        self._profiling = profiling
        self._stop = stop
        self._taken = False
        self._settled = threading.Event()

    def take(
        self, path: Path, tags: Mapping[str, Sequence[str]], max_categories: int
    ) -> tuple[StagedObject, ProfilePass] | None:
        """The staged copy and the profile pass of ``path``, when they are of this file,
        profiled as ``tags`` and ``max_categories`` ask, and both succeeded; else None
        (the caller does the work itself). The staged copy is the caller's from here."""
        if self._taken or path != self.source or max_categories != self.max_categories:
            return None
        if not profiled_alike(tags, self.tags):
            return None
        try:
            staged = self._staging.result()
        except Exception:
            return None
        try:
            profiled = self._profiling.result()
        except Exception:
            return None  # the staged copy is discarded on close
        self._taken = True
        return staged, profiled

    def close(self) -> None:
        """Stop the profile pass and discard the staged copy unless they were taken,
        without waiting for them (an add that failed early says so at once)."""
        if self._taken:
            self._settled.set()
            return
        self._stop.set()
        self._staging.add_done_callback(self._discard)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until a closed head start has left nothing behind: its copy has ended and,
        unless taken, been discarded. False when ``timeout`` passed first."""
        return self._settled.wait(timeout)

    def _discard(self, staging: Future[StagedObject]) -> None:
        try:
            with suppress(Exception):
                staging.result().discard()
        finally:
            self._settled.set()


@contextmanager
def head_start(
    settings: Settings,
    store: ArtifactStore,
    source: Path,
    name: str,
    *,
    fmt: str | None,
    tags: Mapping[str, Sequence[str]] | None,
) -> Iterator[HeadStart | None]:
    """Begin copying and profiling ``source`` for an add to dataset ``name``; None when it
    gets no head start (not a Parquet file stored as it is, or anything unexpected: the
    add then meets the same problem and says what it is)."""
    started = _begin(settings, store, source, name, fmt=fmt, tags=tags)
    try:
        yield started
    finally:
        if started is not None:
            started.close()


def _begin(
    settings: Settings,
    store: ArtifactStore,
    source: Path,
    name: str,
    *,
    fmt: str | None,
    tags: Mapping[str, Sequence[str]] | None,
) -> HeadStart | None:
    if not stages_locally(store):
        return None
    try:
        from pathtolive.data.canonical import stored_as_is
        from pathtolive.data.schema import id_tags

        arrow_schema = stored_as_is(source, fmt)
        if arrow_schema is None:
            return None
        dataset = settings.dataset(name)
        column_tags = merged_tags(dataset.tags, tags)
        if any(column not in arrow_schema.names for column in column_tags):
            return None
        # As a first version is profiled: the add drops the head start if the contract
        # of an existing dataset tags columns otherwise.
        column_tags.update(id_tags(arrow_schema, column_tags))
    except Exception:
        return None
    from pathtolive.data.profiling import profile_pass

    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="head-start")
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, _SWITCH_INTERVAL))
    stop = threading.Event()
    staging = pool.submit(_yielding, store.stage_file, source)
    profiling = pool.submit(
        _yielding,
        profile_pass,
        source,
        tags=column_tags,
        max_categories=dataset.max_categories,
        stop=stop,
    )
    pool.shutdown(wait=False)
    _restore_when_done(interval, staging, profiling)
    return HeadStart(source, column_tags, dataset.max_categories, staging, profiling, stop)


def _yielding(work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """``work`` run on this thread at a lower priority, as are the threads it starts.

    The command's own thread, importing and opening the metadata store, is the add's
    critical path; the head start only needs the time it leaves. At the same priority,
    on two cores, the copy and the pass's threads took the CPU from the imports, which
    then ran three times as long as alone and finished no sooner than the head start."""
    if sys.platform == "linux":  # threads have priorities of their own on Linux only
        with suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)
    return work(*args, **kwargs)


def stages_locally(store: ArtifactStore) -> bool:
    """Whether staging a file into ``store`` writes it to this machine's disk only."""
    from pathtolive.store.artifacts import LocalArtifactStore
    from pathtolive.store.artifacts.encryption import EncryptedArtifactStore

    if isinstance(store, EncryptedArtifactStore):
        store = store.inner
    return isinstance(store, LocalArtifactStore)


def _restore_when_done(interval: float, *futures: Future[Any]) -> None:
    remaining = [len(futures)]
    lock = threading.Lock()

    def done(_: Future[Any]) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0] == 0:
                sys.setswitchinterval(interval)

    for future in futures:
        future.add_done_callback(done)
