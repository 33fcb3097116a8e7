"""Storage housekeeping: leftovers of crashed writers, and ``pathtolive gc`` for objects
nothing refers to.

A writer killed mid-add (``kill -9``, a lost machine) leaves a temporary copy in the
artifact store's ``tmp/`` and a work folder under ``.pathtolive/tmp/``. Both carry their
writer's process id and host in their names, so the next write removes them as soon as that
process is gone (:func:`clean_stale_temporaries`); a name without a live owner on this host
falls back to an age.

An object whose metadata row never committed stays in the store. ``gc`` removes such
objects, but only those written more than a grace period ago: an add publishes its object
before its row commits, and that object must survive a gc that runs in between.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pathtolive.auth import Permission
from pathtolive.errors import InvalidInputError, PathToLiveError
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.artifacts import ArtifactStore
from pathtolive.store.artifacts.base import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_TEMPORARY_AGE,
    owner_tag,
    temporary_is_stale,
)
from pathtolive.store.metadata.references import DIGEST_PATTERN

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "GcReport",
    "clean_stale_temporaries",
    "collect_garbage",
    "digests_named_by",
    "work_folder_prefix",
]

log = logging.getLogger(__name__)

_WORK_FOLDER_KINDS = ("add", "latency")
"""Prefixes of the work folders commands make under ``.pathtolive/tmp/``."""

_INDEX_OBJECT_BYTES = 256 * 1024
"""Referenced objects up to this size that are JSON are read for the digests they name."""


def work_folder_prefix(kind: str) -> str:
    """The prefix of a work folder under ``.pathtolive/tmp/``: ``<kind>-p<pid>-h<host>-``,
    so that a later write can tell a killed process's folder from a live one's."""
    return f"{kind}-{owner_tag()}-"


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` found and (unless a dry run) removed."""

    dry_run: bool
    grace_seconds: float
    objects: int  # stored objects seen
    referenced: int  # of those, named by the metadata
    removed: list[str] = field(default_factory=list)  # digests removed (or to remove)
    removed_bytes: int = 0
    kept_recent: int = 0  # unreferenced but younger than the grace period
    temporaries: int = 0  # leftovers of crashed writers removed

    def to_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "grace_seconds": self.grace_seconds,
            "objects": self.objects,
            "referenced": self.referenced,
            "removed": len(self.removed),
            "removed_bytes": self.removed_bytes,
            "removed_digests": self.removed,
            "kept_recent": self.kept_recent,
            "temporaries": self.temporaries,
        }


def clean_stale_temporaries(ctx: ServiceContext, *, dry_run: bool = False) -> int:
    """Remove the temporary files and work folders crashed writers left; return how many.

    Best effort: a failure is logged and never fails the write that triggered the clean.
    """
    removed = 0
    if not dry_run:
        try:
            removed += ctx.artifacts.clean_temporary()
        except PathToLiveError as exc:
            log.warning("could not clean the artifact store's temporary files: %s", exc.message)
    removed += _clean_work_folders(ctx.settings.state_dir / "tmp", dry_run=dry_run)
    return removed


def _clean_work_folders(base: Path, *, dry_run: bool) -> int:
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return 0
    except OSError as exc:
        log.warning("could not list %s: %s", base, exc)
        return 0
    removed = 0
    for entry in entries:
        if not entry.name.startswith(tuple(f"{kind}-" for kind in _WORK_FOLDER_KINDS)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            changed = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if temporary_is_stale(entry.name, changed, DEFAULT_TEMPORARY_AGE):
            if not dry_run:
                shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def collect_garbage(
    ctx: ServiceContext,
    *,
    dry_run: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> GcReport:
    """Remove artifact-store objects that no metadata row names and that were written more
    than ``grace_seconds`` ago; with ``dry_run`` only report them. Audited (admin only)."""
    actor = ctx.require(Permission.ADMIN, "collect garbage")
    if grace_seconds < 0:
        raise InvalidInputError(f"--grace must be 0 or more seconds, not {grace_seconds:g}")
    written_before = time.time() - grace_seconds
    temporaries = clean_stale_temporaries(ctx, dry_run=dry_run)
    store = ctx.artifacts
    stored = list(store.iter_digests())
    referenced = _referenced(ctx, store, set(stored))
    candidates = [digest for digest in stored if digest not in referenced]
    # A second look just before removing: a row committed since the first one (an add that
    # reused an old object) keeps its object.
    if candidates:
        referenced |= _referenced(ctx, store, set(stored))
        candidates = [digest for digest in candidates if digest not in referenced]
    removed: list[str] = []
    removed_bytes = 0
    kept_recent = 0
    for digest in candidates:
        if dry_run:
            modified = store.object_modified(digest)
            if modified is None or modified >= written_before:
                kept_recent += 1
                continue
            removed_bytes += store.size(digest)
            removed.append(digest)
            continue
        size = store.remove_unreferenced(digest, written_before)
        if size is None:
            kept_recent += 1
            continue
        removed.append(digest)
        removed_bytes += size
    report = GcReport(
        dry_run=dry_run,
        grace_seconds=grace_seconds,
        objects=len(stored),
        referenced=len(stored) - len(candidates),
        removed=removed,
        removed_bytes=removed_bytes,
        kept_recent=kept_recent,
        temporaries=temporaries,
    )
    if not dry_run:
        details = report.to_dict()
        # The event names what went by digest prefix, up to a bound: an event is a row, not
        # a listing of the store, and a whole digest in a row would count as a reference
        # that keeps the same content from ever being collected again.
        del details["removed_digests"]
        details["removed_prefixes"] = [digest[:16] for digest in removed[:1000]]
        with ctx.metadata.write() as session:
            record(session, actor, "store.gc", "artifacts", details)
    return report


def _referenced(ctx: ServiceContext, store: ArtifactStore, stored: set[str]) -> set[str]:
    with ctx.metadata.read() as session:
        found = session.referenced_digests() & stored
    return found | _named_by_index_objects(store, found, stored)


def digests_named_by(store: ArtifactStore, roots: Iterable[str], candidates: set[str]) -> set[str]:
    """Which of ``candidates`` the small JSON objects among ``roots`` name, transitively
    (a partitioned version's manifest names its partitions)."""
    return _named_by_index_objects(store, roots, candidates)


def _named_by_index_objects(
    store: ArtifactStore, roots: Iterable[str], stored: set[str]
) -> set[str]:
    """Stored digests named inside small JSON objects the metadata refers to, transitively
    (a step cache entry names its result, a pipeline replay its steps' results)."""
    seen: set[str] = set()
    pending = list(roots)
    named: set[str] = set()
    while pending:
        digest = pending.pop()
        if digest in seen:
            continue
        seen.add(digest)
        try:
            if store.size(digest) > _INDEX_OBJECT_BYTES:
                continue
            data = store.get_bytes(digest)
        except PathToLiveError:
            continue  # a damaged object names nothing gc could trust; it is kept anyway
        if data.lstrip()[:1] != b"{":
            continue
        for found in DIGEST_PATTERN.findall(data.decode("utf-8", errors="replace")):
            if found in stored and found not in named:
                named.add(found)
                pending.append(found)
    return named
