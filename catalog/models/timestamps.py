"""Trusted timestamps (RFC 3161 tokens) kept over statements the catalogue can rebuild:
what a capture kept, and how long the audit chain was and how it ended."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class TimestampToken(Base):
    """One authority's token over one statement."""

    __tablename__ = "timestamp_tokens"
    __table_args__ = (sa.Index("ix_timestamp_tokens_subject", "subject", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "capture" (subject_id: the capture) or "audit_head" (chain_count and chain_head).
    subject: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[int | None]
    # The exact text whose SHA-256 the authority stamped, rebuilt from the records to check.
    statement: Mapped[str] = mapped_column(sa.Text)
    chain_count: Mapped[int | None]
    chain_head: Mapped[str | None] = mapped_column(sa.String(64))
    authority: Mapped[str] = mapped_column(sa.String(2048))
    token: Mapped[bytes] = mapped_column(sa.LargeBinary)
    gen_time: Mapped[datetime] = mapped_column(UTCDateTime)
    serial: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
