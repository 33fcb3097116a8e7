"""The one template environment every HTML page of pathtolive is rendered with.

The static files (the monitoring report, the model card) and the web console draw from
the same Jinja2 templates in ``ui/templates/``, loaded from the installed package: the
console's pages extend ``console/base.html``, the static files ``standalone.html``, and
both draw their shared parts with the same partials (``partials/*.html``: the drift
table, a feature's histograms, the metric over time, the alerts, the model card), whose
inputs are the view models of :mod:`pathtolive.ui.partials`.

Escaping is on for every template (``autoescape=True``): a text from data (a feature
named ``<script>``, an alert message, a model card's intended use) reaches the page only
as text. Markup is written in the templates themselves; the few values that are markup
already (none today) would have to be marked safe on purpose. Undefined names fail
loudly (:class:`~jinja2.StrictUndefined`) instead of rendering as nothing.

The filters are the shared formats of :mod:`pathtolive.format`, so a figure reads the
same on a page as in the CLI: ``number``, ``signed``, ``percent``, ``thousands`` (a count,
:func:`~pathtolive.format.count`, named so as not to hide Jinja's own ``count``), ``when``,
``short_when``, and ``coordinate`` (an SVG coordinate to one decimal).

The static files are drawn with the console's own partials (``partials/*.html``) in a
layout of their own (``standalone.html``) that inlines the console's stylesheets
(:func:`stylesheet`: the console's, the charts', the model pages' and the partials'
``pathtolive.css``, in the order the console's pages load them), so they load nothing
and look like the console, which serves the same files.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pathtolive import format as fmt

__all__ = [
    "CHART_STYLESHEET",
    "CONSOLE_STYLESHEETS",
    "STYLESHEET",
    "coordinate",
    "environment",
    "render",
    "stylesheet",
]

STYLESHEET = "static/pathtolive.css"
"""The partials' stylesheet, relative to the ``pathtolive.ui`` package."""
CHART_STYLESHEET = "static/charts.css"
"""The charts' stylesheet, relative to the ``pathtolive.ui`` package."""
CONSOLE_STYLESHEETS = ("console/static/console.css", "console/static/model_pages.css")
"""The console's own stylesheets, relative to the ``pathtolive.ui`` package (read as
files, without importing the console, which needs the web server's packages)."""


def coordinate(value: float) -> str:
    """An SVG coordinate or length: one decimal is finer than a pixel."""
    return f"{value:.1f}"


@cache
def stylesheet() -> Markup:
    """The console's stylesheets as one text, to inline in a static file's ``<style>``
    element, in the order a console page loads them (later rules win). They are the
    package's own files, not data, so the text is marked safe: escaping would break
    ``>`` selectors."""
    package = files("pathtolive.ui")
    console_css, model_pages_css = CONSOLE_STYLESHEETS
    sheets = (console_css, CHART_STYLESHEET, model_pages_css, STYLESHEET)
    return Markup("\n".join(_read(package, name) for name in sheets))


def _read(package: Traversable, name: str) -> str:
    found = package
    for part in name.split("/"):
        found = found.joinpath(part)
    return found.read_text(encoding="utf-8")


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
