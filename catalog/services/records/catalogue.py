"""Reading and recording in the catalogue: one media with everything about it, filtered
lists with cursors, look-ups by SHA-256 and by URL, and the small records an analyst adds
afterwards to connect them (link reviews). Changes to records live in ``editing`` and
``named``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from ...db import lock_for_write
from ...models import (
    Acknowledgement,
    AckStatus,
    AuditEvent,
    Incident,
    LinkReview,
    Media,
    MediaHash,
    MediaKind,
    MediaLink,
    Party,
    Sighting,
    Source,
    Tag,
    User,
    Verification,
    utcnow,
)
from ...urls import canonical_url
from .. import Invalid, NotFound, fetch
from ..evidence import DEFAULT_CONFIDENCE, ProvenanceSummary, audit, summarise
from .fields import clean_text

# Built once: reading one media is the commonest request after search. The incident and the
# few tags come in the media's own query (a join); each longer list in a query of its own.
_MEDIA_RELATIONS = (
    selectinload(Media.hashes),
    selectinload(Media.sightings).selectinload(Sighting.source),
    selectinload(Media.acknowledgements).selectinload(Acknowledgement.party),
    selectinload(Media.acknowledgements).selectinload(Acknowledgement.source),
    joinedload(Media.tags),
    joinedload(Media.incident),
)
_MEDIA = sa.select(Media).where(Media.id == sa.bindparam("id")).options(*_MEDIA_RELATIONS)
# A look-up by SHA-256 is a match: a withdrawn media is not found by it.
_MEDIA_BY_SHA256 = (
    sa.select(Media)
    .where(Media.sha256 == sa.bindparam("sha256"), Media.withdrawn_at.is_(None))
    .options(*_MEDIA_RELATIONS)
)
_LINKS = (
    sa.select(MediaLink)
    .where(
        sa.or_(
            MediaLink.source_media_id == sa.bindparam("id"),
            MediaLink.target_media_id == sa.bindparam("id"),
        )
    )
    .order_by(MediaLink.id)
)


def get_media(session: Session, media_id: int) -> Media:
    """Return the media with this id, its relations loaded, or raise NotFound."""
    # unique(): the joined tags repeat the media's row once per tag.
    media = session.execute(_MEDIA, {"id": media_id}).unique().scalar_one_or_none()
    if media is None:
        raise NotFound(f"no media with id {media_id}")
    return media


def find_media(session: Session, media_id: int, *, withdrawn: bool = False) -> Media:
    """Return the media row alone (for serving its files), or raise NotFound; a withdrawn
    media only where ``withdrawn`` says the reader may see it (analysts)."""
    media = fetch(session, Media, media_id, "media")
    if media.withdrawn_at is not None and not withdrawn:
        raise NotFound(f"no media with id {media_id}")
    return media


# Built once: a video page asks for each still of its keyframe strip.
_FRAME_TIMES = (
    sa.select(MediaHash.frame_time_s)
    .where(MediaHash.media_id == sa.bindparam("id"), MediaHash.frame_time_s.is_not(None))
    .distinct()
    .order_by(MediaHash.frame_time_s)
)


def frame_times(session: Session, media_id: int) -> list[float]:
    """Return the times (seconds) of a video's sampled frames, in order."""
    return list(session.scalars(_FRAME_TIMES, {"id": media_id}))


def links_of(session: Session, media_id: int) -> list[MediaLink]:
    """Return the links from and to a media."""
    return list(session.scalars(_LINKS, {"id": media_id}))


@dataclass
class MediaRecord:
    """Everything the media page shows: the media, its links, provenance, history, frames."""

    media: Media
    links: list[MediaLink]
    provenance: ProvenanceSummary
    audit: list[AuditEvent]
    frame_times: list[float]
    # Incidents its copies belong to, offered when it belongs to none itself.
    offered_incidents: list[Incident] = field(default_factory=list)


def describe(
    session: Session, media_id: int, min_confidence: float = DEFAULT_CONFIDENCE
) -> MediaRecord:
    """Return a media with its links (and the media at their other ends), provenance and audit."""
    media = get_media(session, media_id)
    links = list(
        session.scalars(
            _LINKS.options(
                selectinload(MediaLink.source_media), selectinload(MediaLink.target_media)
            ),
            {"id": media_id},
        )
    )
    # A link to a withdrawn media is not shown (on a withdrawn media's own page, all are).
    links = [
        link
        for link in links
        if link.source_media.withdrawn_at is None or link.source_media_id == media_id
        if link.target_media.withdrawn_at is None or link.target_media_id == media_id
    ]
    times = sorted({h.frame_time_s for h in media.hashes if h.frame_time_s is not None})
    provenance = summarise(session, [media_id], min_confidence, known={media_id: media})[media_id]
    offered: list[Incident] = []
    if media.incident_id is None:
        ids = {c["incident_id"] for c in provenance.cluster if c.get("incident_id") is not None}
        if ids:
            offered = list(
                session.scalars(
                    sa.select(Incident).where(Incident.id.in_(ids)).order_by(Incident.title)
                )
            )
    return MediaRecord(
        media, links, provenance, audit.media_history(session, media_id), times, offered
    )


def by_sha256(session: Session, sha256: str) -> Media:
    """Return the media whose bytes have this SHA-256, or raise NotFound."""
    media = session.scalar(
        sa.select(Media).where(Media.sha256 == sha256.lower(), Media.withdrawn_at.is_(None))
    )
    if media is None:
        raise NotFound("no media with that SHA-256")
    return media


