"""Queries on stored monitor results: what ``monitor`` found per model version and window.

The console reads these instead of the prediction log, so every read here is an index
range on ``(model_version_id, window_end, window_start)`` with a limit: the window keys
of a version newest first, ending by a time (small rows, to choose the windows a page
shows), then the summaries of the few chosen, then the histograms of one. A result
written again for the same window replaces the stored one (``INSERT … ON CONFLICT DO
UPDATE``), so repeating a look never doubles a window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from pathtolive.entities import MonitorResult, MonitorWindowKey
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, in_chunks, utc

__all__ = ["MonitorResultQueries"]

_KEY = ("model_version_id", "window_end", "window_start")


class MonitorResultQueries(Queries):
    def store_monitor_results(self, results: Sequence[MonitorResult]) -> int:
        """Keep ``results`` (of registered model versions), each replacing a stored result
        of the same version and window; how many were written. One statement for them
        all, so a bulk load of many windows costs one round trip per model version."""
        if not results:
            return 0
        version_ids: dict[tuple[str, int], int] = {}
        rows: list[dict[str, Any]] = []
        for result in results:
            key = (result.model, result.version)
            if key not in version_ids:
                version_ids[key] = self._model_version_id(*key)
            rows.append(
                {
                    "model_version_id": version_ids[key],
                    "window_start": result.start,
                    "window_end": result.end,
                    "step_seconds": result.step_seconds,
                    "computed_at": result.computed_at,
                    "rows": result.rows,
                    "labelled": result.labelled,
                    "drifted": result.drifted,
                    "summary_json": dumps(result.summary),
                    "histograms_json": dumps(result.histograms),
                }
            )
        table = t.monitor_results
        dialect = postgresql if self.connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={
                name: statement.excluded[name]
                for name in (
                    "step_seconds",
                    "computed_at",
                    "rows",
                    "labelled",
                    "drifted",
                    "summary_json",
                    "histograms_json",
                )
            },
        )
        # One window twice in one call: the last one wins, as it would in two calls.
        unique = {
            (row["model_version_id"], row["window_end"], row["window_start"]): row for row in rows
        }
        self.connection.execute(statement, list(unique.values()))
        return len(unique)

    def monitor_window_keys(
        self, model: str, version: int, *, limit: int, ending_by: datetime | None = None
    ) -> list[MonitorWindowKey]:
        """Where the newest ``limit`` stored windows of ``model@version`` lie (by end; only
        those ending at or before ``ending_by`` when given), newest first; empty when the
        version is not registered or has none. One index range."""
        results = t.monitor_results
        query = (
            select(
                results.c.id, results.c.window_start, results.c.window_end, results.c.step_seconds
            )
            .join(t.model_versions, t.model_versions.c.id == results.c.model_version_id)
            .join(t.models, t.models.c.id == t.model_versions.c.model_id)
            .where(t.models.c.name == model, t.model_versions.c.version == version)
            .order_by(results.c.window_end.desc(), results.c.window_start.desc())
            .limit(limit)
        )
        if ending_by is not None:
            query = query.where(results.c.window_end <= ending_by)
        return [
            MonitorWindowKey(
                int(row.id), utc(row.window_start), utc(row.window_end), row.step_seconds
            )
            for row in self.connection.execute(query)
        ]

    def get_monitor_results(
        self, result_ids: Sequence[int], *, histograms: bool = False
    ) -> list[MonitorResult]:
        """The stored results ``result_ids`` (those that exist), oldest window first;
        their histograms too when ``histograms``."""
        results = t.monitor_results
        columns = [
            results.c.id,
            results.c.window_start,
            results.c.window_end,
            results.c.step_seconds,
            results.c.computed_at,
            results.c.rows,
            results.c.labelled,
            results.c.drifted,
            results.c.summary_json,
            t.models.c.name,
            t.model_versions.c.version,
        ]
        if histograms:
            columns.append(results.c.histograms_json)
        found: list[MonitorResult] = []
        for chunk in in_chunks(list(result_ids)):
            query = (
                select(*columns)
                .join(t.model_versions, t.model_versions.c.id == results.c.model_version_id)
                .join(t.models, t.models.c.id == t.model_versions.c.model_id)
                .where(results.c.id.in_(chunk))
            )
            found.extend(_result(row, histograms) for row in self.connection.execute(query))
        return sorted(found, key=lambda result: (result.end, result.start, result.result_id))


def _result(row: Any, histograms: bool) -> MonitorResult:
    return MonitorResult(
        model=row.name,
        version=int(row.version),
        start=utc(row.window_start),
        end=utc(row.window_end),
        step_seconds=float(row.step_seconds),
        computed_at=utc(row.computed_at),
        rows=int(row.rows),
        labelled=int(row.labelled),
        drifted=int(row.drifted),
        summary=json.loads(row.summary_json),
        histograms=json.loads(row.histograms_json) if histograms else {},
        result_id=int(row.id),
    )
