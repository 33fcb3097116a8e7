"""The bounds of the runs table and of a comparison, in a module of their own so the CLI
can name them in its help without importing the runs service (and pandas with it)."""

from __future__ import annotations

__all__ = ["MAX_COMPARED", "MAX_PAGE"]

MAX_COMPARED = 10
"""The most runs one comparison shows side by side."""

MAX_PAGE = 200
"""The most runs one page of :func:`pathtolive.service.runs.run_table` holds."""
