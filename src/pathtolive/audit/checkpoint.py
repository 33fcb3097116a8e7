"""Signed checkpoints: the audit chain anchored outside the database.

A checkpoint is the chain's head (event number and hash) at a moment, with the time and
the workspace's id, signed with an Ed25519 key that the database does not hold. It is kept
as a write-once record in the artifact store, where S3 Object Lock or a write-once bucket
can make it immutable. Someone who can write to the database but does not hold the key
can still rewrite the chain so that it is consistent in itself (the hash function is
public), but not so that it matches a checkpoint: cutting events off leaves the head below
a checkpoint's number, and editing an event changes the hash at every later checkpoint.

:func:`verify_anchored` checks the chain and every checkpoint, and says exactly what it
proved: up to the newest checkpoint the chain is the one that was signed; after it, the
events are only hash-chained.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from pathtolive.audit.chain import GENESIS_HASH, CorruptEvent, verify_chain
from pathtolive.entities import AuditEvent

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_PREFIX",
    "AuditVerification",
    "Checkpoint",
    "CheckpointError",
    "checkpoint_name",
    "generate_private_key",
    "key_id",
    "load_private_key",
    "parse_public_key",
    "private_key_pem",
    "public_key_text",
    "read_checkpoint",
    "sign_checkpoint",
    "verify_anchored",
]

CHECKPOINT_FORMAT = "pathtolive.audit-checkpoint/1"
CHECKPOINT_PREFIX = "checkpoints"
_PUBLIC_KEY_PREFIX = "ed25519:"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(ValueError):
    """A checkpoint record that is not a valid checkpoint of this workspace's key."""


# -- keys ---------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (the file's permissions protect it, or
    the secret manager that hands it over)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``pem``; ValueError when it is not one."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 key")
    return key


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_text(public: Ed25519PublicKey) -> str:
    """``ed25519:<base64 of the 32 raw bytes>``, the form the workspace file holds."""
    return _PUBLIC_KEY_PREFIX + base64.b64encode(_raw(public)).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The public key written by :func:`public_key_text`; ValueError otherwise."""
    if not text.startswith(_PUBLIC_KEY_PREFIX):
        raise ValueError(f"it does not start with {_PUBLIC_KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text.removeprefix(_PUBLIC_KEY_PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("it is not the base64 of a 32-byte Ed25519 public key") from exc


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint of the public key, to name it in messages and checkpoints."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


# -- checkpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature held: the chain's head ``seq``/``hash`` at ``time``."""

    name: str
    workspace: str
    seq: int
    hash: str
    time: str
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": self.name,
            "workspace": self.workspace,
            "seq": self.seq,
            "hash": self.hash,
            "time": self.time,
            "key_id": self.key_id,
        }


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def checkpoint_name(seq: int, time: str) -> str:
    """A new record name for a checkpoint: sorted by event number, then time, and unique
    (a random tail), so no checkpoint ever replaces another."""
    stamp = re.sub(r"[^0-9T]", "", time.split("+")[0])
    return f"{CHECKPOINT_PREFIX}/{seq:020d}-{stamp}Z-{uuid.uuid4().hex[:8]}.json"


