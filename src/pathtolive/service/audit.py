"""Reading, verifying and anchoring the audit trail.

The chain lives in the metadata database; its anchor does not. ``create_signing_key``
makes an Ed25519 key pair: the private key goes to a file only its owner can read (or a
secret manager, through ``PATHTOLIVE_AUDIT_SIGNING_KEY``), the public key to ``[audit]``
of the workspace file. ``make_checkpoint`` signs the verified head into a new write-once
record of the artifact store, and ``verify_audit`` checks the chain against every
checkpoint the public key verifies.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tomllib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathtolive import env
from pathtolive.audit import GENESIS_HASH, CorruptEvent, event_from_row
from pathtolive.audit.chain import now_iso
from pathtolive.auth import Permission
from pathtolive.config import WORKSPACE_FILE, check_keys, table_at
from pathtolive.entities import AuditEvent
from pathtolive.errors import (
    ConfigError,
    ConflictError,
    InvalidInputError,
    PathToLiveError,
    VerificationFailedError,
)
from pathtolive.service.context import ServiceContext, record

if TYPE_CHECKING:
    # The checkpoint module loads cryptography; it is imported where it is used, so that
    # every other command starts without it.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from pathtolive.audit.checkpoint import AuditVerification, Checkpoint

__all__ = [
    "ANONYMOUS",
    "AuditPage",
    "AuditSettings",
    "CreatedKey",
    "audit_log",
    "audit_page",
    "audit_settings",
    "checkpoint_if_configured",
    "create_signing_key",
    "default_key_path",
    "make_checkpoint",
    "record_anonymous_event",
    "record_event",
    "verify_audit",
]

_AUDIT_KEYS = ("public_key", "signing_key", "workspace_id", "previous_public_keys")
_AUDIT_TEXT_KEYS = ("public_key", "signing_key", "workspace_id")

log = logging.getLogger(__name__)


def audit_log(
    ctx: ServiceContext,
    *,
    subject: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int | None = 50,
) -> list[AuditEvent]:
    """The newest events first, filtered by subject/action prefix or actor."""
    ctx.require(Permission.READ, "read the audit log")
    with ctx.metadata.read() as session:
        return list(
            session.iter_audit_events(
                subject=subject, action=action, actor=actor, newest_first=True, limit=limit
            )
        )


def record_event(
    ctx: ServiceContext, action: str, subject: str, details: dict[str, Any] | None = None
) -> None:
    """Append one event with ``ctx``'s actor as its actor: what a face does that no other
    operation records (a server starting, a console sign-in, a refused request)."""
    actor = ctx.actor()
    with ctx.metadata.write() as session:
        record(session, actor, action, subject, details)


ANONYMOUS = "anonymous"
"""The actor of an event nobody signed for (a sign-in with a token that is not known)."""


def record_anonymous_event(
    ctx: ServiceContext, action: str, subject: str, details: dict[str, Any] | None = None
) -> None:
    """Append one event whose actor no token names, as :data:`ANONYMOUS`."""
    with ctx.metadata.write() as session:
        record(session, ANONYMOUS, action, subject, details)


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first; ``older`` is the cursor of the next page
    (None on the last), ``before`` the cursor this page was read from."""

    events: list[AuditEvent]
    before: int | None
    older: int | None


