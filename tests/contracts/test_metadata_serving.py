"""The MetadataStore contract for deployments, prediction-log segments and feedback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.store.metadata import MetadataStore
from tests.support.metadata import store_with_models

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    store = store_with_models(metadata_url, {"risk": 3, "churn": 3}, run_id="run_s", at=NOW)
    yield store
    store.close()


def test_canary_share_is_zero_until_set_then_updated(store: MetadataStore) -> None:
    with store.read() as session:
        assert session.get_canary_share("risk") == 0.0
        assert session.get_canary_share("no-such-model") == 0.0
    with store.write() as session:
        session.set_canary_share("risk", 0.25, at=NOW, actor="ada")
    with store.write() as session:
        session.set_canary_share("risk", 0.1, at=NOW + timedelta(hours=1), actor="bob")
    with store.read() as session:
        assert session.get_canary_share("risk") == pytest.approx(0.1)
        assert session.get_canary_share("churn") == 0.0
        deployment = session.get_deployment("risk")
    assert deployment is not None
    assert deployment.updated_by == "bob"
    assert deployment.updated_at == NOW + timedelta(hours=1)


def test_deployment_gathers_the_serving_aliases_and_the_share(store: MetadataStore) -> None:
    with store.read() as session:
        assert session.get_deployment("nothing") is None
        empty = session.get_deployment("risk")
    assert empty is not None
    assert (empty.live, empty.canary, empty.shadow, empty.canary_share) == (None, None, None, 0.0)
    assert empty.updated_at is None
    with store.write() as session:
        session.move_alias("risk", "live", 1, at=NOW, actor="ada")
        session.move_alias("risk", "canary", 2, at=NOW, actor="ada")
        session.move_alias("risk", "shadow", 3, at=NOW, actor="ada")
        session.move_alias("risk", "staging", 3, at=NOW, actor="ada")
        session.set_canary_share("risk", 0.2, at=NOW, actor="ada")
    with store.read() as session:
        deployment = session.get_deployment("risk")
        other = session.get_deployment("churn")
    assert deployment is not None
    assert (deployment.live, deployment.canary, deployment.shadow) == (1, 2, 3)
    assert deployment.canary_share == pytest.approx(0.2)
    assert deployment.updated_at == NOW
    assert other is not None
    assert other.live is None


def test_prediction_segments_round_trip_and_filter_by_version_and_time(
    store: MetadataStore,
) -> None:
    hour = timedelta(hours=1)
    with store.write() as session:
        first_id = session.insert_prediction_segment(
            "risk",
            1,
            digest="a" * 64,
            rows=10,
            first_at=NOW,
            last_at=NOW + hour,
            created_at=NOW + hour,
        )
        second_id = session.insert_prediction_segment(
            "risk",
            2,
            digest="b" * 64,
            rows=20,
            first_at=NOW + 2 * hour,
            last_at=NOW + 3 * hour,
            created_at=NOW + 3 * hour,
        )
        session.insert_prediction_segment(
            "churn",
            1,
            digest="c" * 64,
            rows=5,
            first_at=NOW,
            last_at=NOW,
            created_at=NOW,
        )
    assert second_id > first_id
    with store.read() as session:
        every = session.list_prediction_segments("risk")
        assert [(s.segment_id, s.version, s.rows) for s in every] == [
            (first_id, 1, 10),
            (second_id, 2, 20),
        ]
        segment = every[0]
        assert (segment.model, segment.artifact_digest, segment.ref) == ("risk", "a" * 64, "risk@1")
        assert (segment.first_at, segment.last_at, segment.created_at) == (
            NOW,
            NOW + hour,
            NOW + hour,
        )
        assert [s.version for s in session.list_prediction_segments("risk", 2)] == [2]
        # A segment is listed when any of its span falls in the window.
        assert [s.version for s in session.list_prediction_segments("risk", since=NOW + hour)] == [
            1,
            2,
        ]
        assert [
            s.version
            for s in session.list_prediction_segments("risk", since=NOW + 90 * timedelta(minutes=1))
        ] == [2]
        assert [s.version for s in session.list_prediction_segments("risk", until=NOW)] == [1]
        assert (
            session.list_prediction_segments("risk", since=NOW + 4 * hour, until=NOW + 5 * hour)
            == []
        )
        assert session.list_prediction_segments("nothing") == []
        assert session.segment_in_use("b" * 64)
        assert not session.segment_in_use("d" * 64)


def test_feedback_round_trips_labels_and_filters(store: MetadataStore) -> None:
    with store.write() as session:
        ids = [
            session.insert_feedback("req-1", 1, at=NOW, actor="ada", model="risk"),
            session.insert_feedback("req-2", "yes", at=NOW, actor="bob", model=None),
            session.insert_feedback(
                "req-1", 0.5, at=NOW + timedelta(days=1), actor="ada", model="risk"
            ),
            session.insert_feedback(
                "req-3", True, at=NOW + timedelta(days=2), actor="ada", model=None
            ),
        ]
    assert ids == sorted(ids)
    with store.read() as session:
        every = session.list_feedback()
        assert [(f.request_id, f.label) for f in every] == [
            ("req-1", 1),
            ("req-2", "yes"),
            ("req-1", 0.5),
            ("req-3", True),
        ]
        assert every[1].actor == "bob"
        assert every[1].model is None
        assert every[0].at == NOW
        assert [f.label for f in session.list_feedback(["req-1"])] == [1, 0.5]
        assert [f.request_id for f in session.list_feedback(["req-3", "req-2", "nope"])] == [
            "req-2",
            "req-3",
        ]
        assert session.list_feedback([]) == []
        assert [f.label for f in session.list_feedback(since=NOW + timedelta(hours=1))] == [
            0.5,
            True,
        ]
        assert [f.label for f in session.list_feedback(model="risk")] == [1, 0.5]


def test_feedback_keeps_the_row_of_its_request(store: MetadataStore) -> None:
    with store.write() as session:
        session.insert_feedback("batch", 1, at=NOW, actor="ada", model="risk", row=2)
        session.insert_feedback("batch", 0, at=NOW, actor="ada", model="risk", row=999_999)
        session.insert_feedback("single", "yes", at=NOW, actor="ada", model=None)
    with store.read() as session:
        found = session.list_feedback()
        assert [(f.request_id, f.row, f.label) for f in found] == [
            ("batch", 2, 1),
            ("batch", 999_999, 0),
            ("single", 0, "yes"),  # a label given without a row is for row 0
        ]
        assert [f.row for f in session.list_feedback(["batch"])] == [2, 999_999]


def test_feedback_for_many_request_ids_at_once(store: MetadataStore) -> None:
    with store.write() as session:
        for number in range(1200):
            session.insert_feedback(f"r{number}", number, at=NOW, actor="ada", model=None)
    wanted = [f"r{number}" for number in range(0, 1200, 2)]
    with store.read() as session:
        found = session.list_feedback(wanted)
    assert [f.label for f in found] == list(range(0, 1200, 2))


def test_logged_rows_and_labels_are_counted_per_model(store: MetadataStore) -> None:
    """What the bound on labels beyond the log reads: rows logged and labels held."""
    hour = timedelta(hours=1)
    with store.read() as session:
        assert session.logged_rows("risk") == (0, None)
        assert session.count_feedback("risk") == 0
        assert session.feedback_span() == 0
    with store.write() as session:
        for version, rows, first in ((1, 10, NOW + hour), (2, 20, NOW), (1, 3, NOW + 2 * hour)):
            session.insert_prediction_segment(
                "risk", version, digest=f"{version}{rows}".ljust(64, "a"), rows=rows,
                first_at=first, last_at=first, created_at=first,
            )  # fmt: skip
        session.insert_prediction_segment(
            "churn", 1, digest="c" * 64, rows=5, first_at=NOW - hour, last_at=NOW,
            created_at=NOW,
        )  # fmt: skip
        for at, model in ((NOW - hour, "risk"), (NOW, "risk"), (NOW + hour, "risk")):
            session.insert_feedback("r", 1, at=at, actor="ada", model=model)
        session.insert_feedback("r", 1, at=NOW, actor="ada", model="churn")
        session.insert_feedback("r", 1, at=NOW, actor="ada", model=None)
    with store.read() as session:
        assert session.logged_rows("risk") == (33, NOW)
        assert session.logged_rows("churn") == (5, NOW - hour)
        assert session.logged_rows() == (38, NOW - hour)
        assert session.count_feedback("risk") == 3
        assert session.count_feedback("risk", since=NOW) == 2
        assert session.count_feedback("churn") == 1
        assert session.count_feedback(None) == 1
        assert session.feedback_span() == 5
    with store.write() as session:
        session.delete_feedback("r")
        session.insert_feedback("s", 1, at=NOW, actor="ada", model=None)
    with store.read() as session:
        assert session.count_feedback(None) == 1
        assert session.feedback_span() == 1
