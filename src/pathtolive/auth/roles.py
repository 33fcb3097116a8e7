"""Roles, permissions and the acting principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ROLE_PERMISSIONS", "Actor", "Permission", "Role", "roles_allowed"]


class Role(StrEnum):
    VIEWER = "viewer"
    SCIENTIST = "scientist"
    APPROVER = "approver"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"  # list, show, diff, validate, lineage, audit log
    WRITE = "write"  # add data, accept a schema, run pipelines, register models
    APPROVE = "approve"  # approve promotions
    ADMIN = "admin"  # tokens, database upgrades, overrides


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.SCIENTIST: frozenset({Permission.READ, Permission.WRITE}),
    Role.APPROVER: frozenset({Permission.READ, Permission.APPROVE}),
    Role.ADMIN: frozenset(Permission),
}


def roles_allowed(permission: Permission) -> list[Role]:
    """The roles that hold ``permission``, weakest first."""
    return [role for role in Role if permission in ROLE_PERMISSIONS[role]]


@dataclass(frozen=True)
class Actor:
    """Who performs an operation: a token's principal, or the local user."""

    name: str
    role: Role
    token_id: str | None = None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]
