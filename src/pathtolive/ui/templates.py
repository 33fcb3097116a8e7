"""The one template environment every HTML page of pathtolive is rendered with.

The static files (the monitoring report, the model card) and the web console draw from
the same Jinja2 templates in ``ui/templates/``, loaded from the installed package, so
they look alike and share one stylesheet and one page skeleton (``base.html``).

Escaping is on for every template (``autoescape=True``): a text from data (a feature
named ``<script>``, an alert message, a model card's intended use) reaches the page only
as text. Markup is written in the templates themselves; the few values that are markup
already (none today) would have to be marked safe on purpose. Undefined names fail
loudly (:class:`~jinja2.StrictUndefined`) instead of rendering as nothing.

The filters are the shared formats of :mod:`pathtolive.format`, so a figure reads the
same on a page as in the CLI: ``number``, ``signed``, ``percent``, ``thousands`` (a count,
:func:`~pathtolive.format.count`, named so as not to hide Jinja's own ``count``), ``when``,
``short_when``, and ``coordinate`` (an SVG coordinate to one decimal).

The stylesheet is one file, ``ui/static/pathtolive.css`` (:func:`stylesheet`): the static
files inline it (they load nothing), the console serves the same file.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pathtolive import format as fmt

__all__ = ["CHART_STYLESHEET", "STYLESHEET", "coordinate", "environment", "render", "stylesheet"]

STYLESHEET = "static/pathtolive.css"
"""The shared stylesheet, relative to the ``pathtolive.ui`` package."""
CHART_STYLESHEET = "static/charts.css"
"""The charts' part of it, a file of its own: the console serves it as it is."""


def coordinate(value: float) -> str:
    """An SVG coordinate or length: one decimal is finer than a pixel."""
    return f"{value:.1f}"


@cache
def stylesheet() -> Markup:
    """The shared stylesheet's text, to inline in a ``<style>`` element. It is the
    package's own file, not data, so it is marked safe: escaping would break ``>``
    selectors."""
    package = files("pathtolive.ui")
    return Markup(
        "".join(
            package.joinpath(name).read_text(encoding="utf-8")
            for name in (CHART_STYLESHEET, STYLESHEET)
        )
    )


@cache
def environment() -> Environment:
    """The shared environment (built once; Jinja2 environments are safe to share
    between threads once configured)."""
    env = Environment(
        loader=PackageLoader("pathtolive.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        number=fmt.number,
        signed=fmt.signed,
        percent=fmt.percent,
        thousands=fmt.count,
        when=fmt.when,
        short_when=fmt.short_when,
        coordinate=coordinate,
    )
    env.globals["stylesheet"] = stylesheet
    return env


def render(name: str, **context: Any) -> str:
    """Template ``name`` of ``ui/templates/`` rendered with ``context``."""
    return environment().get_template(name).render(**context)
