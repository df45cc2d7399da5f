"""sighting annotations: notes added to a sighting and never changed, the way to correct what
a capture recorded

Revision ID: c4a9e2d7f310
Revises: b7d3e1f4a902
Create Date: 2026-12-07 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a9e2d7f310"
down_revision: str | None = "b7d3e1f4a902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sighting_annotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_sighting_annotations_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sighting_id"],
            ["sightings.id"],
            name=op.f("fk_sighting_annotations_sighting_id_sightings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sighting_annotations")),
    )
    with op.batch_alter_table("sighting_annotations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sighting_annotations_sighting_id"), ["sighting_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("sighting_annotations")
