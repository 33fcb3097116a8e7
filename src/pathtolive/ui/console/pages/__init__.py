"""The console's pages: one module per page, each exposing ``routes``.

A page module (``overview.py``, ``promotions.py`` …) defines its Starlette routes
(``routes: list[BaseRoute]``) with the helpers of :mod:`pathtolive.ui.console.page` and
its templates under ``ui/templates/console/``; it is registered by one line naming it in
:data:`PAGES`, and the app adds its routes. Paths are the console's own (``/models``,
``/runs/compare``): the app may be mounted under a prefix, which ``url()`` adds.
"""

__all__ = ["PAGES"]

PAGES: tuple[str, ...] = (
    "overview",
    "promotions",
    # Each page below registers here with one line of its own.
    "datasets",
    "runs",
    "audit",
)
"""The page modules of this package, by name."""
