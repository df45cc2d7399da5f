"""The commit of a new media: store the original, then the record, its details, its links to
what it matched and its audit event in one transaction, or nothing; a file whose bytes are held
already gets only what is new about it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...db import hold_lock, lock_for_write
from ...hashing.views import Source, size_of, stream_of
from ...models import LinkKind, Media, MediaKind, MediaLink, Sighting, User
from ...storage import Store, StoredFile
from .. import Conflict, Invalid, fetch
from ..evidence import audit, link_confidence, stored_algorithm
from ..records import IngestDetails, apply_details, check_details, record_details
from ..text import keep_reading, keep_subtitles, queue_reading
from .matching import IndexHolder
from .search import AUDIO, BOTH, FRAMES, Rejected, SearchMatch

# Called inside the ingest's write transaction, just before it commits, with the media, whether
# this ingest made it and its near-duplicates: a job that ingests records its outcome in the
# same transaction, so a worker that dies after the commit leaves nothing to do twice.
OnCommit = Callable[["Media", bool, "list[SearchMatch]"], None]

# PostgreSQL advisory lock that orders uploads' commits (see ``commit_new``).
INGEST_LOCK = 0x6361745F696E6773


@dataclass
class IngestResult:
    """The media now in the catalogue, whether this call created it, and what it resembles."""

    media: Media
    created: bool
    near_duplicates: list[SearchMatch] = field(default_factory=list)
    sighting: Sighting | None = None


def commit_new(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    sha256: str,
    build: Callable[[], Media],
    matches: list[SearchMatch],
    details: IngestDetails,
    actor: User | None,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Store the file, then the record, links and audit event in one transaction, or neither."""
    if storage.exists(sha256):
        # Held already (a job's original, or bytes of a media being added meanwhile): the
        # bytes were hashed as they were read, so they need not be copied again.
        storage.touch(sha256)
        placed = StoredFile(sha256, size_of(data), created=False)
    else:
        placed = storage.put_stream(stream_of(data))
    if placed.sha256 != sha256:
        # The bytes stored are not the ones fingerprinted: the file changed while it was read
        # (a file in a folder being imported). Checked on what was stored, in the one read
        # that stores it, rather than by reading the file once more beforehand.
        _discard_if_orphan(session, storage, placed.sha256, placed.created)
        raise Rejected("changed", "the file changed while it was being read")
    try:
        lock_for_write(session)
        # Uploads queue on a lock of their own before any row of the media is flushed, so the
        # ids of hash and keypoint rows are drawn in commit order: each index refresh reads
        # only ids above the highest it has read, and would never go back for rows with lower
        # ids committed after it passed them. (Not the audit chain's lock: writers that take
        # that one last, after their own rows, could deadlock against an upload holding it.)
        hold_lock(session, INGEST_LOCK)
        existing = session.scalar(sa.select(Media).where(Media.sha256 == sha256))
        if existing is not None:  # another process added the same bytes meanwhile
            return add_to_existing(session, existing, details, actor, on_commit)
        media = build()
        sighting, ack = apply_details(session, media, details, actor)
        for match in matches:
            if _worth_a_link(match):
                session.add(_link_for(media, match))
        audit.record(
            session,
            actor,
            "media.create",
            "media",
            media.id,
            {
                "sha256": media.sha256,
                "kind": media.kind.value,
                "size": media.size_bytes,
                "filename": media.original_filename,
                "title": media.title,
                "description": media.description,
                "credit": media.credit,
                "incident": media.incident.title if media.incident else None,
                "tags": sorted(t.name for t in media.tags),
                "near_duplicates": [m.media_id for m in matches],
            },
        )
        record_details(session, media, sighting, ack, actor)
        if details.read_text is not None:
            keep_reading(session, media.id, details.read_text)
        else:
            queue_reading(session, media)
        if details.sidecar is not None:
            if media.kind == MediaKind.IMAGE:
                raise Invalid("subtitles can be given only with a video or a recording")
            keep_subtitles(session, media.id, details.sidecar)
        if on_commit is not None:
            on_commit(media, True, matches)
        session.commit()
    except IntegrityError:
        session.rollback()
        _discard_if_orphan(session, storage, sha256, placed.created)
        existing = session.scalar(sa.select(Media).where(Media.sha256 == sha256))
        if existing is None:
            raise
        return add_to_existing(session, existing, details, actor, on_commit)
    except BaseException:
        session.rollback()
        _discard_if_orphan(session, storage, sha256, placed.created)
        raise
    holder.refresh(session, force=True)
    return IngestResult(media, True, matches, sighting)


