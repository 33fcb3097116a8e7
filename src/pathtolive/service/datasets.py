"""Dataset operations: add a version (validated against the contract), list, show, diff,
validate a file, accept a new schema, export a version."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow.parquet as pq

from pathtolive import compute, progress
from pathtolive.auth import Actor, Permission
from pathtolive.config import WORKSPACE_FILE, DatasetSettings
from pathtolive.data import (
    CanonicalTable,
    ColumnDiff,
    ColumnProfile,
    DatasetDiff,
    NumericStats,
    Profile,
    Schema,
    SchemaChange,
    TypeChange,
    classify_change,
    compute_profile,
    diff_profiles,
    id_tags,
    infer_schema,
    merge_accepting,
    to_canonical_parquet,
)
from pathtolive.entities import DatasetVersion, SchemaVersion
from pathtolive.errors import (
    ConflictError,
    ContractViolationError,
    DataErasedError,
    InvalidInputError,
    NotFoundError,
)
from pathtolive.faces import spelled
from pathtolive.redaction import mask_url
from pathtolive.refs import Ref, check_name, parse_ref
from pathtolive.service.context import ServiceContext, record
from pathtolive.service.dataset_catalog import list_datasets, list_versions
from pathtolive.service.dataset_catalog import require_dataset as _require_dataset
from pathtolive.service.gc import clean_stale_temporaries, work_folder_prefix
from pathtolive.service.head_start import HeadStart, merged_tags
from pathtolive.service.privacy import pii_columns, shown_profile, shown_schema
from pathtolive.store.artifacts import ObjectInfo, StagedObject
from pathtolive.store.metadata import MetadataSession
from pathtolive.store.metadata.browsing import VersionSummary

if TYPE_CHECKING:
    # Adding a Parquet file needs neither pandas nor the row checks (a first version is
    # not validated), so they are imported where they are used.
    import pandas as pd
    import pyarrow as pa

    from pathtolive.data import ValidationReport, Violation
    from pathtolive.data.partitions import PartitionedProfile

__all__ = [
    "MAX_PAGE",
    "AddResult",
    "ColumnHistogram",
    "ColumnMove",
    "DensityBin",
    "RankedDiff",
    "Refusal",
    "ValidationResult",
    "VersionPage",
    "accept_schema",
    "add_dataset",
    "check_readable",
    "column_histograms",
    "dataset_schema",
    "density_bins",
    "diff_versions",
    "export_version",
    "get_version",
    "list_datasets",
    "list_versions",
    "load_frame",
    "ranked_diff",
    "record_read",
    "refusals",
    "schema_history",
    "set_bounds",
    "shown_contract",
    "shown_version",
    "soften_schema",
    "validate_source",
    "version_files",
    "version_page",
    "version_table",
]

Source: TypeAlias = "Path | pd.DataFrame"


@dataclass(frozen=True)
class AddResult:
    """The version a ``data add`` produced or found."""

    version: DatasetVersion
    created: bool  # False when identical content was stored already
    validation: ValidationReport | None
    schema_change: SchemaChange | None = None


@dataclass(frozen=True)
class ValidationResult:
    dataset: str
    schema_version: int
    report: ValidationReport


@dataclass(frozen=True)
class _Prepared:
    canonical: CanonicalTable
    digest: str
    profile: Profile
    staged: StagedObject
    tags: Mapping[str, tuple[str, ...]]
    parent: tuple[int, Profile] | None = None
    # A partitioned version: its Parquet partitions in order, and the cluster they are
    # validated and profiled on (None: in this process).
    partitions: tuple[Path, ...] = ()
    client: Any = None

    @property
    def size(self) -> int:
        if self.partitions:
            return self.canonical.source_bytes
        return self.canonical.path.stat().st_size


def add_dataset(
    ctx: ServiceContext,
    source: Source,
    name: str,
    *,
    tags: Mapping[str, Sequence[str]] | None = None,
    policy: str | None = None,
    accept_schema: bool = False,
    reason: str = "",
    fmt: str | None = None,
    source_label: str | None = None,
    scheduler: str | None = None,
    head_start: HeadStart | None = None,
) -> AddResult:
    """Add ``source`` as a new version of dataset ``name``.

    The first version's schema is inferred; later versions are validated against the
    current schema first. Under ``strict`` a violating version is refused (and the refusal
    audited); under ``warn`` it is stored with its report. ``accept_schema`` stores it
    under a new schema version inferred from it (with a ``reason``, which is audited).
    Identical content returns the existing version. On any failure the store is left
    exactly as it was.

    Concurrent adds: the write transaction checks that the schema the decision was made
    against is still the current one. When another writer stored one meanwhile (two first
    adds of a new dataset, above all), the add decides again against it, so the first
    writer's schema wins and the others are validated under the same policy as any later
    version.

    A folder of Parquet files is stored as its partitions (each file as it is, plus a
    manifest naming them in order): they are hashed, validated and profiled one at a time
    here, or in parallel on the Dask cluster named by ``scheduler``,
    ``PATHTOLIVE_DASK_SCHEDULER`` or ``[compute] scheduler``.

    ``head_start``: the copy and profile pass of the file, begun before the metadata store
    was opened (:mod:`pathtolive.service.head_start`); taken up when it fits.
    """
    check_name(name)
    actor = ctx.require(Permission.WRITE, "add data")
    ctx.metadata.require_writable("add data")  # before the data is read and profiled
    settings = ctx.settings.dataset(name)
    column_tags = merged_tags(settings.tags, tags)
    effective_policy = policy or settings.policy
    if effective_policy not in ("strict", "warn"):
        raise InvalidInputError(f"policy {effective_policy!r} does not exist; use strict or warn")
    if accept_schema and not reason.strip():
        # A schema change is audited with its reason; an empty one explains nothing.
        raise InvalidInputError(
            "say why the schema changes: "
            + spelled(
                '--accept-schema needs --reason "..."', 'accept_schema=True needs reason="..."'
            )
        )
    label = mask_url(source_label or _describe_source(source))
    clean_stale_temporaries(ctx)  # what adds killed mid-way left (their process is gone)
    with ctx.metadata.read() as session:
        current = session.get_schema(name)
        latest = session.latest_version(name) if current is not None else None
    # The new version's sample is counted on its parent's drift bins, for `data diff`.
    parent = None if latest is None else (latest.version, Profile.from_dict(latest.profile))
    # The contract's tags (pii, id, ...) apply to every later version's profile too.
    schema_tags = {} if current is None else _schema_tags(Schema.from_dict(current.schema))

    partitioned = (
        fmt in (None, "parquet")
        and isinstance(source, Path)
        and source.is_dir()
        and _is_parquet_folder(source)
    )
    with (
        compute.cluster(scheduler, ctx.settings.document, os.environ)
        if partitioned
        else nullcontext(None) as client,
        _work_dir(ctx) as work_dir,
        (
            _prepare_partitions(
                ctx,
                Path(source) if isinstance(source, Path) else Path(),
                column_tags,
                schema_tags,
                current is None,
                settings.max_categories,
                parent,
                client,
            )
            if partitioned
            else _prepare(
                ctx,
                source,
                work_dir,
                column_tags,
                schema_tags,
                current is None,
                settings.max_categories,
                fmt,
                parent,
                head_start,
            )
        ) as prepared,
    ):
        with ctx.metadata.read() as session:
            existing = session.find_version_by_hash(name, prepared.digest)
            current = session.get_schema(name)
        if existing is not None:
            _refuse_erased_content(existing)
            return AddResult(existing, created=False, validation=None)
        if current is not None:  # it may have been stored by another writer meanwhile
            prepared = _reprofiled(prepared, current, column_tags, settings)

        stored: ObjectInfo | None = None
        try:
            for _ in range(_SCHEMA_ATTEMPTS):
                decision = _decide(
                    ctx,
                    actor,
                    name,
                    label,
                    prepared,
                    current,
                    effective_policy,
                    accept_schema,
                    column_tags,
                    settings,
                )
                if stored is None:
                    stored = prepared.staged.commit()
                try:
                    # Writers are serialised by the store, so the re-checks inside this
                    # transaction see any version or schema a concurrent adder committed
                    # first.
                    with ctx.metadata.write() as session:
                        version, created = _insert_version(
                            session, actor, name, label, prepared, decision, reason
                        )
                    break
                except _SchemaMoved as moved:
                    # Another writer stored a schema since this one decided (two first adds
                    # of a new dataset, or two --accept-schema): decide again against it,
                    # under the same policy as any later version.
                    current = moved.current
                    prepared = _reprofiled(prepared, current, column_tags, settings)
            else:
                raise ConflictError(
                    f"the schema of dataset {name!r} kept changing while this version was "
                    "added; add it again"
                )
        except BaseException:
            if (
                stored is not None
                and stored.created
                and not _digest_referenced(ctx, prepared.digest)
            ):
                ctx.artifacts.delete(prepared.digest)
            raise
        report, change = decision.report, decision.change
    return AddResult(version, created=created, validation=report, schema_change=change)


@contextmanager
def _prepare(
    ctx: ServiceContext,
    source: Source,
    work_dir: Path,
    explicit_tags: Mapping[str, Sequence[str]],
    schema_tags: Mapping[str, Sequence[str]],
    first_version: bool,
    max_categories: int,
    fmt: str | None,
    parent: tuple[int, Profile] | None,
    head_start: HeadStart | None = None,
) -> Iterator[_Prepared]:
    """Canonical Parquet, profiled while a second thread copies it into the store's
    staging area and hashes it in the same read. The staged copy is discarded unless the
    caller commits it."""
    progress.stage("reading the data")
    canonical = to_canonical_parquet(source, work_dir, fmt=fmt)
    tags = _column_tags(canonical.arrow_schema, explicit_tags, schema_tags, first_version)
    taken = (
        None
        if head_start is None or canonical.temporary
        else head_start.take(canonical.path, tags, max_categories)
    )
    if taken is not None:
        progress.stage("hashing and profiling")
        staged, profiled = taken
        with staged:
            yield _Prepared(canonical, staged.digest, profiled.finish(parent), staged, tags, parent)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        # A file we wrote ourselves may be linked (it is deleted next); a user's own
        # file is copied so that later edits to it cannot reach the store.
        staging = pool.submit(ctx.artifacts.stage_file, canonical.path, link=canonical.temporary)
        size = canonical.path.stat().st_size
        progress.stage("hashing and profiling", total=size, unit="bytes")
        try:
            # Profiling counts rows; each stands for its share of the file's bytes.
            with progress.scaled(size / max(canonical.rows, 1)):
                profile = compute_profile(
                    canonical.path, tags=tags, max_categories=max_categories, parent=parent
                )
        except BaseException:
            with suppress(Exception):
                staging.result().discard()
            raise
        staged = staging.result()
    with staged:
        yield _Prepared(canonical, staged.digest, profile, staged, tags, parent)


def _column_tags(
    arrow_schema: pa.Schema,
    explicit_tags: Mapping[str, Sequence[str]],
    schema_tags: Mapping[str, Sequence[str]],
    first_version: bool,
) -> dict[str, tuple[str, ...]]:
    """The tags a new version is profiled with: the contract's, then the ones given, and
    for a first version the id columns found in the data."""
    names = arrow_schema.names
    unknown = [column for column in explicit_tags if column not in names]
    if unknown:
        raise InvalidInputError(
            f"tagged column {unknown[0]!r} is not in the data; columns are {', '.join(names[:20])}"
        )
    tags: dict[str, tuple[str, ...]] = {
        column: tuple(values) for column, values in schema_tags.items() if column in names
    }
    tags.update({column: tuple(values) for column, values in explicit_tags.items()})
    if first_version:
        tags.update(id_tags(arrow_schema, tags))
    return tags


@contextmanager
def _prepare_partitions(
    ctx: ServiceContext,
    folder: Path,
    explicit_tags: Mapping[str, Sequence[str]],
    schema_tags: Mapping[str, Sequence[str]],
    first_version: bool,
    max_categories: int,
    parent: tuple[int, Profile] | None,
    client: Any,
) -> Iterator[_Prepared]:
    """A folder of Parquet partitions hashed and profiled partition by partition (on the
    cluster of ``client`` when given), each partition staged into the store as it is.
    The staged copies are discarded unless the caller commits the version's object."""
    from pathtolive.data import partitions

    progress.stage("profiling partitions")
    files = partitions.parquet_partitions(folder)
    tags = _column_tags(pq.read_schema(files[0]), explicit_tags, schema_tags, first_version)
    result = partitions.profile_partitions(
        files, tags=tags, max_categories=max_categories, parent=parent, client=client
    )
    staged: list[StagedObject] = []
    try:
        progress.stage("storing partitions", total=len(files), unit="items")
        for fact in result.partitions:
            # Copied and hashed in one read: a partition changed since it was profiled
            # does not get stored under a profile of other rows.
            staged.append(ctx.artifacts.stage_file(Path(fact.path)))
            if staged[-1].digest != fact.digest:
                raise InvalidInputError(
                    f"{fact.path} changed while it was added; add the folder again once "
                    "nothing writes to it"
                )
            progress.advance(1)
        canonical = CanonicalTable(
            folder,
            False,
            partitions.PARTITIONED_FORMAT,
            result.rows,
            result.schema,
            sum(fact.size for fact in result.partitions),
        )
        manifest = _PartitionsObject(ctx, staged, result)
        yield _Prepared(
            canonical,
            result.digest,
            result.profile,
            manifest.staged(),
            tags,
            parent,
            partitions=tuple(files),
            client=client,
        )
    finally:
        for one in staged:
            one.discard()


