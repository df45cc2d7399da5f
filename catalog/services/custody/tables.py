"""The rows that carry evidence, read for ``replay`` as the fields the audit events name:
sightings, acknowledgements, links' reviews, users' roles, captures' files and media's typed
fields, in batches of plain rows (a million sightings must not fill the identity map)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ...models import (
    Acknowledgement,
    Capture,
    CaptureFile,
    CaptureStatus,
    Incident,
    Media,
    MediaLink,
    Party,
    Sighting,
    Source,
    Tag,
    User,
    media_tags,
)

BATCH = 2000
Row = tuple[int, str, dict[str, Any]]
# The fields each query below reads, in its order after the id.
SIGHTING_COLUMNS = "media url platform source account posted_at observed_at deleted_at".split()
SIGHTING_COLUMNS += ["caption", "archive_url"]
ACK_COLUMNS = "media incident party status statement source statement_url stated_at".split()
MEDIA_COLUMNS = "sha256 title description credit verification incident".split()
MEDIA_COLUMNS += ["claimed_captured_at", "claimed_place"]


def _batches(session: Session, query: Any, key: Any) -> Iterator[Any]:
    """Yield the rows of ``query`` in batches, ordered by ``key`` (an id column)."""
    last_id = 0
    while True:
        rows = session.execute(query.where(key > last_id).order_by(key).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


def sightings(session: Session) -> Iterator[Row]:
    """Every sighting, with its source's name."""
    query = sa.select(
        Sighting.id,
        Sighting.media_id,
        Sighting.url,
        Sighting.platform,
        Source.name,
        Sighting.account,
        Sighting.posted_at,
        Sighting.observed_at,
        Sighting.deleted_at,
        Sighting.caption,
        Sighting.archive_url,
    ).outerjoin(Source, Sighting.source_id == Source.id)
    names = SIGHTING_COLUMNS
    for rows in _batches(session, query, Sighting.id):
        for row in rows:
            yield row[0], f" (media #{row[1]})", dict(zip(names, row[1:], strict=True))


def acknowledgements(session: Session) -> Iterator[Row]:
    """Every acknowledgement, with its party's and its source's names."""
    query = (
        sa.select(
            Acknowledgement.id,
            Acknowledgement.media_id,
            Acknowledgement.incident_id,
            Party.name,
            Acknowledgement.status,
            Acknowledgement.statement,
            Source.name,
            Acknowledgement.statement_url,
            Acknowledgement.stated_at,
        )
        .join(Party, Acknowledgement.party_id == Party.id)
        .outerjoin(Source, Acknowledgement.source_id == Source.id)
    )
    names = ACK_COLUMNS
    for rows in _batches(session, query, Acknowledgement.id):
        for row in rows:
            about = f"media #{row[1]}" if row[1] is not None else f"incident #{row[2]}"
            yield row[0], f" ({about})", dict(zip(names, row[1:], strict=True))


def links(session: Session) -> Iterator[Row]:
    """Every link between two media, with its review."""
    query = sa.select(
        MediaLink.id,
        MediaLink.source_media_id,
        MediaLink.target_media_id,
        MediaLink.review,
        MediaLink.review_note,
    )
    for rows in _batches(session, query, MediaLink.id):
        for link_id, source, target, review, note in rows:
            fields = {"source": source, "target": target, "review": review, "note": note}
            yield link_id, f" (media #{source} to #{target})", fields


def users(session: Session) -> Iterator[Row]:
    """Every user's name, role and whether the account is active."""
    query = sa.select(User.id, User.username, User.role, User.active)
    for rows in _batches(session, query, User.id):
        for user_id, username, role, active in rows:
            fields = {"username": username, "role": role, "active": active}
            yield user_id, f" ({username})", fields


def captures(session: Session) -> Iterator[Row]:
    """Every capture's URL, whether it ended, and the files it kept (role to SHA-256)."""
    query = sa.select(Capture.id, Capture.url, Capture.status)
    for rows in _batches(session, query, Capture.id):
        files: dict[int, dict[str, str]] = {}
        kept = sa.select(CaptureFile.capture_id, CaptureFile.role, CaptureFile.sha256).where(
            CaptureFile.capture_id.in_([row[0] for row in rows])
        )
        for capture_id, role, sha256 in session.execute(kept):
            files.setdefault(capture_id, {})[role] = sha256
        for capture_id, url, status in rows:
            ended = status in (CaptureStatus.DONE, CaptureStatus.FAILED)
            fields = {
                "url": url,
                "status": status.value if ended else "queued or running",
                "files": files.get(capture_id, {}),
            }
            yield capture_id, "", fields


def media(session: Session) -> Iterator[Row]:
    """Every media's typed fields, with its incident's title and its tags' names."""
    incident = aliased(Incident)
    query = sa.select(
        Media.id,
        Media.sha256,
        Media.title,
        Media.description,
        Media.credit,
        Media.verification,
        incident.title,
        Media.claimed_captured_at,
        Media.claimed_place,
    ).outerjoin(incident, Media.incident_id == incident.id)
    names = MEDIA_COLUMNS
    for rows in _batches(session, query, Media.id):
        tags: dict[int, list[str]] = {}
        tagged = (
            sa.select(media_tags.c.media_id, Tag.name)
            .join(Tag, Tag.id == media_tags.c.tag_id)
            .where(media_tags.c.media_id.in_([row[0] for row in rows]))
        )
        for media_id, name in session.execute(tagged):
            tags.setdefault(media_id, []).append(name)
        for row in rows:
            fields = dict(zip(names, row[1:], strict=True))
            fields["tags"] = sorted(tags.get(row[0], []))
            yield row[0], "", fields


ROW_READERS: dict[str, Callable[[Session], Iterator[Row]]] = {
    "sighting": sightings,
    "acknowledgement": acknowledgements,
    "link": links,
    "user": users,
    "capture": captures,
    "media": media,
}
