"""captures: pages captured from a URL (job status, files kept, media found), the capture
a sighting came from, the deletion watch's last check of a sighting, and trusted timestamps

Revision ID: 5c1a7e93d2f0
Revises: ae8b06d68829
Create Date: 2026-12-04 19:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5c1a7e93d2f0"
down_revision: str | None = "ae8b06d68829"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="capture_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("progress", sa.String(length=300), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("post", JSON, nullable=True),
        sa.Column("notes", JSON, nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("final_url", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_captures_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_captures_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captures")),
    )
    with op.batch_alter_table("captures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_captures_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_captures_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_captures_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_captures_url"), ["url"], unique=False)

    op.create_table(
        "capture_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_capture_files_capture_id_captures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_files")),
        sa.UniqueConstraint("capture_id", "role", name=op.f("uq_capture_files_capture_id_role")),
    )
    with op.batch_alter_table("capture_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capture_files_capture_id"), ["capture_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_capture_files_sha256"), ["sha256"], unique=False)

    op.create_table(
        "capture_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_capture_media_capture_id_captures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_capture_media_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_media")),
        sa.UniqueConstraint(
            "capture_id", "media_id", name=op.f("uq_capture_media_capture_id_media_id")
        ),
    )
    with op.batch_alter_table("capture_media", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capture_media_capture_id"), ["capture_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_capture_media_media_id"), ["media_id"], unique=False)

    op.create_table(
        "timestamp_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("chain_count", sa.Integer(), nullable=True),
        sa.Column("chain_head", sa.String(length=64), nullable=True),
        sa.Column("authority", sa.String(length=2048), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timestamp_tokens")),
    )
    with op.batch_alter_table("timestamp_tokens", schema=None) as batch_op:
        batch_op.create_index(
            "ix_timestamp_tokens_subject", ["subject", "subject_id"], unique=False
        )

    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capture_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_state", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_sightings_capture_id"), ["capture_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sightings_checked_at"), ["checked_at"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_sightings_capture_id_captures"),
            "captures",
            ["capture_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_sightings_capture_id_captures"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sightings_checked_at"))
        batch_op.drop_index(batch_op.f("ix_sightings_capture_id"))
        batch_op.drop_column("check_state")
        batch_op.drop_column("checked_at")
        batch_op.drop_column("capture_id")
    op.drop_table("timestamp_tokens")
    op.drop_table("capture_media")
    op.drop_table("capture_files")
    op.drop_table("captures")
