"""The named records analysts share across media: incidents, sources, parties and tags.

Each is found by its name or made on first use (ingest and editing name them as people type
them), and can be listed, read, created, renamed or otherwise changed, and deleted. A name is
unique per kind. Deleting refuses while evidence still points at the record (an incident with
media, a party with acknowledgements), because the database would otherwise silently drop or
blank that evidence; a tag is only a label, so deleting it just takes it off its media. Every
change is audited with what it was before and after.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ...db import lock_for_write
from ...models import (
    Acknowledgement,
    Incident,
    Media,
    Party,
    PartyKind,
    Sighting,
    Source,
    SourceKind,
    Tag,
    User,
    media_tags,
)
from .. import Conflict, Invalid, fetch
from ..evidence import audit
from .fields import (
    Cleaner,
    apply_changes,
    choice_cleaner,
    clean_text,
    text_cleaner,
    url_cleaner,
)

T = TypeVar("T", Incident, Source, Party, Tag)


def _named(session: Session, model: type[T], field: str, value: str, limit: int) -> T:
    """Return the ``model`` row whose name column equals ``value``, creating it if needed."""
    value = clean_text(value, field, limit) or ""
    if not value:
        raise Invalid(f"{field} is empty")
    column = getattr(model, "title" if model is Incident else "name")
    found = session.scalar(sa.select(model).where(column == value))
    if found is None:
        found = model(**{column.key: value})
        session.add(found)
        session.flush()
        audit.note_created(session, found)  # an event of its own, by whoever brought it
    return found


def incident_named(session: Session, title: str) -> Incident:
    """Return the incident with this title, creating it if needed."""
    return _named(session, Incident, "incident", title, 300)


def source_named(session: Session, name: str) -> Source:
    """Return the source with this name, creating it if needed."""
    return _named(session, Source, "source", name, 200)


def party_named(session: Session, name: str) -> Party:
    """Return the party with this name, creating it if needed."""
    return _named(session, Party, "party", name, 200)


def tag_named(session: Session, name: str) -> Tag:
    """Return the tag with this name (spaces trimmed), creating it if needed."""
    return _named(session, Tag, "tag", name, 100)


def _date(_session: Session, value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise Invalid("occurred_on must be a date like 2023-05-03") from None


def _party(session: Session, value: Any) -> Party | None:
    return party_named(session, value) if value else None


# The kinds of named record this module serves.
NamedModel = Incident | Source | Party | Tag

# Per kind: its name column, and for every other field a cleaner of what is typed.
NAME_COLUMN = {Incident: "title", Source: "name", Party: "name", Tag: "name"}
NAME_LIMIT = {Incident: 300, Source: 200, Party: 200, Tag: 100}
FIELDS: dict[type, dict[str, Cleaner]] = {
    Incident: {
        "occurred_on": _date,
        "place": text_cleaner("place", 300),
        "summary": text_cleaner("summary", 20000),
    },
    Source: {
        "kind": choice_cleaner(SourceKind, "kind"),
        "platform": text_cleaner("platform", 64),
        "url": url_cleaner("url"),
        "affiliated_party": _party,
        "affiliation": text_cleaner("affiliation", 300),
        "description": text_cleaner("description", 20000),
    },
    Party: {
        "kind": choice_cleaner(PartyKind, "kind"),
        "country": text_cleaner("country", 100),
        "description": text_cleaner("description", 20000),
    },
    Tag: {},
}
NOUN = {Incident: "incident", Source: "source", Party: "party", Tag: "tag"}


def get_named(session: Session, model: type[NamedModel], record_id: int) -> Any:
    """Return the incident, source, party or tag with this id, or raise NotFound."""
    return fetch(session, model, record_id, NOUN[model])


def list_named(session: Session, model: type[NamedModel]) -> list:
    """Return every incident, source, party or tag, by name."""
    return list(session.scalars(sa.select(model).order_by(getattr(model, NAME_COLUMN[model]))))


def tag_counts(session: Session, tag_id: int | None = None) -> dict[int, int]:
    """Return how many media carry each tag (or the one tag asked for), by tag id."""
    query = (
        sa.select(media_tags.c.tag_id, sa.func.count())
        .join(Media, Media.id == media_tags.c.media_id)
        .where(Media.withdrawn_at.is_(None))  # withdrawn media are counted nowhere
        .group_by(media_tags.c.tag_id)
    )
    if tag_id is not None:
        query = query.where(media_tags.c.tag_id == tag_id)
    return {found: count for found, count in session.execute(query)}


def tags_with_counts(session: Session) -> list[tuple[Tag, int]]:
    """Return every tag, by name, with how many media carry it."""
    counts = tag_counts(session)
    return [(tag, counts.get(tag.id, 0)) for tag in list_named(session, Tag)]


def incident_detail(
    session: Session, incident_id: int
) -> tuple[Incident, int, list[Acknowledgement]]:
    """Return an incident, how many media it holds, and the stances on it as a whole."""
    incident = get_named(session, Incident, incident_id)
    count = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Media)
            .where(Media.incident_id == incident_id, Media.withdrawn_at.is_(None))
        )
        or 0
    )
    acks = session.scalars(
        sa.select(Acknowledgement)
        .where(Acknowledgement.incident_id == incident_id)
        .order_by(Acknowledgement.id)
    )
    return incident, count, list(acks)


def incident_media(session: Session, incident_id: int) -> list[Media]:
    """Return the media of an incident, oldest first."""
    return list(
        session.scalars(
            sa.select(Media)
            .where(Media.incident_id == incident_id, Media.withdrawn_at.is_(None))
            .order_by(Media.id)
        )
    )


# The ids of withdrawn media, as a subquery: their sightings and stances are in no list.
_WITHDRAWN = sa.select(Media.id).where(Media.withdrawn_at.is_not(None))


def _not_withdrawn(column: Any) -> Any:
    """A condition: ``column`` names no media, or one not withdrawn."""
    return sa.or_(column.is_(None), column.not_in(_WITHDRAWN))


def source_detail(
    session: Session, source_id: int
) -> tuple[Source, list[Sighting], list[Acknowledgement]]:
    """Return a source, the sightings made through it and the statements it carried."""
    source = get_named(session, Source, source_id)
    sightings = session.scalars(
        sa.select(Sighting)
        .where(Sighting.source_id == source_id, Sighting.media_id.not_in(_WITHDRAWN))
        .order_by(sa.func.coalesce(Sighting.posted_at, Sighting.observed_at, Sighting.created_at))
        .options(selectinload(Sighting.media))
    )
    acks = session.scalars(
        sa.select(Acknowledgement)
        .where(Acknowledgement.source_id == source_id, _not_withdrawn(Acknowledgement.media_id))
        .order_by(Acknowledgement.id)
        .options(
            selectinload(Acknowledgement.party),
            selectinload(Acknowledgement.media),
            selectinload(Acknowledgement.incident),
        )
    )
    return source, list(sightings), list(acks)


def party_detail(
    session: Session, party_id: int
) -> tuple[Party, list[Acknowledgement], list[Source]]:
    """Return a party, its acknowledgements (of media and incidents) and its affiliated sources."""
    party = get_named(session, Party, party_id)
    acks = session.scalars(
        sa.select(Acknowledgement)
        .where(Acknowledgement.party_id == party_id, _not_withdrawn(Acknowledgement.media_id))
        .order_by(Acknowledgement.id)
        .options(
            selectinload(Acknowledgement.media),
            selectinload(Acknowledgement.incident),
            selectinload(Acknowledgement.source),
        )
    )
    sources = session.scalars(
        sa.select(Source).where(Source.affiliated_party_id == party_id).order_by(Source.name)
    )
    return party, list(acks), list(sources)


def _clean_name(
    session: Session, model: type[NamedModel], value: Any, record_id: int | None = None
) -> str:
    key = NAME_COLUMN[model]
    name = clean_text(value, key, NAME_LIMIT[model])
    if not name:
        raise Invalid(f"{key} is required")
    clash = session.scalar(sa.select(model.id).where(getattr(model, key) == name))
    if clash is not None and clash != record_id:
        raise Conflict(f"{NOUN[model]} {name!r} already exists")
    return name


def _apply(
    session: Session, model: type[NamedModel], record: Any, values: dict[str, Any]
) -> dict[str, Any]:
    """Set the given fields (the name checked for clashes); return what changed."""
    key = NAME_COLUMN[model]

    def name(session: Session, value: Any) -> str:
        return _clean_name(session, model, value, record.id)

    return apply_changes(session, record, values, {key: name, **FIELDS[model]}, NOUN[model])


def create_named(
    session: Session, model: type[NamedModel], values: dict[str, Any], actor: User | None
) -> Any:
    """Create an incident, source, party or tag; its name must be new."""
    lock_for_write(session)
    key = NAME_COLUMN[model]
    record = model(**{key: _clean_name(session, model, values.get(key))})
    session.add(record)
    changes = _apply(
        session, model, record, {k: v for k, v in values.items() if k != key and v is not None}
    )
    session.flush()
    details = {
        key: getattr(record, key),
        **{field: change["to"] for field, change in changes.items()},
    }
    audit.record(session, actor, f"{NOUN[model]}.create", NOUN[model], record.id, details)
    session.commit()
    return record


def update_named(
    session: Session,
    model: type[NamedModel],
    record_id: int,
    values: dict[str, Any],
    actor: User | None,
) -> Any:
    """Change the given fields of an incident, source, party or tag (null clears a field)."""
    lock_for_write(session)
    record = get_named(session, model, record_id)
    changes = _apply(session, model, record, values)
    if changes:
        session.flush()
        audit.record(
            session, actor, f"{NOUN[model]}.update", NOUN[model], record.id, {"changes": changes}
        )
        session.commit()
    else:
        session.rollback()
    return record


# What refers to each kind of record, as (what, foreign key column).
REFERENCES: dict[type, list[tuple[str, Any]]] = {
    Incident: [("media", Media.incident_id), ("acknowledgements", Acknowledgement.incident_id)],
    Source: [("sightings", Sighting.source_id), ("acknowledgements", Acknowledgement.source_id)],
    Party: [
        ("acknowledgements", Acknowledgement.party_id),
        ("affiliated sources", Source.affiliated_party_id),
    ],
    Tag: [],
}


def _uses(session: Session, model: type[NamedModel], record_id: int) -> list[str]:
    """Say what still points at a record, in words; empty when nothing does."""
    found = [
        (what, session.scalar(sa.select(sa.func.count()).where(column == record_id)) or 0)
        for what, column in REFERENCES[model]
    ]
    return [f"{n} {what}" for what, n in found if n]


def delete_named(
    session: Session, model: type[NamedModel], record_id: int, actor: User | None
) -> None:
    """Delete an incident, source or party nothing refers to, or a tag (taken off its media)."""
    lock_for_write(session)
    record = get_named(session, model, record_id)
    uses = _uses(session, model, record_id)
    name = getattr(record, NAME_COLUMN[model])
    if uses:
        raise Conflict(
            f"{NOUN[model]} {name!r} is still used by {' and '.join(uses)}; change those first"
        )
    details: dict[str, Any] = {NAME_COLUMN[model]: name}
    if model is Tag:
        details["media"] = sorted(m.id for m in record.media)
        for media in record.media:
            audit.record(session, actor, "media.untag", "media", media.id, {"tag": name})
    audit.record(session, actor, f"{NOUN[model]}.delete", NOUN[model], record.id, details)
    session.delete(record)
    session.commit()
