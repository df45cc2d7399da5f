"""An incident told as an analyst asks after it: for each cluster of copies, who acknowledged
which clip (party and status) and where it was first seen, deleted or not; and the incident's
timeline (sightings, deletions, captures, statements) in time order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ...models import Acknowledgement, Capture, CaptureMedia, Sighting
from ..evidence import capture_citations


@dataclass
class ClusterStory:
    """One cluster of copies: its media, their acknowledgements and its first sighting."""

    media_ids: list[int]
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    first_sighting: Sighting | None = None


@dataclass
class TimelineEntry:
    """One moment of an incident: a post, its deletion, a capture or a statement."""

    at: datetime
    kind: str  # "sighting", "deleted", "capture", "statement"
    media_id: int | None
    sighting: Sighting | None = None
    acknowledgement: Acknowledgement | None = None
    capture: Capture | None = None


@dataclass
class IncidentStory:
    """The clusters of an incident and its timeline."""

    clusters: list[ClusterStory]
    timeline: list[TimelineEntry]
    # How to cite each capture shown (first sightings, captures in the timeline): its archive
    # and screenshot with their SHA-256 and its trusted timestamps, by capture id.
    citations: dict[int, Any] = field(default_factory=dict)


def _seen_at(sighting: Sighting) -> datetime | None:
    return sighting.posted_at or sighting.observed_at


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive times; every stored time is UTC. A time still held as it was
    # given (with its own offset, by the session that wrote it) is told in UTC like the rest.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def incident_story(session: Session, incident_id: int, groups: list[list[int]]) -> IncidentStory:
    """Return each cluster's acknowledgements and first sighting, and the incident's timeline."""
    media_ids = sorted({m for group in groups for m in group})
    sightings = list(
        session.scalars(
            sa.select(Sighting)
            .where(Sighting.media_id.in_(media_ids))
            .options(selectinload(Sighting.source))
        )
    )
    acks = list(
        session.scalars(
            sa.select(Acknowledgement)
            .where(
                sa.or_(
                    Acknowledgement.media_id.in_(media_ids),
                    Acknowledgement.incident_id == incident_id,
                )
            )
            .options(selectinload(Acknowledgement.party), selectinload(Acknowledgement.source))
        )
    )
    captures = list(
        session.scalars(
            sa.select(Capture)
            .where(
                sa.or_(
                    Capture.incident_id == incident_id,
                    Capture.id.in_(
                        sa.select(CaptureMedia.capture_id).where(
                            CaptureMedia.media_id.in_(media_ids)
                        )
                    ),
                )
            )
            .options(selectinload(Capture.found))
        )
    )
    clusters = []
    for group in groups:
        members = set(group)
        dated = [s for s in sightings if s.media_id in members and _seen_at(s) is not None]
        first = min(dated, key=lambda s: (_aware(_seen_at(s)), s.id), default=None)  # type: ignore[arg-type]
        held = sorted(
            (a for a in acks if a.media_id in members),
            key=lambda a: (a.party.name.casefold(), a.status.value, a.id),
        )
        clusters.append(ClusterStory(list(group), held, first))
    timeline: list[TimelineEntry] = []
    for s in sightings:
        seen = _seen_at(s)
        if seen is not None:
            timeline.append(TimelineEntry(_aware(seen), "sighting", s.media_id, sighting=s))
        if s.deleted_at is not None:
            timeline.append(TimelineEntry(_aware(s.deleted_at), "deleted", s.media_id, sighting=s))
    for a in acks:
        # An undated stance ("not referred to in any statement") has no moment in the day;
        # the cluster shows it. The time it was recorded would mislead here.
        if a.stated_at is not None:
            entry = TimelineEntry(_aware(a.stated_at), "statement", a.media_id, acknowledgement=a)
            timeline.append(entry)
    for c in captures:
        done = c.finished_at or c.created_at
        found = next((f.media_id for f in c.found if f.media_id in media_ids), None)
        timeline.append(TimelineEntry(_aware(done), "capture", found, capture=c))
    order = {"sighting": 0, "capture": 1, "statement": 2, "deleted": 3}
    timeline.sort(key=lambda e: (e.at, order[e.kind], e.media_id or 0))
    cited = [c.first_sighting.capture_id for c in clusters if c.first_sighting is not None]
    cited += [e.capture.id for e in timeline if e.capture is not None]
    cited += [e.sighting.capture_id for e in timeline if e.sighting is not None]
    return IncidentStory(clusters, timeline, capture_citations(session, cited))
