"""What a provenance report says: for one media, for the cluster of copies it belongs to, or
for a whole incident, the hashes, embedded metadata, sightings, credits, acknowledgements,
links with their distances, the provenance roll-up and the audit trail (``formats`` writes it
out).

A report is meant for publication: facts that reach a media only through links nobody
confirmed (the roll-up's ``unconfirmed``) are left out unless the reader asks for them
(``proposed``), and then stay in a section of their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import Incident, Media, utcnow
from .. import NotFound
from ..evidence import (
    DEFAULT_CONFIDENCE,
    audit,
    clusters,
    evidence_text,
    grouped,
    incident_stance,
    link_label,
    summarise,
)
from ..records import get_media, get_named, incident_detail, links_of

SCOPES = ("media", "cluster")


@dataclass
class Report:
    """What a report says, ready for any of its formats."""

    title: str
    scope: str
    generated_at: datetime
    media: list[dict[str, Any]] = field(default_factory=list)
    incident: dict[str, Any] | None = None
    clusters: list[list[int]] = field(default_factory=list)
    proposed: bool = False  # whether facts through unconfirmed links are shown (apart)
    # Every dated sighting and stance of the report, earliest first: what an editor reads first.
    timeline: list[dict[str, Any]] = field(default_factory=list)


def iso(moment: Any) -> str | None:
    """Return a time as ISO 8601 in whole seconds (a report needs no more), or None."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        moment = moment.replace(microsecond=0)
    return str(moment.isoformat())


def timeline(report: Report) -> list[dict[str, Any]]:
    """Return the report's sightings and stances in time order (undated ones last)."""
    events: list[dict[str, Any]] = []
    for m in report.media:
        for s in m["sightings"]:
            events.append(
                {
                    "time": s["posted_at"] or s["observed_at"],
                    "what": "deleted sighting" if s["deleted_at"] else "sighting",
                    "media_id": m["id"],
                    "who": s["source"] or s["platform"],
                    "url": s["url"],
                    "capture": s["capture"],
                }
            )
        for a in m["acknowledgements"]:
            events.append(
                {
                    "time": a["stated_at"],
                    "what": f"{a['status'].replace('_', ' ')} stance",
                    "media_id": m["id"],
                    "who": a["party"],
                    "url": a["url"],
                    "capture": None,
                }
            )
    for a in (report.incident or {}).get("acknowledgements", []):
        events.append(
            {
                "time": a["stated_at"],
                "what": f"{a['status'].replace('_', ' ')} stance on the incident",
                "media_id": None,
                "who": a["party"],
                "url": a["url"],
                "capture": None,
            }
        )
    # ISO 8601 times of one zone (UTC) sort as text.
    return sorted(events, key=lambda e: (e["time"] is None, e["time"] or ""))


def _media_entry(
    session: Session,
    media: Media,
    provenance: dict[str, Any],
    cited: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": media.id,
        "sha256": media.sha256,
        "kind": media.kind.value,
        "mime_type": media.mime_type,
        "size_bytes": media.size_bytes,
        "width": media.width,
        "height": media.height,
        "duration_s": media.duration_s,
        "original_filename": media.original_filename,
        "title": media.title,
        "description": media.description,
        "credit": media.credit,
        "incident": media.incident.title if media.incident else None,
        "verification": media.verification.value,
        "claimed_captured_at": iso(media.claimed_captured_at),
        "claimed_place": media.claimed_place,
        "catalogued_at": iso(media.created_at),
        "hashes": [
            {
                "algorithm": h.algorithm,
                "variant": h.variant,
                "hex": h.bits.hex(),
                "quality": h.quality,
                "frame_time": h.frame_time_s,
            }
            for h in media.hashes
        ],
        "embedded": media.extracted or {},
        "tags": sorted(t.name for t in media.tags),
        "sightings": [
            {
                "id": s.id,
                "url": s.url,
                "platform": s.platform,
                "source": s.source.name if s.source else None,
                "account": s.account,
                "posted_at": iso(s.posted_at),
                "observed_at": iso(s.observed_at),
                "deleted_at": iso(s.deleted_at),
                "archive_url": s.archive_url,
                # The capture that saw it: its archive, screenshot and trusted timestamps.
                "capture": cited.get(s.capture_id) if s.capture_id is not None else None,
            }
            for s in sorted(media.sightings, key=lambda s: s.id)
        ],
        "acknowledgements": [
            {
                "id": a.id,
                "party": a.party.name,
                "status": a.status.value,
                "statement": a.statement,
                "source": a.source.name if a.source else None,
                "url": a.statement_url,
                "stated_at": iso(a.stated_at),
            }
            for a in sorted(media.acknowledgements, key=lambda a: a.id)
        ],
        "links": [
            {
                "id": link.id,
                "source_media_id": link.source_media_id,
                "target_media_id": link.target_media_id,
                "kind": link.kind.value,
                "kind_label": link_label(link.kind.value, link.algorithm),
                "algorithm": link.algorithm,
                "distance": link.distance,
                "evidence": evidence_text(link.algorithm, link.distance),
                "frame_time": link.frame_time_s,
                "review": link.review.value,
            }
            for link in links_of(session, media.id)
        ],
        "provenance": provenance,
        "audit": [
            {
                "at": iso(e.occurred_at),
                "actor": e.actor,
                "action": e.action,
                "details": e.details,
                "hash": e.hash,
            }
            for e in audit.media_history(session, media.id)
        ],
    }