@dataclass(frozen=True)
class _PartitionsObject:
    """A partitioned version's objects: its staged partitions and its manifest, published
    together (the manifest last, so that it never names a missing partition)."""

    ctx: ServiceContext
    partitions: Sequence[StagedObject]
    result: PartitionedProfile

    def staged(self) -> StagedObject:
        from pathtolive.data import partitions

        manifest = partitions.partition_manifest(self.result.partitions)
        return StagedObject(
            self.result.digest, len(manifest), publish=self._publish, remove=self._remove
        )

    def _publish(self) -> ObjectInfo:
        from pathtolive.data import partitions

        for partition in self.partitions:
            partition.commit()
        info = self.ctx.artifacts.put_bytes(partitions.partition_manifest(self.result.partitions))
        assert info.digest == self.result.digest
        return info

    def _remove(self) -> None:
        for partition in self.partitions:
            partition.discard()


_SCHEMA_ATTEMPTS = 5
"""How often an add decides again when concurrent writers keep storing new schemas."""


@dataclass(frozen=True)
class _Decision:
    """What an add stores, decided against the schema that was current (``based_on``)."""

    based_on: int | None  # the schema version decided against; None for a new dataset
    status: str
    report: ValidationReport | None
    schema_to_store: Schema | None
    change: SchemaChange | None


