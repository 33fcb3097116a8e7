"""Database migrations (``pathtolive db upgrade``) and where they stand (``db status``)."""

from __future__ import annotations

from dataclasses import dataclass

from pathtolive.auth import Permission
from pathtolive.config import Settings
from pathtolive.errors import StoreError
from pathtolive.service.context import ServiceContext, record

__all__ = ["DatabaseStatus", "UpgradeResult", "database_status", "upgrade_database"]

_FIRST_REVISION_WITH_TOKENS = "0002"


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class DatabaseStatus:
    """The metadata database's backend, its schema revision (None: an empty database)
    and the revision this pathtolive needs."""

    backend: str
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def database_status(settings: Settings) -> DatabaseStatus:
    """Where the metadata database's schema stands. It reads no workspace data, so it
    asks for no role, and it opens a database of any revision (that is what it reports)."""
    ctx = ServiceContext(settings, check_revision=False)
    try:
        store = ctx.metadata
        return DatabaseStatus(store.backend, store.current_revision(), store.head_revision())
    finally:
        ctx.close()


def upgrade_database(settings: Settings) -> UpgradeResult:
    """Migrate the metadata database to this version's schema, and audit it (admin only)."""
    ctx = ServiceContext(settings, check_revision=False)
    try:
        before = ctx.metadata.current_revision()
        if settings.token is not None and (before is None or before < _FIRST_REVISION_WITH_TOKENS):
            raise StoreError(
                "this database predates tokens, so PATHTOLIVE_TOKEN cannot be checked; "
                "unset it and upgrade as a local admin"
            )
        actor = ctx.require(Permission.ADMIN, "upgrade the database")
        before, after = ctx.metadata.upgrade()
        if before != after:
            with ctx.metadata.write() as session:
                record(
                    session, actor, "database.upgraded", "database", {"from": before, "to": after}
                )
        return UpgradeResult(before, after)
    finally:
        ctx.close()