def audit_page(
    ctx: ServiceContext,
    *,
    actor: str | None = None,
    action: str | None = None,
    actions: Sequence[str] = (),
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """Events newest first, filtered by actor, action and subject (prefixes), exact
    ``actions`` and time (``since`` inclusive, ``until`` exclusive), read from event
    ``before`` down: each page is one index range, however long the log."""
    ctx.require(Permission.READ, "read the audit log")
    if not 1 <= limit <= 500:
        raise InvalidInputError(f"a page of the audit log holds 1 to 500 events, not {limit}")
    if since is not None and until is not None and until <= since:
        raise InvalidInputError("the time range ends before it starts; swap 'from' and 'to'")
    with ctx.metadata.read() as session:
        events = session.audit_page(
            actor=actor or None,
            action=action or None,
            actions=actions,
            subject=subject or None,
            since=None if since is None else _chain_time(since),
            until=None if until is None else _chain_time(until),
            before_seq=before,
            limit=limit + 1,
        )
    older = events[limit - 1].seq if len(events) > limit else None
    return AuditPage(events[:limit], before, older)


def _chain_time(moment: datetime) -> str:
    """``moment`` in the chain's own text form (UTC, microseconds), which sorts as time;
    a time without a zone is taken as UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditSettings:
    """``[audit]`` of the workspace file, resolved: the public key that checkpoints are
    verified with, where the signing key is, and the workspace's id in checkpoints."""

    public_key: Ed25519PublicKey | None
    signing_key: str | None
    workspace_id: str
    previous_keys: tuple[Ed25519PublicKey, ...] = ()
    previous_texts: tuple[str, ...] = ()


def audit_settings(ctx: ServiceContext) -> AuditSettings:
    from pathtolive.audit.checkpoint import parse_public_key

    settings = ctx.settings
    section = table_at(settings.document.get("audit", {}), "audit")
    check_keys(section, "audit", _AUDIT_KEYS)
    for name in _AUDIT_TEXT_KEYS:
        if name in section and not isinstance(section[name], str):
            raise ConfigError(f"audit.{name} in {WORKSPACE_FILE} must be a string")
    previous_texts = section.get("previous_public_keys", [])
    if not isinstance(previous_texts, list) or not all(
        isinstance(text, str) for text in previous_texts
    ):
        raise ConfigError(
            f"audit.previous_public_keys in {WORKSPACE_FILE} must be a list of public keys"
        )

    def parsed(text: str, where: str) -> Ed25519PublicKey:
        try:
            return parse_public_key(text)
        except ValueError as exc:
            raise ConfigError(
                f"{where} in {WORKSPACE_FILE} is not an Ed25519 public key ({exc}); "
                "copy it exactly as 'pathtolive audit keygen' wrote it"
            ) from exc

    public = parsed(section["public_key"], "audit.public_key") if "public_key" in section else None
    previous = tuple(parsed(text, "audit.previous_public_keys") for text in previous_texts)
    workspace = table_at(settings.document.get("workspace", {}), "workspace")
    fallback = workspace.get("name") if isinstance(workspace.get("name"), str) else None
    return AuditSettings(
        public_key=public,
        signing_key=section.get("signing_key"),
        workspace_id=section.get("workspace_id") or fallback or settings.root.name,
        previous_keys=previous,
        previous_texts=tuple(previous_texts),
    )


def _signing_key(ctx: ServiceContext, audit: AuditSettings) -> Ed25519PrivateKey:
    """The private key from ``PATHTOLIVE_AUDIT_SIGNING_KEY`` (a path or the PEM itself) or
    ``[audit] signing_key``, checked against ``[audit] public_key``. Messages name the
    file, never its content."""
    from pathtolive.audit.checkpoint import key_id, load_private_key

    if audit.public_key is None:
        raise ConfigError(
            f"no [audit] public_key in {WORKSPACE_FILE}, so checkpoints could not be "
            "verified; run 'pathtolive audit keygen' first"
        )
    given = ctx.settings.environ.get(env.AUDIT_SIGNING_KEY) or None
    if given is not None and given.lstrip().startswith("-----BEGIN"):
        where, pem = env.AUDIT_SIGNING_KEY, given.encode("utf-8")
    else:
        path_text = given or audit.signing_key
        if path_text is None:
            raise ConfigError(
                "no audit signing key: set PATHTOLIVE_AUDIT_SIGNING_KEY to the key file "
                f"(or its PEM), or [audit] signing_key in {WORKSPACE_FILE}; "
                "'pathtolive audit keygen' makes one"
            )
        path = Path(path_text).expanduser()
        if not path.is_absolute():
            path = ctx.settings.root / path
        where, pem = str(path), _read_private_file(path)
    try:
        key = load_private_key(pem)
    except ValueError as exc:
        raise ConfigError(
            f"the audit signing key in {where} is not usable ({exc}); point it at the "
            "file 'pathtolive audit keygen' wrote"
        ) from None
    if key_id(key.public_key()) != key_id(audit.public_key):
        raise ConfigError(
            f"the audit signing key in {where} (key {key_id(key.public_key())}) does not "
            f"match [audit] public_key (key {key_id(audit.public_key)}); use the key that "
            "was made with it, or run 'pathtolive audit keygen --force' to replace both"
        )
    return key


def _read_private_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"the audit signing key file {path} does not exist; check the path or run "
            "'pathtolive audit keygen'"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the audit signing key file {path}: {exc}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the audit signing key file {path} is readable by others; run: chmod 600 {path}"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the audit signing key file {path}: {exc}") from None