class _SchemaMoved(Exception):
    """Raised inside the write transaction when the current schema is no longer the one
    the decision was based on; carries the schema that is current now."""

    def __init__(self, current: SchemaVersion) -> None:
        super().__init__(f"schema v{current.version} was stored meanwhile")
        self.current = current


def _is_parquet_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a partitioned table (its module, and pandas, are loaded only
    for a folder)."""
    from pathtolive.data import partitions

    return partitions.is_parquet_folder(folder)


def _decide(
    ctx: ServiceContext,
    actor: Actor,
    name: str,
    label: str,
    prepared: _Prepared,
    current: SchemaVersion | None,
    policy: str,
    accept_schema: bool,
    column_tags: Mapping[str, Sequence[str]],
    settings: DatasetSettings,
) -> _Decision:
    """Infer the first schema, or validate against ``current`` under ``policy``; a refused
    version is audited and raises ContractViolationError. Only hard violations refuse:
    soft ones (values beyond an inferred range, unseen categories under ``warn``) are
    kept in the version's report."""
    if current is None:
        inferred = _infer(prepared, prepared.tags, settings.max_categories)
        return _Decision(None, "inferred", None, _declared(inferred, name, settings), None)
    # pandas: only a later version is validated
    from pathtolive.data import partitions, validate

    current_schema = _declared(Schema.from_dict(current.schema), name, settings)
    if prepared.partitions:
        report = partitions.validate_partitions(
            prepared.partitions,
            current_schema,
            private=sorted(pii_columns(ctx, current_schema)),
            unseen_categories=settings.unseen_categories,
            client=prepared.client,
        )
    else:
        report = validate(
            prepared.canonical.path,
            current_schema,
            prepared.profile,
            private=pii_columns(ctx, current_schema),
            unseen_categories=settings.unseen_categories,
        )
    if accept_schema:
        merged = merge_accepting(
            current_schema,
            prepared.canonical.arrow_schema,
            prepared.profile,
            tags=column_tags,
            max_categories=settings.max_categories,
        )
        change = classify_change(current_schema, merged)
        if change.kind == "none":
            return _Decision(current.version, "passed", report, None, change)
        return _Decision(current.version, "accepted", report, merged, change)
    if report.ok:
        return _Decision(current.version, "passed", report, None, None)
    if policy == "warn":
        return _Decision(current.version, "warned", report, None, None)
    _audit_refusal(ctx, actor, name, label, prepared, report)
    raise ContractViolationError(
        f"{label} breaks the contract of dataset {name!r} "
        f"(schema v{current.version}): {report.summary()}; fix the data, add it with "
        + spelled("--policy warn", 'policy="warn"')
        + ", or accept a new schema with "
        + spelled("--accept-schema", "accept_schema=True"),
        details={"validation": report.to_dict()},
    )


