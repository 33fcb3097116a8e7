"""Artifact store backends, chosen by the scheme of the store URL.

A plain path or ``file://`` opens a local folder, ``s3://`` and ``memory://`` an fsspec
store. Another backend is added with :func:`register_artifact_backend`; a URL whose scheme
no backend serves fails with the list of those that are served.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pathtolive.errors import UnknownSchemeError
from pathtolive.store.artifacts.base import ArtifactStore
from pathtolive.store.artifacts.fsspec_store import (
    FsspecArtifactStore,
    s3_storage_options_from_env,
)
from pathtolive.store.artifacts.local import LocalArtifactStore

__all__ = [
    "ArtifactBackendFactory",
    "ArtifactBackends",
    "open_artifact_store",
    "register_artifact_backend",
]

# "scheme://" as in RFC 3986; requiring "//" keeps Windows drive paths ("C:\\data") local.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LOCAL_SCHEME = "file"


class ArtifactBackendFactory(Protocol):
    """Builds a store for a URL. ``base_dir`` is the workspace root (relative paths and
    caches live under it); ``environ`` is the environment to read settings from."""

    def __call__(
        self, url: str, *, base_dir: Path, environ: Mapping[str, str]
    ) -> ArtifactStore: ...


class ArtifactBackends:
    """Maps URL schemes to backend factories. Tests build their own; the application uses
    the default one behind :func:`open_artifact_store`."""

    def __init__(self) -> None:
        self._factories: dict[str, ArtifactBackendFactory] = {}

    def register(self, scheme: str, factory: ArtifactBackendFactory) -> None:
        """Serve URLs of ``scheme`` with ``factory``, replacing any earlier factory."""
        self._factories[scheme.lower()] = factory

    def schemes(self) -> list[str]:
        """The schemes served, sorted."""
        return sorted(self._factories)

    def open(self, url: str, *, base_dir: Path, environ: Mapping[str, str]) -> ArtifactStore:
        """Open the store at ``url``; a URL without a scheme is a local path."""
        match = _SCHEME.match(url)
        scheme = match.group(1).lower() if match else _LOCAL_SCHEME
        factory = self._factories.get(scheme)
        if factory is None:
            known = ", ".join(f"{name}://" for name in self.schemes())
            raise UnknownSchemeError(
                f"no artifact store backend serves {scheme}:// (in {url!r}); use a local "
                f"path or one of: {known}",
                details={"url": url, "scheme": scheme, "known_schemes": self.schemes()},
            )
        return factory(url, base_dir=base_dir, environ=environ)


def _open_local(url: str, *, base_dir: Path, environ: Mapping[str, str]) -> ArtifactStore:
    # "file:///abs", "file://localhost/abs" and, as fsspec reads it, "file://relative".
    location = _SCHEME.sub("", url, count=1)
    if location.startswith("localhost/"):
        location = location.removeprefix("localhost")
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    return LocalArtifactStore(path)


def _open_s3(url: str, *, base_dir: Path, environ: Mapping[str, str]) -> ArtifactStore:
    return FsspecArtifactStore(
        url,
        storage_options=s3_storage_options_from_env(environ),
        cache_dir=_cache_dir(base_dir),
    )


def _open_fsspec(url: str, *, base_dir: Path, environ: Mapping[str, str]) -> ArtifactStore:
    return FsspecArtifactStore(url, cache_dir=_cache_dir(base_dir))


def _cache_dir(base_dir: Path) -> Path:
    # Verified copies of remote objects, kept with the workspace's other local state.
    return Path(base_dir) / ".pathtolive" / "cache" / "artifacts"


def _default_backends() -> ArtifactBackends:
    backends = ArtifactBackends()
    backends.register(_LOCAL_SCHEME, _open_local)
    backends.register("s3", _open_s3)
    backends.register("memory", _open_fsspec)
    return backends


_BACKENDS = _default_backends()


def register_artifact_backend(scheme: str, factory: ArtifactBackendFactory) -> None:
    """Serve store URLs of ``scheme`` with ``factory`` (for plugins and other fsspec
    protocols such as ``gs``)."""
    _BACKENDS.register(scheme, factory)


def open_artifact_store(url: str, *, base_dir: Path, environ: Mapping[str, str]) -> ArtifactStore:
    """Open the artifact store at ``url``: a path (relative to ``base_dir``, the workspace
    root), ``file://``, ``s3://``, ``memory://`` or a registered scheme."""
    return _BACKENDS.open(url, base_dir=base_dir, environ=environ)
