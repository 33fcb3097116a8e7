"""Principals, roles and tokens (domain logic)."""

from pathtolive.auth.roles import ROLE_PERMISSIONS, Actor, Permission, Role, roles_allowed
from pathtolive.auth.tokens import hash_token, new_token, new_token_id

__all__ = [
    "ROLE_PERMISSIONS",
    "Actor",
    "Permission",
    "Role",
    "hash_token",
    "new_token",
    "new_token_id",
    "roles_allowed",
]
