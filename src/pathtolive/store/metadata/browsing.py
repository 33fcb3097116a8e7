"""Paginated queries for browsing: dataset versions without their profiles, runs as table
rows filtered and sorted in the database, metric series thinned in the database, and the
audit log by keyset.

Every query here reads one page through an index and never a whole table's large
columns: a list of versions leaves the profiles and reports out, a run table leaves the
graphs out, and a metric series longer than a chart can show is thinned by the database
(every n-th point) instead of being read in full.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import JSON, ColumnElement, Float, and_, cast, exists, func, select, type_coerce

from pathtolive.entities import AuditEvent
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, in_chunks, utc, utc_or_none

__all__ = [
    "BrowsingQueries",
    "MetricCondition",
    "RunRow",
    "RunSort",
    "VersionSummary",
]

RunSort = Literal["started", "pipeline", "status", "metric"]


@dataclass(frozen=True)
class VersionSummary:
    """A dataset version's provenance, without its profile or validation report."""

    dataset: str
    version: int
    content_hash: str
    parent_version: int | None
    schema_version: int
    source: str
    source_format: str
    author: str
    created_at: datetime
    rows: int
    bytes: int
    validation_status: str
    forgotten_at: datetime | None = None
    forgotten_by: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


@dataclass(frozen=True)
class RunRow:
    """A run as a row of the runs table: its params and final metrics, no graph; ``error``
    is a failed run's message and traceback."""

    run_id: str
    kind: str
    pipeline: str | None
    status: str
    actor: str
    started_at: datetime
    finished_at: datetime | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    inputs: dict[str, str]
    code_commit: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MetricCondition:
    """``metric op value`` on a run's final metrics (``op`` one of < <= = >= > !=)."""

    metric: str
    op: str
    value: float


_OPERATORS: dict[str, Callable[[ColumnElement[float], float], ColumnElement[bool]]] = {
    "<": lambda left, right: left < right,
    "<=": lambda left, right: left <= right,
    "=": lambda left, right: left == right,
    "!=": lambda left, right: left != right,
    ">=": lambda left, right: left >= right,
    ">": lambda left, right: left > right,
}


def _final_metric(key: str, dialect: str) -> ColumnElement[float]:
    """A run's final metric ``key`` (from its outputs) as a number, NULL without one; the
    JSON path is compiled per backend (``json_extract`` on SQLite, ``->`` on PostgreSQL).
    The text column is cast to JSON on PostgreSQL; SQLite reads JSON from text as it is
    (a CAST there would turn the text into a number)."""
    column = t.runs.c.outputs_json
    document = type_coerce(column, JSON) if dialect == "sqlite" else cast(column, JSON)
    value: ColumnElement[float] = document["metrics"][key].as_float()
    return value


