"""Media files, their perceptual hashes, tags, and the links found or drawn between them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import (
    Base,
    JSONDocument,
    LinkKind,
    LinkReview,
    MediaKind,
    UTCDateTime,
    Verification,
    utcnow,
    vocabulary,
)

if TYPE_CHECKING:
    from .accounts import User
    from .provenance import Acknowledgement, Incident, Sighting

media_tags = sa.Table(
    "media_tags",
    Base.metadata,
    sa.Column("media_id", sa.ForeignKey("media.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Media(Base):
    """One distinct file (unique SHA-256 of its bytes) and what is known about it."""

    __tablename__ = "media"
    __table_args__ = (
        sa.CheckConstraint("length(sha256) = 64", name="sha256_length"),
        sa.CheckConstraint("size_bytes >= 0", name="size_not_negative"),
        sa.CheckConstraint(
            "(width IS NULL AND height IS NULL) OR (width > 0 AND height > 0)",
            name="dimensions_positive",
        ),
        sa.CheckConstraint("duration_s IS NULL OR duration_s >= 0", name="duration_not_negative"),
        sa.CheckConstraint(
            "capture_latitude IS NULL OR capture_latitude BETWEEN -90 AND 90",
            name="latitude_range",
        ),
        sa.CheckConstraint(
            "capture_longitude IS NULL OR capture_longitude BETWEEN -180 AND 180",
            name="longitude_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[MediaKind] = mapped_column(vocabulary(MediaKind, "media_kind"), index=True)
    mime_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_s: Mapped[float | None]
    original_filename: Mapped[str | None] = mapped_column(sa.String(255))
    title: Mapped[str | None] = mapped_column(sa.String(500))
    description: Mapped[str | None] = mapped_column(sa.Text)
    credit: Mapped[str | None] = mapped_column(sa.String(500))
    # What the media is claimed to show, as claimed; not what the file's metadata says.
    claimed_captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_place: Mapped[str | None] = mapped_column(sa.String(300))
    capture_latitude: Mapped[float | None]
    capture_longitude: Mapped[float | None]
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    verification: Mapped[Verification] = mapped_column(
        vocabulary(Verification, "verification"), default=Verification.UNVERIFIED
    )
    # Extracted, not typed: EXIF, container and C2PA metadata as read from the file.
    extracted: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Withdrawn (catalogued by mistake): out of every list, match and report, kept with its
    # audit events; restored by clearing these. Its original is removed once the retention
    # period has passed (``original_removed_at``), the row and its hashes kept.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    withdrawn_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.Text)
    original_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    incident: Mapped[Incident | None] = relationship(back_populates="media")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    withdrawn_by: Mapped[User | None] = relationship(foreign_keys=[withdrawn_by_id])
    hashes: Mapped[list[MediaHash]] = relationship(
        back_populates="media", cascade="all, delete-orphan", passive_deletes=True
    )
    features: Mapped[list[MediaFeatures]] = relationship(
        back_populates="media", cascade="all, delete-orphan", passive_deletes=True
    )
    sightings: Mapped[list[Sighting]] = relationship(
        back_populates="media", cascade="all, delete-orphan", passive_deletes=True
    )
    acknowledgements: Mapped[list[Acknowledgement]] = relationship(
        back_populates="media", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[Tag]] = relationship(secondary=media_tags, back_populates="media")
    audio: Mapped[MediaAudio | None] = relationship(
        back_populates="media", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Media {self.id} {self.kind.value} {self.sha256[:12]}>"


class MediaHash(Base):
    """One perceptual hash of a media: per algorithm, and per frame for video."""

    __tablename__ = "media_hashes"
    __table_args__ = (
        sa.CheckConstraint("bit_length > 0", name="bit_length_positive"),
        sa.CheckConstraint(
            "frame_time_s IS NULL OR frame_time_s >= 0", name="frame_time_not_negative"
        ),
        sa.CheckConstraint("quality IS NULL OR quality BETWEEN 0 AND 100", name="quality_range"),
        # The index refresh reads "every hash of this algorithm newer than id N".
        sa.Index("ix_media_hashes_algorithm_id", "algorithm", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"), index=True)
    # Open on purpose: new algorithms arrive with the benchmarks that justify them.
    algorithm: Mapped[str] = mapped_column(sa.String(32))
    # Which view of the picture was hashed: "full", "trimmed", a region name, ...
    variant: Mapped[str] = mapped_column(sa.String(32), default="full")
    bits: Mapped[bytes] = mapped_column(sa.LargeBinary)
    bit_length: Mapped[int]
    quality: Mapped[int | None]
    frame_index: Mapped[int | None]
    frame_time_s: Mapped[float | None]

    media: Mapped[Media] = relationship(back_populates="hashes")


class MediaFeatures(Base):
    """The local keypoints (ORB) of a picture or video frame, for crop-resistant search."""

    __tablename__ = "media_features"
    __table_args__ = (
        sa.CheckConstraint("keypoints >= 0", name="keypoints_not_negative"),
        sa.CheckConstraint("width > 0 AND height > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"), index=True)
    algorithm: Mapped[str] = mapped_column(sa.String(32), default="orb")
    frame_index: Mapped[int | None]
    frame_time_s: Mapped[float | None]
    # Size of the working picture the keypoints were found in; positions are shares of it.
    width: Mapped[int]
    height: Mapped[int]
    keypoints: Mapped[int]
    descriptors: Mapped[bytes] = mapped_column(sa.LargeBinary)
    positions: Mapped[bytes] = mapped_column(sa.LargeBinary)

    media: Mapped[Media] = relationship(back_populates="features")


class MediaAudio(Base):
    """The sound of a recording or of a video's track as Chromaprint fingerprints it: one
    32-bit value every 0.124 s, and which values carry evidence (not silence, not a hum)."""

    __tablename__ = "media_audio"
    __table_args__ = (
        sa.CheckConstraint("duration_s >= 0", name="duration_not_negative"),
        sa.CheckConstraint("informative_share BETWEEN 0 AND 1", name="informative_share_range"),
    )

    # Ids follow commit order, as for hashes: each index refresh reads the rows past its own.
    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(
        sa.ForeignKey("media.id", ondelete="CASCADE"), unique=True
    )
    algorithm: Mapped[str] = mapped_column(sa.String(32), default="chromaprint")
    # Little-endian uint32 values, and the informative mask packed eight values a byte.
    fingerprint: Mapped[bytes] = mapped_column(sa.LargeBinary)
    informative: Mapped[bytes] = mapped_column(sa.LargeBinary)
    duration_s: Mapped[float]
    informative_share: Mapped[float]

    media: Mapped[Media] = relationship(back_populates="audio")


class Tag(Base):
    """A free label an analyst puts on media."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)

    media: Mapped[list[Media]] = relationship(secondary=media_tags, back_populates="tags")