def _declared(schema: Schema, name: str, settings: DatasetSettings) -> Schema:
    """The contract a version is checked against: the stored schema with the bounds the
    workspace file declares (hard, whatever the stored ones are)."""
    return schema.declaring(settings.bounds, where=f"[datasets.{name}.columns] in {WORKSPACE_FILE}")


def _reprofiled(
    prepared: _Prepared,
    current: SchemaVersion,
    explicit_tags: Mapping[str, Sequence[str]],
    settings: DatasetSettings,
) -> _Prepared:
    """``prepared`` profiled again when the schema another writer stored tags columns
    (``pii`` above all) that this add's profile did not: its raw values must not reach
    the stored profile."""
    from pathtolive.data import partitions

    names = prepared.canonical.arrow_schema.names
    tags = {
        column: tuple(values)
        for column, values in _schema_tags(Schema.from_dict(current.schema)).items()
        if column in names
    }
    tags.update({column: tuple(values) for column, values in explicit_tags.items()})
    if tags == dict(prepared.tags):
        return prepared
    if prepared.partitions:
        result = partitions.profile_partitions(
            prepared.partitions,
            tags=tags,
            max_categories=settings.max_categories,
            parent=prepared.parent,
            client=prepared.client,
        )
        return replace(prepared, profile=result.profile, tags=tags)
    profile = compute_profile(
        prepared.canonical.path,
        tags=tags,
        max_categories=settings.max_categories,
        parent=prepared.parent,
    )
    return replace(prepared, profile=profile, tags=tags)


def _infer(prepared: _Prepared, tags: Mapping[str, Sequence[str]], max_categories: int) -> Schema:
    return infer_schema(
        prepared.canonical.arrow_schema, prepared.profile, tags=tags, max_categories=max_categories
    )


def _insert_version(
    session: MetadataSession,
    actor: Actor,
    name: str,
    label: str,
    prepared: _Prepared,
    decision: _Decision,
    reason: str,
) -> tuple[DatasetVersion, bool]:
    existing = session.find_version_by_hash(name, prepared.digest)
    if existing is not None:
        _refuse_erased_content(existing)
        return existing, False
    now = datetime.now(UTC)
    dataset_id = session.dataset_id(name)
    if dataset_id is None:
        dataset_id = session.create_dataset(name, now, actor.name)
        record(session, actor, "dataset.created", f"dataset:{name}")
    current = session.get_schema(name)
    if (None if current is None else current.version) != decision.based_on:
        assert current is not None  # schemas are never deleted
        raise _SchemaMoved(current)
    status, report = decision.status, decision.report
    schema_to_store, change = decision.schema_to_store, decision.change
    if schema_to_store is not None:
        schema_version = 1 if current is None else current.version + 1
        kind = "initial" if current is None else (change.kind if change else "compatible")
        changes = [] if change is None else [c.to_dict() for c in change.changes]
        schema_id = session.insert_schema(
            dataset_id,
            version=schema_version,
            schema=schema_to_store.to_dict(),
            change_kind=kind,
            changes=changes,
            reason=reason,
            created_at=now,
            created_by=actor.name,
        )
        record(
            session,
            actor,
            "dataset.schema_inferred" if current is None else "dataset.schema_accepted",
            f"dataset:{name}#schema{schema_version}",
            {"change": kind, "changes": changes, "reason": reason},
        )
    else:
        assert current is not None
        schema_version = current.version
        existing_schema_id = session.schema_id(name, schema_version)
        assert existing_schema_id is not None
        schema_id = existing_schema_id
    latest = session.latest_version(name)
    number = 1 if latest is None else latest.version + 1
    profile = prepared.profile
    if profile.counted_on != (None if latest is None else latest.version):
        profile = profile.uncounted()  # another version came in between: its parent
    session.insert_version(
        dataset_id,
        version=number,
        content_hash=prepared.digest,
        parent_version=None if latest is None else latest.version,
        schema_id=schema_id,
        source=label,
        source_format=prepared.canonical.source_format,
        author=actor.name,
        created_at=now,
        rows=prepared.canonical.rows,
        size=prepared.size,
        validation_status=status,
        validation=None if report is None else report.to_dict(),
        profile=profile.to_dict(),
    )
    record(
        session,
        actor,
        "dataset.version_added",
        f"dataset:{name}@{number}",
        {
            "content_hash": prepared.digest,
            "rows": prepared.canonical.rows,
            "source": label,
            "validation": status,
            "schema_version": schema_version,
            "violations": 0 if report is None else len(report.hard),
            "soft_findings": 0 if report is None else len(report.soft),
        },
    )
    version = session.get_version(name, number)
    assert version is not None
    return version, True


