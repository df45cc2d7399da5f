"""The record of details: what a person says about a media when they add it (title,
description, credit, incident, tags, a sighting, a party's acknowledgement), checked before any
work is done, attached to the media inside the ingest's transaction, and recorded in the audit
trail as events of their own. Ingest and editing share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from ...models import (
    INCIDENT_ONLY_STATUSES,
    Acknowledgement,
    AckStatus,
    Incident,
    Media,
    Sighting,
    User,
)
from ...text.spans import TextReading
from .. import Invalid
from ..evidence import audit
from .fields import aware, clean_text, clean_url
from .named import incident_named, party_named, source_named, tag_named


@dataclass
class SightingInput:
    """Where and when a media was seen."""

    url: str | None = None
    platform: str | None = None
    source: str | None = None
    account: str | None = None
    posted_at: datetime | None = None
    observed_at: datetime | None = None
    deleted_at: datetime | None = None
    caption: str | None = None
    archive_url: str | None = None
    capture_id: int | None = None  # the capture that saw it, when captured


@dataclass
class AcknowledgementInput:
    """A party's stance on the media, with the statement behind it."""

    party: str
    status: str
    statement: str | None = None
    source: str | None = None
    url: str | None = None
    stated_at: datetime | None = None


@dataclass
class IngestDetails:
    """What the person adding a file says about it; every field optional."""

    title: str | None = None
    description: str | None = None
    credit: str | None = None
    incident: str | None = None
    original_filename: str | None = None
    sighting: SightingInput | None = None
    acknowledgement: AcknowledgementInput | None = None
    tags: list[str] = field(default_factory=list)
    # The text already read from the file (by an import's hashing processes), kept with the
    # media as it is created; None: the text waits for the worker to read it.
    read_text: TextReading | None = None
    # Subtitles given beside a video (a sidecar .srt or .vtt), already read.
    sidecar: TextReading | None = None


def check_stance(status: AckStatus, *, on_incident: bool) -> None:
    """Refuse a stance that is only about an incident (claimed, denied involvement) on a media."""
    if not on_incident and status in INCIDENT_ONLY_STATUSES:
        raise Invalid(
            f"{status.value!r} is a stance on an incident as a whole (it happened; we took no"
            " part), not on one media: record it on the incident, or choose one of "
            + ", ".join(s.value for s in AckStatus if s not in INCIDENT_ONLY_STATUSES)
        )


def check_details(details: IngestDetails, *, on_incident: bool = False) -> None:
    """Validate what was typed before any work is done, so errors come first and cheap (an
    acknowledgement is of the media unless ``on_incident``)."""
    clean_text(details.title, "title", 500)
    clean_text(details.credit, "credit", 500)
    clean_text(details.description, "description", 20000)
    if details.sighting is not None:
        s = details.sighting
        clean_url(s.url, "sighting URL")
        clean_url(s.archive_url, "archive URL")
        for name in ("posted_at", "observed_at", "deleted_at"):
            aware(getattr(s, name), f"sighting {name.replace('_at', '')} time")
        if s.posted_at and s.deleted_at and s.deleted_at < s.posted_at:
            raise Invalid("a post cannot be deleted before it was posted")
    if details.acknowledgement is not None:
        ack = details.acknowledgement
        try:
            status = AckStatus(ack.status)
        except ValueError:
            raise Invalid(
                f"acknowledgement status must be one of {', '.join(s.value for s in AckStatus)}"
            ) from None
        check_stance(status, on_incident=on_incident)
        if not clean_text(ack.party, "party", 200):
            raise Invalid("an acknowledgement needs a party")
        clean_url(ack.url, "statement URL")
        aware(ack.stated_at, "statement time")


def apply_details(
    session: Session, media: Media, details: IngestDetails, actor: User | None
) -> tuple[Sighting | None, Acknowledgement | None]:
    """Attach incident, tags, sighting and acknowledgement; return the new sighting and
    acknowledgement, if any (``record_details`` records them once the media's event stands)."""
    if details.incident and media.incident_id is None:
        media.incident = incident_named(session, details.incident)
    for name in details.tags:
        tag = tag_named(session, name)
        if tag not in media.tags:
            media.tags.append(tag)
    sighting = build_sighting(session, media, details.sighting, actor) if details.sighting else None
    ack = None
    if details.acknowledgement is not None:
        ack = build_acknowledgement(session, details.acknowledgement, actor, media=media)
    session.flush()
    return sighting, ack


def record_details(
    session: Session,
    media: Media,
    sighting: Sighting | None,
    ack: Acknowledgement | None,
    actor: User | None,
) -> None:
    """Record a new sighting and acknowledgement of ``media`` as events of their own."""
    if sighting is not None:
        audit.record(
            session, actor, "sighting.create", "media", media.id, sighting_fields(sighting)
        )
    if ack is not None:
        audit.record(
            session, actor, "acknowledgement.create", "media", media.id, acknowledgement_fields(ack)
        )


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def sighting_fields(sighting: Sighting) -> dict[str, Any]:
    """Every field of a sighting, as its audit event keeps them."""
    return {
        "sighting": sighting.id,
        "url": sighting.url,
        "platform": sighting.platform,
        "source": sighting.source.name if sighting.source else None,
        "account": sighting.account,
        "posted_at": _utc(sighting.posted_at),
        "observed_at": _utc(sighting.observed_at),
        "deleted_at": _utc(sighting.deleted_at),
        "caption": sighting.caption,
        "archive_url": sighting.archive_url,
    }


def acknowledgement_fields(ack: Acknowledgement) -> dict[str, Any]:
    """Every field of an acknowledgement, as its audit event keeps them."""
    return {
        "acknowledgement": ack.id,
        "party": ack.party.name,
        "status": ack.status.value,
        "statement": ack.statement,
        "source": ack.source.name if ack.source else None,
        "url": ack.statement_url,
        "stated_at": _utc(ack.stated_at),
    }


def build_sighting(
    session: Session, media: Media, s: SightingInput, actor: User | None
) -> Sighting:
    """Add a sighting of ``media`` to the session, its fields cleaned."""
    sighting = Sighting(
        media=media,
        url=clean_url(s.url, "sighting URL"),
        platform=clean_text(s.platform, "platform", 64),
        source=source_named(session, s.source) if s.source else None,
        account=clean_text(s.account, "account", 200),
        posted_at=aware(s.posted_at, "posted time"),
        observed_at=aware(s.observed_at, "observed time"),
        deleted_at=aware(s.deleted_at, "deleted time"),
        caption=clean_text(s.caption, "caption", 20000),
        archive_url=clean_url(s.archive_url, "archive URL"),
        capture_id=s.capture_id,
        created_by=actor,
    )
    session.add(sighting)
    return sighting


def build_acknowledgement(
    session: Session,
    ack: AcknowledgementInput,
    actor: User | None,
    *,
    media: Media | None = None,
    incident: Incident | None = None,
) -> Acknowledgement:
    """Add a party's acknowledgement of a media or an incident to the session."""
    added = Acknowledgement(
        party=party_named(session, ack.party),
        media=media,
        incident=incident,
        status=AckStatus(ack.status),
        statement=clean_text(ack.statement, "statement", 20000),
        source=source_named(session, ack.source) if ack.source else None,
        statement_url=clean_url(ack.url, "statement URL"),
        stated_at=aware(ack.stated_at, "statement time"),
        created_by=actor,
    )
    session.add(added)
    return added
