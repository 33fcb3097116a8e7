"""Runs: a table of runs with their param and metric columns, filtered (pipeline, status,
``KEY=VALUE`` params, ``auc>=0.8`` metrics) and sorted in the database, one page at a
time; and 2 to 10 runs compared side by side (params that differ highlighted, metrics,
data versions, step timings, logged metric series as charts)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.errors import InvalidInputError
from pathtolive.service import runs as run_service
from pathtolive.ui.console.page import acting, render
from pathtolive.ui.console.pages.shapes import series_chart

__all__ = ["PAGE_SIZE", "compare_page", "routes", "runs_page"]

PAGE_SIZE = 50
"""Runs per page of the table."""

_FILTERS = ("pipeline", "status", "param", "metric", "sort")


def runs_page(request: Request) -> Response:
    ctx = acting(request)
    query = request.query_params
    offset_text = query.get("offset", "0") or "0"
    if not offset_text.isdigit():
        raise InvalidInputError(f"offset must be a whole number, not {offset_text!r}")
    offset = int(offset_text)
    params = [text for text in query.getlist("param") if text.strip()]
    metrics = [text for text in query.getlist("metric") if text.strip()]
    table = run_service.run_table(
        ctx,
        pipeline=query.get("pipeline") or None,
        status=query.get("status") or None,
        params=params,
        metrics=metrics,
        sort=query.get("sort") or "-started",
        offset=offset,
        limit=PAGE_SIZE,
    )
    kept = [(key, value) for key in _FILTERS for value in query.getlist(key) if value]

    def page_link(at: int) -> str:
        return "?" + urlencode([*kept, ("offset", str(at))])

    def sort_link(field: str) -> str:
        current = query.get("sort") or "-started"
        wanted = field if current == f"-{field}" else f"-{field}"
        return "?" + urlencode([*((k, v) for k, v in kept if k != "sort"), ("sort", wanted)])

    return render(
        request,
        "runs.html",
        title="Runs",
        active="runs",
        table=table,
        filters={
            "pipeline": query.get("pipeline", ""),
            "status": query.get("status", ""),
            "param": ", ".join(params),
            "metric": ", ".join(metrics),
            "sort": query.get("sort", ""),
        },
        param_filters=params,
        metric_filters=metrics,
        statuses=run_service.RUN_STATUSES,
        newer=page_link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        older=page_link(offset + PAGE_SIZE) if table.has_next else None,
        sort_link=sort_link,
        max_compared=run_service.MAX_COMPARED,
    )


def compare_page(request: Request) -> Response:
    ctx = acting(request)
    ids = [text.strip() for text in request.query_params.getlist("run") if text.strip()]
    comparison = run_service.compare_runs(ctx, ids)
    labels = [run.run_id[:8] for run in comparison.runs]
    charts = [
        chart
        for key, series in comparison.series.items()
        if (chart := series_chart(key, labels, series)) is not None
    ]
    return render(
        request,
        "runs_compare.html",
        title="Compare runs",
        active="runs",
        comparison=comparison,
        labels=labels,
        charts=charts,
    )


routes: list[BaseRoute] = [
    Route("/runs", runs_page, methods=["GET"], name="runs"),
    Route("/runs/compare", compare_page, methods=["GET"], name="runs_compare"),
]
