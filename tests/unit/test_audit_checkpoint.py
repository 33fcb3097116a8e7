"""Signed checkpoints of the chain's head, and the verification against them."""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pathtolive.audit import GENESIS_HASH, CorruptEvent, event_from_row, seal, verify_chain
from pathtolive.audit.checkpoint import (
    CheckpointError,
    checkpoint_name,
    key_id,
    load_private_key,
    parse_public_key,
    private_key_pem,
    public_key_text,
    read_checkpoint,
    sign_checkpoint,
    verify_anchored,
)
from pathtolive.entities import AuditEvent
from tests.unit.test_audit_chain import chain, head

KEY = Ed25519PrivateKey.generate()
PUBLIC = KEY.public_key()


def checkpoint(
    events: list[AuditEvent], seq: int, *, key: Ed25519PrivateKey = KEY, workspace: str = "w"
) -> tuple[str, bytes]:
    digest = events[seq - 1].hash if seq else GENESIS_HASH
    time = f"2026-01-01T00:00:{seq:02d}.000000+00:00"
    body = sign_checkpoint(key, workspace=workspace, seq=seq, hash=digest, time=time)
    return checkpoint_name(seq, time), body


def test_keys_round_trip_through_their_text_forms() -> None:
    assert key_id(parse_public_key(public_key_text(PUBLIC))) == key_id(PUBLIC)
    assert key_id(load_private_key(private_key_pem(KEY)).public_key()) == key_id(PUBLIC)
    for bad in ("ssh-ed25519 AAAA", "ed25519:not base64!", "ed25519:AAAA"):
        with pytest.raises(ValueError, match="it "):
            parse_public_key(bad)
    with pytest.raises(ValueError, match="not an unencrypted PEM private key"):
        load_private_key(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


def test_a_checkpoint_reads_back_only_with_its_key() -> None:
    events = chain(3)
    name, body = checkpoint(events, 3)
    assert name.startswith("checkpoints/00000000000000000003-20260101T000003")
    read = read_checkpoint(name, body, PUBLIC)
    assert (read.seq, read.hash, read.workspace) == (3, events[2].hash, "w")
    with pytest.raises(CheckpointError, match="signature does not verify"):
        read_checkpoint(name, body, Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("field", ["seq", "hash", "time", "workspace"])
def test_an_altered_checkpoint_is_refused(field: str) -> None:
    name, body = checkpoint(chain(3), 3)
    stored = json.loads(body)
    stored["payload"][field] = 1 if field == "seq" else "f" * 64
    with pytest.raises(CheckpointError, match="signature"):
        read_checkpoint(name, json.dumps(stored).encode(), PUBLIC)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"payload": {}}', b"\xff"])
def test_a_damaged_checkpoint_is_refused(body: bytes) -> None:
    with pytest.raises(CheckpointError, match="checkpoints/x"):
        read_checkpoint("checkpoints/x", body, PUBLIC)


def test_checkpoint_names_are_new_each_time() -> None:
    time = "2026-01-01T00:00:00.000000+00:00"
    assert checkpoint_name(1, time) != checkpoint_name(1, time)


def test_an_intact_chain_is_anchored_at_the_newest_checkpoint() -> None:
    events = chain(6)
    report = verify_anchored(
        events,
        head(events),
        checkpoints=[checkpoint(events, 2), checkpoint(events, 4)],
        public_key=PUBLIC,
        workspace="w",
    )
    assert report.ok
    assert (report.anchored_seq, report.unanchored, report.checkpoints) == (4, 2, 2)
    assert "chain intact up to checkpoint seq 4" in report.statement
    assert "events after 4 (2) are only hash-chained, not anchored" in report.statement


def test_a_checkpoint_of_the_empty_chain_holds() -> None:
    report = verify_anchored(
        [], (0, GENESIS_HASH), checkpoints=[checkpoint([], 0)], public_key=PUBLIC, workspace="w"
    )
    assert report.ok
    assert report.anchored_seq == 0


def test_an_edit_is_placed_between_two_checkpoints() -> None:
    events = chain(6)
    marks = [checkpoint(events, 2), checkpoint(events, 5)]
    # Event 4 edited, and 4..6 re-sealed on top of it: consistent in itself.
    forged = events[:3]
    for original in events[3:]:
        forged.append(
            seal(
                prev_seq=forged[-1].seq,
                prev_hash=forged[-1].hash,
                actor="mallory" if original.seq == 4 else original.actor,
                action=original.action,
                subject=original.subject,
                details=original.details,
                time=original.time,
            )
        )
    assert verify_chain(forged, head(forged)).ok
    report = verify_anchored(
        forged, head(forged), checkpoints=marks, public_key=PUBLIC, workspace="w"
    )
    assert not report.ok
    assert report.first_bad_seq == 5
    assert "one of events 3-5" in (report.problem or "")


def test_truncation_below_a_checkpoint_is_named() -> None:
    events = chain(6)
    marks = [checkpoint(events, 6)]
    report = verify_anchored(
        events[:3], head(events[:3]), checkpoints=marks, public_key=PUBLIC, workspace="w"
    )
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "events 4-6 were deleted and the head moved back" in (report.problem or "")


def test_a_checkpoint_of_another_workspace_is_ignored_not_trusted() -> None:
    events = chain(3)
    other = checkpoint(events, 3, workspace="elsewhere")
    report = verify_anchored(
        events[:1], head(events[:1]), checkpoints=[other], public_key=PUBLIC, workspace="w"
    )
    assert report.ok
    assert report.anchored_seq is None
    assert report.ignored == [other[0]]


def test_without_a_public_key_checkpoints_are_not_trusted() -> None:
    events = chain(2)
    forged = checkpoint(events, 2, key=Ed25519PrivateKey.generate())
    report = verify_anchored(events, head(events), checkpoints=[forged], public_key=None)
    assert report.ok
    assert report.anchored_seq is None
    assert "only internal consistency" in report.statement
    assert "1 checkpoints left unchecked" in report.statement


def test_a_missing_head_row_is_a_failure_that_still_names_a_broken_link() -> None:
    events = chain(3)
    report = verify_anchored(events, None, public_key=PUBLIC, workspace="w")
    assert not report.ok
    assert "audit_head row (id 1) is missing" in (report.problem or "")
    assert report.first_bad_seq is None
    broken = [events[0], dataclasses.replace(events[1], actor="x"), events[2]]
    report = verify_anchored(broken, None, public_key=PUBLIC, workspace="w")
    assert report.first_bad_seq == 2
    assert "missing" in (report.problem or "")


@pytest.mark.parametrize("row", [("x", GENESIS_HASH), (-1, GENESIS_HASH), (0, "short"), (0, 7)])
def test_a_corrupt_head_row_is_a_failure(row: tuple[object, object]) -> None:
    report = verify_anchored([], row, public_key=PUBLIC, workspace="w")
    assert not report.ok
    assert "audit_head row (id 1) is corrupt" in (report.problem or "")


def test_rows_that_are_not_events_are_named() -> None:
    good = chain(1)[0]
    row = (1, good.time, good.actor, good.action, good.subject, "{}", good.prev_hash, good.hash)
    assert isinstance(event_from_row(*row), AuditEvent)
    bad_json = event_from_row(*row[:5], "{oops", *row[6:])
    assert bad_json == CorruptEvent(
        1,
        "event 1's details are not valid JSON (Expecting property name enclosed in double quotes)",
    )
    assert "not a JSON object" in str(event_from_row(*row[:5], "[1]", *row[6:]))
    assert "actor is not text" in str(event_from_row(1, good.time, 5, *row[3:]))
    report = verify_chain([good, CorruptEvent(2, "event 2's details are not valid JSON")], (2, ""))
    assert not report.ok
    assert (report.first_bad_seq, report.checked) == (2, 1)
