"""partial captures: a capture whose time ran out (or whose process was stopped) keeps what it
had fetched, with the status "partial"

Revision ID: b7d3e1f4a902
Revises: 9e4c2a7b1d58
Create Date: 2026-12-07 20:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d3e1f4a902"
down_revision: str | None = "9e4c2a7b1d58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _statuses("'queued', 'running', 'done', 'partial', 'failed'")


def downgrade() -> None:
    # A partial capture kept files and media: as "done" it keeps them, with its notes.
    op.execute("UPDATE captures SET status = 'done' WHERE status = 'partial'")
    _statuses("'queued', 'running', 'done', 'failed'")


def _statuses(allowed: str) -> None:
    """Replace the CHECK constraint on captures.status (SQLite: by recreating the table)."""
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_captures_capture_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_captures_capture_status"), f"status IN ({allowed})"
        )
