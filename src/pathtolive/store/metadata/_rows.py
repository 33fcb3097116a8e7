"""Small helpers shared by the query modules."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, Table, insert, select

from pathtolive.store.metadata import tables as t

__all__ = ["Queries", "dumps", "in_chunks", "utc", "utc_or_none", "with_model_version"]

_T = TypeVar("_T")

# SQLite and PostgreSQL both limit the number of bound parameters of one statement.
_IN_CHUNK = 500


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def in_chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """``values`` in slices small enough to be matched by one ``IN (…)``."""
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def with_model_version(table: Table) -> Select[Any]:
    """The rows of ``table``, which refers to a model version, each with the model's
    ``name`` and the ``version``."""
    return (
        select(table, t.models.c.name, t.model_versions.c.version)
        .join(t.model_versions, t.model_versions.c.id == table.c.model_version_id)
        .join(t.models, t.models.c.id == t.model_versions.c.model_id)
    )


def utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class Queries:
    """Base of the query mixins: they all work on one connection in one transaction."""

    connection: Connection

    def _insert_row(self, table: Table, **values: Any) -> int:
        """Insert one row into ``table``; its new id."""
        key = self.connection.execute(insert(table).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def _starts_with(self, column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
        """``column`` starts with ``prefix``, letter case included, on every backend.
        SQLite's ``LIKE`` ignores the case of ASCII letters where PostgreSQL's does not
        (a filter would find more on one than on the other); SQLite's ``GLOB`` keeps case,
        and can use an index, so SQLite matches with it, its wildcards taken literally."""
        if self.connection.dialect.name == "sqlite":
            literal = "".join(f"[{char}]" if char in "*?[" else char for char in prefix)
            return column.op("GLOB", is_comparison=True)(literal + "*")
        return column.startswith(prefix, autoescape=True)

    def _model_version_id(self, model: str, version: int) -> int:
        """The row id of ``model@version``, which the caller knows to be registered."""
        version_id = self.connection.scalar(
            select(t.model_versions.c.id)
            .join(t.models, t.models.c.id == t.model_versions.c.model_id)
            .where(t.models.c.name == model, t.model_versions.c.version == version)
        )
        assert version_id is not None, f"{model}@{version} is not registered"
        return int(version_id)
