"""The workspace's artifact store as a Dask worker opens it.

A worker gets a :class:`WorkerStoreOpener`, a small frozen value, never a live store: the
store's URL (a local folder made absolute, so a worker on a shared file system finds the
same folder), the ``[security]`` settings of encryption at rest, and the environment
variables the store reads (the standard ``AWS_*`` ones, the S3 endpoint and server-side
encryption settings, and ``PATHTOLIVE_KEK``) taken from the process that submits the
work. Nothing else of that environment travels: not the metadata database's URL, not the
API token. A worker with a ``key_file`` or ``key_command`` instead of ``PATHTOLIVE_KEK``
reads its keys there, as the submitting process does.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathtolive import env
from pathtolive.config import WORKSPACE_FILE, Settings
from pathtolive.service.encryption import open_workspace_store
from pathtolive.store.artifacts.base import ArtifactStore

__all__ = ["WorkerStoreOpener"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SHIPPED = frozenset({env.S3_ENDPOINT_URL, env.S3_SSE, env.S3_SSE_KMS_KEY_ID, env.KEK})
"""The environment variables of pathtolive's own the artifact store reads."""


@dataclass(frozen=True)
class WorkerStoreOpener:
    """How a worker opens the workspace's artifact store (a
    :class:`~pathtolive.pipelines.parts.StoreOpener`); hashable, so each worker process
    opens a given store once."""

    artifact_url: str
    root: str
    security: tuple[tuple[str, Any], ...]
    environ: tuple[tuple[str, str], ...]

    @classmethod
    def for_settings(cls, settings: Settings) -> WorkerStoreOpener:
        """The opener of the store ``settings`` name."""
        security = settings.document.get("security", {})
        security = dict(security) if isinstance(security, Mapping) else {}
        if isinstance(security.get("key_file"), str):
            key_file = Path(security["key_file"]).expanduser()
            security["key_file"] = str(
                key_file if key_file.is_absolute() else settings.root / key_file
            )
        environ = {
            name: value
            for name, value in settings.environ.items()
            if name.startswith("AWS_") or name in _SHIPPED
        }
        return cls(
            artifact_url=_absolute(settings.artifact_url, settings.root),
            root=str(settings.root),
            security=tuple(sorted(security.items())),
            environ=tuple(sorted(environ.items())),
        )

    def __repr__(self) -> str:
        # The environment holds credentials: a traceback or a dashboard never shows them.
        return f"WorkerStoreOpener({self.artifact_url!r})"

    def open(self) -> ArtifactStore:
        """The store, opened in this process (once per process and opener)."""
        return _open(self)


@functools.lru_cache(maxsize=8)
def _open(opener: WorkerStoreOpener) -> ArtifactStore:
    root = Path(opener.root)
    if not (root / WORKSPACE_FILE).is_file():
        # A worker on another machine: a remote store's verified copies go to a folder
        # of this machine's own.
        root = Path(tempfile.gettempdir()) / "pathtolive-worker"
    settings = Settings(
        root=root,
        metadata_url="",
        artifact_url=opener.artifact_url,
        document={"security": dict(opener.security)},
        environ=dict(opener.environ),
    )
    return open_workspace_store(settings)


def _absolute(url: str, root: Path) -> str:
    match = _SCHEME.match(url)
    if match and match.group(1).lower() != "file":
        return url
    location = _SCHEME.sub("", url, count=1)
    if location.startswith("localhost/"):
        location = location.removeprefix("localhost")
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else root / path)
