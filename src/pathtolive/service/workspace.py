"""Making a workspace (``pathtolive init``) and opening one."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from pathtolive.auth import Actor
from pathtolive.config import STATE_DIR, WORKSPACE_FILE, default_config_text, load_settings
from pathtolive.errors import ConflictError, InvalidInputError, PathToLiveError
from pathtolive.redaction import mask_url
from pathtolive.service.context import ServiceContext, local_user_name, record
from pathtolive.store.artifacts import open_artifact_store
from pathtolive.store.metadata import MetadataStore
from pathtolive.tracing import configure_tracing

__all__ = ["init_workspace", "open_workspace"]


def init_workspace(
    root: Path,
    *,
    name: str | None = None,
    metadata_url: str | None = None,
    artifact_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    local_role: str | None = None,
) -> ServiceContext:
    """Create ``pathtolive.toml`` and ``.pathtolive/`` in ``root`` with an up-to-date
    database. Refuses to touch an existing workspace; on failure removes what it made.
    ``local_role`` writes ``[auth] local_role``: on a shared database, local users act
    with it instead of needing a token."""
    environ = dict(os.environ if environ is None else environ)
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise InvalidInputError(f"{root} is a file; pass a folder to 'pathtolive init'")
    config_file = root / WORKSPACE_FILE
    state_dir = root / STATE_DIR
    for existing in (config_file, state_dir):
        if existing.exists():
            raise ConflictError(
                f"{existing} exists already: {root} is a workspace; "
                "use it as it is, or init another folder"
            )
    made_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        config_file.write_text(default_config_text(name or root.name, local_role), encoding="utf-8")
        state_dir.mkdir()
        (state_dir / ".gitignore").write_text("*\n", encoding="utf-8")
        settings = load_settings(
            root, environ=environ, metadata_url=metadata_url, artifact_url=artifact_url
        )
        store = MetadataStore(settings.metadata_url)
        try:
            if store.current_revision() is not None:
                raise ConflictError(
                    f"the metadata database {mask_url(settings.metadata_url)} holds a "
                    "workspace already; point this one at an empty database"
                )
            store.upgrade()
        finally:
            store.close()
        open_artifact_store(settings.artifact_url, base_dir=root, environ=environ)
        ctx = ServiceContext(settings)
        # A new shared database has no token yet: its creator is named, not trusted (the
        # event records no role); tokens come from an admin who sets [auth] local_role.
        actor: Actor | str = (
            ctx.actor()
            if settings.token is not None or settings.local_users_trusted
            else local_user_name(environ)
        )
        with ctx.metadata.write() as session:
            record(
                session,
                actor,
                "workspace.created",
                f"workspace:{name or root.name}",
                {
                    "metadata": ctx.metadata.backend,
                    "artifacts": settings.artifact_url.split("://")[0]
                    if "://" in settings.artifact_url
                    else "local",
                },
            )
        return ctx
    except (PathToLiveError, OSError):
        config_file.unlink(missing_ok=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        if made_root:
            shutil.rmtree(root, ignore_errors=True)
        raise


def open_workspace(
    root: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    metadata_url: str | None = None,
    artifact_url: str | None = None,
) -> ServiceContext:
    """A context for the workspace at ``root`` (or found from PATHTOLIVE_WORKSPACE / cwd);
    the process traces from here on when the workspace turns tracing on."""
    settings = load_settings(
        root, environ=environ, metadata_url=metadata_url, artifact_url=artifact_url
    )
    configure_tracing(settings)
    return ServiceContext(settings)
