"""Provenance an analyst can put in a report: for a media and the cluster of copies it belongs
to, the earliest known sighting, every source and credit, each party's strongest stance (and
whether it was taken on this very file or on another member of the cluster), stances on the
incident as a whole, and warnings where the file's own metadata tells against its story.

A cluster is the media joined by near-duplicate, derived-from and frame-of links that an
analyst confirmed, or that the matcher proposed with at least the configured confidence;
rejected links never join.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, overload

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import (
    Acknowledgement,
    AckStatus,
    LinkKind,
    LinkReview,
    Media,
    MediaLink,
    Party,
    Sighting,
    Source,
)
from .wording import kind_label

# Strongest stance first: an official acknowledgement outweighs an airing on state media.
STATUS_ORDER = [
    AckStatus.OFFICIAL,
    AckStatus.SEMI_OFFICIAL,
    AckStatus.DENIED,
    AckStatus.UNACKNOWLEDGED,
]
STATUS_WORDS = {
    AckStatus.OFFICIAL: "officially acknowledged",
    AckStatus.SEMI_OFFICIAL: "semi-officially acknowledged",
    AckStatus.UNACKNOWLEDGED: "not acknowledged",
    AckStatus.DENIED: "denied",
}
DEFAULT_CONFIDENCE = 0.45
MAX_CLUSTER = 500  # a runaway chain of weak links must not load the whole catalogue
FORMATS_WITH_EXIF = {"JPEG", "MPO", "TIFF", "HEIF", "HEIC"}


def link_confidence(algorithm: str | None, distance: float | None) -> float:
    """How sure the matcher was of a link, from 0 to 1 (a verified keypoint match counts 0.9)."""
    if algorithm == "sha256":
        return 1.0
    if algorithm == "orb":
        return 0.9
    if distance is None:
        return 0.5
    if algorithm == "audio":  # the distance is the share of fingerprint bits that differ
        return max(0.0, 1 - float(distance) / 0.35) * 0.9  # unrelated sound: about 0.35
    bits = {"pdq": 64, "phash": 32}.get(algorithm or "", 64)  # half the hash: a coin toss
    return max(0.0, 1 - float(distance) / bits)


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
    return moment.astimezone(UTC).isoformat()


# Built once: these run for every search answer, as plain column queries with the names
# joined in (no ORM objects, no statement built per call).
_LINKS = sa.select(
    MediaLink.source_media_id,
    MediaLink.target_media_id,
    MediaLink.kind,
    MediaLink.algorithm,
    MediaLink.distance,
    MediaLink.review,
).where(
    sa.or_(
        MediaLink.source_media_id.in_(sa.bindparam("ids", expanding=True)),
        MediaLink.target_media_id.in_(sa.bindparam("ids", expanding=True)),
    ),
    MediaLink.review != LinkReview.REJECTED,
)
_MEMBERS = sa.select(
    Media.id,
    Media.title,
    Media.credit,
    Media.incident_id,
    Media.extracted,
    Media.claimed_captured_at,
).where(Media.id.in_(sa.bindparam("ids", expanding=True)))
# What is known about a set of media, in one query (on PostgreSQL one round trip, not three):
# the links touching them (read as _LINKS reads them), their sightings, and the stances on
# them and on their incidents. A row says which kind it is and fills that kind's columns; the
# rest are NULL, cast to the column's type (PostgreSQL matches a UNION's column types two
# SELECTs at a time, and would take two bare NULLs for text). No ORDER BY: the links come in
# the order the walk always had, and the rest are put in order by id once gathered.
_FACT_COLUMNS: dict[str, Any] = {
    "id": MediaLink.id.type,
    "media_id": Sighting.media_id.type,  # of a link: its source
    "other_id": MediaLink.target_media_id.type,
    "kind": MediaLink.kind.type,
    "algorithm": MediaLink.algorithm.type,
    "distance": MediaLink.distance.type,
    "review": MediaLink.review.type,
    "frame_time_s": MediaLink.frame_time_s.type,
    "at": Sighting.posted_at.type,  # of a stance: when it was stated
    "observed_at": Sighting.observed_at.type,
    "deleted_at": Sighting.deleted_at.type,
    "url": Sighting.url.type,
    "platform": Sighting.platform.type,
    "source": Source.name.type,
    "party": Party.name.type,
    "status": Acknowledgement.status.type,
    "statement": Acknowledgement.statement.type,
    "incident_id": Acknowledgement.incident_id.type,
}


def _facts_of(fact: str, **columns: Any) -> Any:
    """Select one kind of fact in the shape of _FACT_COLUMNS."""
    return sa.select(
        sa.literal_column(f"'{fact}'").label("fact"),
        *(
            (columns[name] if name in columns else sa.cast(sa.null(), kind)).label(name)
            for name, kind in _FACT_COLUMNS.items()
        ),
    )


_FACTS: sa.Executable = sa.union_all(
    _facts_of(
        "link",
        id=MediaLink.id,
        media_id=MediaLink.source_media_id,
        other_id=MediaLink.target_media_id,
        kind=MediaLink.kind,
        algorithm=MediaLink.algorithm,
        distance=MediaLink.distance,
        review=MediaLink.review,
        frame_time_s=MediaLink.frame_time_s,
    ).where(  # rejected links too: a media's own list shows them; the walk skips them
        sa.or_(
            MediaLink.source_media_id.in_(sa.bindparam("linked", expanding=True)),
            MediaLink.target_media_id.in_(sa.bindparam("linked", expanding=True)),
        ),
    ),
    _facts_of(
        "sighting",
        id=Sighting.id,
        media_id=Sighting.media_id,
        at=Sighting.posted_at,
        observed_at=Sighting.observed_at,
        deleted_at=Sighting.deleted_at,
        url=Sighting.url,
        platform=Sighting.platform,
        source=Source.name,
    )
    .outerjoin(Source, Sighting.source_id == Source.id)
    .where(Sighting.media_id.in_(sa.bindparam("ids", expanding=True))),
    _facts_of(
        "stance",
        id=Acknowledgement.id,
        media_id=Acknowledgement.media_id,
        at=Acknowledgement.stated_at,
        url=Acknowledgement.statement_url,
        source=Source.name,
        party=Party.name,
        status=Acknowledgement.status,
        statement=Acknowledgement.statement,
        incident_id=Acknowledgement.incident_id,
    )
    .join(Party, Acknowledgement.party_id == Party.id)
    .outerjoin(Source, Acknowledgement.source_id == Source.id)
    .where(
        sa.or_(
            Acknowledgement.media_id.in_(sa.bindparam("ids", expanding=True)),
            Acknowledgement.incident_id.in_(sa.bindparam("incidents", expanding=True)),
        )
    ),
)


def _relation(kind: LinkKind, algorithm: str | None, origin_is_source: bool) -> str:
    """How the far end of a link relates to the near end, in words."""
    if kind is LinkKind.FRAME_OF:
        return "the video this is a frame of" if origin_is_source else "a frame of this video"
    if kind is LinkKind.DERIVED_FROM:
        return (
            "the original this was derived from" if origin_is_source else "a copy derived from this"
        )
    return kind_label("cropped_contained" if algorithm == "orb" else "near_duplicate")


def clusters(
    session: Session,
    media_ids: list[int],
    min_confidence: float = DEFAULT_CONFIDENCE,
    links: Iterable[tuple[Any, ...]] | None = None,
) -> dict[int, dict[int, str]]:
    """Return, for each media, the other members of its cluster and how each relates to it.

    ``links`` passes the links touching ``media_ids`` when the caller has read them already
    (as _LINKS would, and in its order: it decides the wording where two paths are equally
    short), saving the first query of the walk.
    """
    edges: dict[int, list[tuple[int, str]]] = {}
    seen: set[int] = set(media_ids)
    frontier = set(media_ids)
    while frontier and len(seen) < MAX_CLUSTER:
        ids = sorted(frontier)
        frontier = set()
        if links is None:
            step: Iterable[Any] = session.execute(_LINKS, {"ids": ids})
        else:
            step = [link for link in links if link[5] is not LinkReview.REJECTED]
            links = None
        for source, target, kind, algorithm, distance, review in step:
            if (
                review is not LinkReview.CONFIRMED
                and link_confidence(algorithm, distance) < min_confidence
            ):
                continue
            edges.setdefault(source, []).append((target, _relation(kind, algorithm, True)))
            edges.setdefault(target, []).append((source, _relation(kind, algorithm, False)))
            for node in (source, target):
                if node not in seen:
                    seen.add(node)
                    frontier.add(node)
    found: dict[int, dict[int, str]] = {}
    for origin in media_ids:
        members: dict[int, str] = {}
        queue = [(origin, "", 0)]
        while queue:
            node, via, depth = queue.pop(0)
            for neighbour, relation in edges.get(node, []):
                if neighbour == origin or neighbour in members:
                    continue
                members[neighbour] = relation if depth == 0 else f"{relation} of #{node} ({via})"
                queue.append((neighbour, relation, depth + 1))
        found[origin] = members
    return found


def grouped(
    session: Session, media_ids: list[int], min_confidence: float = DEFAULT_CONFIDENCE
) -> list[list[int]]:
    """Group ``media_ids`` by the clusters they fall into (within the set), biggest group first."""
    wanted = set(media_ids)
    members = clusters(session, sorted(wanted), min_confidence)
    groups: list[list[int]] = []
    placed: set[int] = set()
    for m in sorted(wanted):
        if m not in placed:
            group = sorted({m} | (set(members[m]) & wanted))
            placed.update(group)
            groups.append(group)
    return sorted(groups, key=lambda g: (-len(g), g[0]))


@dataclass(frozen=True)
class LinkFact:
    """A link as the provenance query read it: what a media's list of links shows."""

    id: int
    source_media_id: int
    target_media_id: int
    kind: LinkKind
    algorithm: str | None
    distance: float | None
    frame_time_s: float | None
    review: LinkReview


