"""party kinds, stances on incidents and merged names: a party is a government, an agency, a
media outlet, a person, a group or other; a stance may be "claimed" or "denied_involvement";
parties and sources keep the names of those merged into them

The older party kinds map to the new ones: armed_force to agency (a body of a state), and
armed_group, political and organisation to group. A downgrade maps back as near as it can:
media_outlet and person to other, group to organisation; a "claimed" stance to official and
"denied_involvement" to denied (the nearest older words).

Revision ID: e4a4c0de0004
Revises: e5a5c0de0005
Create Date: 2026-12-07 23:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e4a4c0de0004"
down_revision: str | None = "e5a5c0de0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = (
    "'government', 'armed_force', 'agency', 'armed_group', 'political', 'organisation', 'other'"
)
NEW_KINDS = "'government', 'agency', 'media_outlet', 'person', 'group', 'other'"
OLD_STATUSES = "'official', 'semi_official', 'unacknowledged', 'denied'"
NEW_STATUSES = (
    "'official', 'semi_official', 'claimed', 'unacknowledged', 'denied', 'denied_involvement'"
)


def upgrade() -> None:
    # The old constraint goes first: the rows are rewritten to values it does not allow.
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_parties_party_kind"), type_="check")
        batch_op.add_column(sa.Column("aliases", sa.JSON(), nullable=True))
    op.execute("UPDATE parties SET kind = 'agency' WHERE kind = 'armed_force'")
    op.execute(
        "UPDATE parties SET kind = 'group'"
        " WHERE kind IN ('armed_group', 'political', 'organisation')"
    )
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_parties_party_kind"), f"kind IN ({NEW_KINDS})"
        )
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aliases", sa.JSON(), nullable=True))
    _statuses(NEW_STATUSES)


def downgrade() -> None:
    op.execute("UPDATE acknowledgements SET status = 'official' WHERE status = 'claimed'")
    op.execute("UPDATE acknowledgements SET status = 'denied' WHERE status = 'denied_involvement'")
    _statuses(OLD_STATUSES)
    with op.batch_alter_table("sources", schema=None) as batch_op:
        batch_op.drop_column("aliases")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_parties_party_kind"), type_="check")
        batch_op.drop_column("aliases")
    op.execute("UPDATE parties SET kind = 'other' WHERE kind IN ('media_outlet', 'person')")
    op.execute("UPDATE parties SET kind = 'organisation' WHERE kind = 'group'")
    with op.batch_alter_table("parties", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_parties_party_kind"), f"kind IN ({OLD_KINDS})"
        )


def _statuses(allowed: str) -> None:
    """Replace the CHECK constraint on acknowledgements.status (SQLite: by recreating it)."""
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_acknowledgements_ack_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_acknowledgements_ack_status"), f"status IN ({allowed})"
        )
