"""Key rotation for encryption at rest: every object's data key rewrapped under the new
key-encryption key, and a census of which key each object needs.

Rotation rewrites headers only (see :mod:`pathtolive.store.artifacts.encryption`). It is
idempotent: an object already under the current key is left alone, so a rotation that
stopped half-way (a missing old key, a network failure) is finished by running it again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pathtolive.auth import Permission
from pathtolive.errors import ConfigError, PathToLiveError
from pathtolive.predlog.journal import JOURNAL_DIR, JOURNAL_SUFFIX, rewrap_journal_file
from pathtolive.service.context import ServiceContext, record
from pathtolive.store.artifacts.encryption import (
    EncryptedArtifactStore,
    encrypt_plain_object,
    rewrap_object,
)
from pathtolive.store.artifacts.envelope import HEADER_BYTES, OBJECT_MAGIC, Header

__all__ = ["KeyCensus", "RotationReport", "encrypt_existing", "key_census", "rotate_key"]


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did: objects and journal files rewrapped, already under the
    current key, or not encrypted at all (stored before encryption was switched on)."""

    key_id: str
    rewrapped: int = 0
    current: int = 0
    plain: int = 0
    journals_rewrapped: int = 0


@dataclass(frozen=True)
class KeyCensus:
    """How many objects each key id encrypts (``plain``: not encrypted)."""

    current_key_id: str
    configured_key_ids: list[str]
    objects: dict[str, int]


def _encrypted_store(ctx: ServiceContext) -> EncryptedArtifactStore:
    store = ctx.artifacts
    if not isinstance(store, EncryptedArtifactStore):
        raise ConfigError(
            "encryption at rest is not configured: set [security] encrypt = true and a key "
            "(PATHTOLIVE_KEK, [security] key_file or key_command) in pathtolive.toml"
        )
    return store


def rotate_key(ctx: ServiceContext) -> RotationReport:
    """Rewrap every object's (and sealed journal file's) data key under the keyring's
    first key; the other keys listed must include the old one. Admin only; audited as
    ``security.key_rotated`` (or ``security.key_rotation_failed`` with how far it got)."""
    actor = ctx.require(Permission.ADMIN, "rotate the encryption key")
    store = _encrypted_store(ctx)
    keyring = store.keyring
    outcomes: Counter[str] = Counter()
    journals = 0
    try:
        for digest in store.iter_digests():
            outcomes[rewrap_object(store.inner, digest, keyring)] += 1
        journal_dir = ctx.settings.state_dir / JOURNAL_DIR
        for path in sorted(journal_dir.glob(f"*{JOURNAL_SUFFIX}")):
            journals += rewrap_journal_file(path, keyring) == "rewrapped"
    except PathToLiveError as exc:
        with ctx.metadata.write() as session:
            record(
                session,
                actor,
                "security.key_rotation_failed",
                "security:kek",
                {
                    "key_id": keyring.current_id.hex(),
                    "rewrapped": outcomes["rewrapped"],
                    "error": exc.code,
                },
            )
        raise
    report = RotationReport(
        key_id=keyring.current_id.hex(),
        rewrapped=outcomes["rewrapped"],
        current=outcomes["current"],
        plain=outcomes["plain"],
        journals_rewrapped=journals,
    )
    with ctx.metadata.write() as session:
        record(
            session,
            actor,
            "security.key_rotated",
            "security:kek",
            {
                "key_id": report.key_id,
                "rewrapped": report.rewrapped,
                "current": report.current,
                "plain": report.plain,
                "journals_rewrapped": journals,
            },
        )
    return report


def encrypt_existing(ctx: ServiceContext) -> int:
    """Encrypt every object stored before encryption was switched on (admin; audited as
    ``security.objects_encrypted``); returns how many were. Idempotent."""
    actor = ctx.require(Permission.ADMIN, "encrypt existing objects")
    store = _encrypted_store(ctx)
    if not store.encrypt:
        raise ConfigError("encryption is off for new objects; set [security] encrypt = true first")
    encrypted = 0
    try:
        for digest in store.iter_digests():
            encrypted += encrypt_plain_object(store, digest)
    finally:
        if encrypted:
            with ctx.metadata.write() as session:
                record(
                    session,
                    actor,
                    "security.objects_encrypted",
                    "security:kek",
                    {"key_id": store.keyring.current_id.hex(), "objects": encrypted},
                )
    return encrypted


def key_census(ctx: ServiceContext) -> KeyCensus:
    """Which key each stored object needs (reads every object's header)."""
    ctx.require(Permission.READ, "see which keys encrypt the store")
    store = _encrypted_store(ctx)
    counts: Counter[str] = Counter()
    for digest in store.iter_digests():
        with store.inner.raw_open(digest) as reader:
            head = reader.read(HEADER_BYTES)
        header = Header.parse(head, OBJECT_MAGIC, what=f"object {digest}")
        counts["plain" if header is None else header.key_id.hex()] += 1
    return KeyCensus(
        current_key_id=store.keyring.current_id.hex(),
        configured_key_ids=store.keyring.ids(),
        objects=dict(sorted(counts.items())),
    )
