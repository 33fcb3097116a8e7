"""Serving: deployment settings, the prediction log's segments and feedback.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("model_id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("canary_share", sa.Float, server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name="pk_deployments"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_deployments_model_id_models"),
    )
    op.create_table(
        "prediction_segments",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("artifact_digest", sa.String(64), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prediction_segments"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_prediction_segments_model_version_id_model_versions",
        ),
    )
    op.create_index(
        "ix_prediction_segments_model_version_id_first_at",
        "prediction_segments",
        ["model_version_id", "first_at"],
    )
    op.create_table(
        "feedback",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("label_json", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_request_id", "feedback", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_feedback_request_id", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index(
        "ix_prediction_segments_model_version_id_first_at", table_name="prediction_segments"
    )
    op.drop_table("prediction_segments")
    op.drop_table("deployments")
