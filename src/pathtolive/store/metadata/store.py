"""The MetadataStore seam: one SQLAlchemy code path for SQLite and PostgreSQL.

Faces and the service layer never write SQL: they open a :class:`MetadataSession` with
:meth:`MetadataStore.read` or :meth:`MetadataStore.write` and call its typed methods. A
``write()`` block is one database transaction, so a change and its audit event commit
together or not at all.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, inspect, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from pathtolive.entities import AuditEvent, Dataset, DatasetVersion, SchemaVersion, Token
from pathtolive.errors import ConflictError, DatabaseOutdatedError, StoreError, storage_error
from pathtolive.format import first_line
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import dumps, utc, utc_or_none
from pathtolive.store.metadata.batch_jobs import BatchJobQueries
from pathtolive.store.metadata.browsing import BrowsingQueries
from pathtolive.store.metadata.engine import make_engine, read_only_database, sqlite_file
from pathtolive.store.metadata.models import ModelQueries
from pathtolive.store.metadata.monitor_results import MonitorResultQueries
from pathtolive.store.metadata.monitoring import MonitoringQueries
from pathtolive.store.metadata.promotions import PromotionQueries
from pathtolive.store.metadata.references import ReferenceQueries
from pathtolive.store.metadata.runs import RunQueries
from pathtolive.store.metadata.serving import ServingQueries

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "MetadataSession", "MetadataStore"]

_MIGRATIONS = Path(__file__).parent / "migrations"

HEAD_REVISION = "0014_batch_jobs"
"""The newest migration. Every command compares the database with it; a test keeps it
equal to the head of ``migrations/`` (Alembic itself is imported only to migrate, since it
costs a quarter of a second at start-up)."""


class MetadataStore:
    """Metadata database at ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.read_only_file = read_only_database(url)
        """The SQLite file, when it is opened read-only (a read-only copy or mount)."""

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    # -- schema migrations -------------------------------------------------------------

    def head_revision(self) -> str:
        return HEAD_REVISION

    def current_revision(self) -> str | None:
        """The revision the database is at; None for an empty database."""
        with self._connect() as connection, connection.begin():
            if not inspect(connection).has_table("alembic_version"):
                return None
            value = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            return value.scalar()

    def upgrade(self, revision: str = "head") -> tuple[str | None, str]:
        """Migrate the database to ``revision``; returns (before, after)."""
        from alembic import command

        before = self.current_revision()
        self.require_writable("upgrade the database")
        with self._connect() as connection, connection.begin():
            command.upgrade(self._alembic_config(connection), revision)
        return before, self.current_revision() or ""

    def ensure_current(self) -> None:
        """Refuse to work on a database older or newer than this code."""
        current = self.current_revision()
        head = self.head_revision()
        if current == head:
            return
        if current is None:
            raise DatabaseOutdatedError(
                f"the metadata database at {self._safe_url()} is empty; "
                "run 'pathtolive db upgrade' (or 'pathtolive init' for a new workspace)"
            )
        known = self.known_revisions()
        if current not in known:
            raise DatabaseOutdatedError(
                f"the metadata database is at revision {current}, written by a newer "
                "pathtolive; upgrade pathtolive"
            )
        raise DatabaseOutdatedError(
            f"the metadata database is at revision {current}, this pathtolive needs {head}; "
            "run 'pathtolive db upgrade'"
        )

    # -- sessions ----------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[MetadataSession]:
        """A read-only session (one transaction, a consistent snapshot)."""
        with self._connect() as connection, connection.begin():
            yield MetadataSession(connection)

    @contextmanager
    def write(self) -> Iterator[MetadataSession]:
        """A write transaction: everything in the block commits together or not at all.

        Writers are serialised, as SQLite's ``BEGIN IMMEDIATE`` does: on PostgreSQL each
        write transaction first locks the audit chain's head row. Every change appends an
        audit event anyway, and taking that lock first (rather than after inserting rows
        another writer may be waiting on) is what keeps two writers from deadlocking."""
        self.require_writable("change the workspace")
        with self._connect(write=True) as connection, connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    select(t.audit_head.c.id).where(t.audit_head.c.id == 1).with_for_update()
                )
            yield MetadataSession(connection)

    def require_writable(self, doing: str) -> None:
        """StoreError when the database is opened read-only: called by every write, and
        by a command before long work whose end is a write."""
        if self.read_only_file is not None:
            raise StoreError(
                f"cannot {doing}: the metadata database {self.read_only_file} is read-only "
                "(a read-only copy or mount of the workspace); read commands work on it, "
                "run this one on a writable copy",
                details={"database": str(self.read_only_file)},
            )

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                if write:
                    connection = connection.execution_options(pathtolive_write=True)
                yield connection
        except sa_exc.IntegrityError as exc:
            raise ConflictError(
                f"the change conflicts with the stored state ({_first_line(exc)}); "
                "it may have been made at the same time by someone else: try again"
            ) from exc
        except sa_exc.OperationalError as exc:
            raise self._disk_full() or StoreError(
                f"metadata database {self._safe_url()} failed: {_first_line(exc)}; "
                "check that it is reachable and writable"
            ) from exc

    def _disk_full(self) -> StoreError | None:
        """The error of a SQLite failure on a disk with (next to) no space left: SQLite
        says "disk I/O error" when it cannot even make its shared-memory file there."""
        path = sqlite_file(self.url)
        if path is None:
            return None
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            return None
        if free >= _NEARLY_FULL_BYTES:
            return None
        return storage_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), path.parent)

    def known_revisions(self) -> set[str]:
        """Every revision of ``migrations/``."""
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(self._alembic_config(None))
        return {revision.revision for revision in script.walk_revisions()}

    def migrations_head(self) -> str | None:
        """The head of ``migrations/`` as Alembic sees it (tests compare HEAD_REVISION)."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config(None)).get_current_head()

    def _alembic_config(self, connection: Connection | None) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def _safe_url(self) -> str:
        # The URL asked for: a read-only engine's own URL does not name the file.
        return make_url(self.url).render_as_string(hide_password=True)


_NEARLY_FULL_BYTES = 1 << 20
"""Free space below which a failing SQLite database is taken to have met a full disk."""


def _first_line(exc: BaseException) -> str:
    """The first line of the driver's own message, under SQLAlchemy's wrapper."""
    return first_line(getattr(exc, "orig", None) or exc)


class MetadataSession(
    RunQueries,
    ModelQueries,
    PromotionQueries,
    ServingQueries,
    MonitoringQueries,
    MonitorResultQueries,
    BatchJobQueries,
    ReferenceQueries,
    BrowsingQueries,
):
    """Typed operations inside one transaction."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # -- datasets ----------------------------------------------------------------------

    def dataset_id(self, name: str) -> int | None:
        return self.connection.scalar(select(t.datasets.c.id).where(t.datasets.c.name == name))

    def create_dataset(self, name: str, created_at: datetime, created_by: str) -> int:
        return self._insert_row(t.datasets, name=name, created_at=created_at, created_by=created_by)

    def get_dataset(self, name: str) -> Dataset | None:
        datasets = self.list_datasets(name=name)
        return datasets[0] if datasets else None

    def list_datasets(self, *, name: str | None = None) -> list[Dataset]:
        latest = (
            select(
                t.dataset_versions.c.dataset_id, func.max(t.dataset_versions.c.version).label("v")
            )
            .group_by(t.dataset_versions.c.dataset_id)
            .subquery()
        )
        schema = (
            select(t.dataset_schemas.c.dataset_id, func.max(t.dataset_schemas.c.version).label("s"))
            .group_by(t.dataset_schemas.c.dataset_id)
            .subquery()
        )
        query = (
            select(t.datasets, latest.c.v, schema.c.s)
            .outerjoin(latest, latest.c.dataset_id == t.datasets.c.id)
            .outerjoin(schema, schema.c.dataset_id == t.datasets.c.id)
            .order_by(t.datasets.c.name)
        )
        if name is not None:
            query = query.where(t.datasets.c.name == name)
        return [
            Dataset(
                name=row.name,
                created_at=utc(row.created_at),
                created_by=row.created_by,
                latest_version=row.v,
                schema_version=row.s,
            )
            for row in self.connection.execute(query)
        ]

    # -- schemas -----------------------------------------------------------------------

    def insert_schema(
        self,
        dataset_id: int,
        *,
        version: int,
        schema: dict[str, Any],
        change_kind: str,
        changes: list[dict[str, Any]],
        reason: str,
        created_at: datetime,
        created_by: str,
    ) -> int:
        return self._insert_row(
            t.dataset_schemas,
            dataset_id=dataset_id,
            version=version,
            schema_json=dumps(schema),
            change_kind=change_kind,
            changes_json=dumps(changes),
            reason=reason,
            created_at=created_at,
            created_by=created_by,
        )

    def get_schema(self, dataset: str, version: int | None = None) -> SchemaVersion | None:
        """A schema version of a dataset; the newest when ``version`` is None."""
        schemas = self.list_schemas(dataset, version=version, newest_only=version is None)
        return schemas[-1] if schemas else None

    def schema_id(self, dataset: str, version: int) -> int | None:
        query = (
            select(t.dataset_schemas.c.id)
            .join(t.datasets, t.datasets.c.id == t.dataset_schemas.c.dataset_id)
            .where(t.datasets.c.name == dataset, t.dataset_schemas.c.version == version)
        )
        return self.connection.scalar(query)

    def list_schemas(
        self, dataset: str, *, version: int | None = None, newest_only: bool = False
    ) -> list[SchemaVersion]:
        query = (
            select(t.dataset_schemas)
            .join(t.datasets, t.datasets.c.id == t.dataset_schemas.c.dataset_id)
            .where(t.datasets.c.name == dataset)
            .order_by(t.dataset_schemas.c.version)
        )
        if version is not None:
            query = query.where(t.dataset_schemas.c.version == version)
        rows = list(self.connection.execute(query))
        if newest_only:
            rows = rows[-1:]
        return [
            SchemaVersion(
                dataset=dataset,
                version=row.version,
                schema=json.loads(row.schema_json),
                change_kind=row.change_kind,
                changes=json.loads(row.changes_json),
                created_at=utc(row.created_at),
                created_by=row.created_by,
                reason=row.reason,
            )
            for row in rows
        ]

    # -- dataset versions --------------------------------------------------------------

    def insert_version(
        self,
        dataset_id: int,
        *,
        version: int,
        content_hash: str,
        parent_version: int | None,
        schema_id: int,
        source: str,
        source_format: str,
        author: str,
        created_at: datetime,
        rows: int,
        size: int,
        validation_status: str,
        validation: dict[str, Any] | None,
        profile: dict[str, Any],
    ) -> None:
        parent_id = None
        if parent_version is not None:
            parent_id = self.connection.scalar(
                select(t.dataset_versions.c.id).where(
                    t.dataset_versions.c.dataset_id == dataset_id,
                    t.dataset_versions.c.version == parent_version,
                )
            )
        self.connection.execute(
            insert(t.dataset_versions).values(
                dataset_id=dataset_id,
                version=version,
                content_hash=content_hash,
                parent_id=parent_id,
                schema_id=schema_id,
                source=source,
                source_format=source_format,
                author=author,
                created_at=created_at,
                rows=rows,
                bytes=size,
                validation_status=validation_status,
                validation_json=None if validation is None else dumps(validation),
                profile_json=dumps(profile),
            )
        )

    def _version_query(self, dataset: str) -> Any:
        parent = t.dataset_versions.alias("parent")
        return (
            select(
                t.dataset_versions,
                parent.c.version.label("parent_version"),
                t.dataset_schemas.c.version.label("schema_version"),
            )
            .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
            .join(t.dataset_schemas, t.dataset_schemas.c.id == t.dataset_versions.c.schema_id)
            .outerjoin(parent, parent.c.id == t.dataset_versions.c.parent_id)
            .where(t.datasets.c.name == dataset)
            .order_by(t.dataset_versions.c.version)
        )

    def _version(self, dataset: str, row: Any) -> DatasetVersion:
        return DatasetVersion(
            dataset=dataset,
            version=row.version,
            content_hash=row.content_hash,
            parent_version=row.parent_version,
            schema_version=row.schema_version,
            source=row.source,
            source_format=row.source_format,
            author=row.author,
            created_at=utc(row.created_at),
            rows=row.rows,
            bytes=row.bytes,
            validation_status=row.validation_status,
            profile=json.loads(row.profile_json),
            validation=None if row.validation_json is None else json.loads(row.validation_json),
            forgotten_at=None if row.forgotten_at is None else utc(row.forgotten_at),
            forgotten_by=row.forgotten_by,
            forgotten_reason=row.forgotten_reason,
        )

    def get_version(self, dataset: str, version: int) -> DatasetVersion | None:
        query = self._version_query(dataset).where(t.dataset_versions.c.version == version)
        row = self.connection.execute(query).first()
        return None if row is None else self._version(dataset, row)

    def latest_version(self, dataset: str) -> DatasetVersion | None:
        query = (
            self._version_query(dataset)
            .order_by(None)
            .order_by(t.dataset_versions.c.version.desc())
        )
        row = self.connection.execute(query.limit(1)).first()
        return None if row is None else self._version(dataset, row)

    def find_version_by_hash(self, dataset: str, content_hash: str) -> DatasetVersion | None:
        query = self._version_query(dataset).where(
            t.dataset_versions.c.content_hash == content_hash
        )
        row = self.connection.execute(query).first()
        return None if row is None else self._version(dataset, row)

    def list_versions(self, dataset: str) -> list[DatasetVersion]:
        return [
            self._version(dataset, row)
            for row in self.connection.execute(self._version_query(dataset))
        ]

    def content_hashes(self) -> set[str]:
        """Every object digest the metadata refers to."""
        return set(self.connection.scalars(select(t.dataset_versions.c.content_hash)))

    def mark_forgotten(
        self, dataset: str, version: int, *, at: datetime, by: str, reason: str
    ) -> bool:
        """Make ``dataset@version`` a tombstone; False when it was one already (the update
        is conditional, so of two concurrent erasures exactly one wins)."""
        dataset_id = self.dataset_id(dataset)
        result = self.connection.execute(
            update(t.dataset_versions)
            .where(
                t.dataset_versions.c.dataset_id == dataset_id,
                t.dataset_versions.c.version == version,
                t.dataset_versions.c.forgotten_at.is_(None),
            )
            .values(forgotten_at=at, forgotten_by=by, forgotten_reason=reason)
        )
        return bool(result.rowcount)

    def digest_in_use(self, digest: str) -> bool:
        """True when anything but a forgotten dataset version refers to object ``digest``:
        a live dataset version (of any dataset: content addressing shares equal bytes),
        a model's artifact, a run step's output or the step cache."""
        checks = [
            select(t.dataset_versions.c.id).where(
                t.dataset_versions.c.content_hash == digest,
                t.dataset_versions.c.forgotten_at.is_(None),
            ),
            select(t.model_versions.c.id).where(t.model_versions.c.artifact_digest == digest),
            select(t.run_steps.c.run_id).where(t.run_steps.c.output_digest == digest),
            select(t.step_cache.c.cache_key).where(t.step_cache.c.output_digest == digest),
        ]
        return any(self.connection.execute(query.limit(1)).first() is not None for query in checks)

    # -- audit -------------------------------------------------------------------------

    def lock_audit_head(self) -> tuple[int, str]:
        """The newest event's (seq, hash), locked until the transaction ends."""
        query = select(t.audit_head.c.last_seq, t.audit_head.c.last_hash).where(
            t.audit_head.c.id == 1
        )
        if self.connection.dialect.name != "sqlite":  # SQLite locks the database instead
            query = query.with_for_update()
        row = self.connection.execute(query).one_or_none()
        if row is None:
            raise StoreError(
                "the audit trail's head row is missing (it was deleted outside pathtolive), "
                "so no change can be recorded; run 'pathtolive audit verify' and restore the "
                "database from a backup"
            )
        return int(row.last_seq), str(row.last_hash)

    def audit_head(self) -> tuple[int, str]:
        row = self.connection.execute(
            select(t.audit_head.c.last_seq, t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)
        ).one()
        return int(row.last_seq), str(row.last_hash)

    def audit_head_row(self) -> tuple[Any, Any] | None:
        """The head row's stored (last_seq, last_hash) as they are, or None when the row
        is missing: ``audit verify`` reports a damaged row rather than failing on it."""
        row = self.connection.execute(
            select(t.audit_head.c.last_seq, t.audit_head.c.last_hash).where(t.audit_head.c.id == 1)
        ).one_or_none()
        return None if row is None else (row.last_seq, row.last_hash)

    def iter_audit_rows(self) -> Generator[tuple[Any, ...], None, None]:
        """Every stored event as its raw column values, in ``seq`` order: (seq, time,
        actor, action, subject, details_json, prev_hash, hash). Nothing is parsed, so a
        damaged row reaches the verifier instead of raising here."""
        c = t.audit_events.c
        query = select(
            c.seq, c.time, c.actor, c.action, c.subject, c.details_json, c.prev_hash, c.hash
        ).order_by(c.seq)
        result = self.connection.execute(query.execution_options(yield_per=1000))
        with result:
            for row in result:
                yield tuple(row)

    def append_audit_event(self, event: AuditEvent) -> None:
        self.connection.execute(
            insert(t.audit_events).values(
                seq=event.seq,
                time=event.time,
                actor=event.actor,
                action=event.action,
                subject=event.subject,
                details_json=dumps(event.details),
                prev_hash=event.prev_hash,
                hash=event.hash,
            )
        )
        self.connection.execute(
            update(t.audit_head)
            .where(t.audit_head.c.id == 1)
            .values(last_seq=event.seq, last_hash=event.hash)
        )

    def iter_audit_events(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        after_seq: int = 0,
        newest_first: bool = False,
        limit: int | None = None,
    ) -> Generator[AuditEvent, None, None]:
        query = select(t.audit_events).where(t.audit_events.c.seq > after_seq)
        if subject is not None:
            query = query.where(self._starts_with(t.audit_events.c.subject, subject))
        if action is not None:
            query = query.where(self._starts_with(t.audit_events.c.action, action))
        if actor is not None:
            query = query.where(t.audit_events.c.actor == actor)
        order = t.audit_events.c.seq.desc() if newest_first else t.audit_events.c.seq
        query = query.order_by(order)
        if limit is not None:
            query = query.limit(limit)
        result = self.connection.execute(query.execution_options(yield_per=1000))
        # Closed also when the caller stops early (the generator is closed): a reader
        # that found what it looked for leaves no server-side cursor open.
        with result:
            for row in result:
                yield AuditEvent(
                    seq=int(row.seq),
                    time=row.time,
                    actor=row.actor,
                    action=row.action,
                    subject=row.subject,
                    details=json.loads(row.details_json),
                    prev_hash=row.prev_hash,
                    hash=row.hash,
                )

    # -- tokens ------------------------------------------------------------------------

    def insert_token(self, token: Token, token_hash: str) -> None:
        self.connection.execute(
            insert(t.tokens).values(
                token_id=token.token_id,
                token_hash=token_hash,
                principal=token.principal,
                role=token.role,
                description=token.description,
                created_at=token.created_at,
                created_by=token.created_by,
                revoked_at=token.revoked_at,
            )
        )

    def _token(self, row: Any) -> Token:
        return Token(
            token_id=row.token_id,
            principal=row.principal,
            role=row.role,
            created_at=utc(row.created_at),
            created_by=row.created_by,
            revoked_at=utc_or_none(row.revoked_at),
            description=row.description,
        )

    def find_token_by_hash(self, token_hash: str) -> Token | None:
        row = self.connection.execute(
            select(t.tokens).where(t.tokens.c.token_hash == token_hash)
        ).first()
        return None if row is None else self._token(row)

    def get_token(self, token_id: str) -> Token | None:
        row = self.connection.execute(
            select(t.tokens).where(t.tokens.c.token_id == token_id)
        ).first()
        return None if row is None else self._token(row)

    def list_tokens(self) -> list[Token]:
        query = select(t.tokens).order_by(t.tokens.c.created_at, t.tokens.c.token_id)
        return [self._token(row) for row in self.connection.execute(query)]

    def revoke_token(self, token_id: str, at: datetime) -> None:
        self.connection.execute(
            update(t.tokens).where(t.tokens.c.token_id == token_id).values(revoked_at=at)
        )

    # -- housekeeping ------------------------------------------------------------------

    def row_counts(self) -> dict[str, int]:
        """Rows per table: tests compare them before and after a refused operation."""
        return {
            table.name: int(self.connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in t.metadata.sorted_tables
        }
