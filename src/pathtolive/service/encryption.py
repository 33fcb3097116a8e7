"""The artifact store of a workspace, encrypted at rest when ``[security]`` says so, and
the keys its prediction-log journal is sealed with. (Key rotation: :mod:`.keys`.)"""

from __future__ import annotations

from pathtolive import env
from pathtolive.config import EncryptionSettings, Settings, encryption_settings
from pathtolive.store.artifacts.base import ArtifactStore
from pathtolive.store.artifacts.encryption import EncryptedArtifactStore
from pathtolive.store.artifacts.keyring import Keyring, load_keyring
from pathtolive.store.artifacts.schemes import open_artifact_store

__all__ = ["journal_sealing", "open_workspace_store", "workspace_keyring"]


def workspace_keyring(settings: Settings) -> Keyring | None:
    """The workspace's key-encryption keys; None when encryption is off and no key is
    configured (a workspace that never encrypted anything needs none)."""
    security = encryption_settings(settings)
    if not (security.encrypt or security.has_key_source or settings.environ.get(env.KEK)):
        return None
    return load_keyring(
        environ=settings.environ, key_file=security.key_file, key_command=security.key_command
    )


def open_workspace_store(settings: Settings) -> ArtifactStore:
    """The workspace's artifact store; wrapped in :class:`EncryptedArtifactStore` when
    encryption is on, or a key is configured (to read what was encrypted before it was
    switched off). S3 server-side encryption from ``[security]`` is passed to the backend
    unless the environment sets its own."""
    security = encryption_settings(settings)
    store = open_artifact_store(
        settings.artifact_url, base_dir=settings.root, environ=_store_environ(settings, security)
    )
    keyring = workspace_keyring(settings)
    if keyring is None:
        return store
    return EncryptedArtifactStore(store, keyring, encrypt=security.encrypt)


def _store_environ(settings: Settings, security: EncryptionSettings) -> dict[str, str]:
    environ = dict(settings.environ)
    if security.s3_sse and not environ.get(env.S3_SSE):
        environ[env.S3_SSE] = security.s3_sse
        if security.s3_sse_kms_key_id and not environ.get(env.S3_SSE_KMS_KEY_ID):
            environ[env.S3_SSE_KMS_KEY_ID] = security.s3_sse_kms_key_id
    return environ


def journal_sealing(store: ArtifactStore) -> tuple[Keyring | None, bool]:
    """The keyring that opens sealed prediction-log journals, and whether new journals are
    sealed: the same keys and the same switch as the workspace's artifact store."""
    if isinstance(store, EncryptedArtifactStore):
        return store.keyring, store.encrypt
    return None, False
