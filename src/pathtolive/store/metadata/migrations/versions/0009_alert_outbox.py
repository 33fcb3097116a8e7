"""Alerts: the webhook outbox.

An alert to be sent to a webhook keeps its delivery's stable id (sent with every attempt,
so that a receiver drops duplicates), when the next attempt is due and the last attempt's
error, until a receiver answers 2xx. ``delivery_due_at`` is set exactly while a delivery
is outstanding: the outbox is the alerts where it is not null.

Revision ID: 0009_alert_outbox
Revises: 0008_erasure
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_alert_outbox"
down_revision = "0008_erasure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("delivery_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("delivery_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))
    op.create_index("ix_alerts_delivery_due_at", "alerts", ["delivery_due_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_delivery_due_at", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("delivery_error")
        batch.drop_column("delivery_due_at")
        batch.drop_column("delivery_id")
