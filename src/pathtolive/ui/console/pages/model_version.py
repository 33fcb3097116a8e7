"""A model version: its gate report drawn as intervals (candidate, live and baseline,
overall and per slice), latency and size, its lineage linked to the other pages, its
model card, and a form that explains one row (a POST with the CSRF token)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.auth import Permission
from pathtolive.errors import InvalidInputError
from pathtolive.service.model_views import explain_row, version_view
from pathtolive.ui.console.page import Form, acting, action, render
from pathtolive.ui.console.pages.model import links
from pathtolive.ui.model_pages import ExplainForm, version_context

__all__ = ["explain", "routes", "version_page"]


def _ref(request: Request) -> str:
    return f"{request.path_params['name']}@{request.path_params['version']}"


def _page(request: Request, form: ExplainForm | None = None, status: int = 200) -> Response:
    view = version_view(acting(request), _ref(request))
    return render(
        request,
        "model_version.html",
        title=view.version.ref,
        active="models",
        status=status,
        **version_context(view, links(request), form),
    )


def version_page(request: Request) -> Response:
    return _page(request)


@action(Permission.READ, "explain a prediction")
def explain(request: Request, form: Form) -> Response:
    """The page again, with the row's attributions, or with why the row was refused."""
    values = {key: value for key, value in form.items() if key != "csrf_token"}
    try:
        answer = explain_row(acting(request), _ref(request), values)
    except InvalidInputError as exc:
        return _page(request, ExplainForm(values, error=exc.message), status=exc.http_status)
    return _page(request, ExplainForm(values, answer))


routes: list[BaseRoute] = [
    Route(
        "/models/{name}/versions/{version:int}", version_page, methods=["GET"], name="model_version"
    ),
    Route(
        "/models/{name}/versions/{version:int}/explain",
        explain,
        methods=["POST"],
        name="model_version_explain",
    ),
]
