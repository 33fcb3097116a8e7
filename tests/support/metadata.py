"""A metadata store with registered model versions, for the contract tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pathtolive.entities import ModelVersion, Run
from pathtolive.store.metadata import MetadataStore


def run_record(
    run_id: str,
    *,
    at: datetime,
    kind: str = "notebook",
    pipeline: str | None = None,
    status: str = "succeeded",
    heartbeat_at: datetime | None = None,
) -> Run:
    """A run row by ``ada`` started at ``at`` (finished then too unless still running)."""
    return Run(
        run_id=run_id,
        kind=kind,
        pipeline=pipeline,
        status=status,
        actor="ada",
        started_at=at,
        finished_at=None if status == "running" else at,
        code_commit=None,
        code_dirty=False,
        code_diff_hash=None,
        pipelines_hash=None,
        environment_digest=None,
        params={},
        inputs={},
        heartbeat_at=heartbeat_at,
    )


def store_with_models(
    url: str, versions: Mapping[str, int], *, run_id: str, at: datetime
) -> MetadataStore:
    """An upgraded store at ``url`` where each model of ``versions`` has that many
    versions (digests "111…", "222…"), all registered by one notebook run ``run_id``."""
    store = MetadataStore(url)
    store.upgrade()
    with store.write() as session:
        session.insert_run(run_record(run_id, at=at))
        for name, count in versions.items():
            session.create_model(name, at, "ada")
            for number in range(1, count + 1):
                session.insert_model_version(
                    ModelVersion(
                        model=name,
                        version=number,
                        artifact_digest=str(number) * 64,
                        artifact_bytes=1,
                        flavor="sklearn",
                        trusted_types=(),
                        signature=None,
                        metrics={},
                        run_id=run_id,
                        source="notebook",
                        description="",
                        tags={},
                        created_at=at,
                        created_by="ada",
                    )
                )
    return store
