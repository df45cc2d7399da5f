"""The named records analysts share across media: incidents, sources, parties and tags.

Each is found by its name or made on first use (ingest and editing name them as people type
them), and can be listed, read, created, renamed or otherwise changed, and deleted. A name is
unique per kind. Deleting refuses while evidence still points at the record (an incident with
media, a party with acknowledgements), because the database would otherwise silently drop or
blank that evidence; a tag is only a label, so deleting it just takes it off its media. Every
change is audited with what it was before and after.

Two parties, or two sources, found to be one (typed twice, spelt two ways) are merged: every
reference to the one merged moves to the one kept, the merged record is deleted, and its name
stays an alias of the one kept, so that a look-up by it finds the one kept.
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
from .fields import shown as as_shown

T = TypeVar("T", Incident, Source, Party, Tag)


def _named(session: Session, model: type[T], field: str, value: str, limit: int) -> T:
    """Return the ``model`` row whose name column equals ``value``, creating it if needed."""
    value = clean_text(value, field, limit) or ""
    if not value:
        raise Invalid(f"{field} is empty")
    column = getattr(model, "title" if model is Incident else "name")
    found = session.scalar(sa.select(model).where(column == value))
    if found is None:
        found = _aliased(session, model, value)
    if found is None:
        found = model(**{column.key: value})
        session.add(found)
        session.flush()
        audit.note_created(session, found)  # an event of its own, by whoever brought it
    return found


def _aliased(session: Session, model: type, name: str) -> Any:
    """Return the party or source that ``name`` was merged into, if any (None for the kinds
    that are never merged)."""
    aliases = getattr(model, "aliases", None)
    if aliases is None:
        return None
    # Only merged-into records carry aliases, so this reads few rows; JSON containment is
    # spelt differently by every database.
    found: Any
    for found in session.scalars(sa.select(model).where(aliases.is_not(None))):
        if name in (found.aliases or []):
            return found
    return None


def find_named(session: Session, model: type[Party] | type[Source], name: Any) -> Any:
    """Return the party or source with this name (or alias), or None; never creates one."""
    name = clean_text(name, NOUN[model], 200) if isinstance(name, str) else None
    if not name:
        return None
    found = session.scalar(sa.select(model).where(model.name == name))
    return found if found is not None else _aliased(session, model, name)


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


def _prefixed(column: Any, prefix: str) -> Any:
    """The condition that ``column`` starts with ``prefix``, case ignored, wildcards literal."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"{escaped}%", escape="\\")


def starts_with(name: str, prefix: str | None) -> bool:
    """Whether a name starts with ``prefix`` (case ignored); any name does without one."""
    prefix = (prefix or "").strip()
    return not prefix or name.casefold().startswith(prefix.casefold())


def list_named(session: Session, model: type[NamedModel], prefix: str | None = None) -> list:
    """Return every incident, source, party or tag, by name (only those whose name starts
    with ``prefix``, case ignored, when one is given)."""
    column = getattr(model, NAME_COLUMN[model])
    query = sa.select(model).order_by(column)
    if prefix and prefix.strip():
        query = query.where(_prefixed(column, prefix.strip()))
    return list(session.scalars(query))


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
    merged = _aliased(session, model, name)
    if merged is not None and merged.id != record_id:
        raise Conflict(f"{NOUN[model]} {name!r} was merged into {merged.name!r}")
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


# What moves when a party or a source is merged into another: every column referring to it.
MERGED_REFERENCES: dict[type, list[tuple[str, Any]]] = {
    Party: [
        ("acknowledgements", Acknowledgement.party_id),
        ("affiliated_sources", Source.affiliated_party_id),
    ],
    Source: [
        ("sightings", Sighting.source_id),
        ("acknowledgements", Acknowledgement.source_id),
    ],
}
# The fields a merged record gives the one kept when the one kept has none.
MERGED_FIELDS = {
    Party: ("country", "description"),
    Source: ("platform", "url", "affiliated_party_id", "affiliation", "description"),
}


def suggest_names(
    session: Session, model: type[Party] | type[Source], prefix: str = "", limit: int = 500
) -> list[str]:
    """Return up to ``limit`` party or source names, the most recent first (those starting
    with ``prefix``, ignoring case, when one is given)."""
    query = sa.select(model.name).order_by(model.id.desc()).limit(max(1, min(limit, 500)))
    prefix = (prefix or "").strip()
    if prefix:
        query = query.where(_prefixed(model.name, prefix))
    return list(session.scalars(query))


def merge_named(
    session: Session,
    model: type[Party] | type[Source],
    record_id: int,
    into_id: Any,
    actor: User | None,
) -> Any:
    """Merge a party or source into another: move every reference, keep its name as an alias
    of the one kept, delete it; one audited transaction. Return the one kept."""
    noun = NOUN[model]
    if not isinstance(into_id, int) or isinstance(into_id, bool):
        raise Invalid(f"give the id of the {noun} to merge into")
    if into_id == record_id:
        raise Invalid(f"a {noun} cannot be merged into itself")
    lock_for_write(session)
    merged = get_named(session, model, record_id)
    kept = get_named(session, model, into_id)
    moved: dict[str, list[int]] = {}
    for what, column in MERGED_REFERENCES[model]:
        table = column.class_
        ids = list(session.scalars(sa.select(table.id).where(column == merged.id)))
        if ids:
            session.execute(
                sa.update(table).where(table.id.in_(ids)).values({column.key: kept.id}),
                execution_options={"synchronize_session": False},
            )
        moved[what] = sorted(ids)
    filled = {}
    for name in MERGED_FIELDS[model]:
        if getattr(kept, name) is None and getattr(merged, name) is not None:
            setattr(kept, name, getattr(merged, name))
            filled[name] = as_shown(getattr(merged, name))
    aliases = [*(kept.aliases or []), merged.name, *(merged.aliases or [])]
    kept.aliases = sorted(set(aliases) - {kept.name})
    details = {
        "merged": {"id": merged.id, "name": merged.name},
        "into": {"id": kept.id, "name": kept.name},
        "moved": moved,
        "filled": filled,
        "aliases": kept.aliases,
    }
    session.flush()
    session.expire_all()  # the moved rows were changed behind the ORM's back
    merged = get_named(session, model, record_id)
    session.delete(merged)
    session.flush()
    audit.record(session, actor, f"{noun}.merge", noun, kept.id, details)
    session.commit()
    return get_named(session, model, into_id)
