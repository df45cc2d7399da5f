"""Provenance an analyst can put in a report: for a media and the cluster of copies it belongs
to, the earliest known sighting, every source and credit, each party's strongest stance (and
whether it was taken on this very file or on another member of the cluster), stances on the
incident as a whole, and warnings where the file's own metadata tells against its story.

Only the file's own facts and those of members joined by confirmed links make these
statements: a member the matcher proposed and nobody confirmed may be a false match, so its
sightings, credit and stances are kept apart (``unconfirmed``), each with the proposed link
and its confidence, for the analyst to weigh, never for publication.

The cluster comes from ``walk`` (over the links), the facts from ``facts``; this
module rolls them up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy.orm import Session

from ...models import AckStatus, Media
from .facts import MEMBERS, Facts, LinkFact, capture_citations, facts_loaded, incidents_of
from .walk import DEFAULT_CONFIDENCE, clusters, withdrawn_ids

# Strongest stance first: an official acknowledgement outweighs an airing on state media, a
# claim outweighs a denial, and any stance outweighs silence.
STATUS_ORDER = [
    AckStatus.OFFICIAL,
    AckStatus.SEMI_OFFICIAL,
    AckStatus.CLAIMED,
    AckStatus.DENIED,
    AckStatus.DENIED_INVOLVEMENT,
    AckStatus.UNACKNOWLEDGED,
]
# How a stance on a media is said ("This file was ... by"); an incident's: ``STANCE_WORDS``.
STATUS_WORDS = {
    AckStatus.OFFICIAL: "officially acknowledged",
    AckStatus.SEMI_OFFICIAL: "semi-officially acknowledged",
    AckStatus.CLAIMED: "claimed",
    AckStatus.UNACKNOWLEDGED: "not acknowledged",
    AckStatus.DENIED: "denied",
    AckStatus.DENIED_INVOLVEMENT: "denied involvement in",
}
# How a stance on an incident as a whole is said ("<party> ...").
STANCE_WORDS = {
    AckStatus.OFFICIAL: "officially acknowledged it",
    AckStatus.SEMI_OFFICIAL: "semi-officially acknowledged it",
    AckStatus.CLAIMED: "claimed it happened",
    AckStatus.UNACKNOWLEDGED: "has not acknowledged it",
    AckStatus.DENIED: "denied it happened",
    AckStatus.DENIED_INVOLVEMENT: "denied involvement",
}


def incident_stance(party: str, status: AckStatus | str, source: str | None = None) -> str:
    """Say in one sentence a party's stance on an incident: "Ukraine denied involvement."."""
    words = f"{party} {STANCE_WORDS[AckStatus(status)]}"
    return words + (f" via {source}." if source else ".")


FORMATS_WITH_EXIF = {"JPEG", "MPO", "TIFF", "HEIF", "HEIC"}


@dataclass
class ProvenanceSummary:
    """The provenance of one media, rolled up over its cluster."""

    earliest_sighting: dict[str, Any] | None = None
    sightings: int = 0  # of this very file
    acknowledgements: list[dict[str, Any]] = field(default_factory=list)
    cluster: list[dict[str, Any]] = field(
        default_factory=list
    )  # the other members and how they relate
    sources: list[str] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)
    incident_acknowledgements: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, str]] = field(default_factory=list)
    # Members joined only by proposed links, with their facts: shown apart, never published.
    unconfirmed: list[dict[str, Any]] = field(default_factory=list)
    # The captures the cluster's sightings cite, by id: archive, screenshot, timestamps.
    captures: dict[int, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data."""
        return {
            "earliest_sighting": self.earliest_sighting,
            "sightings": self.sightings,
            "acknowledgements": self.acknowledgements,
            "cluster": self.cluster,
            "sources": self.sources,
            "credits": self.credits,
            "incident_acknowledgements": self.incident_acknowledgements,
            "flags": self.flags,
            "unconfirmed": self.unconfirmed,
            "captures": [self.captures[c] for c in sorted(self.captures)],
        }


@overload
def _iso(moment: datetime) -> str: ...
@overload
def _iso(moment: datetime | None) -> str | None: ...


def _iso(moment: datetime | None) -> str | None:
    """Return the time in UTC as ISO 8601."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def summarise_one(
    session: Session, media: Media, min_confidence: float = DEFAULT_CONFIDENCE
) -> tuple[ProvenanceSummary, list[LinkFact]]:
    """Return a loaded media's provenance and its own links (rejected ones too, by id), read
    in the same queries: a media's page needs both."""
    facts = Facts()
    summary = _summarise(session, [media.id], min_confidence, {media.id: media}, facts)
    hidden = withdrawn_ids(session) - {media.id}  # a link to a withdrawn media is not shown
    own = [
        link
        for link in facts.links.values()
        if media.id in (link.source_media_id, link.target_media_id)
        and not {link.source_media_id, link.target_media_id} & hidden
    ]
    return summary[media.id], sorted(own, key=lambda link: link.id)


