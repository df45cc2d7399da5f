"""What is known of a set of media, read in as few queries as the walk allows: the links
touching them, their sightings, and the stances on them and on their incidents, gathered by id
from media rows already in hand or read in one UNION query; and the captures those sightings
cite (``capture_citations``: each one's web archive and screenshot with their SHA-256 and its
trusted timestamps, read for all of them at once). The roll-up (``provenance``) reads its
facts from here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import (
    Acknowledgement,
    Capture,
    CaptureFile,
    LinkKind,
    LinkReview,
    Media,
    MediaLink,
    Party,
    Sighting,
    Source,
    TimestampToken,
)

MEMBERS = sa.select(
    Media.id,
    Media.title,
    Media.credit,
    Media.incident_id,
    Media.extracted,
    Media.claimed_captured_at,
).where(Media.id.in_(sa.bindparam("ids", expanding=True)))
# What is known about a set of media, in one query (on PostgreSQL one round trip, not three):
# the links touching them (read as ``clusters`` reads them), their sightings, and the stances on
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
    "capture_id": Sighting.capture_id.type,
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
        capture_id=Sighting.capture_id,
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


def incidents_of(rows: Iterable[Any]) -> set[int]:
    """Return the incidents the media rows belong to."""
    return {row.incident_id for row in rows if row.incident_id is not None}


def facts_loaded(media: Media) -> bool:
    """Whether a media's sightings and acknowledgements are in memory already."""
    unloaded = sa.inspect(media).unloaded
    return "sightings" not in unloaded and "acknowledgements" not in unloaded


@dataclass
class Facts:
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
                s.capture_id,
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
                    (
                        row.media_id,
                        row.other_id,
                        row.kind,
                        row.algorithm,
                        row.distance,
                        row.review,
                        row.id,
                    )
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
                    row.capture_id,
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


# The files of a capture a citation names: the web archive a replay opens and what the
# browser showed. Both are stored as originals, under their SHA-256.
CITED_ROLES = ("wacz", "screenshot")
_CITED_FILES = (
    sa.select(
        Capture.id,
        Capture.url,
        Capture.finished_at,
        CaptureFile.role,
        CaptureFile.sha256,
        CaptureFile.size_bytes,
        CaptureFile.content_type,
    )
    .outerjoin(
        CaptureFile,
        sa.and_(CaptureFile.capture_id == Capture.id, CaptureFile.role.in_(CITED_ROLES)),
    )
    .where(Capture.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(Capture.id, CaptureFile.id)
)
_CITED_TOKENS = (
    sa.select(TimestampToken.subject_id, TimestampToken.gen_time, TimestampToken.authority)
    .where(
        TimestampToken.subject == "capture",
        TimestampToken.subject_id.in_(sa.bindparam("ids", expanding=True)),
    )
    .order_by(TimestampToken.id)
)


def capture_citations(session: Session, capture_ids: Iterable[int | None]) -> dict[int, Any]:
    """Return how to cite each capture: its URL, when it finished, its web archive and
    screenshot (SHA-256, size, type) and its trusted timestamps (time, authority), in two
    queries for all of them."""
    ids = sorted({c for c in capture_ids if c is not None})
    if not ids:
        return {}
    cited: dict[int, dict[str, Any]] = {}
    for cid, url, finished_at, role, sha256, size, content_type in session.execute(
        _CITED_FILES, {"ids": ids}
    ):
        entry = cited.setdefault(
            cid,
            {
                "id": cid,
                "url": url,
                "captured_at": _utc(finished_at),
                "files": {},
                "timestamps": [],
            },
        )
        if role is not None:
            entry["files"][role] = {
                "sha256": sha256,
                "size_bytes": size,
                "content_type": content_type,
            }
    for subject_id, gen_time, authority in session.execute(_CITED_TOKENS, {"ids": ids}):
        if subject_id in cited:
            cited[subject_id]["timestamps"].append({"time": _utc(gen_time), "authority": authority})
    return cited


def _utc(moment: Any) -> str | None:
    """A time in UTC as ISO 8601 (whole seconds: a citation needs no more)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(moment.astimezone(UTC).replace(microsecond=0).isoformat())
