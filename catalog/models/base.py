"""Declarative base, naming convention, column types and closed vocabularies of the domain."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase

# Every constraint gets a predictable name so later migrations can alter or drop it.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; carries the shared metadata."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps.

    Naive datetimes are refused rather than guessed at: a wrong timezone on a sighting time
    silently reorders the provenance timeline.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite has no timezone type; keep UTC wall time so text order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON everywhere, JSONB on PostgreSQL so documents can be indexed and queried there.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


def vocabulary(enum_class: type[enum.Enum], name: str) -> sa.Enum:
    """A closed vocabulary stored as text with a CHECK constraint (portable, easy to extend)."""
    return sa.Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda cls: [member.value for member in cls],
    )


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"  # a recording without pictures: a voice note, an intercepted call


class Verification(enum.StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    DISPUTED = "disputed"
    MISATTRIBUTED = "misattributed"


class AckStatus(enum.StrEnum):
    """How a party stands towards a media or incident, strongest first.

    ``claimed`` (asserted the incident happened) and ``denied_involvement`` (took no part in
    it) are stances on an incident only; ``denied`` means denied that it happened (or, of a
    media, that it shows what it is said to show).
    """

    OFFICIAL = "official"
    SEMI_OFFICIAL = "semi_official"
    CLAIMED = "claimed"
    UNACKNOWLEDGED = "unacknowledged"
    DENIED = "denied"
    DENIED_INVOLVEMENT = "denied_involvement"


# The stances that are about an incident as a whole and never about one media.
INCIDENT_ONLY_STATUSES = frozenset({AckStatus.CLAIMED, AckStatus.DENIED_INVOLVEMENT})


class LinkKind(enum.StrEnum):
    NEAR_DUPLICATE = "near_duplicate"
    DERIVED_FROM = "derived_from"
    FRAME_OF = "frame_of"


class LinkReview(enum.StrEnum):
    """Whether an analyst has looked at an automatically found link."""

    PROPOSED = "proposed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Role(enum.StrEnum):
    """Roles in increasing power: each can do what the ones before it can."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """Return whether this role includes the ``needed`` one."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


class SourceKind(enum.StrEnum):
    NEWS_AGENCY = "news_agency"
    STATE_MEDIA = "state_media"
    BROADCASTER = "broadcaster"
    NEWSPAPER = "newspaper"
    PHOTO_AGENCY = "photo_agency"
    SOCIAL_ACCOUNT = "social_account"
    MESSAGING_CHANNEL = "messaging_channel"
    GOVERNMENT = "government"
    NGO = "ngo"
    INDIVIDUAL = "individual"
    OTHER = "other"


class PartyKind(enum.StrEnum):
    """What a party is. Migration e4a4c0de0004 mapped the older kinds: armed_force to agency
    (a body of a state), armed_group, political and organisation to group."""

    GOVERNMENT = "government"
    AGENCY = "agency"
    MEDIA_OUTLET = "media_outlet"
    PERSON = "person"
    GROUP = "group"
    OTHER = "other"