# A match on sound alone links two media only when it shares this much of one of them: a few
# seconds of a jingle or a song that goes round are shown as matches, not drawn as links.
MIN_AUDIO_LINK_COVERAGE = 0.3


def _worth_a_link(match: SearchMatch) -> bool:
    """Whether a match becomes a near-duplicate link (every one does but a slight sound match)."""
    if match.evidence != "audio":
        return True
    shares = (match.details.get("audio_coverage", 0), match.details.get("audio_match_coverage", 0))
    return max(shares) >= MIN_AUDIO_LINK_COVERAGE


def _link_for(media: Media, match: SearchMatch) -> MediaLink:
    """Link a new media to one it matched: a frame to its video, or two near-duplicates."""
    if match.kind == "frame_of" or (match.frame_time is not None and media.kind is MediaKind.IMAGE):
        # The still is the frame; the video is the target, at the frame's time.
        still, video = (
            (media.id, match.media_id)
            if media.kind is MediaKind.IMAGE
            else (match.media_id, media.id)
        )
        time = match.frame_time if match.frame_time is not None else match.details.get("time")
        return MediaLink(
            source_media_id=still,
            target_media_id=video,
            kind=LinkKind.FRAME_OF,
            algorithm=stored_algorithm(
                match.evidence,
                inliers=match.details.get("inliers") if match.evidence == "orb" else None,
            ),
            distance=match.distance,
            frame_time_s=time,
        )
    algorithm, distance = match.evidence, match.distance
    if match.evidence == BOTH:
        # The link keeps the stronger witness, with the distance in that witness's units.
        ber = match.details.get("audio_bit_error_rate")
        if ber is not None and link_confidence(AUDIO, ber) > link_confidence(FRAMES, distance):
            algorithm, distance = AUDIO, ber
        else:
            algorithm = FRAMES
    if match.kind == "mirrored_rotated" or match.evidence == "orb":
        # The link's kind has no mirror, and its row no keypoint count: its algorithm keeps
        # them, so the link is named and its evidence said as the upload answer said them.
        algorithm = stored_algorithm(
            algorithm,
            mirrored=match.kind == "mirrored_rotated",
            inliers=match.details.get("inliers") if match.evidence == "orb" else None,
        )
    return MediaLink(
        source_media_id=media.id,
        target_media_id=match.media_id,
        kind=LinkKind.NEAR_DUPLICATE,
        algorithm=algorithm,
        distance=distance,
    )


def withdrawn_message(media: Media) -> str:
    """Say that a file uploaded again is a withdrawn media, and how to have it back."""
    return (
        f"this file is media #{media.id}, withdrawn on {media.withdrawn_at:%Y-%m-%d}"
        f" ({media.withdrawn_reason}); an admin can restore it on its page"
        f" (/media/{media.id}) or with POST /api/v1/media/{media.id}/restore"
    )


def _discard_if_orphan(session: Session, storage: Store, sha256: str, created: bool) -> None:
    """Remove a file this call stored unless a committed record now refers to it."""
    if created and session.scalar(sa.select(Media.id).where(Media.sha256 == sha256)) is None:
        storage.discard(sha256)


def add_to_existing(
    session: Session,
    media: Media,
    details: IngestDetails,
    actor: User | None,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Record what a repeated upload adds (a sighting, an acknowledgement, tags), nothing else.

    A withdrawn media is refused (Conflict) with who withdrew it and why: its bytes are
    catalogued already, and an admin restores it rather than a second record being made."""
    if media.withdrawn_at is not None:
        raise Conflict(withdrawn_message(media))
    check_details(details)
    if not (
        details.sighting
        or details.acknowledgement
        or details.tags
        or (details.incident and media.incident_id is None)
    ):
        if on_commit is not None:
            lock_for_write(session)
            on_commit(fetch(session, Media, media.id, "media"), False, [])
            session.commit()
        return IngestResult(media, False)
    lock_for_write(session)
    media = fetch(session, Media, media.id, "media")  # re-read inside the write transaction
    had_incident = media.incident_id is not None
    sighting, ack = apply_details(session, media, details, actor)
    audit.record(
        session,
        actor,
        "media.add_details",
        "media",
        media.id,
        {
            "incident": media.incident.title if media.incident and not had_incident else None,
            "tags": details.tags,
            "sighting": sighting.id if sighting else None,
            "acknowledgement": ack.id if ack else None,
        },
    )
    record_details(session, media, sighting, ack, actor)
    if on_commit is not None:
        on_commit(media, False, [])
    session.commit()
    return IngestResult(media, False, sighting=sighting)