def _refuse_erased_content(existing: DatasetVersion) -> None:
    # Erased rows do not come back by a second add of the same bytes: the version (and
    # its unique content hash) stays a tombstone.
    if existing.forgotten:
        raise ConflictError(
            f"this content is {existing.ref}, which was erased with 'data forget'; erased "
            "data cannot be added to the same dataset again"
        )


def _audit_refusal(
    ctx: ServiceContext,
    actor: Actor,
    name: str,
    label: str,
    prepared: _Prepared,
    report: ValidationReport,
) -> None:
    with ctx.metadata.write() as session:
        record(
            session,
            actor,
            "dataset.version_refused",
            f"dataset:{name}",
            {
                "content_hash": prepared.digest,
                "source": label,
                "violations": [v.to_dict() for v in report.violations],
            },
        )


def _digest_referenced(ctx: ServiceContext, digest: str) -> bool:
    with ctx.metadata.read() as session:
        # A forgotten version's hash does not count: its bytes must not come back.
        return session.digest_in_use(digest)


def _schema_tags(schema: Schema) -> dict[str, tuple[str, ...]]:
    return {column.name: column.tags for column in schema.columns if column.tags}


def _describe_source(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return str(Path(source).resolve())
    return f"DataFrame ({len(source)} rows)"


@contextmanager
def _work_dir(ctx: ServiceContext) -> Iterator[Path]:
    # Inside the workspace's state folder, so a written Parquet file can be renamed or
    # hard-linked into a local store without crossing filesystems.
    base = ctx.settings.state_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=work_folder_prefix("add"), dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- reading --------------------------------------------------------------------------


def get_version(ctx: ServiceContext, ref: str | Ref) -> DatasetVersion:
    """The version ``ref`` names (``loans@2``, ``loans@latest``, ``loans``)."""
    ctx.require(Permission.READ, "read datasets")
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    with ctx.metadata.read() as session:
        return _resolve(session, parsed)


def _resolve(session: MetadataSession, ref: Ref) -> DatasetVersion:
    _require_dataset(session, ref.name)
    if ref.version is None:
        version = session.latest_version(ref.name)
    else:
        version = session.get_version(ref.name, ref.version)
    if version is None:
        latest = session.latest_version(ref.name)
        newest = "none" if latest is None else str(latest.version)
        raise NotFoundError(
            f"dataset {ref.name!r} has no version {ref.version}; its newest is {newest}"
        )
    return version


def dataset_schema(ctx: ServiceContext, name: str, version: int | None = None) -> SchemaVersion:
    ctx.require(Permission.READ, "read schemas")
    with ctx.metadata.read() as session:
        _require_dataset(session, check_name(name))
        schema = session.get_schema(name, version)
    if schema is None:
        raise NotFoundError(f"dataset {name!r} has no schema version {version}")
    return schema


def schema_history(ctx: ServiceContext, name: str) -> list[SchemaVersion]:
    ctx.require(Permission.READ, "read schemas")
    with ctx.metadata.read() as session:
        _require_dataset(session, check_name(name))
        return session.list_schemas(name)


def diff_versions(ctx: ServiceContext, old: str, new: str) -> DatasetDiff:
    """Compare two versions through their stored schemas and profiles."""
    ctx.require(Permission.READ, "read datasets")
    with ctx.metadata.read() as session:
        a = _resolve(session, parse_ref(old))
        b = _resolve(session, parse_ref(new))
        schema_a = session.get_schema(a.dataset, a.schema_version)
        schema_b = session.get_schema(b.dataset, b.schema_version)
    assert schema_a is not None
    assert schema_b is not None
    contract_a, contract_b = Schema.from_dict(schema_a.schema), Schema.from_dict(schema_b.schema)
    # A column PII on either side is PII on both: counts only, as a pii tag keeps it.
    private = pii_columns(ctx, contract_a, contract_b)
    new_profile = Profile.from_dict(b.profile)
    return diff_profiles(
        contract_a,
        Profile.from_dict(a.profile).withholding(private),
        contract_b,
        new_profile.withholding(private),
        counted_on_old=a.dataset == b.dataset and new_profile.counted_on == a.version,
    )


def shown_version(ctx: ServiceContext, ref: str) -> tuple[DatasetVersion, SchemaVersion]:
    """A version and its schema as ``data show`` shows them: the values of PII columns
    (tagged, or named in ``[serve] pii_columns``) withheld from the profile and schema."""
    from pathtolive.data import ValidationReport

    version = get_version(ctx, ref)
    schema = dataset_schema(ctx, version.dataset, version.schema_version)
    contract = Schema.from_dict(schema.schema)
    profile = shown_profile(ctx, Profile.from_dict(version.profile), contract)
    validation = version.validation
    if validation:
        private = pii_columns(ctx, contract)
        validation = ValidationReport.from_dict(validation).withholding(private).to_dict()
    return (
        replace(version, profile=profile.to_dict(), validation=validation),
        replace(schema, schema=shown_schema(ctx, contract).to_dict()),
    )


def validate_source(
    ctx: ServiceContext, name: str, source: Source, *, fmt: str | None = None
) -> ValidationResult:
    """Check ``source`` against dataset ``name``'s current schema without storing it."""
    from pathtolive.data import validate

    ctx.require(Permission.READ, "validate data")
    schema = dataset_schema(ctx, name)
    settings = ctx.settings.dataset(name)
    with _work_dir(ctx) as work_dir:
        canonical = to_canonical_parquet(source, work_dir, fmt=fmt)
        profile = compute_profile(canonical.path, max_categories=settings.max_categories)
        contract = _declared(Schema.from_dict(schema.schema), name, settings)
        report = validate(
            canonical.path,
            contract,
            profile,
            private=pii_columns(ctx, contract),
            unseen_categories=settings.unseen_categories,
        )
    return ValidationResult(name, schema.version, report)


def accept_schema(ctx: ServiceContext, ref: str, *, reason: str) -> SchemaVersion:
    """Make a new schema version from a stored version's data (one stored under ``warn``)."""
    actor = ctx.require(Permission.WRITE, "accept a schema")
    if not reason.strip():
        raise InvalidInputError(
            "say why the schema changes with " + spelled('--reason "..."', 'reason="..."')
        )
    version = check_readable(get_version(ctx, ref))
    current = dataset_schema(ctx, version.dataset)
    current_schema = Schema.from_dict(current.schema)
    settings = ctx.settings.dataset(version.dataset)
    path = version_files(ctx, version)[0]
    profile = Profile.from_dict(version.profile)
    inferred = merge_accepting(
        current_schema,
        pq.read_schema(path),
        profile,
        max_categories=settings.max_categories,
    )
    change = classify_change(current_schema, inferred)
    if change.kind == "none":
        raise ConflictError(
            f"{version.ref} already meets schema v{current.version}; nothing to accept"
        )
    changes = [c.to_dict() for c in change.changes]
    with ctx.metadata.write() as session:
        dataset_id = session.dataset_id(version.dataset)
        assert dataset_id is not None
        latest = session.get_schema(version.dataset)
        assert latest is not None
        number = latest.version + 1
        session.insert_schema(
            dataset_id,
            version=number,
            schema=inferred.to_dict(),
            change_kind=change.kind,
            changes=changes,
            reason=reason,
            created_at=datetime.now(UTC),
            created_by=actor.name,
        )
        record(
            session,
            actor,
            "dataset.schema_accepted",
            f"dataset:{version.dataset}#schema{number}",
            {
                "from_version": version.version,
                "change": change.kind,
                "changes": changes,
                "reason": reason,
            },
        )
        accepted = session.get_schema(version.dataset, number)
    assert accepted is not None
    return accepted


def soften_schema(
    ctx: ServiceContext, name: str, *, columns: Sequence[str] = (), reason: str
) -> SchemaVersion:
    """A new schema version whose bounds on ``columns`` (every column when empty) are
    soft: a value beyond them is reported, not refused. For contracts stored before
    inferred ranges were soft, which keep the hard bounds they were given until this.
    Audited (``dataset.schema_edited``) with ``reason``."""
    actor = ctx.require(Permission.WRITE, "change a schema")
    current = _editable(ctx, name, reason)
    schema = Schema.from_dict(current.schema)
    edited = schema.softened(list(columns) if columns else None)
    details = {"edit": "soften", "columns": list(columns) or "all"}
    return _store_edit(ctx, actor, name, current, edited, reason, details)


def set_bounds(
    ctx: ServiceContext,
    name: str,
    column: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    reason: str,
) -> SchemaVersion:
    """A new schema version with hard bounds declared on ``column`` (a side not given
    keeps its bound): a value beyond them refuses a version. Audited
    (``dataset.schema_edited``) with ``reason``."""
    actor = ctx.require(Permission.WRITE, "change a schema")
    if minimum is None and maximum is None:
        raise InvalidInputError("give the bound to set: --min, --max or both")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InvalidInputError(f"--min {minimum:g} is above --max {maximum:g}; swap them")
    current = _editable(ctx, name, reason)
    schema = Schema.from_dict(current.schema)
    edited = schema.declaring({column: (minimum, maximum)}, where="data schema set")
    details = {"edit": "set", "column": column, "minimum": minimum, "maximum": maximum}
    return _store_edit(ctx, actor, name, current, edited, reason, details)


def _editable(ctx: ServiceContext, name: str, reason: str) -> SchemaVersion:
    ctx.metadata.require_writable("change a schema")
    if not reason.strip():
        raise InvalidInputError('say why the contract changes with --reason "..."')
    return dataset_schema(ctx, name)


def _store_edit(
    ctx: ServiceContext,
    actor: Actor,
    name: str,
    current: SchemaVersion,
    edited: Schema,
    reason: str,
    details: Mapping[str, object],
) -> SchemaVersion:
    change = classify_change(Schema.from_dict(current.schema), edited)
    if change.kind == "none":
        raise ConflictError(
            f"schema v{current.version} of {name!r} is like that already; nothing to change"
        )
    changes = [c.to_dict() for c in change.changes]
    with ctx.metadata.write() as session:
        dataset_id = session.dataset_id(name)
        latest = session.get_schema(name)
        assert dataset_id is not None
        assert latest is not None
        if latest.version != current.version:
            raise ConflictError(
                f"schema v{latest.version} of {name!r} was stored meanwhile; run the command "
                "again to edit it"
            )
        number = latest.version + 1
        session.insert_schema(
            dataset_id,
            version=number,
            schema=edited.to_dict(),
            change_kind=change.kind,
            changes=changes,
            reason=reason,
            created_at=datetime.now(UTC),
            created_by=actor.name,
        )
        record(
            session,
            actor,
            "dataset.schema_edited",
            f"dataset:{name}#schema{number}",
            {**details, "change": change.kind, "changes": changes, "reason": reason},
        )
        stored = session.get_schema(name, number)
    assert stored is not None
    return stored


def export_version(ctx: ServiceContext, ref: str, dest: Path) -> Path:
    """Write a version's Parquet bytes (verified) to ``dest``; the read is audited."""
    from pathtolive.data import partitions

    version = check_readable(get_version(ctx, ref))
    dest = dest.resolve()
    if dest.is_dir():
        dest = dest / f"{version.dataset}-v{version.version}.parquet"
    if version.source_format == partitions.PARTITIONED_FORMAT:
        written = _write_partitions(version_files(ctx, version), dest)
    else:
        written = ctx.artifacts.get_file(version.content_hash, dest)
    try:
        record_read(ctx, version, "export", destination=str(written))
    except BaseException:
        written.unlink(missing_ok=True)  # no rows leave without their event
        raise
    return written


def _write_partitions(files: Sequence[Path], dest: Path) -> Path:
    """The partitions written in order as one Parquet file, one batch at a time."""
    from pathtolive.data import partitions

    schema = pq.read_schema(files[0])
    try:
        with pq.ParquetWriter(dest, schema, compression="zstd") as writer:
            for batch in partitions.read_partitions(files):
                writer.write_batch(batch)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


def load_frame(
    ctx: ServiceContext,
    ref: str,
    columns: Sequence[str] | None = None,
    *,
    purpose: str = "load",
) -> pd.DataFrame:
    """A version as a pandas DataFrame (verified against its hash first). The read is an
    audit event ``dataset.read`` naming the actor and ``purpose``."""
    version = check_readable(get_version(ctx, ref))
    frame: pd.DataFrame = version_table(ctx, version, columns).to_pandas()
    record_read(ctx, version, purpose, columns=columns)
    return frame


def version_files(ctx: ServiceContext, version: DatasetVersion) -> list[Path]:
    """Local paths of a version's verified Parquet data: its one canonical file, or its
    partitions in order (each a Parquet file with the same columns). Unaudited: the
    caller records the read."""
    from pathtolive.data import partitions

    if version.source_format != partitions.PARTITIONED_FORMAT:
        return [ctx.artifacts.local_path(version.content_hash)]
    entries = partitions.read_manifest(ctx.artifacts.get_bytes(version.content_hash))
    return [ctx.artifacts.local_path(entry.digest) for entry in entries]


def version_table(
    ctx: ServiceContext, version: DatasetVersion, columns: Sequence[str] | None = None
) -> pa.Table:
    """A version's rows (partitions concatenated in order) as one Arrow table. Unaudited:
    the caller records the read."""
    files = version_files(ctx, version)
    wanted = list(columns) if columns else None
    if len(files) == 1:
        return pq.read_table(files[0], columns=wanted)
    import pyarrow as pa

    return pa.concat_tables(pq.read_table(path, columns=wanted) for path in files)


# -- access audit and erasure ------------------------------------------------------------


def check_readable(version: DatasetVersion) -> DatasetVersion:
    """``version`` itself, unless its rows were erased (DataErasedError)."""
    if version.forgotten:
        when = version.forgotten_at.date().isoformat() if version.forgotten_at else "?"
        # The reason is not repeated here: it may name the request behind the erasure.
        raise DataErasedError(
            f"{version.ref} was erased on {when} by {version.forgotten_by}; its rows "
            "cannot be read: use another version",
            details={"dataset": version.dataset, "version": version.version},
        )
    return version


def record_read(
    ctx: ServiceContext,
    version: DatasetVersion,
    purpose: str,
    *,
    columns: Sequence[str] | None = None,
    destination: str | None = None,
    rows: int | None = None,
) -> None:
    """Audit one read of ``version``'s rows (``dataset.read``: who, why, which columns).

    One event per load, not per batch: recorded after the rows were read and verified and
    before they are handed over, so no rows leave without their event."""
    details: dict[str, object] = {
        "purpose": purpose,
        "rows": version.rows if rows is None else rows,
    }
    if columns:
        details["columns"] = list(columns)
    if destination is not None:
        details["destination"] = destination
    with ctx.metadata.write() as session:
        record(session, ctx.actor(), "dataset.read", f"dataset:{version.ref}", details)


# -- browsing (the console's dataset pages) ------------------------------------------------


@dataclass(frozen=True)
class VersionPage:
    """One page of a dataset's versions, newest first, and how many there are."""

    dataset: str
    versions: list[VersionSummary]
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.versions) < self.total


