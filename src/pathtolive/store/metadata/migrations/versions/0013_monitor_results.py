"""Monitor results: what ``monitor`` found per model version and window, kept for the
console, which draws drift and the metric over time from them instead of reading the
prediction log.

Revision ID: 0013_monitor_results
Revises: 0012_browsing_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_monitor_results"
down_revision = "0012_browsing_indexes"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "monitor_results",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_seconds", sa.Float, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("labelled", sa.BigInteger, nullable=False),
        sa.Column("drifted", sa.Integer, nullable=False),
        sa.Column("summary_json", sa.Text, nullable=False),
        sa.Column("histograms_json", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_results"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_monitor_results_model_version_id_model_versions",
        ),
    )
    op.create_index(
        "ix_monitor_results_version_end_start",
        "monitor_results",
        ["model_version_id", "window_end", "window_start"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_monitor_results_version_end_start", table_name="monitor_results")
    op.drop_table("monitor_results")
