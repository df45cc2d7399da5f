"""The text of a media's records, kept searchable as the records change: its title,
description and credit, its sightings' captions, accounts and sources, the statements and
names of the parties that took a stance on it or on its incident, its incident's title, and
what the captures of its posts read on the page.

Every commit that touches one of those records re-writes the text of the media it concerns,
in the same transaction: a session hook notes what a flush changed, and before the commit
the media concerned get their record text anew. No service has to remember to do it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, selectinload

from ...models import Acknowledgement, Capture, Incident, Media, MediaText, Party, Sighting, Source
from ...text.query import RECORD_FIELDS
from .entries import add_entries, make_entry

_PENDING = "text_pending"
# The attributes whose change changes a record's text; other edits cost nothing here.
_WATCHED: dict[type, tuple[str, ...]] = {
    Media: ("title", "description", "credit", "incident_id", "withdrawn_at"),
    Sighting: ("caption", "account", "source_id", "media_id", "capture_id"),
    Acknowledgement: ("statement", "party_id", "media_id", "incident_id"),
    Incident: ("title",),
    Party: ("name",),
    Source: ("name",),
    Capture: ("post",),
}


def record_entries(media: Media) -> Iterator[MediaText | None]:
    """The rows for what the records of ``media`` say (its sightings and stances loaded)."""
    mid = media.id
    yield make_entry(mid, "title", media.title or "", source="media")
    yield make_entry(mid, "description", media.description or "", source="media")
    yield make_entry(mid, "credit", media.credit or "", source="media")
    for sighting in media.sightings:
        yield make_entry(
            mid, "caption", sighting.caption or "", source="sighting", ref_id=sighting.id
        )
        yield make_entry(
            mid, "account", sighting.account or "", source="sighting", ref_id=sighting.id
        )
        if sighting.source is not None:
            yield make_entry(
                mid, "source", sighting.source.name, source="source", ref_id=sighting.source.id
            )
        if sighting.capture_id is not None:
            yield from _capture_entries(mid, sighting)
    stances = list(media.acknowledgements)
    if media.incident is not None:
        yield make_entry(
            mid, "incident", media.incident.title, source="incident", ref_id=media.incident.id
        )
        stances += _incident_stances(media.incident)
    for ack in stances:
        yield make_entry(
            mid, "statement", ack.statement or "", source="acknowledgement", ref_id=ack.id
        )
        yield make_entry(mid, "party", ack.party.name, source="party", ref_id=ack.party_id)


def _incident_stances(incident: Incident) -> list[Acknowledgement]:
    session = sa.inspect(incident).session
    assert session is not None
    return list(
        session.scalars(
            sa.select(Acknowledgement)
            .where(Acknowledgement.incident_id == incident.id, Acknowledgement.media_id.is_(None))
            .options(selectinload(Acknowledgement.party))
        )
    )


def _capture_entries(media_id: int, sighting: Sighting) -> Iterator[MediaText | None]:
    session = sa.inspect(sighting).session
    assert session is not None
    capture = session.get(Capture, sighting.capture_id)
    post = (capture.post if capture is not None else None) or {}
    said = [post.get(key) for key in ("title", "caption", "visible_text")]
    text = "\n".join(s for s in said if isinstance(s, str) and s.strip())
    yield make_entry(media_id, "capture", text, source="capture", ref_id=sighting.capture_id)


def reindex_records(session: Session, media_ids: Iterable[int]) -> int:
    """Write the record text of these media anew; return how many rows were written."""
    ids = sorted(set(media_ids))
    written = 0
    for start in range(0, len(ids), 200):
        chunk = ids[start : start + 200]
        session.execute(
            sa.delete(MediaText).where(
                MediaText.media_id.in_(chunk), MediaText.field.in_(RECORD_FIELDS)
            )
        )
        media = session.scalars(
            sa.select(Media)
            .where(Media.id.in_(chunk))
            .options(
                selectinload(Media.sightings).selectinload(Sighting.source),
                selectinload(Media.acknowledgements).selectinload(Acknowledgement.party),
                selectinload(Media.incident),
            )
        )
        for one in media:
            written += add_entries(session, record_entries(one))
    return written


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _note_changes(session: Session, _context: Any, _instances: Any) -> None:
    pending: dict[str, set[Any]] = session.info.setdefault(_PENDING, {})
    for obj in (*session.new, *session.dirty, *session.deleted):
        watched = _WATCHED.get(type(obj))
        if watched is None:
            continue
        if obj not in session.new and obj not in session.deleted and not _changed(obj, watched):
            continue
        if isinstance(obj, Media):
            if obj not in session.deleted:
                pending.setdefault("media", set()).add(obj)
        elif isinstance(obj, (Sighting, Acknowledgement)):
            media_id = obj.media_id if obj.media_id is not None else getattr(obj.media, "id", None)
            if media_id is not None or obj.media is not None:
                pending.setdefault("media", set()).add(obj.media if media_id is None else media_id)
            if isinstance(obj, Acknowledgement) and obj.incident_id is not None:
                pending.setdefault("incidents", set()).add(obj.incident_id)
            history = sa.inspect(obj).attrs["media_id"].history  # type: ignore[attr-defined]
            pending.setdefault("media", set()).update(i for i in history.deleted if i is not None)
        else:
            pending.setdefault(type(obj).__name__.lower(), set()).add(obj)


def _ids(items: Iterable[Any]) -> set[int]:
    """Ids of what was noted: ids as they are, objects by the id their flush gave them."""
    found = {item if isinstance(item, int) else item.id for item in items}
    return {i for i in found if i is not None}


def _affected(session: Session, pending: dict[str, set[Any]]) -> set[int]:
    ids = _ids(pending.get("media", ()))
    incidents = _ids([*pending.get("incident", ()), *pending.get("incidents", ())])
    if incidents:
        ids.update(session.scalars(sa.select(Media.id).where(Media.incident_id.in_(incidents))))
    parties = _ids(pending.get("party", ()))
    if parties:
        stances = sa.select(Acknowledgement).where(Acknowledgement.party_id.in_(parties))
        for ack in session.scalars(stances):
            if ack.media_id is not None:
                ids.add(ack.media_id)
            if ack.incident_id is not None:
                ids.update(
                    session.scalars(sa.select(Media.id).where(Media.incident_id == ack.incident_id))
                )
    for key, column in (("source", Sighting.source_id), ("capture", Sighting.capture_id)):
        chosen = _ids(pending.get(key, ()))
        if chosen:
            ids.update(session.scalars(sa.select(Sighting.media_id).where(column.in_(chosen))))
    return ids


def _write_pending(session: Session) -> None:
    session.flush()  # what is still unflushed is noted too, with the ids of what is new
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    ids = _affected(session, pending)
    if ids:
        reindex_records(session, ids)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


def init_hooks() -> None:
    """Keep record text searchable on every commit of every session (once per process)."""
    if not event.contains(Session, "before_flush", _note_changes):
        event.listen(Session, "before_flush", _note_changes)
        event.listen(Session, "before_commit", _write_pending)
        event.listen(Session, "after_rollback", _forget)