# -- keygen --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedKey:
    """A new signing key: where the private key went, and the public key's text and id."""

    path: Path
    public_key: str
    key_id: str
    workspace_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "public_key": self.public_key,
            "key_id": self.key_id,
            "workspace_id": self.workspace_id,
        }


def default_key_path(workspace_id: str) -> Path:
    """Outside the workspace (and so away from a SQLite database and its copies)."""
    return Path.home() / ".config" / "pathtolive" / "keys" / f"audit-{workspace_id}.key"


def create_signing_key(
    ctx: ServiceContext, *, out: Path | None = None, force: bool = False
) -> CreatedKey:
    """Make a key pair: the private key in a new file readable by its owner only, the
    public key (and the signing key's path) in ``[audit]`` of the workspace file. Refused
    when the workspace has a public key already, unless ``force``: the old public key then
    moves to ``previous_public_keys``, so the checkpoints it signed still verify."""
    from pathtolive.audit.checkpoint import (
        generate_private_key,
        key_id,
        private_key_pem,
        public_key_text,
    )

    actor = ctx.require(Permission.ADMIN, "make the audit signing key")
    current = audit_settings(ctx)
    if current.public_key is not None and not force:
        raise ConflictError(
            f"the workspace has an audit key already (key {key_id(current.public_key)}); "
            "pass --force to replace it (it stays trusted for the checkpoints it signed)"
        )
    section = table_at(ctx.settings.document.get("audit", {}), "audit")
    workspace_id = section.get("workspace_id") or uuid.uuid4().hex
    path = (out or default_key_path(workspace_id)).expanduser().absolute()
    if path.resolve().is_relative_to(ctx.settings.root.resolve()):
        # Inside the workspace it would be committed with pathtolive.toml and sit beside
        # a SQLite database: whoever can change the database could then sign too.
        raise ConfigError(
            f"{path} is inside the workspace; keep the private key outside it (and away "
            "from the database): choose another --out"
        )
    key = generate_private_key()
    public = public_key_text(key.public_key())
    values: dict[str, str | list[str]] = {
        "public_key": public,
        "signing_key": str(path),
    }
    if current.public_key is not None:
        # The replaced key still verifies the checkpoints it signed. After a compromise,
        # remove it from the list: its checkpoints then fail verification, as they must.
        values["previous_public_keys"] = [
            *current.previous_texts,
            public_key_text(current.public_key),
        ]
    _write_private_file(path, private_key_pem(key))
    try:
        _update_config(ctx.settings.root / WORKSPACE_FILE, values, workspace_id=workspace_id)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    fingerprint = key_id(key.public_key())
    with ctx.metadata.write() as session:
        record(
            session,
            actor,
            "audit.key_created",
            f"audit-key:{fingerprint}",
            {"key_id": fingerprint, "workspace_id": workspace_id, "replaced": force},
        )
    return CreatedKey(path, public, fingerprint, workspace_id)


def _write_private_file(path: Path, pem: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never a moment readable by others);
    an existing file is refused, not overwritten."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConflictError(
            f"{path} exists already; choose another --out, or move the old key away first"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot write the audit signing key to {path}: {exc}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())


