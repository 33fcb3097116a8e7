"""Roles grant exactly the permissions the design names."""

from __future__ import annotations

import pytest

from pathtolive.auth import (
    Actor,
    Permission,
    Role,
    hash_token,
    new_token,
    principal_key,
    roles_allowed,
    same_principal,
)


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


@pytest.mark.parametrize(
    "variant",
    # plain, capitalised, upper case, full-width, full-width upper case
    ["alice", "Alice", "ALICE", "\uff41\uff4c\uff49\uff43\uff45", "\uff21\uff2c\uff29CE"],
)
def test_principal_names_compare_case_folded_and_nfkc(variant: str) -> None:
    """Four-eyes may not be passed by spelling one person's name another way: upper case
    or full-width letters are the same principal."""
    assert same_principal("alice", variant)
    assert principal_key(variant) == "alice"


def test_different_principals_and_nobody_differ() -> None:
    assert not same_principal("alice", "bob")
    assert not same_principal("alice", None)
    assert not same_principal(None, None)


def test_only_a_token_authenticates_an_actor() -> None:
    assert not Actor("bob", Role.APPROVER).authenticated
    assert Actor("bob", Role.APPROVER, "tok_1").authenticated
