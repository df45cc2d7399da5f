"""Provenance reports an analyst can file and defend: for one media, for the cluster of copies
it belongs to, or for a whole incident. Each holds the hashes, embedded metadata, sightings,
credits, acknowledgements, links with their distances, the provenance roll-up and the audit
trail, and comes out as JSON, as CSV (one row per fact) or as a printable HTML page."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import Incident, Media, utcnow
from . import NotFound, audit
from .catalogue import get_media, links_of
from .named import get_named, incident_detail
from .provenance import DEFAULT_CONFIDENCE, clusters, grouped, summarise
from .wording import evidence_text, link_label

SCOPES = ("media", "cluster")
FORMATS = ("json", "csv", "html")
CSV_COLUMNS = [
    "section",
    "media_id",
    "sha256",
    "time",
    "party",
    "status",
    "source",
    "url",
    "distance",
    "detail",
]


@dataclass
class Report:
    """What a report says, ready for any of its formats."""

    title: str
    scope: str
    generated_at: datetime
    media: list[dict[str, Any]] = field(default_factory=list)
    incident: dict[str, Any] | None = None
    clusters: list[list[int]] = field(default_factory=list)


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _media_entry(session: Session, media: Media, provenance: dict[str, Any]) -> dict[str, Any]:
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
        "claimed_captured_at": _iso(media.claimed_captured_at),
        "claimed_place": media.claimed_place,
        "catalogued_at": _iso(media.created_at),
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
                "posted_at": _iso(s.posted_at),
                "observed_at": _iso(s.observed_at),
                "deleted_at": _iso(s.deleted_at),
                "archive_url": s.archive_url,
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
                "stated_at": _iso(a.stated_at),
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
                "at": _iso(e.occurred_at),
                "actor": e.actor,
                "action": e.action,
                "details": e.details,
                "hash": e.hash,
            }
            for e in audit.media_history(session, media.id)
        ],
    }


def _entries(session: Session, media_ids: list[int], min_confidence: float) -> list[dict[str, Any]]:
    summaries = summarise(session, media_ids, min_confidence)
    return [_media_entry(session, get_media(session, m), summaries[m].as_dict()) for m in media_ids]


def media_report(
    session: Session,
    media_id: int,
    scope: str = "media",
    min_confidence: float = DEFAULT_CONFIDENCE,
) -> Report:
    """Report on one media, or on it and every other member of its cluster."""
    media = get_media(session, media_id)
    ids = [media_id]
    if scope == "cluster":
        ids += sorted(clusters(session, [media_id], min_confidence)[media_id])
    name = media.title or media.original_filename or f"media {media_id}"
    title = (
        f"Provenance of {name}"
        if scope == "media"
        else f"Provenance of {name} and its {len(ids) - 1} cop{'y' if len(ids) == 2 else 'ies'}"
    )
    return Report(title, scope, utcnow(), _entries(session, ids, min_confidence), clusters=[ids])


def incident_report(
    session: Session, incident_id: int, min_confidence: float = DEFAULT_CONFIDENCE
) -> Report:
    """Report on an incident: its stances and every media, grouped into duplicate clusters."""
    incident, _count, acks = incident_detail(session, incident_id)
    ids = list(
        session.scalars(
            sa.select(Media.id).where(Media.incident_id == incident_id).order_by(Media.id)
        )
    )
    groups = grouped(session, ids, min_confidence)
    report = Report(
        f"Provenance report: {incident.title}",
        "incident",
        utcnow(),
        _entries(session, ids, min_confidence),
        clusters=groups,
    )
    report.incident = {
        "id": incident.id,
        "title": incident.title,
        "occurred_on": _iso(incident.occurred_on),
        "place": incident.place,
        "summary": incident.summary,
        "acknowledgements": [
            {
                "party": a.party.name,
                "status": a.status.value,
                "statement": a.statement,
                "source": a.source.name if a.source else None,
                "url": a.statement_url,
                "stated_at": _iso(a.stated_at),
            }
            for a in acks
        ],
        "audit": [
            {"at": _iso(e.occurred_at), "actor": e.actor, "action": e.action, "details": e.details}
            for e in audit.history(session, "incident", incident.id)
        ],
    }
    return report


def incident_by_title_or_id(session: Session, key: str) -> Incident:
    """Return the incident with this id or title (for the command line)."""
    if key.isdigit():
        return get_named(session, Incident, int(key))
    found = session.scalar(sa.select(Incident).where(Incident.title == key))
    if found is None:
        raise NotFound(f"no incident with id or title {key!r}")
    return found


def as_json(report: Report) -> dict[str, Any]:
    """Return the report as JSON-ready data."""
    return {
        "title": report.title,
        "scope": report.scope,
        "generated_at": _iso(report.generated_at),
        "incident": report.incident,
        "clusters": report.clusters,
        "media": report.media,
    }


# A spreadsheet takes a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Return a text cell a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter(csv.DictWriter):
    """A DictWriter whose every text cell is neutralised: names, statements and URLs come
    from users and from the files themselves."""

    def writerow(self, rowdict: Any) -> Any:
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})


def as_csv(report: Report) -> str:
    """Return the report as CSV: one row per hash, sighting, acknowledgement, link and event."""
    out = io.StringIO()
    writer = _SafeWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    if report.incident:
        for a in report.incident["acknowledgements"]:
            writer.writerow(
                {
                    "section": "incident_acknowledgement",
                    "time": a["stated_at"],
                    "party": a["party"],
                    "status": a["status"],
                    "source": a["source"],
                    "url": a["url"],
                    "detail": a["statement"],
                }
            )
    for m in report.media:
        base = {"media_id": m["id"], "sha256": m["sha256"]}
        writer.writerow(
            {
                **base,
                "section": "media",
                "time": m["catalogued_at"],
                "detail": f"{m['kind']} {m['mime_type']} {m['size_bytes']} bytes;"
                f" title: {m['title'] or ''}; credit: {m['credit'] or ''};"
                f" verification: {m['verification']}",
            }
        )
        for h in m["hashes"]:
            writer.writerow(
                {
                    **base,
                    "section": "hash",
                    "time": h["frame_time"],
                    "detail": f"{h['algorithm']}/{h['variant']} {h['hex']}",
                }
            )
        for s in m["sightings"]:
            writer.writerow(
                {
                    **base,
                    "section": "sighting",
                    "time": s["posted_at"] or s["observed_at"],
                    "source": s["source"],
                    "url": s["url"],
                    "detail": f"deleted {s['deleted_at']}" if s["deleted_at"] else s["platform"],
                }
            )
        for a in m["acknowledgements"]:
            writer.writerow(
                {
                    **base,
                    "section": "acknowledgement",
                    "time": a["stated_at"],
                    "party": a["party"],
                    "status": a["status"],
                    "source": a["source"],
                    "url": a["url"],
                    "detail": a["statement"],
                }
            )
        for a in m["provenance"]["acknowledgements"]:
            writer.writerow(
                {
                    **base,
                    "section": "provenance",
                    "time": a["stated_at"],
                    "party": a["party"],
                    "status": a["status"],
                    "source": a["source"],
                    "url": a["url"],
                    "detail": a["summary"],
                }
            )
        first = m["provenance"]["earliest_sighting"]
        if first:
            writer.writerow(
                {
                    **base,
                    "section": "first_seen",
                    "time": first["time"],
                    "source": first["source"],
                    "url": first["url"],
                    "detail": "this file"
                    if first["this_file"]
                    else f"as #{first['media_id']}, {first['relation']}",
                }
            )
        for link in m["links"]:
            writer.writerow(
                {
                    **base,
                    "section": "link",
                    "distance": link["distance"],
                    "detail": f"#{link['source_media_id']} {link['kind_label']}"
                    f" of #{link['target_media_id']} ({link['evidence']}, {link['review']})",
                }
            )
        for flag in m["provenance"]["flags"]:
            writer.writerow({**base, "section": "flag", "detail": flag["message"]})
        for e in m["audit"]:
            writer.writerow(
                {
                    **base,
                    "section": "audit",
                    "time": e["at"],
                    "party": e["actor"],
                    "status": e["action"],
                    "detail": e["hash"],
                }
            )
    return out.getvalue()
