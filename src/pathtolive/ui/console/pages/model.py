"""Models: every model (a page at a time), and one model's page: its versions with
their metrics, gate verdict, data, run, author and time (a page at a time), the alias
history as a timeline, the live version's drift and its metric over time (as
``pathtolive monitor`` stored them: the page never reads the prediction log)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.errors import InvalidInputError
from pathtolive.service import models as model_service
from pathtolive.service.model_views import model_view
from pathtolive.service.monitor_views import live_metric
from pathtolive.ui.console.page import acting, render, url
from pathtolive.ui.model_pages import Links, model_context

__all__ = [
    "MODELS_PER_PAGE",
    "VERSIONS_PER_PAGE",
    "links",
    "model_page",
    "models_page",
    "page_number",
    "routes",
]

VERSIONS_PER_PAGE = 25
MODELS_PER_PAGE = 50


def links(request: Request) -> Links:
    """The console's addresses as links from ``request`` (the app may be mounted)."""
    return Links(url(request, ""))


def page_number(request: Request) -> int:
    text = request.query_params.get("page", "1") or "1"
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"page must be a whole number from 1, not {text!r:.20}")
    return int(text)


def models_page(request: Request) -> Response:
    number = page_number(request)
    start = (number - 1) * MODELS_PER_PAGE
    models, total = model_service.models_page(acting(request), offset=start, limit=MODELS_PER_PAGE)
    return render(
        request,
        "models.html",
        title="Models",
        active="models",
        models=models,
        number=number,
        more=total > start + MODELS_PER_PAGE,
        links=links(request),
    )


def model_page(request: Request) -> Response:
    ctx = acting(request)
    name = request.path_params["name"]
    view = model_view(ctx, name, page=page_number(request), size=VERSIONS_PER_PAGE)
    live = live_metric(ctx, name, view.live) if view.live is not None else None
    return render(
        request,
        "model.html",
        title=name,
        active="models",
        **model_context(view, links(request), live),
    )


routes: list[BaseRoute] = [
    Route("/models", models_page, methods=["GET"], name="models"),
    Route("/models/{name}", model_page, methods=["GET"], name="model"),
]
