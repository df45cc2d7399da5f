"""Changing what is recorded about media after ingest: a media's typed fields and tags, its
sightings, and the acknowledgements of a media or of a whole incident.

Only the fields a caller names are changed; a null clears an optional field. Each change is
checked as a whole (a post cannot end up deleted before it was posted), written in one
transaction with an audit event listing every field's old and new value, and a change that
changes nothing writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ...db import lock_for_write
from ...models import (
    Acknowledgement,
    AckStatus,
    Incident,
    Media,
    Sighting,
    SightingAnnotation,
    User,
    Verification,
)
from .. import Invalid, fetch
from ..evidence import audit
from .catalogue import get_media
from .details import (
    AcknowledgementInput,
    IngestDetails,
    SightingInput,
    acknowledgement_fields,
    build_acknowledgement,
    build_sighting,
    check_details,
    check_stance,
    sighting_fields,
)
from .fields import (
    Cleaner,
    apply_changes,
    aware,
    choice_cleaner,
    clean_text,
    text_cleaner,
    url_cleaner,
)
from .fields import shown as as_shown
from .named import get_named, incident_named, party_named, source_named, tag_named


def _time(field: str) -> Cleaner:
    return lambda _session, value: aware(_parsed(value, field), field)


def _parsed(value: Any, field: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid(f"{field} must be an ISO 8601 time with a timezone") from None


def _source(session: Session, value: Any) -> Any:
    return source_named(session, value) if value else None


def _party(session: Session, value: Any) -> Any:
    if not value:
        raise Invalid("an acknowledgement needs a party")
    return party_named(session, value)


def _incident(session: Session, value: Any) -> Any:
    return incident_named(session, value) if value else None


MEDIA_FIELDS: dict[str, Cleaner] = {
    "title": text_cleaner("title", 500),
    "description": text_cleaner("description", 20000),
    "credit": text_cleaner("credit", 500),
    "verification": choice_cleaner(Verification, "verification"),
    "incident": _incident,
    "claimed_captured_at": _time("claimed capture time"),
    "claimed_place": text_cleaner("claimed place", 300),
}
SIGHTING_FIELDS: dict[str, Cleaner] = {
    "url": url_cleaner("sighting URL"),
    "platform": text_cleaner("platform", 64),
    "source": _source,
    "account": text_cleaner("account", 200),
    "posted_at": _time("posted time"),
    "observed_at": _time("observed time"),
    "deleted_at": _time("deleted time"),
    "caption": text_cleaner("caption", 20000),
    "archive_url": url_cleaner("archive URL"),
}
# What a capture records of a sighting: the post as it was seen, kept as captured. A mistake
# in it is corrected by an annotation beside it, never by rewriting it.
CAPTURED_FIELDS = ("url", "platform", "account", "posted_at", "observed_at", "caption")
ACK_FIELDS: dict[str, Cleaner] = {
    "party": _party,
    "status": choice_cleaner(AckStatus, "status"),
    "statement": text_cleaner("statement", 20000),
    "source": _source,
    "statement_url": url_cleaner("statement URL"),
    "stated_at": _time("statement time"),
}


def _finish(
    session: Session,
    actor: User | None,
    action: str,
    subject: tuple[str, int],
    details: dict[str, Any],
) -> None:
    """Audit and commit a change, or roll back when nothing changed."""
    if details.get("changes") == {}:
        session.rollback()
        return
    session.flush()
    audit.record(session, actor, action, subject[0], subject[1], details)
    session.commit()


def update_media(
    session: Session, media_id: int, values: dict[str, Any], actor: User | None
) -> Media:
    """Change a media's typed fields (title, credit, verification, incident, ...) and tags."""
    lock_for_write(session)
    media = get_media(session, media_id)
    values = dict(values)
    tags = values.pop("tags", None)
    changes = apply_changes(session, media, values, MEDIA_FIELDS, "media")
    if tags is not None:
        wanted = [
            tag_named(session, name)
            for name in dict.fromkeys(t.strip() for t in tags if t and t.strip())
        ]
        before = sorted(t.name for t in media.tags)
        if sorted(t.name for t in wanted) != before:
            media.tags = wanted
            changes["tags"] = {"from": before, "to": sorted(t.name for t in wanted)}
    _finish(session, actor, "media.update", ("media", media.id), {"changes": changes})
    return media


def join_incident(session: Session, media_id: int, incident_id: int, actor: User | None) -> Media:
    """Put a media in an existing incident (one its copies belong to); audited."""
    incident = get_named(session, Incident, incident_id)
    return update_media(session, media_id, {"incident": incident.title}, actor)


def get_sighting(session: Session, sighting_id: int) -> Sighting:
    """Return one sighting, or raise NotFound."""
    return fetch(session, Sighting, sighting_id, "sighting")


def add_sighting(
    session: Session, media_id: int, sighting: SightingInput, actor: User | None
) -> Sighting:
    """Record one more place a media was seen."""
    check_details(IngestDetails(sighting=sighting))
    lock_for_write(session)
    media = get_media(session, media_id)
    added = build_sighting(session, media, sighting, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "sighting.create",
        "media",
        media.id,
        sighting_fields(added),
    )
    session.commit()
    return added


