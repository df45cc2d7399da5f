"""user timezone and link review note: the place whose local time a user sees beside UTC
(an IANA name), and why a reviewer confirmed or rejected a link

Revision ID: 9e4c2a7b1d58
Revises: 3b8f51c2e9a4
Create Date: 2026-12-05 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4c2a7b1d58"
down_revision: str | None = "3b8f51c2e9a4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("media_links") as batch:
        batch.add_column(sa.Column("review_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_links") as batch:
        batch.drop_column("review_note")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("timezone")
