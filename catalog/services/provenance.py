"""Provenance at a glance: the earliest sighting of a media and where each party stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import AckStatus, Acknowledgement, Media, Party, Sighting, Source

# Strongest stance first: an official acknowledgement outweighs an airing on state media.
STATUS_ORDER = [AckStatus.OFFICIAL, AckStatus.SEMI_OFFICIAL, AckStatus.DENIED, AckStatus.UNACKNOWLEDGED]


@dataclass
class ProvenanceSummary:
    """The earliest known sighting and each party's strongest acknowledgement."""

    earliest_sighting: dict[str, Any] | None = None
    sightings: int = 0
    acknowledgements: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data."""
        return {
            "earliest_sighting": self.earliest_sighting,
            "sightings": self.sightings,
            "acknowledgements": self.acknowledgements,
        }


def _iso(moment: datetime | None) -> str | None:
    """Return the time in UTC as ISO 8601 (objects not yet reloaded keep their input offset)."""
    return moment.astimezone(timezone.utc).isoformat() if moment is not None else None


# Built once: these run for every search answer, and as plain column queries with the names
# joined in (no ORM objects, no statement built per call) they cost a third as much.
_SIGHTINGS = (
    sa.select(
        Sighting.media_id, Sighting.posted_at, Sighting.observed_at, Sighting.url,
        Sighting.platform, Sighting.deleted_at, Source.name,
    )
    .outerjoin(Source, Sighting.source_id == Source.id)
    .where(Sighting.media_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(Sighting.id)
)
_ACKNOWLEDGEMENTS = (
    sa.select(
        Acknowledgement.media_id, Party.name, Acknowledgement.status, Acknowledgement.statement,
        Source.name, Acknowledgement.statement_url, Acknowledgement.stated_at,
    )
    .join(Party, Acknowledgement.party_id == Party.id)
    .outerjoin(Source, Acknowledgement.source_id == Source.id)
    .where(Acknowledgement.media_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(Acknowledgement.id)
)


def summarise(session: Session, media_ids: list[int]) -> dict[int, ProvenanceSummary]:
    """Return the provenance summary of each media, in two queries for any number of media."""
    if not media_ids:
        return {}
    return _summaries(
        media_ids,
        session.execute(_SIGHTINGS, {"ids": media_ids}),
        session.execute(_ACKNOWLEDGEMENTS, {"ids": media_ids}),
    )


def summarise_loaded(media: Media) -> ProvenanceSummary:
    """Return the provenance summary of a media whose sightings and acknowledgements are loaded."""
    sightings = [
        (media.id, s.posted_at, s.observed_at, s.url, s.platform, s.deleted_at, s.source.name if s.source else None)
        for s in sorted(media.sightings, key=lambda s: s.id)
    ]
    acks = [
        (media.id, a.party.name, a.status, a.statement, a.source.name if a.source else None, a.statement_url, a.stated_at)
        for a in sorted(media.acknowledgements, key=lambda a: a.id)
    ]
    return _summaries([media.id], sightings, acks)[media.id]


def _summaries(media_ids: list[int], sightings: Iterable[Any], acknowledgements: Iterable[Any]) -> dict[int, ProvenanceSummary]:
    """Build the summaries from rows shaped as _SIGHTINGS and _ACKNOWLEDGEMENTS return them."""
    summaries = {media_id: ProvenanceSummary() for media_id in media_ids}
    for media_id, posted_at, observed_at, url, platform, deleted_at, source in sightings:
        summary = summaries[media_id]
        summary.sightings += 1
        when = _iso(posted_at or observed_at)
        current = summary.earliest_sighting
        if current is None or (when is not None and (current["time"] is None or when < current["time"])):
            summary.earliest_sighting = {
                "time": when, "url": url, "platform": platform, "source": source, "deleted_at": _iso(deleted_at),
            }
    strongest: dict[tuple[int, str], tuple] = {}
    for row in acknowledgements:
        key = (row[0], row[1])
        held = strongest.get(key)
        if held is None or STATUS_ORDER.index(row[2]) < STATUS_ORDER.index(held[2]):
            strongest[key] = tuple(row)
    for (media_id, party), (_, _, status, statement, source, url, stated_at) in sorted(strongest.items(), key=lambda item: item[0][1]):
        summaries[media_id].acknowledgements.append(
            {"party": party, "status": status.value, "statement": statement, "source": source, "url": url, "stated_at": _iso(stated_at)}
        )
    return summaries