def _update_config(
    config: Path, values: Mapping[str, str | list[str]], *, workspace_id: str
) -> None:
    """Set ``values`` in the ``[audit]`` table of the workspace file, keeping everything
    else (comments included) as it is, and ``workspace_id`` unless it is set already."""
    text = config.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if re.fullmatch(r"\s*\[audit\]\s*(#.*)?", line)), None
    )
    assignments = [f"{name} = {json.dumps(value)}" for name, value in values.items()]
    if header is None:
        block = ["", "[audit]", "# Checkpoints of the audit chain are signed with this key pair."]
        block += [*assignments, f"workspace_id = {json.dumps(workspace_id)}"]
        lines += block
    else:
        end = next(
            (i for i in range(header + 1, len(lines)) if re.match(r"\s*\[", lines[i])),
            len(lines),
        )
        pattern = re.compile(rf"\s*({'|'.join(values)})\s*=")
        body = [line for line in lines[header + 1 : end] if not pattern.match(line)]
        if not any(re.match(r"\s*workspace_id\s*=", line) for line in body):
            assignments.append(f"workspace_id = {json.dumps(workspace_id)}")
        lines = lines[: header + 1] + assignments + body + lines[end:]
    updated = "\n".join(lines) + "\n"
    try:
        tomllib.loads(updated)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"could not add the audit key to {config} ({exc}); add [audit] public_key by hand"
        ) from None
    tmp = config.with_name(f".{config.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(updated, encoding="utf-8")
        os.replace(tmp, config)
    finally:
        tmp.unlink(missing_ok=True)


# -- checkpoints and verification ------------------------------------------------------------


def _events(rows: Iterator[tuple[Any, ...]]) -> Iterator[AuditEvent | CorruptEvent]:
    for row in rows:
        yield event_from_row(*row)


def _verify(
    ctx: ServiceContext, audit: AuditSettings, *, newest_only: bool = False
) -> AuditVerification:
    """The chain checked against the checkpoints; with ``newest_only`` against the newest
    alone (names sort by event number), which proves as much about truncation and rewrites
    up to it and costs one read however many checkpoints there are."""
    from pathtolive.audit.checkpoint import CHECKPOINT_PREFIX, verify_anchored

    records: list[tuple[str, bytes]] = []
    names = ctx.artifacts.list_records(CHECKPOINT_PREFIX)
    if newest_only:
        names = names[-1:]
    if audit.public_key is not None:
        records = [(name, ctx.artifacts.get_record(name)) for name in names]
    else:
        records = [(name, b"") for name in names]
    with ctx.metadata.read() as session:
        head = session.audit_head_row()
        # Closed when the walk stops at the first broken link, before the transaction ends.
        with closing(session.iter_audit_rows()) as rows:
            return verify_anchored(
                _events(rows),
                head,
                checkpoints=records,
                public_key=audit.public_key,
                previous_keys=audit.previous_keys,
                workspace=audit.workspace_id,
            )


def verify_audit(ctx: ServiceContext) -> AuditVerification:
    """Walk the whole chain and check it against every signed checkpoint; the report
    names the first event (or row, or checkpoint) that does not hold, and says what was
    proved."""
    ctx.require(Permission.READ, "verify the audit log")
    return _verify(ctx, audit_settings(ctx))


def make_checkpoint(ctx: ServiceContext) -> Checkpoint:
    """Sign the chain's head into a new checkpoint record, after verifying the chain
    against the checkpoints before it: a chain already rewritten is never signed.

    Holding the signing key is what authorises a checkpoint; the role check asks only
    that the actor may read the trail it attests."""
    ctx.require(Permission.READ, "checkpoint the audit log")
    return _checkpoint(ctx, audit_settings(ctx))


def checkpoint_if_configured(ctx: ServiceContext) -> Checkpoint | None:
    """A checkpoint after a change that matters (an alias moved), when a signing key is at
    hand (``PATHTOLIVE_AUDIT_SIGNING_KEY`` or ``[audit] signing_key``); None otherwise.

    A failure is logged, never raised: the change is committed already, the next
    checkpoint covers it, and ``audit verify`` says what is wrong."""
    try:
        audit = audit_settings(ctx)
        if audit.public_key is None or not (
            ctx.settings.environ.get(env.AUDIT_SIGNING_KEY) or audit.signing_key
        ):
            return None
        return _checkpoint(ctx, audit)
    except PathToLiveError as exc:
        log.warning("no audit checkpoint after this change: %s", exc.message)
        return None


def _checkpoint(ctx: ServiceContext, audit: AuditSettings) -> Checkpoint:
    from pathtolive.audit.checkpoint import Checkpoint, checkpoint_name, key_id, sign_checkpoint

    key = _signing_key(ctx, audit)
    report = _verify(ctx, audit, newest_only=True)
    if not report.ok:
        raise VerificationFailedError(
            f"the audit chain does not verify, so it is not signed: {report.problem}",
            details=report.to_dict(),
        )
    # The head the verification read, in the same transaction: an event appended since
    # is left for the next checkpoint rather than signed unverified.
    seq, digest = report.head_seq or 0, report.head_hash or GENESIS_HASH
    time = now_iso()
    name = checkpoint_name(seq, time)
    ctx.artifacts.put_record(
        name,
        sign_checkpoint(key, workspace=audit.workspace_id, seq=seq, hash=digest, time=time),
    )
    return Checkpoint(name, audit.workspace_id, seq, digest, time, key_id(key.public_key()))