def summarise(
    session: Session,
    media_ids: list[int],
    min_confidence: float = DEFAULT_CONFIDENCE,
    known: dict[int, Media] | None = None,
) -> dict[int, ProvenanceSummary]:
    """Return each media's provenance rolled up over its cluster, in a handful of queries.

    One query brings the links of ``media_ids`` and what is known of them; only where the
    links lead further come a query per step of the walk, one for the rows of the media found
    and one for what is known of those. ``known`` passes media rows the caller holds already
    (search results); where their sightings and acknowledgements are loaded too (a media's
    page), those are not read again.
    """
    return _summarise(session, media_ids, min_confidence, known or {}, Facts())


def _summarise(
    session: Session,
    media_ids: list[int],
    min_confidence: float,
    known: dict[int, Media],
    facts: Facts,
) -> dict[int, ProvenanceSummary]:
    if not media_ids:
        return {}
    held = {m for m in media_ids if m in known and facts_loaded(known[m])}
    for m in held:
        facts.hold(known[m])
    incidents = incidents_of(known[m] for m in media_ids if m in known)
    found = facts.read(
        session,
        linked=sorted(set(media_ids)),
        ids=[m for m in media_ids if m not in held],
        incidents=sorted(incidents),
    )
    shaky: dict[int, dict[int, dict[str, Any]]] = {}
    members = clusters(session, media_ids, min_confidence, found, shaky)
    everyone = sorted(set(media_ids) | {m for group in members.values() for m in group})
    rows: dict[int, Any] = {m: known[m] for m in everyone if m in known}
    missing = [m for m in everyone if m not in rows]
    if missing:
        rows.update({row.id: row for row in session.execute(MEMBERS, {"ids": missing})})
    asked = set(media_ids)
    facts.read(
        session,
        linked=[],
        ids=[m for m in everyone if m not in asked],
        incidents=sorted(incidents_of(rows.values()) - incidents),
    )
    sightings, stances = facts.in_order()
    # Every capture any of these sightings cites, in one pass (no query per sighting).
    cited = capture_citations(session, (s[8] for s in sightings))
    return {
        m: _summary(m, members[m], shaky[m], rows, sightings, stances, cited) for m in media_ids
    }


def _summary(
    origin: int,
    members: dict[int, str],
    shaky: dict[int, dict[str, Any]],
    rows: dict[int, Any],
    sightings: list[Any],
    acks: list[Any],
    cited: dict[int, dict[str, Any]],
) -> ProvenanceSummary:
    group = {origin, *members} - set(shaky)
    summary = ProvenanceSummary()
    summary.cluster = [
        {
            "media_id": m,
            "title": rows[m].title if m in rows else None,
            "relation": members[m],
            "incident_id": rows[m].incident_id if m in rows else None,
            "confirmed": m not in shaky,
            **shaky.get(m, {}),
        }
        for m in sorted(members)
    ]
    summary.unconfirmed = [
        _unconfirmed(m, members[m], way, rows, sightings, acks, cited)
        for m, way in sorted(shaky.items())
    ]
    summary.captures = {
        s[8]: cited[s[8]] for s in sightings if s[8] in cited and (s[1] in group or s[1] in shaky)
    }
    sources: set[str] = set()
    for _, media_id, posted_at, observed_at, url, platform, deleted_at, source, cid in sightings:
        if media_id not in group:
            continue
        summary.sightings += media_id == origin
        if source:
            sources.add(source)
        when = _iso(posted_at or observed_at)
        current = summary.earliest_sighting
        if current is None or (
            when is not None and (current["time"] is None or when < current["time"])
        ):
            summary.earliest_sighting = {
                "time": when,
                "url": url,
                "platform": platform,
                "source": source,
                "deleted_at": _iso(deleted_at),
                "media_id": media_id,
                "this_file": media_id == origin,
                "relation": None if media_id == origin else members[media_id],
                "capture": cited.get(cid) if cid is not None else None,
            }
    strongest: dict[str, tuple] = {}
    incident_ids = {
        rows[m].incident_id for m in group if m in rows and rows[m].incident_id is not None
    }
    for row in acks:
        _, media_id, party, status, statement, source, url, stated_at, incident_id = row
        # The rows cover every media summarised in this call: keep only this cluster's.
        if (
            media_id is None
            and incident_id not in incident_ids
            or media_id is not None
            and media_id not in group
        ):
            continue
        if source:
            sources.add(source)
        if media_id is None:
            summary.incident_acknowledgements.append(
                {
                    "party": party,
                    "status": status.value,
                    "statement": statement,
                    "source": source,
                    "url": url,
                    "stated_at": _iso(stated_at),
                    "incident_id": incident_id,
                    "summary": incident_stance(party, status, source),
                }
            )
            continue
        rank = (STATUS_ORDER.index(status), media_id != origin)
        held = strongest.get(party)
        if held is None or rank < held[0]:
            strongest[party] = (rank, row)
    for party, (_, (_, media_id, _, status, statement, source, url, stated_at, _)) in sorted(
        strongest.items()
    ):
        this_file = media_id == origin
        summary.acknowledgements.append(
            {
                "party": party,
                "status": status.value,
                "statement": statement,
                "source": source,
                "url": url,
                "stated_at": _iso(stated_at),
                "media_id": media_id,
                "this_file": this_file,
                "relation": None if this_file else members[media_id],
                "summary": _sentence(
                    party,
                    status,
                    source,
                    stated_at,
                    media_id,
                    None if this_file else members[media_id],
                    rows,
                ),
            }
        )
    summary.sources = sorted(sources)
    summary.credits = sorted({rows[m].credit for m in group if m in rows and rows[m].credit})
    if origin in rows:
        summary.flags = _flags(rows[origin], summary.earliest_sighting)
    return summary


