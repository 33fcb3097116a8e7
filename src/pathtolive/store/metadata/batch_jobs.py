"""Queries on batch jobs: each run of ``pathtolive score``, looked up by its id, by the
model version it used, or by the input it read (lineage in both directions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update

from pathtolive.entities import BatchJob
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, utc, utc_or_none, with_model_version

__all__ = ["BatchJobQueries"]


class BatchJobQueries(Queries):
    def start_batch_job(self, job: BatchJob) -> None:
        """Record ``job`` as started; a job id seen before (a rerun) is started again
        with the new figures, keeping its id."""
        values = {
            "model_version_id": self._model_version_id(job.model, job.version),
            "input_ref": job.input_ref,
            "input_hash": job.input_hash,
            "output": job.output,
            "status": job.status,
            "partitions": job.partitions,
            "rows_in": job.rows_in,
            "rows_out": job.rows_out,
            "created_by": job.created_by,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "error": job.error,
        }
        table = t.batch_jobs
        changed = self.connection.execute(
            update(table).where(table.c.job_id == job.job_id).values(**values)
        ).rowcount
        if not changed:
            self._insert_row(table, job_id=job.job_id, **values)

    def finish_batch_job(
        self,
        job_id: str,
        *,
        status: str,
        rows_in: int,
        rows_out: int,
        finished_at: datetime,
        error: str | None = None,
    ) -> None:
        table = t.batch_jobs
        self.connection.execute(
            update(table)
            .where(table.c.job_id == job_id)
            .values(
                status=status,
                rows_in=rows_in,
                rows_out=rows_out,
                finished_at=finished_at,
                error=error,
            )
        )

    def get_batch_job(self, job_id: str) -> BatchJob | None:
        row = self.connection.execute(
            with_model_version(t.batch_jobs).where(t.batch_jobs.c.job_id == job_id)
        ).first()
        return None if row is None else _job(row._mapping)

    def list_batch_jobs(
        self,
        *,
        model: str | None = None,
        version: int | None = None,
        input_ref: str | None = None,
        input_hash: str | None = None,
        limit: int = 100,
    ) -> list[BatchJob]:
        """Jobs newest first, of ``model`` (and ``version``), or of an input named
        ``input_ref`` or hashed ``input_hash``."""
        table = t.batch_jobs
        query = with_model_version(table)
        if model is not None:
            query = query.where(t.models.c.name == model)
        if version is not None:
            query = query.where(t.model_versions.c.version == version)
        if input_ref is not None:
            query = query.where(table.c.input_ref == input_ref)
        if input_hash is not None:
            query = query.where(table.c.input_hash == input_hash)
        query = query.order_by(table.c.started_at.desc(), table.c.id.desc()).limit(limit)
        return [_job(row._mapping) for row in self.connection.execute(query)]


def _job(row: Any) -> BatchJob:
    return BatchJob(
        job_id=row["job_id"],
        model=row["name"],
        version=int(row["version"]),
        input_ref=row["input_ref"],
        input_hash=row["input_hash"],
        output=row["output"],
        status=row["status"],
        partitions=int(row["partitions"]),
        rows_in=int(row["rows_in"]),
        rows_out=int(row["rows_out"]),
        created_by=row["created_by"],
        started_at=utc(row["started_at"]),
        finished_at=utc_or_none(row["finished_at"]),
        error=row["error"],
    )
