"""Queries on models, model versions, aliases and alias history."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from pathtolive.entities import AliasMove, Model, ModelVersion
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, in_chunks, utc

__all__ = ["ModelQueries"]


class ModelQueries(Queries):
    def model_id(self, name: str) -> int | None:
        return self.connection.scalar(select(t.models.c.id).where(t.models.c.name == name))

    def create_model(self, name: str, created_at: datetime, created_by: str) -> int:
        return self._insert_row(t.models, name=name, created_at=created_at, created_by=created_by)

    def _aliases(self, model_id: int) -> dict[str, int]:
        query = (
            select(t.aliases.c.alias, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == t.aliases.c.model_version_id)
            .where(t.aliases.c.model_id == model_id)
            .order_by(t.aliases.c.alias)
        )
        return {row.alias: row.version for row in self.connection.execute(query)}

    def _aliases_of(self, model_ids: list[int]) -> dict[int, dict[str, int]]:
        """The aliases of each of ``model_ids``: one query per chunk, not per model."""
        found: dict[int, dict[str, int]] = {}
        for chunk in in_chunks(model_ids):
            query = (
                select(t.aliases.c.model_id, t.aliases.c.alias, t.model_versions.c.version)
                .join(t.model_versions, t.model_versions.c.id == t.aliases.c.model_version_id)
                .where(t.aliases.c.model_id.in_(list(chunk)))
                .order_by(t.aliases.c.alias)
            )
            for row in self.connection.execute(query):
                found.setdefault(row.model_id, {})[row.alias] = row.version
        return found

    def _model_rows(self) -> Any:
        latest = (
            select(t.model_versions.c.model_id, func.max(t.model_versions.c.version).label("v"))
            .group_by(t.model_versions.c.model_id)
            .subquery()
        )
        return (
            select(t.models, latest.c.v)
            .outerjoin(latest, latest.c.model_id == t.models.c.id)
            .order_by(t.models.c.name)
        )

    def _models(self, query: Any) -> list[Model]:
        rows = list(self.connection.execute(query))
        aliases = self._aliases_of([row.id for row in rows])
        return [
            Model(
                name=row.name,
                created_at=utc(row.created_at),
                created_by=row.created_by,
                latest_version=row.v,
                aliases=aliases.get(row.id, {}),
            )
            for row in rows
        ]

    def list_models(self, name: str | None = None) -> list[Model]:
        """Every model by name (only ``name`` when given), with its latest version and
        aliases."""
        query = self._model_rows()
        if name is not None:
            query = query.where(t.models.c.name == name)
        return self._models(query)

    def models_page(self, *, offset: int, limit: int) -> list[Model]:
        """``limit`` models by name from ``offset``, as :meth:`list_models` gives them."""
        return self._models(self._model_rows().offset(offset).limit(limit))

    def count_models(self) -> int:
        return int(self.connection.scalar(select(func.count()).select_from(t.models)) or 0)

    def get_model(self, name: str) -> Model | None:
        return next(iter(self.list_models(name)), None)

    def latest_model_version_number(self, model_id: int) -> int | None:
        latest = self.connection.scalar(
            select(func.max(t.model_versions.c.version)).where(
                t.model_versions.c.model_id == model_id
            )
        )
        return None if latest is None else int(latest)

    def insert_model_version(self, version: ModelVersion) -> None:
        """Record a new ``version`` of its model, which exists (the service creates it
        with its first version). ``aliases`` is not written: aliases move by
        :meth:`move_alias`."""
        model_id = self.model_id(version.model)
        assert model_id is not None
        self.connection.execute(
            insert(t.model_versions).values(
                model_id=model_id,
                version=version.version,
                artifact_digest=version.artifact_digest,
                artifact_bytes=version.artifact_bytes,
                flavor=version.flavor,
                trusted_types_json=dumps(list(version.trusted_types)),
                signature_json=None if version.signature is None else dumps(version.signature),
                metrics_json=dumps(version.metrics),
                run_id=version.run_id,
                source=version.source,
                description=version.description,
                tags_json=dumps(version.tags),
                created_at=version.created_at,
                created_by=version.created_by,
            )
        )

    def _versions(self) -> Any:
        """Model versions with their model's name (``model_name``)."""
        return select(t.model_versions, t.models.c.name.label("model_name")).join(
            t.models, t.models.c.id == t.model_versions.c.model_id
        )

    def _version_rows(self, name: str) -> Any:
        return self._versions().where(t.models.c.name == name).order_by(t.model_versions.c.version)

    def _model_version(self, row: Any, aliases: Mapping[str, int]) -> ModelVersion:
        return ModelVersion(
            model=row.model_name,
            version=row.version,
            artifact_digest=row.artifact_digest,
            artifact_bytes=row.artifact_bytes,
            flavor=row.flavor,
            trusted_types=tuple(json.loads(row.trusted_types_json)),
            signature=None if row.signature_json is None else json.loads(row.signature_json),
            metrics=json.loads(row.metrics_json),
            run_id=row.run_id,
            source=row.source,
            description=row.description,
            tags=json.loads(row.tags_json),
            created_at=utc(row.created_at),
            created_by=row.created_by,
            aliases=tuple(sorted(a for a, v in aliases.items() if v == row.version)),
        )

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        model_id = self.model_id(name)
        if model_id is None:
            return []
        aliases = self._aliases(model_id)
        return [
            self._model_version(row, aliases)
            for row in self.connection.execute(self._version_rows(name))
        ]

    def count_model_versions(self, name: str) -> int:
        query = (
            select(func.count())
            .select_from(t.model_versions)
            .join(t.models, t.models.c.id == t.model_versions.c.model_id)
            .where(t.models.c.name == name)
        )
        return int(self.connection.scalar(query) or 0)

    def model_versions_page(self, name: str, *, offset: int, limit: int) -> list[ModelVersion]:
        """At most ``limit`` versions of model ``name``, newest first, from ``offset``
        (the unique index on model and version serves the order)."""
        model_id = self.model_id(name)
        if model_id is None:
            return []
        query = (
            self._versions()
            .where(t.model_versions.c.model_id == model_id)
            .order_by(t.model_versions.c.version.desc())
            .offset(offset)
            .limit(limit)
        )
        aliases = self._aliases(model_id)
        return [self._model_version(row, aliases) for row in self.connection.execute(query)]

    def get_model_version(self, name: str, version: int) -> ModelVersion | None:
        model_id = self.model_id(name)
        if model_id is None:
            return None
        query = self._version_rows(name).where(t.model_versions.c.version == version)
        row = self.connection.execute(query).first()
        return None if row is None else self._model_version(row, self._aliases(model_id))

    def model_versions_of_run(self, run_id: str) -> list[ModelVersion]:
        return self.model_versions_of_runs([run_id]).get(run_id, [])

    def model_versions_of_runs(self, run_ids: Sequence[str]) -> dict[str, list[ModelVersion]]:
        """The model versions each of ``run_ids`` registered (by model, then version),
        by run id; a run that registered none is left out. Two queries for them all."""
        rows: list[Any] = []
        for chunk in in_chunks(list(run_ids)):
            query = self._versions().where(t.model_versions.c.run_id.in_(chunk))
            rows.extend(self.connection.execute(query))
        rows.sort(key=lambda row: (row.model_name, row.version))
        # Runs register versions of many models: their aliases in one query.
        aliases = self._aliases_of(sorted({row.model_id for row in rows}))
        found: dict[str, list[ModelVersion]] = {}
        for row in rows:
            version = self._model_version(row, aliases.get(row.model_id, {}))
            found.setdefault(row.run_id, []).append(version)
        return found

    def artifact_in_use(self, digest: str) -> bool:
        """Whether any model version's artifact is the object ``digest``."""
        query = select(t.model_versions.c.id).where(t.model_versions.c.artifact_digest == digest)
        return self.connection.scalar(query.limit(1)) is not None

    # -- aliases -----------------------------------------------------------------------

    def alias_version(self, name: str, alias: str, *, lock: bool = False) -> int | None:
        """The version an alias points at; with ``lock``, the row stays locked until the
        transaction ends (PostgreSQL; SQLite holds the database lock anyway)."""
        query = (
            select(t.model_versions.c.version)
            .join(t.aliases, t.aliases.c.model_version_id == t.model_versions.c.id)
            .join(t.models, t.models.c.id == t.aliases.c.model_id)
            .where(t.models.c.name == name, t.aliases.c.alias == alias)
        )
        if lock and self.connection.dialect.name != "sqlite":
            query = query.with_for_update(of=t.aliases)
        return self.connection.scalar(query)

    def move_alias(
        self,
        name: str,
        alias: str,
        to_version: int | None,
        *,
        at: datetime,
        actor: str,
        reason: str = "",
    ) -> int | None:
        """Point ``alias`` at ``to_version`` (None removes it) and record the move in the
        alias history; returns the version it pointed at before."""
        model_id = self.model_id(name)
        assert model_id is not None
        before = self.alias_version(name, alias, lock=True)
        if to_version is None:
            self.connection.execute(
                t.aliases.delete().where(
                    t.aliases.c.model_id == model_id, t.aliases.c.alias == alias
                )
            )
        else:
            version_id = self.connection.scalar(
                select(t.model_versions.c.id).where(
                    t.model_versions.c.model_id == model_id,
                    t.model_versions.c.version == to_version,
                )
            )
            assert version_id is not None
            values = {"model_version_id": version_id, "updated_at": at, "updated_by": actor}
            if before is None:
                self.connection.execute(
                    insert(t.aliases).values(model_id=model_id, alias=alias, **values)
                )
            else:
                self.connection.execute(
                    update(t.aliases)
                    .where(t.aliases.c.model_id == model_id, t.aliases.c.alias == alias)
                    .values(**values)
                )
        self.connection.execute(
            insert(t.alias_history).values(
                model_id=model_id,
                alias=alias,
                from_version=before,
                to_version=to_version,
                at=at,
                actor=actor,
                reason=reason,
            )
        )
        return before

    def alias_history(
        self, name: str, alias: str | None = None, *, newest: int | None = None
    ) -> list[AliasMove]:
        """The moves of model ``name``'s aliases (of ``alias`` only when given), oldest
        first; with ``newest``, only that many of the latest."""
        query = (
            select(t.alias_history)
            .join(t.models, t.models.c.id == t.alias_history.c.model_id)
            .where(t.models.c.name == name)
        )
        if alias is not None:
            query = query.where(t.alias_history.c.alias == alias)
        if newest is not None:
            latest = query.order_by(t.alias_history.c.id.desc()).limit(newest).subquery()
            query = select(latest).order_by(latest.c.id)
        else:
            query = query.order_by(t.alias_history.c.id)
        return [
            AliasMove(
                model=name,
                alias=row.alias,
                from_version=row.from_version,
                to_version=row.to_version,
                at=utc(row.at),
                actor=row.actor,
                reason=row.reason,
            )
            for row in self.connection.execute(query)
        ]
