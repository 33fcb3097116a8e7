"""Content-addressed artifact storage: the ArtifactStore seam and its backends."""

from __future__ import annotations

from pathtolive.store.artifacts.base import ArtifactStore, ObjectInfo, StagedObject, object_key
from pathtolive.store.artifacts.fsspec_store import (
    S3_ENDPOINT_URL_ENV,
    FsspecArtifactStore,
    s3_storage_options_from_env,
)
from pathtolive.store.artifacts.local import LocalArtifactStore
from pathtolive.store.artifacts.schemes import (
    ArtifactBackendFactory,
    ArtifactBackends,
    open_artifact_store,
    register_artifact_backend,
)

__all__ = [
    "S3_ENDPOINT_URL_ENV",
    "ArtifactBackendFactory",
    "ArtifactBackends",
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "ObjectInfo",
    "StagedObject",
    "object_key",
    "open_artifact_store",
    "register_artifact_backend",
    "s3_storage_options_from_env",
]
