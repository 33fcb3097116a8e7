"""Options shared by every command, and opening the workspace they name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pathtolive.service.context import ServiceContext

__all__ = ["GlobalOptions", "open_context", "options"]


@dataclass(frozen=True)
class GlobalOptions:
    workspace: Path | None = None
    metadata_url: str | None = None
    artifact_url: str | None = None


def options(ctx: typer.Context) -> GlobalOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def open_context(ctx: typer.Context) -> ServiceContext:
    # Imported here: the stores' libraries (SQLAlchemy and the rest) are for commands that
    # open a workspace, not for `--help` or a usage error.
    from pathtolive.service.workspace import open_workspace

    opts = options(ctx)
    service = open_workspace(
        opts.workspace, metadata_url=opts.metadata_url, artifact_url=opts.artifact_url
    )
    ctx.call_on_close(service.close)
    return service
