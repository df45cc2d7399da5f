"""media audio: a sound fingerprint (Chromaprint values and their informative mask) per
recording or video track, and the media kind "audio"

Revision ID: 3b8f51c2e9a4
Revises: 7d2e4b9a1c36
Create Date: 2026-12-04 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3b8f51c2e9a4"
down_revision: str | None = "7d2e4b9a1c36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_audio",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("informative", sa.LargeBinary(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("informative_share", sa.Double(), nullable=False),
        sa.CheckConstraint("duration_s >= 0", name=op.f("ck_media_audio_duration_not_negative")),
        sa.CheckConstraint(
            "informative_share BETWEEN 0 AND 1",
            name=op.f("ck_media_audio_informative_share_range"),
        ),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_media_audio_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_audio")),
        sa.UniqueConstraint("media_id", name=op.f("uq_media_audio_media_id")),
    )
    # The vocabulary of media kinds gains "audio" (autogenerate does not compare CHECKs).
    _kinds("'image', 'video', 'audio'")


def downgrade() -> None:
    # Recordings cannot stay in a schema without them; what refers to them goes first
    # (SQLite migrates with foreign keys off, so no cascade does it).
    audio = "(SELECT id FROM media WHERE kind = 'audio')"
    for table, column in (
        ("media_hashes", "media_id"),
        ("media_features", "media_id"),
        ("media_tags", "media_id"),
        ("sightings", "media_id"),
        ("acknowledgements", "media_id"),
        ("capture_media", "media_id"),
        ("media_links", "source_media_id"),
        ("media_links", "target_media_id"),
    ):
        op.execute(f"DELETE FROM {table} WHERE {column} IN {audio}")
    op.execute(f"UPDATE upload_jobs SET media_id = NULL WHERE media_id IN {audio}")
    op.execute("DELETE FROM media WHERE kind = 'audio'")
    _kinds("'image', 'video'")
    op.drop_table("media_audio")


def _kinds(allowed: str) -> None:
    """Replace the CHECK constraint on media.kind (SQLite: by recreating the table)."""
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_media_media_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_media_media_kind"), f"kind IN ({allowed})")
