"""Roles grant exactly the permissions the design names."""

from __future__ import annotations

import pytest

from pathtolive.auth import Actor, Permission, Role, hash_token, new_token, roles_allowed


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.VIEWER, {Permission.READ}),
        (Role.SCIENTIST, {Permission.READ, Permission.WRITE}),
        (Role.APPROVER, {Permission.READ, Permission.APPROVE}),
        (Role.ADMIN, set(Permission)),
    ],
)
def test_role_permissions(role: Role, allowed: set[Permission]) -> None:
    actor = Actor("x", role)
    assert {p for p in Permission if actor.can(p)} == allowed


def test_roles_allowed_lists_weakest_first() -> None:
    assert roles_allowed(Permission.WRITE) == [Role.SCIENTIST, Role.ADMIN]


def test_tokens_are_random_and_hashed() -> None:
    a, b = new_token(), new_token()
    assert a != b
    assert a.startswith("ptl_")
    assert len(a) > 40
    assert hash_token(a) != a
    assert hash_token(a) == hash_token(a)
    assert len(hash_token(a)) == 64
