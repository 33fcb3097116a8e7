"""Datasets: every dataset; a dataset's versions with their provenance, its contract with
tags and the versions it refused; a version's profile as histograms and its validation
report; the diff of two versions, columns sorted by how much they moved.

Everything is read from stored profiles, schemas, reports and the audit trail: no page
reads a dataset's rows.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pathtolive.data import ValidationReport
from pathtolive.errors import InvalidInputError
from pathtolive.service import datasets as dataset_service
from pathtolive.ui.console.page import acting, render
from pathtolive.ui.console.pages.shapes import density_chart

__all__ = ["PAGE_SIZE", "dataset_page", "datasets_page", "diff_page", "routes", "version_page"]

PAGE_SIZE = 20
"""Versions per page."""


def datasets_page(request: Request) -> Response:
    ctx = acting(request)
    return render(
        request,
        "datasets.html",
        title="Datasets",
        active="datasets",
        datasets=dataset_service.list_datasets(ctx),
    )


def dataset_page(request: Request) -> Response:
    ctx = acting(request)
    name = str(request.path_params["name"])
    offset = _number(request, "offset", 0)
    page = dataset_service.version_page(ctx, name, offset=offset, limit=PAGE_SIZE)
    schema, contract = dataset_service.shown_contract(ctx, name)
    return render(
        request,
        "dataset.html",
        title=f"Dataset {name}",
        active="datasets",
        dataset=name,
        page=page,
        schema=schema,
        contract=contract,
        refusals=dataset_service.refusals(ctx, name, limit=PAGE_SIZE),
        newer=max(0, offset - PAGE_SIZE) if offset > 0 else None,
        older=offset + PAGE_SIZE if page.has_next else None,
    )


def version_page(request: Request) -> Response:
    ctx = acting(request)
    name = str(request.path_params["name"])
    number = int(request.path_params["version"])
    version, columns = dataset_service.column_histograms(ctx, f"{name}@{number}")
    report = None if version.validation is None else ValidationReport.from_dict(version.validation)
    return render(
        request,
        "dataset_version.html",
        title=f"{version.ref}",
        active="datasets",
        version=version,
        columns=[(column, density_chart(column)) for column in columns],
        report=report,
    )


def diff_page(request: Request) -> Response:
    ctx = acting(request)
    name = str(request.path_params["name"])
    old = _number(request, "old", 0)
    new = _number(request, "new", 0)
    if old < 1 or new < 1:
        raise InvalidInputError("name two versions to compare: ?old=1&new=2")
    ranked = dataset_service.ranked_diff(ctx, f"{name}@{old}", f"{name}@{new}")
    return render(
        request,
        "dataset_diff.html",
        title=f"{name}: @{old} → @{new}",
        active="datasets",
        dataset=name,
        ranked=ranked,
    )


def _number(request: Request, field: str, default: int) -> int:
    text = request.query_params.get(field, "")
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{field} must be a whole number, not {text!r}") from None


routes: list[BaseRoute] = [
    Route("/datasets", datasets_page, methods=["GET"], name="datasets"),
    Route("/datasets/{name}", dataset_page, methods=["GET"], name="dataset"),
    Route("/datasets/{name}/diff", diff_page, methods=["GET"], name="dataset_diff"),
    Route(
        "/datasets/{name}/versions/{version:int}",
        version_page,
        methods=["GET"],
        name="dataset_version",
    ),
]
