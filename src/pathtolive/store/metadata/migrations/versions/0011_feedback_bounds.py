"""Feedback: an index to count a model's labels since a time.

A model may hold only so many labels beyond the rows of its prediction log; counting
them on each feedback request reads this index, not the table.

Revision ID: 0011_feedback_bounds
Revises: 0010_controller_fencing
"""

from __future__ import annotations

from alembic import op

revision = "0011_feedback_bounds"
down_revision = "0010_controller_fencing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_feedback_model_at", "feedback", ["model", "at"])


def downgrade() -> None:
    op.drop_index("ix_feedback_model_at", table_name="feedback")