def get_media_by_sha256(session: Session, sha256: str) -> Media:
    """Return the media whose bytes have this SHA-256, its relations loaded (as ``get_media``),
    or raise NotFound."""
    media = (
        session.execute(_MEDIA_BY_SHA256, {"sha256": sha256.lower()}).unique().scalar_one_or_none()
    )
    if media is None:
        raise NotFound("no media with that SHA-256")
    return media


def by_url(session: Session, url: str) -> list[Media]:
    """Return the media seen at this URL in any common spelling of it (a sighting's URL by
    canonical form, or its archive URL as given)."""
    given = clean_text(url, "URL", 2048)  # a NUL would reach PostgreSQL and fail there
    if given is None:
        return []
    canonical = canonical_url(given)
    return list(
        session.scalars(
            sa.select(Media)
            .join(Sighting, Sighting.media_id == Media.id)
            .where(
                sa.or_(Sighting.url_canonical == canonical, Sighting.archive_url == given),
                Media.withdrawn_at.is_(None),
            )
            .distinct()
            .order_by(Media.id)
        )
    )


@dataclass
class MediaFilter:
    """What a media list is narrowed by; every field optional."""

    incident: str | None = None
    kind: str | None = None
    party: str | None = None
    status: str | None = None
    source: str | None = None
    tag: str | None = None
    verification: str | None = None
    added_after: datetime | None = None
    added_before: datetime | None = None
    seen_after: datetime | None = None
    seen_before: datetime | None = None
    q: str | None = None


def narrowed(query: sa.Select[Any], wanted: MediaFilter) -> sa.Select[Any]:
    """``query`` (over Media) narrowed by every filter ``wanted`` sets."""
    if wanted.incident:
        query = query.join(Incident, Media.incident_id == Incident.id).where(
            Incident.title == wanted.incident
        )
    if wanted.kind:
        query = query.where(Media.kind == MediaKind(wanted.kind))
    if wanted.verification:
        query = query.where(Media.verification == Verification(wanted.verification))
    if wanted.party:
        acks = sa.select(Acknowledgement.media_id).join(Party).where(Party.name == wanted.party)
        if wanted.status:
            acks = acks.where(Acknowledgement.status == AckStatus(wanted.status))
        query = query.where(Media.id.in_(acks))
    if wanted.source or wanted.seen_after or wanted.seen_before:
        seen = sa.select(Sighting.media_id)
        if wanted.source:
            seen = seen.join(Source, Sighting.source_id == Source.id).where(
                Source.name == wanted.source
            )
        when = sa.func.coalesce(Sighting.posted_at, Sighting.observed_at)
        if wanted.seen_after:
            seen = seen.where(when >= wanted.seen_after)
        if wanted.seen_before:
            seen = seen.where(when < wanted.seen_before)
        query = query.where(Media.id.in_(seen))
    if wanted.tag:
        query = query.where(Media.tags.any(Tag.name == wanted.tag))
    if wanted.added_after:
        query = query.where(Media.created_at >= wanted.added_after)
    if wanted.added_before:
        query = query.where(Media.created_at < wanted.added_before)
    if wanted.q:
        pattern = "%" + wanted.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            sa.or_(
                *(
                    sa.func.lower(c).like(pattern.lower(), escape="\\")
                    for c in (Media.title, Media.description, Media.credit)
                )
            )
        )
    return query


def filtered_ids(wanted: MediaFilter) -> sa.Select[tuple[int]] | None:
    """The ids of the media ``wanted`` narrows to (withdrawn ones left out), or None when it
    sets no filter."""
    if not any(v for v in vars(wanted).values()):
        return None
    return narrowed(sa.select(Media.id).where(Media.withdrawn_at.is_(None)), wanted)


def list_media(
    session: Session, wanted: MediaFilter, *, cursor: int | None = None, limit: int = 50
) -> tuple[list[Media], int | None]:
    """Return a page of media, newest first, and the cursor of the next page (or None)."""
    query = (
        sa.select(Media)
        .options(selectinload(Media.incident))
        .where(Media.withdrawn_at.is_(None))  # a withdrawn media is in no list
        .order_by(Media.id.desc())
    )
    if cursor is not None:
        query = query.where(Media.id < cursor)
    query = narrowed(query, wanted)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def review_link(
    session: Session, link_id: int, review: str, actor: User | None, note: str | None = None
) -> MediaLink:
    """Confirm or reject a link between two media, with the reviewer's note if given."""
    if review not in (LinkReview.CONFIRMED.value, LinkReview.REJECTED.value):
        raise Invalid("review must be confirmed or rejected")
    said = (note or "").strip() or None
    if said is not None and len(said) > 2000:
        raise Invalid("a review note must be at most 2000 characters")
    lock_for_write(session)
    link = fetch(session, MediaLink, link_id, "link")
    link.review = LinkReview(review)
    link.reviewed_by_id = actor.id if actor else None
    link.reviewed_at = utcnow()
    link.review_note = said
    audit.record(
        session,
        actor,
        f"link.{review}",
        "link",
        link.id,
        {"source": link.source_media_id, "target": link.target_media_id, "note": said},
    )
    session.commit()
    return link


def media_audit(session: Session, media_id: int, *, withdrawn: bool = False) -> list[AuditEvent]:
    """Return the audit events about a media, oldest first (of a withdrawn one only where
    ``withdrawn`` allows)."""
    find_media(session, media_id, withdrawn=withdrawn)
    return audit.media_history(session, media_id)
