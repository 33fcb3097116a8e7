"""Indexes for browsing: the audit log by actor, action and time, runs by pipeline.

The console pages the audit log newest first under a filter and lists a pipeline's runs
newest first; these indexes make each page one index range, however long the log.

Revision ID: 0012_browsing_indexes
Revises: 0011_feedback_bounds
"""

from __future__ import annotations

from alembic import op

revision = "0012_browsing_indexes"
down_revision = "0011_feedback_bounds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_actor_seq", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_action_seq", "audit_events", ["action", "seq"])
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    op.create_index("ix_runs_pipeline_started_at", "runs", ["pipeline", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_pipeline_started_at", table_name="runs")
    op.drop_index("ix_audit_events_time", table_name="audit_events")
    op.drop_index("ix_audit_events_action_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_seq", table_name="audit_events")
