"""The web console: the path to live in a browser (``pathtolive ui``).

A face like the CLI and the server: every page calls the service layer, acting for the
signed-in principal, and renders server-side from the shared Jinja2 environment
(:mod:`pathtolive.ui.templates`, escaping always on). The pieces:

- :mod:`~pathtolive.ui.console.app`: :func:`create_console`, the Starlette app (security
  headers, static files, sign-in, the pages);
- :mod:`~pathtolive.ui.console.access`: who is asking (the local user on loopback, or a
  session made from an API token), sessions and their CSRF tokens;
- :mod:`~pathtolive.ui.console.page`: what every page uses to render and to act;
- :mod:`~pathtolive.ui.console.pages`: one module per page, each exposing ``routes``.
"""

from pathtolive.ui.console.app import ConsoleSettings, create_console

__all__ = ["ConsoleSettings", "create_console"]
