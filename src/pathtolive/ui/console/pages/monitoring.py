"""Monitoring: every model with its open alerts, and per model its drift per feature
over its recent stored windows as a heat map of the PSI (each cell links to its
reference-vs-live histograms), its metric measured on feedback and estimated from
confidence, and its alerts with their webhook deliveries. Everything comes from what
``pathtolive monitor`` stored (:mod:`pathtolive.service.monitor_views`): the page never
reads the prediction log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.errors import InvalidInputError
from pathtolive.service import alerts as alert_service
from pathtolive.service import models as model_service
from pathtolive.service.monitor_views import DEFAULT_PAGE_WINDOWS, monitoring_view
from pathtolive.ui.console.page import acting, render
from pathtolive.ui.console.pages.model import links
from pathtolive.ui.model_pages import monitoring_context

__all__ = ["model_monitoring", "monitoring_index", "routes"]


def monitoring_index(request: Request) -> Response:
    ctx = acting(request)
    open_alerts = alert_service.list_alerts(ctx, status="open", limit=500)
    counts: dict[str, int] = {}
    for alert in open_alerts:
        counts[alert.model] = counts.get(alert.model, 0) + 1
    return render(
        request,
        "monitoring_index.html",
        title="Monitoring",
        active="monitoring",
        models=model_service.list_models(ctx),
        counts=counts,
        links=links(request),
    )


def _whole(request: Request, key: str, default: int) -> int:
    text = request.query_params.get(key, "") or str(default)
    if not text.isdigit():
        raise InvalidInputError(f"{key} must be a whole number, not {text!r:.20}")
    return int(text)


def model_monitoring(request: Request) -> Response:
    name = request.path_params["name"]
    feature = request.query_params.get("feature") or None
    window = _whole(request, "window", 0)
    view = monitoring_view(
        acting(request),
        name,
        windows=_whole(request, "windows", DEFAULT_PAGE_WINDOWS),
        cell=window if feature is not None else None,
    )
    return render(
        request,
        "monitoring.html",
        title=f"{name} monitoring",
        active="monitoring",
        **monitoring_context(view, links(request), feature=feature, window=window),
    )


routes: list[BaseRoute] = [
    Route("/monitoring", monitoring_index, methods=["GET"], name="monitoring"),
    Route("/monitoring/{name}", model_monitoring, methods=["GET"], name="model_monitoring"),
]
