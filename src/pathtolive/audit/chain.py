"""The audit trail's hash chain (pure logic).

Each event's hash is SHA-256 over its canonical JSON *including the previous event's
hash*, so editing, deleting or reordering any event breaks every link after it.
``verify_chain`` walks the events in order and names the first one that does not hold.

The chain alone proves only that it is consistent: the hash function is public, so someone
who can write to the database can rewrite events and recompute every later hash, or cut
the newest events off and move the head back. Signed checkpoints
(:mod:`pathtolive.audit.checkpoint`) anchor it outside the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pathtolive.entities import AuditEvent

__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "CorruptEvent",
    "event_from_row",
    "event_hash",
    "now_iso",
    "seal",
    "verify_chain",
]

GENESIS_HASH = "0" * 64


def now_iso() -> str:
    """UTC time with microseconds, the one textual form hashed into the chain."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    time: str,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seal(
    *,
    prev_seq: int,
    prev_hash: str,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
    time: str | None = None,
) -> AuditEvent:
    """The next event of the chain after (``prev_seq``, ``prev_hash``)."""
    # Round-trip the details through JSON so what is hashed is exactly what is stored.
    details = json.loads(json.dumps(details, sort_keys=True, default=str))
    when = time or now_iso()
    seq = prev_seq + 1
    digest = event_hash(
        seq=seq,
        time=when,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
    )
    return AuditEvent(
        seq=seq,
        time=when,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        hash=digest,
    )


@dataclass(frozen=True)
class CorruptEvent:
    """A stored event that cannot even be read as an event (its details are not JSON,
    say): a verification failure at ``seq``, never an internal error."""

    seq: int
    problem: str


def event_from_row(
    seq: Any,
    time: Any,
    actor: Any,
    action: Any,
    subject: Any,
    details_json: Any,
    prev_hash: Any,
    hash: Any,
) -> AuditEvent | CorruptEvent:
    """The event a stored row holds, or what is wrong with the row."""
    try:
        number = int(seq)
    except (TypeError, ValueError):
        return CorruptEvent(0, f"an event's number is not a number ({seq!r})")
    try:
        details = json.loads(details_json)
    except (TypeError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        return CorruptEvent(number, f"event {number}'s details are not valid JSON ({reason})")
    if not isinstance(details, dict):
        return CorruptEvent(number, f"event {number}'s details are not a JSON object")
    fields = {"time": time, "actor": actor, "action": action, "subject": subject}
    fields |= {"prev_hash": prev_hash, "hash": hash}
    for name, value in fields.items():
        if not isinstance(value, str):
            return CorruptEvent(number, f"event {number}'s {name} is not text ({value!r})")
    return AuditEvent(
        seq=number,
        time=time,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        hash=hash,
    )


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a chain walk: ``ok``, how many events were checked, and the first
    problem found (its event number and what is wrong)."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


def verify_chain(events: Iterable[AuditEvent | CorruptEvent], head: tuple[int, str]) -> ChainReport:
    """Check ``events`` (in ``seq`` order) link up from the genesis hash to ``head``."""
    prev_seq, prev_hash = 0, GENESIS_HASH
    checked = 0
    for event in events:
        if isinstance(event, CorruptEvent):
            return ChainReport(False, checked, event.seq or prev_seq + 1, event.problem)
        if event.seq != prev_seq + 1:
            first_missing = prev_seq + 1
            if event.seq > first_missing:
                gap = (
                    f"{first_missing}"
                    if event.seq == first_missing + 1
                    else (f"{first_missing}-{event.seq - 1}")
                )
                problem = f"event {gap} was deleted (event {event.seq} follows event {prev_seq})"
            else:
                problem = f"event {event.seq} is out of order (after event {prev_seq})"
            return ChainReport(False, checked, first_missing, problem)
        recomputed = event_hash(
            seq=event.seq,
            time=event.time,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            details=event.details,
            prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            return ChainReport(
                False, checked, event.seq, f"event {event.seq} was edited (its hash does not match)"
            )
        if event.prev_hash != prev_hash:
            # The event itself is intact but does not follow its predecessor: either the
            # predecessor was edited and re-hashed, or events were reordered.
            bad = max(prev_seq, 1)
            return ChainReport(
                False,
                checked,
                bad,
                f"event {event.seq} does not follow event {prev_seq}: "
                f"event {bad} was edited or events were reordered",
            )
        prev_seq, prev_hash = event.seq, event.hash
        checked += 1
    head_seq, head_hash = head
    if head_seq != prev_seq:
        if head_seq > prev_seq:
            return ChainReport(
                False,
                checked,
                prev_seq + 1,
                f"events {prev_seq + 1}-{head_seq} were deleted (the chain ends at {prev_seq})",
            )
        return ChainReport(
            False, checked, head_seq + 1, f"events after {head_seq} were added outside pathtolive"
        )
    if head_hash != prev_hash:
        return ChainReport(
            False, checked, prev_seq, f"event {prev_seq} was replaced (the head hash differs)"
        )
    return ChainReport(True, checked)