class BrowsingQueries(Queries):
    # -- dataset versions ------------------------------------------------------------------

    def version_summaries(
        self, dataset: str, *, offset: int = 0, limit: int = 20
    ) -> list[VersionSummary]:
        """One page of ``dataset``'s versions, newest first (through the unique index on
        dataset and version)."""
        v, parent = t.dataset_versions, t.dataset_versions.alias("parent")
        query = (
            select(
                v.c.version,
                v.c.content_hash,
                parent.c.version.label("parent_version"),
                t.dataset_schemas.c.version.label("schema_version"),
                v.c.source,
                v.c.source_format,
                v.c.author,
                v.c.created_at,
                v.c.rows,
                v.c.bytes,
                v.c.validation_status,
                v.c.forgotten_at,
                v.c.forgotten_by,
            )
            .join(t.datasets, t.datasets.c.id == v.c.dataset_id)
            .join(t.dataset_schemas, t.dataset_schemas.c.id == v.c.schema_id)
            .outerjoin(parent, parent.c.id == v.c.parent_id)
            .where(t.datasets.c.name == dataset)
            .order_by(v.c.version.desc())
            .offset(offset)
            .limit(limit)
        )
        return [
            VersionSummary(
                dataset=dataset,
                version=row.version,
                content_hash=row.content_hash,
                parent_version=row.parent_version,
                schema_version=row.schema_version,
                source=row.source,
                source_format=row.source_format,
                author=row.author,
                created_at=utc(row.created_at),
                rows=row.rows,
                bytes=row.bytes,
                validation_status=row.validation_status,
                forgotten_at=utc_or_none(row.forgotten_at),
                forgotten_by=row.forgotten_by,
            )
            for row in self.connection.execute(query)
        ]

    def version_count(self, dataset: str) -> int:
        query = (
            select(func.count())
            .select_from(t.dataset_versions)
            .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
            .where(t.datasets.c.name == dataset)
        )
        return int(self.connection.scalar(query) or 0)

    # -- runs --------------------------------------------------------------------------------

    def _run_filters(
        self,
        pipeline: str | None,
        status: str | None,
        params: Mapping[str, Any],
        metrics: Sequence[MetricCondition],
    ) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if pipeline is not None:
            conditions.append(t.runs.c.pipeline == pipeline)
        if status is not None:
            conditions.append(t.runs.c.status == status)
        for key, value in params.items():
            # Through the params table's primary key (run_id, key): one lookup per run.
            conditions.append(
                exists().where(
                    t.run_params.c.run_id == t.runs.c.run_id,
                    t.run_params.c.key == key,
                    t.run_params.c.value_json == dumps(value),
                )
            )
        for condition in metrics:
            compare = _OPERATORS[condition.op]
            metric = _final_metric(condition.metric, self.connection.dialect.name)
            conditions.append(compare(metric, condition.value))
        return conditions

    def run_rows(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricCondition] = (),
        sort: RunSort = "started",
        sort_metric: str | None = None,
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> list[RunRow]:
        """One page of runs matching every filter, sorted (ties by start, then id)."""
        c = t.runs.c
        query = select(
            c.run_id,
            c.kind,
            c.pipeline,
            c.status,
            c.actor,
            c.started_at,
            c.finished_at,
            c.params_json,
            c.outputs_json,
            c.code_commit,
            c.error,
        )
        filters = self._run_filters(pipeline, status, dict(params or {}), metrics)
        if filters:
            query = query.where(and_(*filters))
        key: ColumnElement[Any]
        if sort == "metric":
            assert sort_metric is not None
            key = cast(_final_metric(sort_metric, self.connection.dialect.name), Float)
        else:
            key = {"started": c.started_at, "pipeline": c.pipeline, "status": c.status}[sort]
        ordered = key.desc() if descending else key.asc()
        query = query.order_by(ordered.nulls_last(), c.started_at.desc(), c.run_id.desc())
        rows = list(self.connection.execute(query.offset(offset).limit(limit)))
        inputs = self._inputs_of([row.run_id for row in rows])
        return [
            RunRow(
                run_id=row.run_id,
                kind=row.kind,
                pipeline=row.pipeline,
                status=row.status,
                actor=row.actor,
                started_at=utc(row.started_at),
                finished_at=utc_or_none(row.finished_at),
                params=json.loads(row.params_json),
                metrics=_metrics_of(row.outputs_json),
                inputs=inputs.get(row.run_id, {}),
                code_commit=row.code_commit,
                error=row.error,
            )
            for row in rows
        ]

    def run_count(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricCondition] = (),
    ) -> int:
        query = select(func.count()).select_from(t.runs)
        filters = self._run_filters(pipeline, status, dict(params or {}), metrics)
        if filters:
            query = query.where(and_(*filters))
        return int(self.connection.scalar(query) or 0)

    def run_pipelines(self) -> list[str]:
        """The pipelines that have runs (for the table's filter)."""
        query = (
            select(t.runs.c.pipeline)
            .where(t.runs.c.pipeline.is_not(None))
            .group_by(t.runs.c.pipeline)
            .order_by(t.runs.c.pipeline)
        )
        return [str(name) for name in self.connection.scalars(query)]

    def _inputs_of(self, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The data versions of several runs in one query per chunk, not one per run."""
        found: dict[str, dict[str, str]] = {}
        for chunk in in_chunks(list(run_ids)):
            query = (
                select(
                    t.run_inputs.c.run_id,
                    t.run_inputs.c.parameter,
                    t.datasets.c.name,
                    t.dataset_versions.c.version,
                )
                .join(
                    t.dataset_versions,
                    t.dataset_versions.c.id == t.run_inputs.c.dataset_version_id,
                )
                .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
                .where(t.run_inputs.c.run_id.in_(chunk))
                .order_by(t.run_inputs.c.parameter)
            )
            for row in self.connection.execute(query):
                found.setdefault(row.run_id, {})[row.parameter] = f"{row.name}@{row.version}"
        return found

    def metric_series(
        self, run_ids: Sequence[str], *, max_points: int = 200
    ) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """Each logged metric of each run (by run id, then key) as (step, value) points in
        logging order, at most about ``max_points`` per series: a longer series is thinned
        to every n-th point (its last point kept). Only the kept points' rows are read:
        the series' sizes, and a long series' row ids, come from the (run_id, key) index
        alone (window functions over every point cost several times more on SQLite)."""
        m = t.run_metrics.c
        series: dict[str, dict[str, list[tuple[float, float]]]] = {}
        sizes = select(m.run_id, m.key, func.count()).group_by(m.run_id, m.key)
        short: dict[str, list[str]] = {}
        kept: dict[int, tuple[list[tuple[float, float]], int, int]] = {}
        for run_id, key, size in self.connection.execute(sizes.where(m.run_id.in_(list(run_ids)))):
            if size <= max_points:
                short.setdefault(run_id, []).append(key)
                continue
            ids = self.connection.scalars(
                select(m.id).where(m.run_id == run_id, m.key == key).order_by(m.id)
            ).all()
            stride = -(-len(ids) // max_points)
            positions = [*range(0, len(ids), stride)]
            if positions[-1] != len(ids) - 1:
                positions.append(len(ids) - 1)
            # Each kept row's slot in its series, filled as the rows come in any order.
            points = [(0.0, 0.0)] * len(positions)
            series.setdefault(run_id, {})[key] = points
            kept.update((ids[p], (points, slot, p)) for slot, p in enumerate(positions))
        columns = (m.id, m.step, m.value)
        for run_id, keys in short.items():
            query = select(m.key, *columns).where(m.run_id == run_id, m.key.in_(keys))
            for row in self.connection.execute(query.order_by(m.key, m.id)):
                points = series.setdefault(run_id, {}).setdefault(row.key, [])
                x = float(len(points) if row.step is None else row.step)
                points.append((x, float(row.value)))
        for chunk in in_chunks(list(kept)):
            for found in self.connection.execute(select(*columns).where(m.id.in_(chunk))):
                points, slot, position = kept[found.id]
                x = float(position if found.step is None else found.step)
                points[slot] = (x, float(found.value))
        return series

    # -- the audit log -----------------------------------------------------------------------

    def _actions_starting(self, prefix: str) -> list[str] | None:
        """The distinct actions of the log starting with ``prefix`` (case-sensitive), one
        index seek each; None when there are more than :data:`_MERGED_ACTIONS`."""
        c = t.audit_events.c
        found: list[str] = []
        while len(found) <= _MERGED_ACTIONS:
            after = c.action > found[-1] if found else c.action >= prefix
            name = self.connection.scalar(select(func.min(c.action)).where(after))
            if name is None or not str(name).startswith(prefix):
                return found
            found.append(str(name))
        return None

    def audit_page(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        actions: Sequence[str] = (),
        subject: str | None = None,
        exact_subject: bool = False,
        since: str | None = None,
        until: str | None = None,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> list[AuditEvent]:
        """Newest first, from ``before_seq`` down (a keyset: any page costs the same). The
        ``action`` and ``subject`` match as prefixes (``subject`` exactly with
        ``exact_subject``), ``actions`` exactly (a prefix cannot use the (action, seq)
        index, so a rare action found by prefix costs a walk down the whole log);
        ``since`` and ``until`` bound the time (inclusive, exclusive), compared as the
        chain's own UTC ISO text, which sorts as time does."""
        c = t.audit_events.c
        if action is not None and not actions:
            named = self._actions_starting(action)
            if named is not None:
                # Each action read newest first on its own (action, seq) index range,
                # at most ``limit`` rows each, then merged: a rare action costs what a
                # common one does, where a prefix match would walk the log from its end.
                events = [
                    event
                    for name in named
                    for event in self.audit_page(
                        actor=actor,
                        actions=(name,),
                        subject=subject,
                        exact_subject=exact_subject,
                        since=since,
                        until=until,
                        before_seq=before_seq,
                        limit=limit,
                    )
                ]
                return sorted(events, key=lambda event: event.seq, reverse=True)[:limit]
        query = select(t.audit_events)
        if before_seq is not None:
            query = query.where(c.seq < before_seq)
        if actor is not None:
            query = query.where(c.actor == actor)
        if action is not None:
            query = query.where(self._starts_with(c.action, action))
        if subject is not None:
            query = query.where(
                c.subject == subject if exact_subject else self._starts_with(c.subject, subject)
            )
        if since is not None:
            query = query.where(c.time >= since)
        if until is not None:
            query = query.where(c.time < until)
        if len(actions) == 1:
            query = query.where(c.action == actions[0])
        elif actions:
            query = query.where(c.action.in_(list(actions)))
        query = query.order_by(c.seq.desc()).limit(limit)
        return [
            AuditEvent(
                seq=int(row.seq),
                time=row.time,
                actor=row.actor,
                action=row.action,
                subject=row.subject,
                details=json.loads(row.details_json),
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
            for row in self.connection.execute(query)
        ]


_MERGED_ACTIONS = 20
"""The most distinct actions a prefix filter reads one by one (a prefix matching more
is broad enough for the walk down the log to find its page soon)."""


def _metrics_of(outputs_json: str | None) -> dict[str, Any]:
    if outputs_json is None:
        return {}
    metrics = json.loads(outputs_json).get("metrics", {})
    return dict(metrics) if isinstance(metrics, dict) else {}
