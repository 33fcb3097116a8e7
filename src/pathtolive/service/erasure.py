"""Erasure of a dataset version's rows (``data forget``) and who read a version.

Forgetting keeps a tombstone: the version's row with its metadata, contract and profile
(statistics only, no raw rows), every audit event about it, and its place in lineage. It
removes the bytes from the artifact store unless another live version holds the same
content (content addressing shares equal bytes between versions and datasets), and the
outputs the runs that read it stored (the split frames and holdouts made from its rows)
unless something else still uses them. Model versions trained on it stay, marked: what
was decided with them remains explainable, and ``models show``, lineage and the card say
which erased data they learnt from.

Erasure is an admin's act with a reason, audited in the same transaction as the
tombstone. The bytes are deleted inside that transaction, so a failed deletion leaves the
version as it was and the command can simply be run again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pathtolive.auth import Permission
from pathtolive.data.partitions import PARTITIONED_FORMAT, read_manifest
from pathtolive.entities import AuditEvent, DatasetVersion
from pathtolive.errors import ConflictError, InvalidInputError
from pathtolive.faces import spelled
from pathtolive.refs import parse_ref
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.datasets import get_version
from pathtolive.service.gc import digests_named_by

__all__ = ["ForgetResult", "dataset_access", "erased_inputs", "forget_version"]


@dataclass(frozen=True)
class ForgetResult:
    """What ``data forget`` did."""

    version: DatasetVersion  # the tombstone
    bytes_deleted: bool  # False when a live version shares the same content
    derived_deleted: int  # stored step outputs of the runs that read it
    runs: tuple[str, ...]  # run ids that read the version
    model_versions: tuple[str, ...]  # model versions trained on it, now marked


def forget_version(ctx: ServiceContext, ref: str, *, reason: str) -> ForgetResult:
    """Erase the rows of dataset version ``ref`` (``name@N``: never an implicit latest)."""
    actor = ctx.require(Permission.ADMIN, "erase dataset versions")
    if not reason.strip():
        raise InvalidInputError(
            "say why the data is erased with " + spelled('--reason "..."', 'reason="..."')
        )
    parsed = parse_ref(ref)
    if parsed.version is None:
        raise InvalidInputError(
            f"name the version to erase exactly, like {parsed.name}@1; "
            "'latest' is not accepted for an erasure"
        )
    version = get_version(ctx, parsed)
    partitions = _partitions_of(ctx, version)
    now = datetime.now(UTC)
    with ctx.metadata.write() as session:
        if not session.mark_forgotten(
            version.dataset, version.version, at=now, by=actor.name, reason=reason
        ):
            current = session.get_version(version.dataset, version.version)
            assert current is not None
            when = current.forgotten_at.isoformat() if current.forgotten_at else "?"
            raise ConflictError(
                f"{version.ref} was erased already ({when} by {current.forgotten_by}); "
                "there is nothing left to erase"
            )
        runs = session.runs_using_dataset(version.dataset, version.version)
        run_ids = tuple(run.run_id for run in runs)
        models = tuple(
            model_version.ref
            for run_id in run_ids
            for model_version in session.model_versions_of_run(run_id)
        )
        derived = session.release_derived_outputs(run_ids)
        shared = session.digest_in_use(version.content_hash)
        record(
            session,
            actor,
            "dataset.forgotten",
            f"dataset:{version.ref}",
            {
                "reason": reason,
                "content_hash": version.content_hash,
                "rows": version.rows,
                "bytes_deleted": not shared,
                "derived_outputs_deleted": len(derived),
                "runs": list(run_ids),
                "model_versions": list(models),
            },
        )
        # Inside the transaction: if a deletion fails, the tombstone is rolled back with
        # it and nothing claims an erasure that did not happen.
        if not shared:
            ctx.artifacts.delete(version.content_hash)
            # A partition may be another version's too (an appended dataset keeps its
            # earlier files): it goes only when nothing else names it.
            if partitions:
                roots = session.referenced_digests() - {version.content_hash}
                kept = digests_named_by(ctx.artifacts, roots, set(partitions))
                for digest in partitions:
                    if digest not in kept and not session.digest_in_use(digest):
                        ctx.artifacts.delete(digest)
        for digest in derived:
            ctx.artifacts.delete(digest)
        tombstone = session.get_version(version.dataset, version.version)
    assert tombstone is not None
    return ForgetResult(tombstone, not shared, len(derived), run_ids, models)


def _partitions_of(ctx: ServiceContext, version: DatasetVersion) -> list[str]:
    """The digests of a partitioned version's partitions (none for a single file)."""
    if version.source_format != PARTITIONED_FORMAT or version.forgotten:
        return []
    return [entry.digest for entry in read_manifest(ctx.artifacts.get_bytes(version.content_hash))]


def erased_inputs(ctx: ServiceContext, run_id: str) -> list[str]:
    """The erased dataset versions a run read (a model version's mark)."""
    with ctx.metadata.read() as session:
        return session.erased_inputs(run_id)


def dataset_access(ctx: ServiceContext, ref: str, *, limit: int | None = None) -> list[AuditEvent]:
    """Who read dataset version ``ref``'s rows, when and why (``dataset.read`` events,
    newest first), together with its erasure if it was erased."""
    ctx.require(Permission.READ, "read the audit log")
    version = get_version(ctx, ref)
    subject = f"dataset:{version.ref}"
    with ctx.metadata.read() as session:
        # The subject filter is a prefix (loans@3 would match loans@30): keep exact ones.
        events = [
            event
            for event in session.iter_audit_events(
                subject=subject, action="dataset.", newest_first=True
            )
            if event.subject == subject and event.action in ("dataset.read", "dataset.forgotten")
        ]
    return events if limit is None else events[:limit]
