"""The MetadataStore contract for gate reports, promotions and approvals."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from pathtolive.store.metadata import MetadataStore
from tests.support.metadata import store_with_models

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    store = store_with_models(metadata_url, {"risk": 2}, run_id="run_p", at=NOW)
    yield store
    store.close()


def test_gate_reports_are_kept_per_version(store: MetadataStore) -> None:
    with store.write() as session:
        first = session.insert_gate_report(
            "risk", 2, passed=False, report={"gates": [1]}, at=NOW, by="ada"
        )
        second = session.insert_gate_report(
            "risk", 2, passed=True, report={"gates": [2]}, at=NOW, by="bob"
        )
    with store.read() as session:
        latest = session.latest_gate_report("risk", 2)
        assert latest is not None
        assert (latest.report_id, latest.passed, latest.report) == (second, True, {"gates": [2]})
        earlier = session.gate_report(first)
        assert earlier is not None
        assert earlier.created_by == "ada"
        assert session.latest_gate_report("risk", 1) is None


def test_promotions_and_approvals(store: MetadataStore) -> None:
    with store.write() as session:
        report = session.insert_gate_report("risk", 2, passed=True, report={}, at=NOW, by="ada")
        promotion_id = session.insert_promotion(
            "risk",
            2,
            alias="live",
            policy="four-eyes",
            status="pending",
            requested_by="ada",
            requested_at=NOW,
            reason="better",
            gate_report_id=report,
        )
        session.add_approval(
            promotion_id, approver="ada", decision="refuse", comment="author", at=NOW
        )
        session.add_approval(promotion_id, approver="cy", decision="approve", comment="ok", at=NOW)
    with store.read() as session:
        pending = session.pending_promotion("risk", 2, "live")
        assert pending is not None
        assert pending.promotion_id == promotion_id
        assert [a.approver for a in pending.approvals] == ["ada", "cy"]
        assert [p.ref for p in session.list_promotions(status="pending")] == ["risk@2"]
    with store.write() as session:
        locked = session.get_promotion(promotion_id, lock=True)
        assert locked is not None
        session.decide_promotion(promotion_id, status="applied", decided_by="cy", decided_at=NOW)
    with store.read() as session:
        decided = session.get_promotion(promotion_id)
        assert decided is not None
        assert (decided.status, decided.decided_by, decided.decided_at) == ("applied", "cy", NOW)
        assert session.pending_promotion("risk", 2, "live") is None
        assert session.list_promotions(status="pending") == []
        assert len(session.list_promotions(model="risk")) == 1
