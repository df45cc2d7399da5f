"""Uploads processed as jobs: a long video, stored as it arrived, waits for a worker to sample
and hash it; the job's row says how far it got and what it made."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, JSONDocument, UTCDateTime, utcnow, vocabulary
from .captures import CaptureStatus as UploadStatus

if TYPE_CHECKING:
    from .accounts import User
    from .media import Media


class UploadJob(Base):
    """One upload waiting for, or done by, a worker. The file is already an original in
    storage (content-addressed); the media is made only when the job ends well."""

    __tablename__ = "upload_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    original_filename: Mapped[str | None] = mapped_column(sa.String(255))
    # The video's length as its header declares it (seconds): why it went to a worker.
    duration_s: Mapped[float | None]
    # What the person said about the file (title, sighting, acknowledgement...), as JSON,
    # applied when the media is made.
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[UploadStatus] = mapped_column(
        vocabulary(UploadStatus, "upload_status"), default=UploadStatus.QUEUED, index=True
    )
    # How far the worker is: a share of the video read (0 to 1), and the step in words.
    progress: Mapped[float] = mapped_column(default=0.0)
    stage: Mapped[str | None] = mapped_column(sa.String(300))
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    media_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("media.id", ondelete="SET NULL"), index=True
    )
    # Whether this upload made the media (False: the bytes were already held).
    created: Mapped[bool | None]
    # The near-duplicates found, as the upload answer gives them.
    matches: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    media: Mapped[Media | None] = relationship()
    created_by: Mapped[User | None] = relationship()