def version_page(
    ctx: ServiceContext, name: str, *, offset: int = 0, limit: int = 20
) -> VersionPage:
    """Versions of ``name`` with their provenance (source, author, parent, schema,
    validation), newest first; profiles and reports are not read."""
    ctx.require(Permission.READ, "list dataset versions")
    offset, limit = _page_bounds(offset, limit)
    with ctx.metadata.read() as session:
        _require_dataset(session, check_name(name))
        versions = session.version_summaries(name, offset=offset, limit=limit)
        total = session.version_count(name)
    return VersionPage(name, versions, total, offset, limit)


MAX_PAGE = 200
"""The most rows one page of a list holds."""


def _page_bounds(offset: int, limit: int) -> tuple[int, int]:
    if offset < 0:
        raise InvalidInputError(f"offset {offset} is negative; pages start at offset 0")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"a page holds 1 to {MAX_PAGE} rows, not {limit}")
    return offset, limit


def shown_contract(
    ctx: ServiceContext, name: str, version: int | None = None
) -> tuple[SchemaVersion, Schema]:
    """A schema version (the newest without ``version``) as ``data show`` shows it: its
    columns with their types, bounds, categories and tags; PII columns' values withheld."""
    schema = dataset_schema(ctx, name, version)
    shown = shown_schema(ctx, Schema.from_dict(schema.schema))
    return replace(schema, schema=shown.to_dict()), shown


