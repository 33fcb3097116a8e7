"""Which columns are PII, and what is shown of them.

A column is PII when the schema of its dataset tags it ``pii`` or when the workspace
names it in ``[serve] pii_columns``. Either way it is PII everywhere: the prediction log
hashes or redacts it, and every profile, report, card and diff shows its counts only.
The stored profile of a column tagged at add time holds no value of it; a column declared
later (in the workspace file, or by a later schema) is withheld when shown, here.
"""

from __future__ import annotations

from collections.abc import Collection

from pathtolive.data import Profile, Schema
from pathtolive.service.context import ServiceContext

__all__ = ["configured_pii_columns", "pii_columns", "shown_profile", "shown_schema"]


def configured_pii_columns(ctx: ServiceContext) -> frozenset[str]:
    """The ``[serve] pii_columns``: PII by the workspace's word though not tagged."""
    serve = ctx.settings.document.get("serve", {})
    columns = serve.get("pii_columns", []) if isinstance(serve, dict) else []
    return frozenset(column for column in columns if isinstance(column, str))


def pii_columns(ctx: ServiceContext, *schemas: Schema) -> frozenset[str]:
    """The columns tagged ``pii`` in any of ``schemas``, and those the workspace names."""
    tagged = {name for schema in schemas for name in schema.tagged("pii")}
    return configured_pii_columns(ctx) | tagged


def shown_profile(
    ctx: ServiceContext, profile: Profile, schema: Schema, *, also: Collection[str] = ()
) -> Profile:
    """``profile`` with every PII column (by ``schema``, the workspace, or ``also``) kept
    to its counts."""
    return profile.withholding(pii_columns(ctx, schema) | set(also))


def shown_schema(ctx: ServiceContext, schema: Schema) -> Schema:
    """``schema`` without the bounds and categories of the workspace's PII columns."""
    return schema.withholding(pii_columns(ctx, schema))
