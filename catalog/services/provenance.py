"""Provenance at a glance: the earliest sighting of a media and where each party stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ..models import AckStatus, Acknowledgement, Sighting

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


def _when(sighting: Sighting) -> datetime | None:
    return sighting.posted_at or sighting.observed_at


def _iso(moment: datetime | None) -> str | None:
    """Return the time in UTC as ISO 8601 (objects not yet reloaded keep their input offset)."""
    return moment.astimezone(timezone.utc).isoformat() if moment is not None else None


def summarise(session: Session, media_ids: list[int]) -> dict[int, ProvenanceSummary]:
    """Return the provenance summary of each media, in two queries for any number of media."""
    summaries = {media_id: ProvenanceSummary() for media_id in media_ids}
    if not media_ids:
        return summaries
    sightings = session.scalars(
        sa.select(Sighting).where(Sighting.media_id.in_(media_ids)).options(selectinload(Sighting.source))
    ).all()
    for sighting in sightings:
        summary = summaries[sighting.media_id]
        summary.sightings += 1
        when = _when(sighting)
        current = summary.earliest_sighting
        if current is None or (when is not None and (current["time"] is None or _iso(when) < current["time"])):
            summary.earliest_sighting = {
                "time": _iso(when),
                "url": sighting.url,
                "platform": sighting.platform,
                "source": sighting.source.name if sighting.source else None,
                "deleted_at": _iso(sighting.deleted_at),
            }
    acknowledgements = session.scalars(
        sa.select(Acknowledgement)
        .where(Acknowledgement.media_id.in_(media_ids))
        .options(selectinload(Acknowledgement.party), selectinload(Acknowledgement.source))
    ).all()
    strongest: dict[tuple[int, int], Acknowledgement] = {}
    for ack in acknowledgements:
        key = (ack.media_id, ack.party_id)
        held = strongest.get(key)
        if held is None or STATUS_ORDER.index(ack.status) < STATUS_ORDER.index(held.status):
            strongest[key] = ack
    for (media_id, _party), ack in sorted(strongest.items(), key=lambda item: item[1].party.name):
        summaries[media_id].acknowledgements.append(
            {
                "party": ack.party.name,
                "status": ack.status.value,
                "statement": ack.statement,
                "source": ack.source.name if ack.source else None,
                "url": ack.statement_url,
                "stated_at": _iso(ack.stated_at),
            }
        )
    return summaries
