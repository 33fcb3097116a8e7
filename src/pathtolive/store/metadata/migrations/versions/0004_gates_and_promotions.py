"""Gate reports, promotion requests and approvals.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gate_reports",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("report_json", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gate_reports"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_gate_reports_model_version_id_model_versions",
        ),
    )
    op.create_index("ix_gate_reports_model_version_id", "gate_reports", ["model_version_id"])
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("model_version_id", sa.Integer, nullable=False),
        sa.Column("alias", sa.String(100), nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("gate_report_id", sa.Integer, nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_promotions"),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name="fk_promotions_model_version_id_model_versions",
        ),
        sa.ForeignKeyConstraint(
            ["gate_report_id"],
            ["gate_reports.id"],
            name="fk_promotions_gate_report_id_gate_reports",
        ),
    )
    op.create_index("ix_promotions_status", "promotions", ["status"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("promotion_id", sa.Integer, nullable=False),
        sa.Column("approver", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        sa.ForeignKeyConstraint(
            ["promotion_id"], ["promotions.id"], name="fk_approvals_promotion_id_promotions"
        ),
    )


def downgrade() -> None:
    op.drop_table("approvals")
    op.drop_index("ix_promotions_status", table_name="promotions")
    op.drop_table("promotions")
    op.drop_index("ix_gate_reports_model_version_id", table_name="gate_reports")
    op.drop_table("gate_reports")
