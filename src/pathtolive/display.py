"""Rich display in Jupyter for the objects pathtolive returns, drawn by the HTML face.

Entities and reports are plain data of the lower layers, which may not import the HTML
face (``ui/``). They inherit :class:`HtmlDisplay`, whose ``_repr_html_`` asks the renderer
registered for their type (:func:`register_html`); :mod:`pathtolive.ui.notebook`
registers one per type when the Python API (:mod:`pathtolive.workspace`) is imported.
Without a renderer Jupyter shows the plain ``repr``. A renderer returns an HTML fragment
safe to embed in a notebook: escaped, with no script and no URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["HtmlDisplay", "register_html"]

_RENDERERS: dict[type, Callable[[Any], str]] = {}


def register_html(kind: type, renderer: Callable[[Any], str]) -> None:
    """Draw instances of ``kind`` (and of its subclasses) with ``renderer``."""
    _RENDERERS[kind] = renderer


class HtmlDisplay:
    """Mixin: Jupyter's rich display of an object, by the renderer of its type."""

    __slots__ = ()

    def _repr_html_(self) -> str | None:
        for kind in type(self).__mro__:
            renderer = _RENDERERS.get(kind)
            if renderer is not None:
                return renderer(self)
        return None
