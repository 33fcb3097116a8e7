"""The console's pages: one module per page, each exposing ``routes``.

A page module (``overview.py``, ``promotions.py`` …) defines its Starlette routes
(``routes: list[BaseRoute]``) with the helpers of :mod:`pathtolive.ui.console.page` and
its templates under ``ui/templates/console/``; it is registered by one line naming it in
:data:`PAGES`, and the app adds its routes. Paths are the console's own (``/models``,
``/runs/compare``): the app may be mounted under a prefix, which ``url()`` adds.

A page in short::

    def datasets(request: Request) -> Response:          # GET: runs in a worker thread
        found = dataset_service.list_datasets(acting(request))
        return render(request, "datasets.html", title="Datasets", active="datasets",
                      datasets=found)

    @action(Permission.WRITE, "accept schemas", back="/datasets")
    def accept(request: Request, form: Form) -> Response:  # POST: CSRF and role checked
        dataset_service.accept_schema(acting(request), form["ref"], reason=form["reason"])
        notify(request, "Accepted.")
        return redirect(request, "/datasets")

    routes: list[BaseRoute] = [Route("/datasets", datasets), Route(...)]

and its template ``ui/templates/console/datasets.html`` extends ``console/base.html``
and fills ``main``; it links with ``url('/path')``, ``model_url(name)`` and
``version_url(name, version)`` (``/models/NAME`` and ``/models/NAME/versions/N``), puts
``csrf_token`` in every form, and has no inline script, style attribute or event handler
(the Content-Security-Policy blocks them).
"""

__all__ = ["PAGES"]

PAGES: tuple[str, ...] = (
    "overview",
    "promotions",
    # Each page below registers here with one line of its own.
    "model",
    "model_version",
    "monitoring",
    "datasets",
    "runs",
    "audit",
)
"""The page modules of this package, by name."""
