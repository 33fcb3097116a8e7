"""What every service operation runs in: settings, the two stores, and the actor."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pathtolive import env
from pathtolive.audit.chain import seal
from pathtolive.auth import Actor, Permission, Role, hash_token, roles_allowed
from pathtolive.config import Settings, load_settings
from pathtolive.errors import AuthenticationError, PermissionDeniedError
from pathtolive.redaction import redact_values
from pathtolive.store.metadata import MetadataSession, MetadataStore
from pathtolive.store.metadata.engine import check_metadata_url

if TYPE_CHECKING:
    from pathtolive.store.artifacts import ArtifactStore

__all__ = ["ServiceContext", "local_user_name", "record"]


@dataclass
class ServiceContext:
    """Settings plus lazily opened stores. One per command or API request scope."""

    settings: Settings
    # False only for `db upgrade`, which must open a database older than this code.
    check_revision: bool = True
    _actor: Actor | None = field(default=None, repr=False)

    @cached_property
    def metadata(self) -> MetadataStore:
        store = MetadataStore(self.settings.metadata_url)
        if self.check_revision:
            store.ensure_current()
        return store

    @cached_property
    def artifacts(self) -> ArtifactStore:
        # Imported here: commands that only read metadata load no cipher library.
        from pathtolive.service.encryption import open_workspace_store

        return open_workspace_store(self.settings)

    def use_artifacts(self, store: ArtifactStore) -> None:
        """Take ``store``, opened from these settings already, as the artifact store."""
        self.__dict__["artifacts"] = store

    def settings_reread(self) -> Settings | None:
        """The workspace file read again, on the same store URLs (open stores stay as
        they are); None when the file has not changed. Raises as ``load_settings`` does."""
        fresh = load_settings(
            self.settings.root,
            environ=self.settings.environ,
            metadata_url=self.settings.metadata_url,
            artifact_url=self.settings.artifact_url,
        )
        return None if fresh.document == self.settings.document else fresh

    def acting_as(self, actor: Actor) -> ServiceContext:
        """The same settings and already opened stores, acting for ``actor`` (the server
        acts for each request's token holder without reopening the stores)."""
        other = ServiceContext(self.settings, self.check_revision, _actor=actor)
        for name in ("metadata", "artifacts"):
            if name in self.__dict__:
                other.__dict__[name] = self.__dict__[name]
        return other

    def close(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.close()

    def actor(self) -> Actor:
        """The token's principal when a token is set, else the local user."""
        if self._actor is None:
            self._actor = self._resolve_actor()
        return self._actor

    def require(self, permission: Permission, doing: str) -> Actor:
        """The actor, if its role holds ``permission``; else PermissionDeniedError."""
        actor = self.actor()
        if not actor.can(permission):
            needed = " or ".join(role.value for role in roles_allowed(permission))
            raise PermissionDeniedError(
                f"{actor.name} ({actor.role.value}) may not {doing}: it needs the role "
                f"{needed}; ask an admin for a token with that role"
            )
        return actor

    def _resolve_actor(self) -> Actor:
        secret = self.settings.token
        if secret is None:
            if not self.settings.local_users_trusted:
                # A URL that names no database is a config error first: no token helps.
                check_metadata_url(self.settings.metadata_url)
                # Anyone holding a shared database's URL could otherwise name themselves
                # and act with the default admin role.
                raise AuthenticationError(
                    "the metadata database is shared (not a local SQLite file), so a "
                    "command needs a token: set PATHTOLIVE_TOKEN (ask an admin for one), or "
                    "an admin sets [auth] local_role in pathtolive.toml to trust local users"
                )
            return Actor(local_user_name(self.settings.environ), Role(self.settings.local_role))
        with self.metadata.read() as session:
            token = session.find_token_by_hash(hash_token(secret))
        if token is None:
            raise AuthenticationError(
                "the token in PATHTOLIVE_TOKEN is not known here; check it or ask an admin "
                "for a new one"
            )
        if not token.active:
            raise AuthenticationError(
                f"token {token.token_id} of {token.principal} was revoked; ask an admin "
                "for a new one"
            )
        return Actor(token.principal, Role(token.role), token.token_id)


def local_user_name(environ: Mapping[str, str]) -> str:
    """PATHTOLIVE_USER, else git's user.email, else the operating-system user."""
    name = environ.get(env.USER)
    if name:
        return str(name)
    git = shutil.which("git")
    if git:
        try:
            completed = subprocess.run(
                [git, "config", "user.email"], capture_output=True, text=True, timeout=5
            )
            if completed.returncode == 0 and completed.stdout.strip():
                return completed.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(
    session: MetadataSession,
    actor: Actor | str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit event inside the caller's write transaction. Secrets in the
    details (a URL's password, a value of a secret environment variable quoted in an
    error) are masked first: the trail is read by every viewer and kept for good."""
    prev_seq, prev_hash = session.lock_audit_head()
    name = actor if isinstance(actor, str) else actor.name
    info = redact_values(dict(details or {}))
    if not isinstance(actor, str):
        info.setdefault("role", actor.role.value)
        if actor.token_id:
            info.setdefault("token_id", actor.token_id)
    session.append_audit_event(
        seal(
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            actor=name,
            action=action,
            subject=subject,
            details=info,
        )
    )
