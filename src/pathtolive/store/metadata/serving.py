"""Queries on what serving keeps: deployment settings (the canary's traffic share), the
prediction log's segments and feedback."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from pathtolive.entities import Deployment, Feedback, PredictionSegment
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, in_chunks, utc, with_model_version

__all__ = ["ServingQueries"]


class ServingQueries(Queries):
    def _serving_model_id(self, name: str) -> int:
        model_id = self.connection.scalar(select(t.models.c.id).where(t.models.c.name == name))
        assert model_id is not None, f"model {name!r} is not registered"
        return int(model_id)

    # -- deployments -------------------------------------------------------------------

    def get_canary_share(self, name: str) -> float:
        """The share of ``name``'s traffic its canary gets (0 when never set)."""
        share = self.connection.scalar(
            select(t.deployments.c.canary_share)
            .join(t.models, t.models.c.id == t.deployments.c.model_id)
            .where(t.models.c.name == name)
        )
        return 0.0 if share is None else float(share)

    def set_canary_share(self, name: str, share: float, *, at: datetime, actor: str) -> None:
        model_id = self._serving_model_id(name)
        values = {"canary_share": float(share), "updated_at": at, "updated_by": actor}
        exists = self.connection.scalar(
            select(t.deployments.c.model_id).where(t.deployments.c.model_id == model_id)
        )
        if exists is None:
            self.connection.execute(insert(t.deployments).values(model_id=model_id, **values))
        else:
            self.connection.execute(
                update(t.deployments).where(t.deployments.c.model_id == model_id).values(**values)
            )

    def get_deployment(self, name: str) -> Deployment | None:
        """The ``live``, ``canary`` and ``shadow`` versions of ``name`` and the canary's
        share; None when there is no such model."""
        model_id = self.connection.scalar(select(t.models.c.id).where(t.models.c.name == name))
        if model_id is None:
            return None
        query = (
            select(t.aliases.c.alias, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == t.aliases.c.model_version_id)
            .where(
                t.aliases.c.model_id == model_id,
                t.aliases.c.alias.in_(("live", "canary", "shadow")),
            )
        )
        versions = {row.alias: int(row.version) for row in self.connection.execute(query)}
        row = self.connection.execute(
            select(t.deployments).where(t.deployments.c.model_id == model_id)
        ).first()
        return Deployment(
            model=name,
            live=versions.get("live"),
            canary=versions.get("canary"),
            canary_share=0.0 if row is None else float(row.canary_share),
            shadow=versions.get("shadow"),
            updated_at=None if row is None else utc(row.updated_at),
            updated_by=None if row is None else row.updated_by,
        )

    def deployments(self) -> dict[str, Deployment]:
        """Every model's :class:`Deployment` (as :meth:`get_deployment` gives one), by
        name: three queries, whatever the number of models."""
        served = ("live", "canary", "shadow")
        versions: dict[int, dict[str, int]] = {}
        query = (
            select(t.aliases.c.model_id, t.aliases.c.alias, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == t.aliases.c.model_version_id)
            .where(t.aliases.c.alias.in_(served))
        )
        for alias in self.connection.execute(query):
            versions.setdefault(alias.model_id, {})[alias.alias] = int(alias.version)
        settings = {row.model_id: row for row in self.connection.execute(select(t.deployments))}
        found = {}
        for model_id, name in self.connection.execute(select(t.models.c.id, t.models.c.name)):
            moved, setting = versions.get(model_id, {}), settings.get(model_id)
            found[name] = Deployment(
                model=name,
                live=moved.get("live"),
                canary=moved.get("canary"),
                canary_share=0.0 if setting is None else float(setting.canary_share),
                shadow=moved.get("shadow"),
                updated_at=None if setting is None else utc(setting.updated_at),
                updated_by=None if setting is None else setting.updated_by,
            )
        return found

    # -- prediction log ----------------------------------------------------------------

    def insert_prediction_segment(
        self,
        model: str,
        version: int,
        *,
        digest: str,
        rows: int,
        first_at: datetime,
        last_at: datetime,
        created_at: datetime,
    ) -> int:
        return self._insert_row(
            t.prediction_segments,
            model_version_id=self._model_version_id(model, version),
            artifact_digest=digest,
            rows=rows,
            first_at=first_at,
            last_at=last_at,
            created_at=created_at,
        )

    def list_prediction_segments(
        self,
        model: str,
        version: int | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PredictionSegment]:
        """The segments of ``model`` (of one version when given) holding predictions made
        at or after ``since`` and at or before ``until``, oldest first."""
        segments = t.prediction_segments
        query = (
            with_model_version(segments)
            .where(t.models.c.name == model)
            .order_by(segments.c.first_at, segments.c.id)
        )
        if version is not None:
            query = query.where(t.model_versions.c.version == version)
        if since is not None:
            query = query.where(segments.c.last_at >= since)
        if until is not None:
            query = query.where(segments.c.first_at <= until)
        return [_segment(row) for row in self.connection.execute(query)]

    def delete_segments_before(self, before: datetime) -> list[PredictionSegment]:
        """Delete the rows of every segment whose newest prediction is older than
        ``before``, and return them (only those this transaction deleted: of two
        concurrent prunes, each segment is one's)."""
        segments = t.prediction_segments
        query = (
            with_model_version(segments)
            .where(segments.c.last_at < before)
            .order_by(segments.c.first_at, segments.c.id)
        )
        deleted: list[PredictionSegment] = []
        for row in list(self.connection.execute(query)):
            gone = self.connection.execute(delete(segments).where(segments.c.id == row.id))
            if gone.rowcount:
                deleted.append(_segment(row))
        return deleted

    def delete_feedback(self, request_id: str) -> int:
        """Delete every label of ``request_id``; how many there were."""
        result = self.connection.execute(
            delete(t.feedback).where(t.feedback.c.request_id == request_id)
        )
        return int(result.rowcount)

    def segment_in_use(self, digest: str) -> bool:
        """Whether any prediction segment is the object ``digest``."""
        query = select(t.prediction_segments.c.id).where(
            t.prediction_segments.c.artifact_digest == digest
        )
        return self.connection.scalar(query.limit(1)) is not None

    # -- feedback ----------------------------------------------------------------------

    def insert_feedback(
        self,
        request_id: str,
        label: Any,
        *,
        at: datetime,
        actor: str,
        model: str | None,
        row: int = 0,
    ) -> int:
        """Record the true label (any JSON value) of row ``row`` of request ``request_id``."""
        return self._insert_row(
            t.feedback,
            request_id=request_id,
            label_json=dumps(label),
            at=at,
            actor=actor,
            model=model,
            row=row,
        )

    def logged_rows(self, model: str | None = None) -> tuple[int, datetime | None]:
        """How many rows the prediction log of ``model`` (of every model: None) holds, and
        the time of its oldest prediction (None: no log)."""
        segments = t.prediction_segments
        query = select(func.coalesce(func.sum(segments.c.rows), 0), func.min(segments.c.first_at))
        if model is not None:
            query = (
                query.join(t.model_versions, t.model_versions.c.id == segments.c.model_version_id)
                .join(t.models, t.models.c.id == t.model_versions.c.model_id)
                .where(t.models.c.name == model)
            )
        rows, oldest = self.connection.execute(query).one()
        return int(rows), None if oldest is None else utc(oldest)

    def feedback_span(self) -> int:
        """At least as many as there are labels, of every model, and cheap: the span of
        their ids (an index's two ends, where counting reads every entry)."""
        # Two queries: SQLite reads one end of the index only for a lone min() or max().
        low = self.connection.scalar(select(func.min(t.feedback.c.id)))
        high = self.connection.scalar(select(func.max(t.feedback.c.id)))
        return 0 if low is None or high is None else int(high) - int(low) + 1

    def count_feedback(self, model: str | None, *, since: datetime | None = None) -> int:
        """How many labels were given for ``model`` (None: for no model named) at or after
        ``since``."""
        column = t.feedback.c.model
        query = select(func.count()).select_from(t.feedback)
        query = query.where(column.is_(None) if model is None else column == model)
        if since is not None:
            query = query.where(t.feedback.c.at >= since)
        return int(self.connection.scalar(query) or 0)

    def list_feedback(
        self,
        request_ids: Iterable[str] | None = None,
        *,
        since: datetime | None = None,
        model: str | None = None,
    ) -> list[Feedback]:
        """Feedback in the order it arrived, optionally only for ``request_ids``, given at
        or after ``since``, or naming ``model``."""
        base = select(t.feedback).order_by(t.feedback.c.id)
        if since is not None:
            base = base.where(t.feedback.c.at >= since)
        if model is not None:
            base = base.where(t.feedback.c.model == model)
        if request_ids is None:
            found = list(self.connection.execute(base))
        else:
            wanted = sorted(set(request_ids))
            found = []
            for chunk in in_chunks(wanted):
                found.extend(
                    self.connection.execute(base.where(t.feedback.c.request_id.in_(chunk)))
                )
            found.sort(key=lambda record: record.id)
        return [
            Feedback(
                feedback_id=int(record.id),
                request_id=record.request_id,
                label=json.loads(record.label_json),
                at=utc(record.at),
                actor=record.actor,
                model=record.model,
                row=int(record.row),
            )
            for record in found
        ]


def _segment(row: Any) -> PredictionSegment:
    """A prediction segment from its row joined with its model version."""
    return PredictionSegment(
        segment_id=int(row.id),
        model=row.name,
        version=int(row.version),
        artifact_digest=row.artifact_digest,
        rows=int(row.rows),
        first_at=utc(row.first_at),
        last_at=utc(row.last_at),
        created_at=utc(row.created_at),
    )
