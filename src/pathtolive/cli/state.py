"""Options shared by every command, and opening the workspace they name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pathtolive.config import Settings
    from pathtolive.service.context import ServiceContext
    from pathtolive.store.artifacts import ArtifactStore

__all__ = ["GlobalOptions", "open_context", "options", "workspace_settings"]


@dataclass(frozen=True)
class GlobalOptions:
    workspace: Path | None = None
    metadata_url: str | None = None
    artifact_url: str | None = None


def options(ctx: typer.Context) -> GlobalOptions:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()


def workspace_settings(ctx: typer.Context) -> Settings:
    """The settings of the workspace the options name, without opening its stores."""
    from pathtolive.config import load_settings

    opts = options(ctx)
    return load_settings(
        opts.workspace, metadata_url=opts.metadata_url, artifact_url=opts.artifact_url
    )


def open_context(
    ctx: typer.Context,
    *,
    settings: Settings | None = None,
    artifacts: ArtifactStore | None = None,
) -> ServiceContext:
    """The workspace the options name; with ``settings`` (from :func:`workspace_settings`)
    and its already opened ``artifacts`` store, when the command needed them first."""
    # Imported here: the stores' libraries (SQLAlchemy and the rest) are for commands that
    # open a workspace, not for `--help` or a usage error.
    from pathtolive.service.context import ServiceContext
    from pathtolive.service.workspace import open_workspace

    if settings is None:
        opts = options(ctx)
        service = open_workspace(
            opts.workspace, metadata_url=opts.metadata_url, artifact_url=opts.artifact_url
        )
    else:
        service = ServiceContext(settings)
    if artifacts is not None:
        service.use_artifacts(artifacts)
    ctx.call_on_close(service.close)
    return service
