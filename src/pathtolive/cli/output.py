"""Rendering for the CLI: Rich tables for people, JSON for machines."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["JsonOption", "console", "emit", "err_console", "table", "to_jsonable", "when"]

# Piped output (a file, another program, a test) gets a wide fixed width instead of
# Rich's 80 columns, so that ids and hashes in tables are not folded mid-value.
_PIPED_WIDTH = 160
console = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPED_WIDTH
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def to_jsonable(value: Any) -> Any:
    """Plain JSON types from entities, reports, paths and datetimes."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``render`` for people; a progress display on stderr
    ends first, so that the two do not interleave on a terminal."""
    # Imported here: the progress display prints through this module's err_console.
    from pathtolive.cli.progress import finish

    finish()
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
    else:
        render()


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    return grid


def when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