def summarise_one(
    session: Session, media: Media, min_confidence: float = DEFAULT_CONFIDENCE
) -> tuple[ProvenanceSummary, list[LinkFact]]:
    """Return a loaded media's provenance and its own links (rejected ones too, by id), read
    in the same queries: a media's page needs both."""
    facts = _Facts()
    summary = _summarise(session, [media.id], min_confidence, {media.id: media}, facts)
    own = [
        link
        for link in facts.links.values()
        if media.id in (link.source_media_id, link.target_media_id)
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
    return _summarise(session, media_ids, min_confidence, known or {}, _Facts())


def _summarise(
    session: Session,
    media_ids: list[int],
    min_confidence: float,
    known: dict[int, Media],
    facts: _Facts,
) -> dict[int, ProvenanceSummary]:
    if not media_ids:
        return {}
    held = {m for m in media_ids if m in known and _facts_loaded(known[m])}
    for m in held:
        facts.hold(known[m])
    incidents = _incidents(known[m] for m in media_ids if m in known)
    found = facts.read(
        session,
        linked=sorted(set(media_ids)),
        ids=[m for m in media_ids if m not in held],
        incidents=sorted(incidents),
    )
    members = clusters(session, media_ids, min_confidence, found)
    everyone = sorted(set(media_ids) | {m for group in members.values() for m in group})
    rows: dict[int, Any] = {m: known[m] for m in everyone if m in known}
    missing = [m for m in everyone if m not in rows]
    if missing:
        rows.update({row.id: row for row in session.execute(_MEMBERS, {"ids": missing})})
    asked = set(media_ids)
    facts.read(
        session,
        linked=[],
        ids=[m for m in everyone if m not in asked],
        incidents=sorted(_incidents(rows.values()) - incidents),
    )
    sightings, stances = facts.in_order()
    return {m: _summary(m, members[m], rows, sightings, stances) for m in media_ids}


def _incidents(rows: Iterable[Any]) -> set[int]:
    """Return the incidents the media rows belong to."""
    return {row.incident_id for row in rows if row.incident_id is not None}


def _facts_loaded(media: Media) -> bool:
    """Whether a media's sightings and acknowledgements are in memory already."""
    unloaded = sa.inspect(media).unloaded
    return "sightings" not in unloaded and "acknowledgements" not in unloaded


@dataclass
class _Facts:
    """The sightings and stances gathered for a summary, by id, from media in hand or read."""

    sightings: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    stances: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    links: dict[int, LinkFact] = field(default_factory=dict)

    def hold(self, media: Media) -> None:
        """Take a media's loaded sightings and acknowledgements."""
        for s in media.sightings:
            source = s.source.name if s.source else None
            self.sightings[s.id] = (
                s.id,
                s.media_id,
                s.posted_at,
                s.observed_at,
                s.url,
                s.platform,
                s.deleted_at,
                source,
            )
        for a in media.acknowledgements:
            source = a.source.name if a.source else None
            self.stances[a.id] = (
                a.id,
                a.media_id,
                a.party.name,
                a.status,
                a.statement,
                source,
                a.statement_url,
                a.stated_at,
                a.incident_id,
            )

    def read(
        self, session: Session, *, linked: list[int], ids: list[int], incidents: list[int]
    ) -> list[tuple[Any, ...]]:
        """Read the sightings of ``ids`` and the stances on them and on ``incidents``, in one
        query with the links touching ``linked``; return those links."""
        if not (linked or ids or incidents):
            return []
        links = []
        for row in session.execute(
            _FACTS, {"linked": linked or [-1], "ids": ids or [-1], "incidents": incidents or [-1]}
        ):
            if row.fact == "link":
                links.append(
                    (row.media_id, row.other_id, row.kind, row.algorithm, row.distance, row.review)
                )
                self.links[row.id] = LinkFact(
                    row.id,
                    row.media_id,
                    row.other_id,
                    row.kind,
                    row.algorithm,
                    row.distance,
                    row.frame_time_s,
                    row.review,
                )
            elif row.fact == "sighting":
                self.sightings[row.id] = (
                    row.id,
                    row.media_id,
                    row.at,
                    row.observed_at,
                    row.url,
                    row.platform,
                    row.deleted_at,
                    row.source,
                )
            else:
                # An incident's stances may include some already gathered: each is kept once.
                self.stances.setdefault(
                    row.id,
                    (
                        row.id,
                        row.media_id,
                        row.party,
                        row.status,
                        row.statement,
                        row.source,
                        row.url,
                        row.at,
                        row.incident_id,
                    ),
                )
        return links

    def in_order(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Return the sightings and the stances, each in the order recorded."""
        return (
            [self.sightings[k] for k in sorted(self.sightings)],
            [self.stances[k] for k in sorted(self.stances)],
        )


def _summary(
    origin: int,
    members: dict[int, str],
    rows: dict[int, Any],
    sightings: Iterable[Any],
    acks: Iterable[Any],
) -> ProvenanceSummary:
    group = {origin, *members}
    summary = ProvenanceSummary()
    summary.cluster = [
        {
            "media_id": m,
            "title": rows[m].title if m in rows else None,
            "relation": members[m],
            "incident_id": rows[m].incident_id if m in rows else None,
        }
        for m in sorted(members)
    ]
    sources: set[str] = set()
    for _, media_id, posted_at, observed_at, url, platform, deleted_at, source in sightings:
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