def _unconfirmed(
    member: int,
    relation: str,
    way: dict[str, Any],
    rows: dict[int, Any],
    sightings: list[Any],
    acks: list[Any],
    cited: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """What a member joined only by proposed links would add: its own first sighting, credit
    and stances, with the link that proposed it."""
    row = rows.get(member)
    seen = [
        (_iso(posted_at or observed_at), url, platform, source, _iso(deleted_at), cid)
        for _, media_id, posted_at, observed_at, url, platform, deleted_at, source, cid in sightings
        if media_id == member
    ]
    # An unknown time sorts last: the earliest known one is what would change "first seen".
    seen.sort(key=lambda s: (s[0] is None, s[0] or ""))
    first = seen[0] if seen else None
    return {
        "media_id": member,
        "title": row.title if row is not None else None,
        "relation": relation,
        "link_id": way["link_id"],
        "confidence": way["confidence"],
        "review": "proposed",
        "earliest_sighting": None
        if first is None
        else {
            "time": first[0],
            "url": first[1],
            "platform": first[2],
            "source": first[3],
            "deleted_at": first[4],
            "capture": cited.get(first[5]) if first[5] is not None else None,
        },
        "credit": row.credit if row is not None else None,
        "acknowledgements": [
            {
                "party": party,
                "status": status.value,
                "statement": statement,
                "source": source,
                "url": url,
                "stated_at": _iso(stated_at),
            }
            for _, media_id, party, status, statement, source, url, stated_at, _ in acks
            if media_id == member
        ],
    }


def _sentence(
    party: str,
    status: AckStatus,
    source: str | None,
    stated_at: datetime | None,
    media_id: int,
    relation: str | None,
    rows: dict[int, Any],
) -> str:
    """Say in one sentence who took which stance on which file."""
    title = rows[media_id].title if media_id in rows else None
    subject = (
        "This file was"
        if relation is None
        else f"{relation[0].upper()}{relation[1:]} (#{media_id}{', ' + title if title else ''}) was"
    )
    words = f"{subject} {STATUS_WORDS[status]} by {party}"
    if source:
        words += f" via {source}"
    if stated_at:
        words += f" on {_iso(stated_at)[:10]}"
    return words + "."


def _flags(row: Any, earliest: dict[str, Any] | None) -> list[dict[str, str]]:
    """Warnings from the file's own metadata: stripped, or a capture time its sightings deny."""
    flags: list[dict[str, str]] = []
    extracted = row.extracted or {}
    fmt = str(extracted.get("format", "")).upper()
    if fmt in FORMATS_WITH_EXIF and not any(k in extracted for k in ("exif", "xmp", "c2pa")):
        flags.append(
            {
                "code": "metadata_stripped",
                "message": "The file carries no EXIF, XMP or C2PA data: it was probably"
                " re-encoded or stripped on the way (typical of social platforms).",
            }
        )
    first = earliest["time"] if earliest else None
    captured = extracted.get("exif_captured_at")
    if first and captured and _later(captured, first):
        flags.append(
            {
                "code": "captured_after_first_sighting",
                "message": f"The file says it was captured at {captured},"
                f" after it was first seen ({first}).",
            }
        )
    claimed = _iso(row.claimed_captured_at)
    if first and claimed and claimed > first:
        flags.append(
            {
                "code": "claimed_after_first_sighting",
                "message": f"It is claimed to show {claimed}, but it was already seen at {first}.",
            }
        )
    return flags


def _later(captured: str, first: str) -> bool:
    """Whether an EXIF capture time is surely after a UTC time (with no offset, by over 14 h)."""
    try:
        moment = datetime.fromisoformat(captured)
        seen = datetime.fromisoformat(first)
    except ValueError:
        return False
    if moment.tzinfo is None:  # local time of an unknown zone: allow the widest offset
        return (moment.replace(tzinfo=UTC) - seen).total_seconds() > 14 * 3600
    return moment > seen
