"""Principals, roles and tokens (domain logic)."""

from pathtolive.auth.roles import (
    ROLE_PERMISSIONS,
    Actor,
    Permission,
    Role,
    principal_key,
    roles_allowed,
    same_principal,
)
from pathtolive.auth.tokens import hash_token, new_token, new_token_id

__all__ = [
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "Role",
    "hash_token",
    "new_token",
    "new_token_id",
    "principal_key",
    "roles_allowed",
    "same_principal",
]