def update_sighting(
    session: Session, sighting_id: int, values: dict[str, Any], actor: User | None
) -> Sighting:
    """Change the given fields of a sighting (a null clears one)."""
    lock_for_write(session)
    sighting = get_sighting(session, sighting_id)
    changes = apply_changes(session, sighting, values, SIGHTING_FIELDS, "sighting")
    captured = [name for name in CAPTURED_FIELDS if name in changes]
    if sighting.capture_id is not None and captured:
        session.rollback()
        raise Invalid(
            f"the {', '.join(captured)} of this sighting were recorded by capture"
            f" #{sighting.capture_id} and stay as captured: add an annotation to correct them"
        )
    if sighting.posted_at and sighting.deleted_at and sighting.deleted_at < sighting.posted_at:
        raise Invalid("a post cannot be deleted before it was posted")
    _finish(
        session,
        actor,
        "sighting.update",
        ("media", sighting.media_id),
        {"sighting": sighting.id, "changes": changes},
    )
    return sighting


def delete_sighting(session: Session, sighting_id: int, actor: User | None) -> None:
    """Remove a sighting recorded in error (the audit trail keeps what it said)."""
    lock_for_write(session)
    sighting = get_sighting(session, sighting_id)
    if sighting.capture_id is not None:
        session.rollback()
        raise Invalid(
            f"this sighting was recorded by capture #{sighting.capture_id} and stays: add an"
            " annotation to say what is wrong with it"
        )
    kept = {
        name: shown
        for name in SIGHTING_FIELDS
        if (shown := as_shown(getattr(sighting, name))) is not None
    }
    audit.record(
        session,
        actor,
        "sighting.delete",
        "media",
        sighting.media_id,
        {"sighting": sighting.id, **kept},
    )
    session.delete(sighting)
    session.commit()


def annotate_sighting(
    session: Session, sighting_id: int, text: str, field: str | None, actor: User | None
) -> SightingAnnotation:
    """Add a note to a sighting (on one of its fields, or on the whole), never changed after."""
    lock_for_write(session)
    sighting = get_sighting(session, sighting_id)
    cleaned = clean_text(text, "annotation", 20000)
    if not cleaned:
        raise Invalid("an annotation needs some text")
    if field is not None and field not in SIGHTING_FIELDS:
        raise Invalid(f"a sighting has no field {field!r} to annotate")
    note = SightingAnnotation(sighting=sighting, field=field, text=cleaned, created_by=actor)
    session.add(note)
    session.flush()
    _finish(
        session,
        actor,
        "sighting.annotate",
        ("media", sighting.media_id),
        {"sighting": sighting.id, "annotation": note.id, "field": field, "text": cleaned},
    )
    return note


def get_acknowledgement(session: Session, ack_id: int) -> Acknowledgement:
    """Return one acknowledgement, or raise NotFound."""
    return fetch(session, Acknowledgement, ack_id, "acknowledgement")


def _subject(ack: Acknowledgement) -> tuple[str, int]:
    """The record an acknowledgement's audit events belong to."""
    return ("media", ack.media_id) if ack.media_id is not None else ("incident", ack.incident_id)  # type: ignore[return-value]


def add_acknowledgement(
    session: Session,
    ack: AcknowledgementInput,
    actor: User | None,
    *,
    media_id: int | None = None,
    incident_id: int | None = None,
) -> Acknowledgement:
    """Record a party's stance on one media, or on a whole incident."""
    if (media_id is None) == (incident_id is None):
        raise Invalid("an acknowledgement is about one media or one incident")
    check_details(IngestDetails(acknowledgement=ack), on_incident=incident_id is not None)
    lock_for_write(session)
    if media_id is not None:
        added = build_acknowledgement(session, ack, actor, media=get_media(session, media_id))
    else:
        # The check above leaves exactly one of the two ids set, here the incident's.
        assert incident_id is not None
        added = build_acknowledgement(
            session, ack, actor, incident=get_named(session, Incident, incident_id)
        )
    session.flush()
    audit.record(
        session,
        actor,
        "acknowledgement.create",
        *_subject(added),
        acknowledgement_fields(added),
    )
    session.commit()
    return added


def update_acknowledgement(
    session: Session, ack_id: int, values: dict[str, Any], actor: User | None
) -> Acknowledgement:
    """Change the given fields of an acknowledgement (party and status cannot be cleared)."""
    lock_for_write(session)
    ack = get_acknowledgement(session, ack_id)
    values = {("statement_url" if k == "url" else k): v for k, v in values.items()}
    changes = apply_changes(session, ack, values, ACK_FIELDS, "acknowledgement")
    try:
        check_stance(ack.status, on_incident=ack.media_id is None)
    except Invalid:
        session.rollback()
        raise
    _finish(
        session,
        actor,
        "acknowledgement.update",
        _subject(ack),
        {"acknowledgement": ack.id, "changes": changes},
    )
    return ack


def delete_acknowledgement(session: Session, ack_id: int, actor: User | None) -> None:
    """Remove an acknowledgement recorded in error (the audit trail keeps what it said)."""
    lock_for_write(session)
    ack = get_acknowledgement(session, ack_id)
    kept = {
        name: shown for name in ACK_FIELDS if (shown := as_shown(getattr(ack, name))) is not None
    }
    audit.record(
        session,
        actor,
        "acknowledgement.delete",
        *_subject(ack),
        {"acknowledgement": ack.id, **kept},
    )
    session.delete(ack)
    session.commit()
