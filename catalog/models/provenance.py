"""Where media come from and who stands behind them: incidents, sources, parties,
sightings and acknowledgements."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..urls import canonical_url
from .base import AckStatus, Base, PartyKind, SourceKind, UTCDateTime, utcnow, vocabulary

if TYPE_CHECKING:
    from .accounts import User
    from .media import Media


class Incident(Base):
    """An event that media are about."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300), unique=True)
    occurred_on: Mapped[date | None] = mapped_column(sa.Date)
    place: Mapped[str | None] = mapped_column(sa.String(300))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    media: Mapped[list[Media]] = relationship(back_populates="incident")


class Party(Base):
    """An actor that can acknowledge, claim or deny: a government, an agency, a media outlet,
    a person, a group."""

    __tablename__ = "parties"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[PartyKind] = mapped_column(
        vocabulary(PartyKind, "party_kind"), default=PartyKind.OTHER
    )
    country: Mapped[str | None] = mapped_column(sa.String(100))
    description: Mapped[str | None] = mapped_column(sa.Text)
    # The names of parties merged into this one, so that a look-up by one finds this party.
    aliases: Mapped[list[str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Source(Base):
    """An outlet or account media are seen through: TASS, a Telegram channel, AFP."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[SourceKind] = mapped_column(
        vocabulary(SourceKind, "source_kind"), default=SourceKind.OTHER
    )
    platform: Mapped[str | None] = mapped_column(sa.String(64))
    url: Mapped[str | None] = mapped_column(sa.String(2048))
    # A source may speak for a party (state media for a government): that is what makes an
    # airing "semi-official".
    affiliated_party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="SET NULL"), index=True
    )
    affiliation: Mapped[str | None] = mapped_column(sa.String(300))
    description: Mapped[str | None] = mapped_column(sa.Text)
    # The names of sources merged into this one, so that a look-up by one finds this source.
    aliases: Mapped[list[str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    affiliated_party: Mapped[Party | None] = relationship()


class Sighting(Base):
    """One place a media was seen: a URL on a platform, through a source, at given times."""

    __tablename__ = "sightings"
    __table_args__ = (
        sa.CheckConstraint(
            "deleted_at IS NULL OR posted_at IS NULL OR deleted_at >= posted_at",
            name="deleted_after_posted",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"), index=True)
    url: Mapped[str | None] = mapped_column(sa.String(2048), index=True)
    # The URL's canonical form (catalog.urls), what look-ups by URL compare; set with the URL.
    url_canonical: Mapped[str | None] = mapped_column(sa.String(2048), index=True)
    platform: Mapped[str | None] = mapped_column(sa.String(64))
    source_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    account: Mapped[str | None] = mapped_column(sa.String(200))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    caption: Mapped[str | None] = mapped_column(sa.Text)
    archive_url: Mapped[str | None] = mapped_column(sa.String(2048))
    # The capture that saw the media at this URL, when it was captured rather than typed in.
    capture_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("captures.id", ondelete="SET NULL"), index=True
    )
    notes: Mapped[str | None] = mapped_column(sa.Text)
    # The deletion re-check's last look at the URL: when, and "live", "deleted" or "unreachable".
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    check_state: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    media: Mapped[Media] = relationship(back_populates="sightings")
    source: Mapped[Source | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    annotations: Mapped[list[SightingAnnotation]] = relationship(
        back_populates="sighting",
        order_by="SightingAnnotation.id",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @validates("url")
    def _keep_canonical(self, _key: str, url: str | None) -> str | None:
        """Set ``url_canonical`` with every URL written, so the two never drift apart."""
        self.url_canonical = canonical_url(url)
        return url


class SightingAnnotation(Base):
    """A note added to a sighting, never changed: how an analyst corrects what a capture
    recorded (a capture's facts stand as captured), or adds what they know."""

    __tablename__ = "sighting_annotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    sighting_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sightings.id", ondelete="CASCADE"), index=True
    )
    # The field it corrects ("posted_at", ...), or None for a note on the whole sighting.
    field: Mapped[str | None] = mapped_column(sa.String(32))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    sighting: Mapped[Sighting] = relationship(back_populates="annotations")
    created_by: Mapped[User | None] = relationship()


class Acknowledgement(Base):
    """A party's stance on a media or on a whole incident, with the statement behind it."""

    __tablename__ = "acknowledgements"
    __table_args__ = (
        sa.CheckConstraint("media_id IS NOT NULL OR incident_id IS NOT NULL", name="has_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(
        sa.ForeignKey("parties.id", ondelete="CASCADE"), index=True
    )
    media_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("media.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[AckStatus] = mapped_column(vocabulary(AckStatus, "ack_status"))
    statement: Mapped[str | None] = mapped_column(sa.Text)
    source_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sources.id", ondelete="SET NULL"))
    statement_url: Mapped[str | None] = mapped_column(sa.String(2048))
    stated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    party: Mapped[Party] = relationship()
    media: Mapped[Media | None] = relationship(back_populates="acknowledgements")
    incident: Mapped[Incident | None] = relationship()
    source: Mapped[Source | None] = relationship()
    created_by: Mapped[User | None] = relationship()