@dataclass(frozen=True)
class DensityBin:
    """A bin ``[low, high)`` holding ``share`` of the column's finite values; ``density``
    is share per unit of the value (``share / (high - low)``), so that bins of unequal
    width are drawn by the area they hold and the distribution's shape shows."""

    low: float
    high: float
    count: int
    share: float
    density: float


@dataclass(frozen=True)
class ColumnHistogram:
    """What a column's stored profile says about its distribution.

    A numeric column has ``bins`` (densities) and ``point_masses`` (values holding a
    share by themselves, too narrow to draw as a bar); a categorical one ``categories``
    with their counts and the ``other_count`` beyond them. ``withheld`` when the values
    are private (a PII column): counts only.
    """

    column: str
    kind: str
    count: int
    nulls: int
    bins: tuple[DensityBin, ...] = ()
    point_masses: tuple[tuple[float, float], ...] = ()
    categories: tuple[tuple[str, int], ...] = ()
    other_count: int = 0
    withheld: bool = False


_POINT_WIDTH = 1e-3
"""A bin narrower than this share of the column's range is a value by itself."""


def column_histograms(
    ctx: ServiceContext, ref: str
) -> tuple[DatasetVersion, list[ColumnHistogram]]:
    """A version (as ``data show`` shows it) and each column's distribution, from the
    stored profile alone: the data itself is not read."""
    version, _ = shown_version(ctx, ref)
    profile = Profile.from_dict(version.profile)
    return version, [_histogram(column) for column in profile.columns]


