"""Batch jobs: each run of ``pathtolive score``, its model version, input, output, row
counts, status and who ran it, for lineage in both directions.

Revision ID: 0014_batch_jobs
Revises: 0013_monitor_results
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_batch_jobs"
down_revision = "0013_monitor_results"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(200), nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("input_ref", sa.Text, nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=True),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("partitions", sa.Integer, nullable=False),
        sa.Column("rows_in", sa.BigInteger, nullable=False),
        sa.Column("rows_out", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_batch_jobs"),
        sa.UniqueConstraint("job_id", name="uq_batch_jobs_job_id"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_batch_jobs_model_version_id_model_versions",
        ),
    )
    op.create_index(
        "ix_batch_jobs_model_version_id_started_at",
        "batch_jobs",
        ["model_version_id", "started_at"],
    )
    op.create_index("ix_batch_jobs_input_hash", "batch_jobs", ["input_hash"])


def downgrade() -> None:
    op.drop_index("ix_batch_jobs_input_hash", table_name="batch_jobs")
    op.drop_index("ix_batch_jobs_model_version_id_started_at", table_name="batch_jobs")
    op.drop_table("batch_jobs")
