"""media withdrawal: a media catalogued by mistake is withdrawn (who, when, why) and, after
the retention period, its original removed

Revision ID: e3a3c0de0003
Revises: c4a9e2d7f310
Create Date: 2026-12-07 23:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3a3c0de0003"
down_revision: str | None = "c4a9e2d7f310"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("original_removed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_media_withdrawn_at"), ["withdrawn_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_media_withdrawn_by_id_users"),
            "users",
            ["withdrawn_by_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_media_withdrawn_by_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_media_withdrawn_at"))
        batch_op.drop_column("original_removed_at")
        batch_op.drop_column("withdrawn_reason")
        batch_op.drop_column("withdrawn_by_id")
        batch_op.drop_column("withdrawn_at")
