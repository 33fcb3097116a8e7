"""Roles, permissions and the acting principal."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "Role",
    "principal_key",
    "roles_allowed",
    "same_principal",
]


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

    @property
    def authenticated(self) -> bool:
        """True when a token vouches for the name; a local user names itself
        (``PATHTOLIVE_USER``, git's e-mail, the OS user), which proves nothing."""
        return self.token_id is not None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


def principal_key(name: str) -> str:
    """The form two principal names are compared in: Unicode-compatibility normalised and
    case-folded, so that ``Alice``, ``alice`` and ``alice`` in full-width letters are one
    person for separation of duties (NFKC again after folding, which can denormalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def same_principal(first: str | None, second: str | None) -> bool:
    """Whether two recorded principal names name the same person (None names nobody)."""
    if first is None or second is None:
        return False
    return principal_key(first) == principal_key(second)
