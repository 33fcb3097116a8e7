"""Runs: a heartbeat; feedback: the row of its request each label is for.

A run's heartbeat finds a run whose process died (kill -9, a lost machine). A feedback
label names the row of a batch request it is for; labels stored before are for row 0.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_runs_status", "runs", ["status"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(
            sa.Column("row", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("row")
    op.drop_index("ix_runs_status", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
