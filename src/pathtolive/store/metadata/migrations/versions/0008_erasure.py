"""Dataset versions: the tombstone of an erased (forgotten) version.

``data forget`` removes a version's bytes from the artifact store and keeps its row, with
who erased it, when and why; the row's metadata, contract and profile stay (they hold no
raw rows), and so does every audit event about it.

Revision ID: 0008_erasure
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_erasure"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("forgotten_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("forgotten_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("forgotten_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("forgotten_reason")
        batch.drop_column("forgotten_by")
        batch.drop_column("forgotten_at")