class MediaLink(Base):
    """A relation between two media: near-duplicate, derived from, or a frame of a video."""

    __tablename__ = "media_links"
    __table_args__ = (
        sa.UniqueConstraint("source_media_id", "target_media_id", "kind"),
        sa.CheckConstraint("source_media_id <> target_media_id", name="not_self"),
        sa.CheckConstraint("distance IS NULL OR distance >= 0", name="distance_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Direction matters for derived_from and frame_of: source is the copy, target the original.
    source_media_id: Mapped[int] = mapped_column(
        sa.ForeignKey("media.id", ondelete="CASCADE"), index=True
    )
    target_media_id: Mapped[int] = mapped_column(
        sa.ForeignKey("media.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LinkKind] = mapped_column(vocabulary(LinkKind, "link_kind"))
    algorithm: Mapped[str | None] = mapped_column(sa.String(32))
    distance: Mapped[float | None]
    # For frame_of: seconds into the target video.
    frame_time_s: Mapped[float | None]
    review: Mapped[LinkReview] = mapped_column(
        vocabulary(LinkReview, "link_review"), default=LinkReview.PROPOSED
    )
    reviewed_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why the reviewer confirmed or rejected it, in their words.
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source_media: Mapped[Media] = relationship(foreign_keys=[source_media_id])
    target_media: Mapped[Media] = relationship(foreign_keys=[target_media_id])
