"""The hash chain finds any edit, deletion or reordering, and names the first."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from pathtolive.audit import GENESIS_HASH, seal, verify_chain
from pathtolive.entities import AuditEvent


def chain(n: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    prev_seq, prev_hash = 0, GENESIS_HASH
    for i in range(n):
        event = seal(
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            actor="ada",
            action=f"act{i}",
            subject=f"thing:{i}",
            details={"i": i, "nested": {"k": [1, 2]}},
        )
        events.append(event)
        prev_seq, prev_hash = event.seq, event.hash
    return events


def head(events: list[AuditEvent]) -> tuple[int, str]:
    return (events[-1].seq, events[-1].hash) if events else (0, GENESIS_HASH)


def test_intact_chain_verifies() -> None:
    events = chain(5)
    report = verify_chain(events, head(events))
    assert report.ok
    assert report.checked == 5
    assert report.first_bad_seq is None


def test_empty_chain_verifies() -> None:
    assert verify_chain([], (0, GENESIS_HASH)).ok


def test_edited_event_is_named() -> None:
    events = chain(5)
    events[2] = dataclasses.replace(events[2], actor="mallory")
    report = verify_chain(events, head(events))
    assert not report.ok
    assert report.first_bad_seq == 3
    assert "edited" in (report.problem or "")


def test_edited_and_rehashed_event_is_caught_by_the_next_link() -> None:
    events = chain(5)
    forged = seal(
        prev_seq=2,
        prev_hash=events[1].hash,
        actor="mallory",
        action="act2",
        subject="thing:2",
        details={"i": 2},
        time=events[2].time,
    )
    events[2] = forged
    report = verify_chain(events, head(events))
    assert not report.ok
    assert report.first_bad_seq == 3


def test_deleted_event_is_named() -> None:
    events = chain(5)
    del events[1]
    report = verify_chain(events, head(chain(5)))
    assert not report.ok
    assert report.first_bad_seq == 2
    assert "deleted" in (report.problem or "")


def test_deleted_tail_is_found_through_the_head() -> None:
    full = chain(5)
    report = verify_chain(full[:3], head(full))
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "4-5 were deleted" in (report.problem or "")


def test_swapped_contents_are_found() -> None:
    events = chain(5)
    a, b = events[1], events[2]
    events[1] = dataclasses.replace(b, seq=2)
    events[2] = dataclasses.replace(a, seq=3)
    report = verify_chain(events, head(events))
    assert not report.ok
    assert report.first_bad_seq == 2


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_edit_is_detected(n: int, data: st.DataObject) -> None:
    events = chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["actor", "action", "subject", "time"]))
    events[index] = dataclasses.replace(events[index], **{field: "tampered"})
    report = verify_chain(events, head(chain(n)))
    assert not report.ok
    assert report.first_bad_seq == index + 1


def test_details_are_hashed_as_stored() -> None:
    event = seal(
        prev_seq=0,
        prev_hash=GENESIS_HASH,
        actor="a",
        action="b",
        subject="c",
        details={"when": dataclasses.__name__, "tuple": (1, 2)},
    )
    assert event.details["tuple"] == [1, 2]
    assert verify_chain([event], (1, event.hash)).ok