def _entries(
    session: Session, media_ids: list[int], min_confidence: float, proposed: bool
) -> list[dict[str, Any]]:
    summaries = summarise(session, media_ids, min_confidence)
    entries = []
    for m in media_ids:
        provenance = summaries[m].as_dict()
        if not proposed:
            provenance["unconfirmed"] = []
        entries.append(
            _media_entry(session, get_media(session, m), provenance, summaries[m].captures)
        )
    return entries


def media_report(
    session: Session,
    media_id: int,
    scope: str = "media",
    min_confidence: float = DEFAULT_CONFIDENCE,
    proposed: bool = False,
) -> Report:
    """Report on one media, or on it and every other member of its cluster."""
    media = get_media(session, media_id)
    if media.withdrawn_at is not None:  # out of every report, its own included
        raise NotFound(f"media #{media_id} is withdrawn")
    ids = [media_id]
    if scope == "cluster":
        ids += sorted(clusters(session, [media_id], min_confidence)[media_id])
    name = media.title or media.original_filename or f"media {media_id}"
    title = (
        f"Provenance of {name}"
        if scope == "media"
        else f"Provenance of {name} and its {len(ids) - 1} cop{'y' if len(ids) == 2 else 'ies'}"
    )
    made = Report(
        title,
        scope,
        utcnow(),
        _entries(session, ids, min_confidence, proposed),
        clusters=[ids],
        proposed=proposed,
    )
    made.timeline = timeline(made)
    return made


def incident_report(
    session: Session,
    incident_id: int,
    min_confidence: float = DEFAULT_CONFIDENCE,
    proposed: bool = False,
) -> Report:
    """Report on an incident: its stances and every media, grouped into duplicate clusters."""
    incident, _count, acks = incident_detail(session, incident_id)
    ids = list(
        session.scalars(
            sa.select(Media.id)
            .where(Media.incident_id == incident_id, Media.withdrawn_at.is_(None))
            .order_by(Media.id)
        )
    )
    # Clusters joined by proposed links only are for the reader who asked for them.
    groups = grouped(session, ids, min_confidence, confirmed_only=not proposed)
    report = Report(
        f"Provenance report: {incident.title}",
        "incident",
        utcnow(),
        _entries(session, ids, min_confidence, proposed),
        clusters=groups,
        proposed=proposed,
    )
    report.incident = {
        "id": incident.id,
        "title": incident.title,
        "occurred_on": iso(incident.occurred_on),
        "place": incident.place,
        "summary": incident.summary,
        "acknowledgements": [
            {
                "party": a.party.name,
                "status": a.status.value,
                "statement": a.statement,
                "source": a.source.name if a.source else None,
                "url": a.statement_url,
                "stated_at": iso(a.stated_at),
                "summary": incident_stance(
                    a.party.name, a.status, a.source.name if a.source else None
                ),
            }
            for a in acks
        ],
        "audit": [
            {"at": iso(e.occurred_at), "actor": e.actor, "action": e.action, "details": e.details}
            for e in audit.history(session, "incident", incident.id)
        ],
    }
    report.timeline = timeline(report)
    return report


def incident_by_title_or_id(session: Session, key: str) -> Incident:
    """Return the incident with this id or title (for the command line)."""
    if key.isdigit():
        return get_named(session, Incident, int(key))
    found = session.scalar(sa.select(Incident).where(Incident.title == key))
    if found is None:
        raise NotFound(f"no incident with id or title {key!r}")
    return found
