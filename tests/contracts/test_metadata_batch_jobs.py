"""The MetadataStore contract for batch jobs: started, finished, started again under the
same id, and found by model version or by input (lineage both ways)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pathtolive.entities import BatchJob
from pathtolive.store.metadata import MetadataStore
from tests.support.metadata import store_with_models

NOW = datetime(2026, 11, 30, 3, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    store = store_with_models(metadata_url, {"risk": 2}, run_id="run_b", at=NOW)
    yield store
    store.close()


def _job(job_id: str, version: int, input_hash: str, at: datetime) -> BatchJob:
    return BatchJob(
        job_id=job_id,
        model="risk",
        version=version,
        input_ref="garages@7",
        input_hash=input_hash,
        output="/scores/2026-11",
        status="running",
        partitions=4,
        rows_in=0,
        rows_out=0,
        created_by="ada",
        started_at=at,
    )


def test_jobs_are_recorded_finished_and_found_both_ways(store: MetadataStore) -> None:
    with store.write() as session:
        session.start_batch_job(_job("j1", 1, "a" * 64, NOW))
        session.start_batch_job(_job("j2", 2, "b" * 64, NOW + timedelta(hours=1)))
        session.finish_batch_job(
            "j1", status="succeeded", rows_in=40, rows_out=40, finished_at=NOW + timedelta(1)
        )
    with store.read() as session:
        first = session.get_batch_job("j1")
        assert session.get_batch_job("nope") is None
        by_model = session.list_batch_jobs(model="risk")
        by_version = session.list_batch_jobs(model="risk", version=2)
        by_input = session.list_batch_jobs(input_hash="a" * 64)
    assert first is not None
    assert (first.status, first.rows_in, first.rows_out, first.model_ref) == (
        "succeeded",
        40,
        40,
        "risk@1",
    )
    assert first.finished_at == NOW + timedelta(1)
    assert [job.job_id for job in by_model] == ["j2", "j1"]  # newest first
    assert [job.job_id for job in by_version] == ["j2"]
    assert [job.job_id for job in by_input] == ["j1"]


def test_a_rerun_under_the_same_id_starts_the_job_again(store: MetadataStore) -> None:
    with store.write() as session:
        session.start_batch_job(_job("j1", 1, "a" * 64, NOW))
        session.finish_batch_job(
            "j1", status="failed", rows_in=3, rows_out=0, finished_at=NOW, error="row 3: bad"
        )
        session.start_batch_job(replace(_job("j1", 1, "a" * 64, NOW + timedelta(hours=2))))
    with store.read() as session:
        jobs = session.list_batch_jobs(input_ref="garages@7")
    assert len(jobs) == 1
    assert (jobs[0].status, jobs[0].error, jobs[0].finished_at) == ("running", None, None)
    assert jobs[0].started_at == NOW + timedelta(hours=2)
