"""Leases: a fencing generation; triggers: when a failed release is tried again.

A lease's ``generation`` grows each time the lease passes to a holder (a takeover, or a
take after a release); a release checks its holder and generation in the transaction of
each write, so a controller that lost its lease while paused cannot write afterwards.
A released lease keeps its row (``released``), so its generation never starts over.
A trigger whose release failed waits for ``next_attempt_at`` before it is tried again.

Revision ID: 0010_controller_fencing
Revises: 0009_alert_outbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_controller_fencing"
down_revision = "0009_alert_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("locks") as batch:
        batch.add_column(
            sa.Column("generation", sa.BigInteger(), nullable=False, server_default=sa.text("1"))
        )
        batch.add_column(
            sa.Column("released", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
    with op.batch_alter_table("triggers") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("triggers") as batch:
        batch.drop_column("next_attempt_at")
    op.execute(sa.text("DELETE FROM locks WHERE released"))
    with op.batch_alter_table("locks") as batch:
        batch.drop_column("released")
        batch.drop_column("generation")
