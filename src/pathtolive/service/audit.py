"""Reading and verifying the audit trail."""

from __future__ import annotations

from contextlib import closing

from pathtolive.audit import ChainReport, verify_chain
from pathtolive.auth import Permission
from pathtolive.entities import AuditEvent
from pathtolive.service.context import ServiceContext

__all__ = ["audit_log", "verify_audit"]


def audit_log(
    ctx: ServiceContext,
    *,
    subject: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int | None = 50,
) -> list[AuditEvent]:
    """The newest events first, filtered by subject/action prefix or actor."""
    ctx.require(Permission.READ, "read the audit log")
    with ctx.metadata.read() as session:
        return list(
            session.iter_audit_events(
                subject=subject, action=action, actor=actor, newest_first=True, limit=limit
            )
        )


def verify_audit(ctx: ServiceContext) -> ChainReport:
    """Walk the whole chain; the report names the first event that does not hold."""
    ctx.require(Permission.READ, "verify the audit log")
    with ctx.metadata.read() as session:
        head = session.audit_head()
        # Closed when the walk stops at the first broken link, before the transaction ends.
        with closing(session.iter_audit_events()) as events:
            return verify_chain(events, head)
