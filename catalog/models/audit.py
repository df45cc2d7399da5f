"""The append-only audit trail; each event carries the hash of the one before it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONDocument, UTCDateTime, utcnow

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    """One change to the catalogue: who did what to which object, when, with what details."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # A predecessor can have one successor only, so the chain cannot fork even if two
        # writers race; the database refuses the second.
        sa.UniqueConstraint("prev_hash"),
        sa.Index("ix_audit_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The user id may go stale (users can be deleted); the name is kept as it was, and is
    # part of the hashed content.
    actor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(sa.String(100))
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
