"""Retention of the prediction log and erasure of feedback.

``[serve] log_retention_days = N`` keeps the prediction log for N days: older segments
(their metadata rows and their objects) and the journal files of stopped servers older
than that are deleted, and each prune that deleted anything is one audit event
(``predictions.pruned``: how many segments, rows and journal files, and the time range
they covered). The server prunes at start and every hour; ``pathtolive predictions
prune`` does the same on demand (an admin's act: it deletes data).

A segment goes only when its newest prediction is older than the cutoff, so a segment
straddling it waits for the next prune: the log keeps at least N days, never less.

``feedback forget REQUEST_ID`` deletes every label given for a request (the subject of
the data asked for it, say), audited with the count; the labels' values are not copied
into the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pathtolive.auth import Permission
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.predlog import prune_journals
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.predictions import check_request_id

__all__ = ["JOURNAL_DIR", "PruneResult", "forget_feedback", "prune_predictions"]

JOURNAL_DIR = "journal"
"""The prediction log's crash journal, under the workspace's state folder (the server's
``JOURNAL_DIR``; repeated here so the service does not import the server)."""


@dataclass(frozen=True)
class PruneResult:
    days: int
    cutoff: datetime
    segments: int
    rows: int
    journals: int
    oldest: datetime | None  # the time range the deleted predictions covered
    newest: datetime | None


def prune_predictions(
    ctx: ServiceContext,
    days: int | None,
    *,
    now: datetime | None = None,
    by_server: bool = False,
) -> PruneResult:
    """Delete the prediction log older than ``days`` (``[serve] log_retention_days``, or
    a command's own figure).

    The server calls it with ``by_server`` (it acts for whoever started it, as it does
    when it writes the log); anyone else needs the admin role."""
    if not by_server:
        ctx.require(Permission.ADMIN, "delete prediction logs")
    if days is None:
        raise InvalidInputError(
            "no retention is set: add log_retention_days = N to [serve] in "
            "pathtolive.toml, or pass --older-than-days N"
        )
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInputError(f"keep the log for at least 1 day, not {days!r}")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    actor = ctx.actor()
    journals = prune_journals(ctx.settings.state_dir / JOURNAL_DIR, cutoff)
    with ctx.metadata.write() as session:
        segments = session.delete_segments_before(cutoff)
        rows = sum(segment.rows for segment in segments)
        times = [segment.first_at for segment in segments] + [s.last_at for s in segments]
        times += journals
        oldest = min(times) if times else None
        newest = max(times) if times else None
        if segments or journals:
            record(
                session,
                actor,
                "predictions.pruned",
                "predictions",
                {
                    "retention_days": days,
                    "cutoff": cutoff.isoformat(),
                    "segments": len(segments),
                    "rows": rows,
                    "journal_files": len(journals),
                    "oldest": None if oldest is None else oldest.isoformat(),
                    "newest": None if newest is None else newest.isoformat(),
                    "models": sorted({f"{s.model}@{s.version}" for s in segments}),
                    "by": "server" if by_server else "command",
                },
            )
        # Inside the transaction, as an erasure: a failed deletion rolls the rows back
        # and the next prune tries again; nothing claims a deletion that did not happen.
        for digest in sorted({segment.artifact_digest for segment in segments}):
            if not session.segment_in_use(digest):
                ctx.artifacts.delete(digest)
    return PruneResult(days, cutoff, len(segments), rows, len(journals), oldest, newest)


def forget_feedback(ctx: ServiceContext, request_id: str, *, reason: str) -> int:
    """Delete every feedback label of ``request_id``; how many were deleted."""
    actor = ctx.require(Permission.ADMIN, "erase feedback")
    request_id = check_request_id(request_id)
    if not reason.strip():
        raise InvalidInputError('say why the feedback is erased with --reason "..."')
    with ctx.metadata.write() as session:
        deleted = session.delete_feedback(request_id)
        if not deleted:
            raise NotFoundError(
                f"there is no feedback for request {request_id!r}; check the request id"
            )
        record(
            session,
            actor,
            "feedback.forgotten",
            f"request:{request_id}",
            {"labels": deleted, "reason": reason},
        )
    return deleted
