"""API tokens: create (shown once), list, revoke. Admin only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pathtolive.auth import Permission, Role, hash_token, new_token, new_token_id
from pathtolive.entities import Token
from pathtolive.errors import ConflictError, InvalidInputError, NotFoundError
from pathtolive.service.context import ServiceContext, local_user_name, record

__all__ = ["CreatedToken", "create_token", "first_admin_token", "list_tokens", "revoke_token"]

_PRINCIPAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}$")


@dataclass(frozen=True)
class CreatedToken:
    token: Token
    secret: str  # shown to the user once, never stored


def create_token(
    ctx: ServiceContext, *, principal: str, role: str, description: str = ""
) -> CreatedToken:
    """Make a token for ``principal`` with ``role``; the secret is returned only here."""
    actor = ctx.require(Permission.ADMIN, "create tokens")
    if not _PRINCIPAL.match(principal):
        raise InvalidInputError(
            f"user name {principal!r} is not valid; use letters, digits and . _ @ + -"
        )
    try:
        role_value = Role(role)
    except ValueError:
        raise InvalidInputError(
            f"role {role!r} does not exist; use one of {', '.join(r.value for r in Role)}"
        ) from None
    secret = new_token()
    token = Token(
        token_id=new_token_id(),
        principal=principal,
        role=role_value.value,
        created_at=datetime.now(UTC),
        created_by=actor.name,
        description=description,
    )
    with ctx.metadata.write() as session:
        session.insert_token(token, hash_token(secret))
        record(
            session,
            actor,
            "token.created",
            f"token:{token.token_id}",
            {"principal": principal, "token_role": role_value.value},
        )
    return CreatedToken(token, secret)


def first_admin_token(ctx: ServiceContext) -> CreatedToken:
    """The first admin token of a shared database, for the local user who made it.

    On a database that is not a local SQLite file a command needs a token unless
    ``[auth] local_role`` is set, so the admin who runs ``pathtolive init`` would have no
    way to make one. Only a database that has never held a token gets one this way (in
    the write transaction, so two callers cannot both get one); it is audited."""
    name = local_user_name(ctx.settings.environ)
    principal = name if _PRINCIPAL.match(name) else "admin"
    secret = new_token()
    token = Token(
        token_id=new_token_id(),
        principal=principal,
        role=Role.ADMIN.value,
        created_at=datetime.now(UTC),
        created_by=principal,
        description="the first admin token, made by pathtolive init",
    )
    with ctx.metadata.write() as session:
        if session.list_tokens():
            raise ConflictError(
                "this database has tokens already; ask an admin for one "
                "('pathtolive tokens create')"
            )
        session.insert_token(token, hash_token(secret))
        record(
            session,
            principal,
            "token.created",
            f"token:{token.token_id}",
            {"principal": principal, "token_role": token.role, "first_admin": True},
        )
    return CreatedToken(token, secret)


def list_tokens(ctx: ServiceContext) -> list[Token]:
    ctx.require(Permission.ADMIN, "list tokens")
    with ctx.metadata.read() as session:
        return session.list_tokens()


def revoke_token(ctx: ServiceContext, token_id: str) -> Token:
    actor = ctx.require(Permission.ADMIN, "revoke tokens")
    with ctx.metadata.write() as session:
        token = session.get_token(token_id)
        if token is None:
            raise NotFoundError(f"no token {token_id!r}; 'pathtolive tokens list' shows them")
        if not token.active:
            raise ConflictError(f"token {token_id} was revoked already")
        session.revoke_token(token_id, datetime.now(UTC))
        record(session, actor, "token.revoked", f"token:{token_id}", {"principal": token.principal})
        revoked = session.get_token(token_id)
    assert revoked is not None
    return revoked
