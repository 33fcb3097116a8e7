"""The MetadataStore contract: every backend (SQLite, PostgreSQL) passes the same suite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from pathtolive.audit import GENESIS_HASH, seal, verify_chain
from pathtolive.entities import Token
from pathtolive.errors import ConflictError, DatabaseOutdatedError
from pathtolive.store.metadata import MetadataSession, MetadataStore

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def store(metadata_url: str) -> MetadataStore:
    store = MetadataStore(metadata_url)
    store.upgrade()
    yield store
    store.close()


def _append(session: MetadataSession, action: str, subject: str = "x") -> None:
    prev_seq, prev_hash = session.lock_audit_head()
    session.append_audit_event(
        seal(
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            actor="ada",
            action=action,
            subject=subject,
            details={"n": prev_seq},
        )
    )


def _add_dataset_with_version(session: MetadataSession, name: str, digest: str) -> int:
    dataset_id = session.create_dataset(name, NOW, "ada")
    schema_id = session.insert_schema(
        dataset_id,
        version=1,
        schema={"columns": []},
        change_kind="initial",
        changes=[],
        reason="",
        created_at=NOW,
        created_by="ada",
    )
    session.insert_version(
        dataset_id,
        version=1,
        content_hash=digest,
        parent_version=None,
        schema_id=schema_id,
        source="a.csv",
        source_format="csv",
        author="ada",
        created_at=NOW,
        rows=3,
        size=10,
        validation_status="inferred",
        validation=None,
        profile={"rows": 3},
    )
    return dataset_id


def test_new_database_is_empty_until_upgraded(metadata_url: str) -> None:
    store = MetadataStore(metadata_url)
    assert store.current_revision() is None
    with pytest.raises(DatabaseOutdatedError, match="db upgrade"):
        store.ensure_current()
    before, after = store.upgrade()
    assert (before, after) == (None, store.head_revision())
    store.ensure_current()
    store.close()


def test_older_database_is_refused_then_upgraded_with_its_data(metadata_url: str) -> None:
    store = MetadataStore(metadata_url)
    store.upgrade("0001")
    with store.write() as session:
        _add_dataset_with_version(session, "loans", "a" * 64)
        _append(session, "dataset.version_added")
    with pytest.raises(DatabaseOutdatedError, match=r"0001.*db upgrade"):
        store.ensure_current()
    before, after = store.upgrade()
    assert before == "0001"
    assert after == store.head_revision()
    store.ensure_current()
    with store.read() as session:
        assert session.get_version("loans", 1) is not None
        assert session.list_tokens() == []
        report = verify_chain(session.iter_audit_events(), session.audit_head())
    assert report.ok
    assert report.checked == 1
    store.close()


def test_dataset_versions_round_trip(store: MetadataStore) -> None:
    with store.write() as session:
        dataset_id = _add_dataset_with_version(session, "loans", "a" * 64)
        session.insert_version(
            dataset_id,
            version=2,
            content_hash="b" * 64,
            parent_version=1,
            schema_id=session.schema_id("loans", 1) or 0,
            source="b.parquet",
            source_format="parquet",
            author="bob",
            created_at=NOW,
            rows=5,
            size=20,
            validation_status="warned",
            validation={"ok": False},
            profile={"rows": 5},
        )
    with store.read() as session:
        versions = session.list_versions("loans")
        latest = session.latest_version("loans")
        found = session.find_version_by_hash("loans", "b" * 64)
        datasets = session.list_datasets()
    assert [v.version for v in versions] == [1, 2]
    assert latest is not None
    assert latest.version == 2
    assert found == latest
    assert latest.parent_version == 1
    assert latest.schema_version == 1
    assert latest.validation == {"ok": False}
    assert latest.profile == {"rows": 5}
    assert latest.created_at == NOW
    assert [(d.name, d.latest_version, d.schema_version) for d in datasets] == [("loans", 2, 1)]


def test_same_content_twice_in_one_dataset_violates_uniqueness(store: MetadataStore) -> None:
    with store.write() as session:
        dataset_id = _add_dataset_with_version(session, "loans", "a" * 64)
    with pytest.raises(ConflictError, match="try again"), store.write() as session:
        session.insert_version(
            dataset_id,
            version=2,
            content_hash="a" * 64,
            parent_version=1,
            schema_id=session.schema_id("loans", 1) or 0,
            source="again.csv",
            source_format="csv",
            author="ada",
            created_at=NOW,
            rows=3,
            size=10,
            validation_status="passed",
            validation=None,
            profile={},
        )
    with store.read() as session:
        assert len(session.list_versions("loans")) == 1


def test_failed_transaction_leaves_nothing(store: MetadataStore) -> None:
    with store.read() as session:
        before = session.row_counts()

    def write_then_crash() -> None:
        with store.write() as session:
            _add_dataset_with_version(session, "loans", "a" * 64)
            _append(session, "dataset.version_added")
            raise RuntimeError("crash after the writes")

    with pytest.raises(RuntimeError):
        write_then_crash()
    with store.read() as session:
        assert session.row_counts() == before
        assert session.audit_head() == (0, GENESIS_HASH)


def test_audit_chain_appends_link_up(store: MetadataStore) -> None:
    for action in ("a", "b", "c"):
        with store.write() as session:
            _append(session, action)
    with store.read() as session:
        events = list(session.iter_audit_events())
        newest = list(session.iter_audit_events(newest_first=True, limit=1))
        report = verify_chain(session.iter_audit_events(), session.audit_head())
    assert [e.seq for e in events] == [1, 2, 3]
    assert [e.action for e in events] == ["a", "b", "c"]
    assert events[1].prev_hash == events[0].hash
    assert newest[0].seq == 3
    assert report.ok


def test_concurrent_writers_keep_one_consistent_chain(store: MetadataStore) -> None:
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for step in range(10):
                with store.write() as session:
                    _append(session, f"w{index}", subject=str(step))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with store.read() as session:
        report = verify_chain(session.iter_audit_events(), session.audit_head())
        assert session.audit_head()[0] == 40
    assert report.ok
    assert report.checked == 40


def test_tokens_round_trip_and_revoke(store: MetadataStore) -> None:
    token = Token("tok_1", "bob", "viewer", NOW, "ada", description="ci")
    with store.write() as session:
        session.insert_token(token, "h" * 64)
    with store.read() as session:
        assert session.find_token_by_hash("h" * 64) == token
        assert session.find_token_by_hash("x" * 64) is None
    with store.write() as session:
        session.revoke_token("tok_1", NOW)
    with store.read() as session:
        revoked = session.get_token("tok_1")
    assert revoked is not None
    assert not revoked.active
    assert revoked.revoked_at == NOW


def test_audit_filters(store: MetadataStore) -> None:
    with store.write() as session:
        _append(session, "dataset.created", "dataset:loans")
        _append(session, "token.created", "token:tok_1")
        _append(session, "dataset.version_added", "dataset:loans@1")
    with store.read() as session:
        dataset_events = list(session.iter_audit_events(subject="dataset:loans"))
        token_events = list(session.iter_audit_events(action="token."))
    assert [e.seq for e in dataset_events] == [1, 3]
    assert [e.seq for e in token_events] == [2]


def test_audit_prefixes_match_case_and_wildcards_literally(store: MetadataStore) -> None:
    with store.write() as session:
        _append(session, "dataset.created", "dataset:Loans")
        _append(session, "dataset.created", "dataset:loans_*")
        _append(session, "dataset.created", "dataset:loans%1")
    with store.read() as session:

        def subjects(prefix: str) -> list[str]:
            return [e.subject for e in session.iter_audit_events(subject=prefix)]

        assert subjects("dataset:loans") == ["dataset:loans_*", "dataset:loans%1"]
        assert subjects("dataset:L") == ["dataset:Loans"]
        assert subjects("dataset:loans_*") == ["dataset:loans_*"]
        assert subjects("dataset:loans%") == ["dataset:loans%1"]
        assert subjects("dataset:loans?") == []
        assert subjects("dataset:[l]") == []
        assert list(session.iter_audit_events(action="DATASET.")) == []
        assert [e.seq for e in session.audit_page(action="Dataset")] == []
        assert [e.subject for e in session.audit_page(subject="dataset:Lo")] == ["dataset:Loans"]


def test_unreachable_database_is_a_store_error(tmp_path: pytest.TempPathFactory) -> None:
    from pathtolive.errors import StoreError

    store = MetadataStore("sqlite:////nonexistent-folder-for-pathtolive/meta.db")
    with pytest.raises(StoreError, match="reachable and writable"):
        store.current_revision()


def test_row_counts_cover_every_table(store: MetadataStore) -> None:
    with store.read() as session:
        counts = session.row_counts()
    inspector = sa.inspect(store.engine)
    assert set(counts) == set(inspector.get_table_names()) - {"alembic_version"}


def test_migrations_build_exactly_the_declared_tables(store: MetadataStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from pathtolive.store.metadata.tables import metadata

    assert store.migrations_head() == store.head_revision()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_referenced_digests_names_every_digest_any_row_holds(store: MetadataStore) -> None:
    version = "a" * 64
    cached = "b" * 64
    in_details = "c" * 64
    with store.write() as session:
        _add_dataset_with_version(session, "loans", version)
        session.remember_output("k" * 64, "train", cached, NOW)
        prev_seq, prev_hash = session.lock_audit_head()
        session.append_audit_event(
            seal(
                prev_seq=prev_seq,
                prev_hash=prev_hash,
                actor="ada",
                action="x.y",
                subject="x",
                details={"object": in_details, "not_a_digest": "d" * 63},
            )
        )

    with store.read() as session:
        found = session.referenced_digests()

    assert {version, cached, in_details} <= found
    assert "d" * 63 not in found
    assert not any(len(digest) != 64 for digest in found)
