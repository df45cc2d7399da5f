"""Captures of web pages: what was asked for, how the job went, and the files it kept."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..urls import canonical_url
from .base import Base, JSONDocument, UTCDateTime, utcnow, vocabulary

if TYPE_CHECKING:
    from .accounts import User
    from .media import Media
    from .provenance import Incident


class CaptureStatus(enum.StrEnum):
    """Where a capture job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    # Its time ran out or its process was stopped before it fetched everything: what it had
    # fetched is kept, and another attempt is made while attempts remain.
    PARTIAL = "partial"
    FAILED = "failed"


class Capture(Base):
    """One capture of one URL: each capture of the same URL is a row of its own (posts change)."""

    __tablename__ = "captures"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(sa.String(2048), index=True)
    # The URL's canonical form (catalog.urls), what look-ups by URL compare; set with the URL.
    url_canonical: Mapped[str | None] = mapped_column(sa.String(2048), index=True)
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[CaptureStatus] = mapped_column(
        vocabulary(CaptureStatus, "capture_status"), default=CaptureStatus.QUEUED, index=True
    )
    # What the job is doing now, in words ("loading the page", "ingesting 2 of 3 files").
    progress: Mapped[str | None] = mapped_column(sa.String(300))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    # Until when the worker running it holds it; past that, another may take it up.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the page said about the post, and the notes of the capture (blocked requests,
    # a missing screenshot), as JSON.
    post: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    notes: Mapped[list[str] | None] = mapped_column(JSONDocument)
    http_status: Mapped[int | None]
    final_url: Mapped[str | None] = mapped_column(sa.String(2048))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    incident: Mapped[Incident | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    files: Mapped[list[CaptureFile]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="CaptureFile.id"
    )
    found: Mapped[list[CaptureMedia]] = relationship(
        back_populates="capture", cascade="all, delete-orphan", order_by="CaptureMedia.id"
    )

    @validates("url")
    def _keep_canonical(self, _key: str, url: str) -> str:
        """Set ``url_canonical`` with every URL written, so the two never drift apart."""
        self.url_canonical = canonical_url(url)
        return url


class CaptureFile(Base):
    """A file a capture kept (screenshot, rendered HTML, web archive), stored as an original."""

    __tablename__ = "capture_files"
    __table_args__ = (sa.UniqueConstraint("capture_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    capture_id: Mapped[int] = mapped_column(
        sa.ForeignKey("captures.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(32))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100))

    capture: Mapped[Capture] = relationship(back_populates="files")


class CaptureMedia(Base):
    """A picture or video a capture found in the post, and whether the capture added it."""

    __tablename__ = "capture_media"
    __table_args__ = (sa.UniqueConstraint("capture_id", "media_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    capture_id: Mapped[int] = mapped_column(
        sa.ForeignKey("captures.id", ondelete="CASCADE"), index=True
    )
    media_id: Mapped[int] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2048))
    created: Mapped[bool] = mapped_column(default=False)

    capture: Mapped[Capture] = relationship(back_populates="found")
    media: Mapped[Media] = relationship()