def sign_checkpoint(
    key: Ed25519PrivateKey, *, workspace: str, seq: int, hash: str, time: str
) -> bytes:
    """The record body of a checkpoint of (``seq``, ``hash``), signed with ``key``."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "workspace": workspace,
        "seq": seq,
        "hash": hash,
        "time": time,
        "key_id": key_id(key.public_key()),
    }
    signature = base64.b64encode(key.sign(_canonical(payload))).decode("ascii")
    body = {"payload": payload, "signature": signature}
    return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_checkpoint(
    name: str,
    data: bytes,
    public: Ed25519PublicKey,
    previous: Sequence[Ed25519PublicKey] = (),
) -> Checkpoint:
    """The checkpoint in ``data`` if ``public`` (or one of the ``previous`` keys it
    replaced) signed it; CheckpointError saying what is wrong otherwise. Nothing in the
    record is trusted before its signature holds: the key id it names only picks which
    trusted key to check it with."""
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {name} is not valid JSON") from exc
    if not isinstance(body, dict):
        raise CheckpointError(f"checkpoint {name} is not a JSON object")
    payload, signature = body.get("payload"), body.get("signature")
    if not isinstance(payload, dict) or not isinstance(signature, str):
        raise CheckpointError(f"checkpoint {name} has no payload and signature")
    named = payload.get("key_id")
    verifier = next((k for k in previous if key_id(k) == named), public)
    try:
        verifier.verify(base64.b64decode(signature, validate=True), _canonical(payload))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {name}'s signature does not verify with [audit] public_key "
            f"(key {key_id(public)}) or a previous key: it was forged or altered, or signed "
            "with a key this workspace does not trust"
        ) from exc
    seq, digest, time = payload.get("seq"), payload.get("hash"), payload.get("time")
    workspace, signer = payload.get("workspace"), payload.get("key_id")
    if (
        payload.get("format") != CHECKPOINT_FORMAT
        or not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 0
        or not isinstance(digest, str)
        or not _HEX64.fullmatch(digest)
        or not isinstance(time, str)
        or not isinstance(workspace, str)
        or not isinstance(signer, str)
    ):
        raise CheckpointError(
            f"checkpoint {name} is signed but not in the format {CHECKPOINT_FORMAT}"
        )
    return Checkpoint(name, workspace, seq, digest, time, signer)


# -- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditVerification:
    """What ``audit verify`` proved.

    ``ok`` is False at the first problem: ``first_bad_seq`` names the event (None when the
    problem is not one event's, such as a missing head row or a forged checkpoint) and
    ``problem`` says what is wrong. ``statement`` says in one sentence what was proved:
    with a checkpoint, that the chain is the signed one up to ``anchored_seq``, and that
    the ``unanchored`` events after it are only hash-chained."""

    ok: bool
    checked: int
    statement: str
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    anchored_seq: int | None = None
    anchored_time: str | None = None
    anchored_object: str | None = None
    unanchored: int | None = None
    checkpoints: int = 0
    key_id: str | None = None
    ignored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _failure(checked: int, problem: str, seq: int | None, **extra: Any) -> AuditVerification:
    return AuditVerification(
        ok=False, checked=checked, statement=problem, first_bad_seq=seq, problem=problem, **extra
    )


def _head_of(raw: tuple[Any, Any] | None) -> tuple[int, str] | str:
    """The head row's (seq, hash), or what is wrong with it."""
    if raw is None:
        return (
            "the audit_head row (id 1) is missing: it was deleted outside pathtolive, so the "
            "chain's end cannot be checked"
        )
    seq, digest = raw
    try:
        number = int(seq)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        return f"the audit_head row (id 1) is corrupt (last_seq={seq!r}, last_hash={digest!r})"
    return number, digest


def verify_anchored(
    events: Iterable[AuditEvent | CorruptEvent],
    head: tuple[Any, Any] | None,
    *,
    checkpoints: Sequence[tuple[str, bytes]] = (),
    public_key: Ed25519PublicKey | None = None,
    previous_keys: Sequence[Ed25519PublicKey] = (),
    workspace: str = "",
) -> AuditVerification:
    """Check the chain (``events`` in order, ``head`` the head row's raw values or None
    when it is missing) and the checkpoint records ``(name, bytes)`` signed with
    ``public_key`` (or one of the ``previous_keys`` it replaced) for ``workspace``."""
    signer = key_id(public_key) if public_key is not None else None
    valid: list[Checkpoint] = []
    ignored: list[str] = []
    if public_key is not None:
        for name, data in checkpoints:
            try:
                checkpoint = read_checkpoint(name, data, public_key, previous_keys)
            except CheckpointError as exc:
                return _failure(0, str(exc), None, checkpoints=len(valid), key_id=signer)
            if checkpoint.workspace != workspace:
                # Signed with this key, for another workspace sharing the store: genuine,
                # but no statement about this chain.
                ignored.append(name)
                continue
            valid.append(checkpoint)
    valid.sort(key=lambda c: (c.seq, c.time))
    common: dict[str, Any] = {"checkpoints": len(valid), "key_id": signer, "ignored": ignored}

    head_or_problem = _head_of(head)
    wanted = {c.seq for c in valid}
    seen: dict[int, str] = {0: GENESIS_HASH}

    def watched() -> Iterable[AuditEvent | CorruptEvent]:
        for event in events:
            if isinstance(event, AuditEvent) and event.seq in wanted:
                seen[event.seq] = event.hash
            yield event

    if isinstance(head_or_problem, str):
        # Still walk the events, so a broken link is named too rather than hidden behind
        # the head. No head matches -1: a walk that got through every link ends with a
        # complaint about the head at "event 0", which the head problem says better.
        walked = verify_chain(watched(), (-1, ""))
        if walked.first_bad_seq:
            return _failure(
                walked.checked,
                f"{head_or_problem}; besides, {walked.problem}",
                walked.first_bad_seq,
                **common,
            )
        return _failure(walked.checked, head_or_problem, None, **common)
    head_seq, head_hash = head_or_problem
    chain = verify_chain(watched(), head_or_problem)
    if not chain.ok:
        return _failure(
            chain.checked,
            chain.problem or "the chain is broken",
            chain.first_bad_seq,
            head_seq=head_seq,
            **common,
        )

    last_good = 0
    for checkpoint in valid:
        if checkpoint.seq > head_seq:
            newest = valid[-1]
            gap = (
                f"{head_seq + 1}" if newest.seq == head_seq + 1 else f"{head_seq + 1}-{newest.seq}"
            )
            problem = (
                f"events {gap} were deleted and the head moved back: checkpoint "
                f"{newest.name} signed at {newest.time} covers events up to {newest.seq}, "
                f"the chain ends at {head_seq}"
            )
            return _failure(chain.checked, problem, head_seq + 1, head_seq=head_seq, **common)
        if seen.get(checkpoint.seq) != checkpoint.hash:
            span = (
                f"event {checkpoint.seq}"
                if last_good + 1 == checkpoint.seq
                else f"one of events {last_good + 1}-{checkpoint.seq}"
            )
            problem = (
                f"event {checkpoint.seq} does not match checkpoint {checkpoint.name} signed "
                f"at {checkpoint.time}: {span} was edited, replaced or deleted and the later "
                "hashes recomputed"
            )
            return _failure(chain.checked, problem, checkpoint.seq, head_seq=head_seq, **common)
        last_good = checkpoint.seq

    if valid:
        newest = valid[-1]
        after = head_seq - newest.seq
        statement = (
            f"verified {_events(chain.checked)}; chain intact up to checkpoint seq {newest.seq} "
            f"signed at {newest.time}; "
            + (
                f"events after {newest.seq} ({after}) are only hash-chained, not anchored"
                if after
                else f"no events after {newest.seq}"
            )
        )
        return AuditVerification(
            ok=True,
            checked=chain.checked,
            statement=statement,
            head_seq=head_seq,
            head_hash=head_hash,
            anchored_seq=newest.seq,
            anchored_time=newest.time,
            anchored_object=newest.name,
            unanchored=after,
            **common,
        )
    if public_key is None:
        unchecked = f" ({len(checkpoints)} checkpoints left unchecked)" if checkpoints else ""
        reason = (
            "no [audit] public_key is configured, so only internal consistency is checked"
            f"{unchecked}: someone with write access to the database could have rewritten "
            "the chain consistently; run 'pathtolive audit keygen' and then "
            "'pathtolive audit checkpoint'"
        )
    else:
        reason = (
            "no checkpoint yet, so only internal consistency is checked: someone with "
            "write access to the database could have rewritten the chain consistently; "
            "run 'pathtolive audit checkpoint'"
        )
    return AuditVerification(
        ok=True,
        checked=chain.checked,
        statement=f"verified {_events(chain.checked)}; {reason}",
        head_seq=head_seq,
        head_hash=head_hash,
        unanchored=head_seq,
        **common,
    )