def _histogram(column: ColumnProfile) -> ColumnHistogram:
    base = ColumnHistogram(column.name, column.kind, column.count, column.nulls)
    if column.numeric is not None:
        bins, points = density_bins(column.numeric)
        return replace(base, bins=bins, point_masses=points)
    if column.categorical is not None:
        stats = column.categorical
        return replace(base, categories=stats.categories, other_count=stats.other_count)
    return replace(base, withheld=column.datetime is None)


def density_bins(
    stats: NumericStats,
) -> tuple[tuple[DensityBin, ...], tuple[tuple[float, float], ...]]:
    """Bins with their densities, from the equal-mass bins when the profile kept them
    (finest where the data lies) or else the equal-width histogram; bins too narrow to
    draw come back as point masses (value, share)."""
    if stats.mass_cuts and len(stats.mass_counts) == len(stats.mass_cuts) + 1:
        edges, counts = stats.mass_cuts, stats.mass_counts[1:-1]  # the outer two are empty
    else:
        edges, counts = stats.bin_edges, stats.bin_counts
    total = sum(counts)
    if total == 0 or len(edges) < 2:
        return (), ()
    span = edges[-1] - edges[0]
    bins: list[DensityBin] = []
    points: list[tuple[float, float]] = []
    for (low, high), count in zip(pairwise(edges), counts, strict=True):
        share = count / total
        width = high - low
        if span <= 0 or width <= span * _POINT_WIDTH:
            if count:
                points.append((low / 2 + high / 2, share))
            continue
        bins.append(DensityBin(low, high, count, share, share / width))
    return tuple(bins), tuple(points)


@dataclass(frozen=True)
class ColumnMove:
    """How one column changed between two versions: ``change`` is ``added``,
    ``removed``, ``type`` (its type changed) or ``moved``; ``score`` is how far its
    distribution moved (the PSI, or the change of its null rate when larger)."""

    column: str
    change: str
    score: float | None
    detail: ColumnDiff | None = None
    type_change: TypeChange | None = None


@dataclass(frozen=True)
class RankedDiff:
    old: str
    new: str
    diff: DatasetDiff
    moves: tuple[ColumnMove, ...]


def ranked_diff(ctx: ServiceContext, old: str, new: str) -> RankedDiff:
    """The diff of two versions (from their profiles) with its columns sorted by how much
    each moved: columns added, removed or retyped first, then by score, largest first."""
    diff = diff_versions(ctx, old, new)
    moves: list[ColumnMove] = [ColumnMove(name, "added", None) for name in diff.added_columns]
    moves += [ColumnMove(name, "removed", None) for name in diff.removed_columns]
    moves += [ColumnMove(c.column, "type", None, type_change=c) for c in diff.type_changes]
    retyped = {c.column for c in diff.type_changes}
    moved = [
        ColumnMove(c.column, "moved", c.movement, detail=c)
        for c in diff.ranked()
        if c.column not in retyped
    ]
    return RankedDiff(old, new, diff, (*moves, *moved))


@dataclass(frozen=True)
class Refusal:
    """A version the contract refused (never stored): when, by whom, from what source,
    and the violations, as the audit trail keeps them."""

    seq: int
    time: str
    actor: str
    source: str
    content_hash: str
    violations: tuple[Violation, ...]


def refusals(
    ctx: ServiceContext, name: str, *, before_seq: int | None = None, limit: int = 20
) -> list[Refusal]:
    """The refused versions of ``name``, newest first (from the audit trail, by its
    subject index); PII columns' offending values withheld."""
    from pathtolive.data import ValidationReport, Violation

    ctx.require(Permission.READ, "read datasets")
    _, limit = _page_bounds(0, limit)
    with ctx.metadata.read() as session:
        _require_dataset(session, check_name(name))
        events = session.audit_page(
            action="dataset.version_refused",
            subject=f"dataset:{name}",
            exact_subject=True,
            before_seq=before_seq,
            limit=limit,
        )
        schema = session.get_schema(name)
    contracts = () if schema is None else (Schema.from_dict(schema.schema),)
    private = pii_columns(ctx, *contracts)
    found = []
    for event in events:
        report = ValidationReport(
            ok=False,
            rows_checked=0,
            violations=tuple(Violation.from_dict(v) for v in event.details.get("violations", [])),
        ).withholding(private)
        found.append(
            Refusal(
                event.seq,
                event.time,
                event.actor,
                str(event.details.get("source", "")),
                str(event.details.get("content_hash", "")),
                report.violations,
            )
        )
    return found
