"""Ingest: store a file and everything known about it in one transaction, or nothing.

The file is fingerprinted before anything is written, so a file that is not an image we can
read leaves no trace. The original goes to storage first (idempotent, content-addressed);
if the database transaction then fails, a file this call created is removed again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import hold_lock, lock_for_write
from ..hashing import Features, HashValue, ImageRejected, sha256_of
from ..hashing.audio import (
    AudioFileFingerprint,
    AudioPrint,
    AudioRejected,
)
from ..hashing.pipeline import ImageFingerprint, QueryFingerprint, fingerprint_for_ingest
from ..hashing.video import (
    Progress,
    VideoFingerprint,
    VideoRejected,
    fingerprint_timed,
    poster_and_sheet,
)
from ..hashing.views import Source, size_of, stream_of
from ..index import Thresholds
from ..models import (
    Acknowledgement,
    AckStatus,
    Incident,
    LinkKind,
    Media,
    MediaAudio,
    MediaFeatures,
    MediaHash,
    MediaKind,
    MediaLink,
    Sighting,
    User,
)
from ..storage import Store, StoredFile
from . import Invalid, audit, fetch
from .matching import IndexHolder
from .provenance import link_confidence
from .records import (
    aware,
    clean_filename,
    clean_text,
    clean_url,
    incident_named,
    party_named,
    source_named,
    tag_named,
)
from .search import (
    AUDIO,
    BOTH,
    FRAMES,
    Rejected,
    SearchMatch,
    search_frames,
    search_query,
    search_sound,
)


@dataclass
class SightingInput:
    """Where and when a media was seen."""

    url: str | None = None
    platform: str | None = None
    source: str | None = None
    account: str | None = None
    posted_at: datetime | None = None
    observed_at: datetime | None = None
    deleted_at: datetime | None = None
    caption: str | None = None
    archive_url: str | None = None
    capture_id: int | None = None  # the capture that saw it, when captured


@dataclass
class AcknowledgementInput:
    """A party's stance on the media, with the statement behind it."""

    party: str
    status: str
    statement: str | None = None
    source: str | None = None
    url: str | None = None
    stated_at: datetime | None = None


@dataclass
class IngestDetails:
    """What the person adding a file says about it; every field optional."""

    title: str | None = None
    description: str | None = None
    credit: str | None = None
    incident: str | None = None
    original_filename: str | None = None
    sighting: SightingInput | None = None
    acknowledgement: AcknowledgementInput | None = None
    tags: list[str] = field(default_factory=list)


# Called inside the ingest's write transaction, just before it commits, with the media, whether
# this ingest made it and its near-duplicates: a job that ingests records its outcome in the
# same transaction, so a worker that dies after the commit leaves nothing to do twice.
OnCommit = Callable[["Media", bool, "list[SearchMatch]"], None]

# PostgreSQL advisory lock that orders uploads' commits (see ``_commit_new``).
INGEST_LOCK = 0x6361745F696E6773


@dataclass
class IngestResult:
    """The media now in the catalogue, whether this call created it, and what it resembles."""

    media: Media
    created: bool
    near_duplicates: list[SearchMatch] = field(default_factory=list)
    sighting: Sighting | None = None


def ingest_bytes(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    details: IngestDetails,
    *,
    actor: User | None,
    thresholds: Thresholds,
    max_pixels: int,
    max_video_s: float = 3 * 3600,
    progress: Progress | None = None,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Add a file to the catalogue (or, if its bytes are held, add what is new about it);
    ``progress`` is told the share of a video read so far."""
    if not size_of(data):
        raise Rejected("empty", "the file is empty")
    existing = session.scalar(sa.select(Media).where(Media.sha256 == sha256_of(data)))
    if existing is not None:
        return _add_to_existing(session, existing, details, actor, on_commit)
    check_details(details)
    try:
        timed = fingerprint_timed(
            data, max_duration_s=max_video_s, max_pixels=max_pixels, progress=progress
        )
        if isinstance(timed, VideoFingerprint):
            return ingest_video_fingerprinted(
                session,
                storage,
                holder,
                data,
                timed,
                details,
                actor=actor,
                thresholds=thresholds,
                on_commit=on_commit,
            )
        if timed is not None:
            return ingest_audio_fingerprinted(
                session,
                storage,
                holder,
                data,
                timed,
                details,
                actor=actor,
                thresholds=thresholds,
                on_commit=on_commit,
            )
        stored, query = fingerprint_for_ingest(data, max_pixels)
    except (ImageRejected, VideoRejected, AudioRejected) as exc:
        raise Rejected(exc.code, str(exc)) from None
    return ingest_fingerprinted(
        session,
        storage,
        holder,
        data,
        stored,
        query,
        details,
        actor=actor,
        thresholds=thresholds,
        on_commit=on_commit,
    )


def ingest_fingerprinted(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    stored: ImageFingerprint,
    query: QueryFingerprint,
    details: IngestDetails,
    *,
    actor: User | None,
    thresholds: Thresholds,
    provenance: bool = True,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Add an image whose fingerprints were computed elsewhere (a worker process); the near
    duplicates come with their provenance unless asked not to."""
    check_details(details)
    matches = search_query(session, holder, query, thresholds, provenance=provenance)
    return _commit_new(
        session,
        storage,
        holder,
        data,
        stored.sha256,
        lambda: _new_image(session, stored, details, actor),
        matches,
        details,
        actor,
        on_commit,
    )


def ingest_video_fingerprinted(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    found: VideoFingerprint,
    details: IngestDetails,
    *,
    actor: User | None,
    thresholds: Thresholds,
    provenance: bool = True,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Add a video whose frames were sampled and hashed elsewhere; make its poster and sheet
    (the matches' provenance as for ``ingest_fingerprinted``)."""
    check_details(details)
    matches = search_frames(session, holder, found, thresholds, provenance=provenance)
    try:
        poster, sheet = poster_and_sheet(data, found)
    except VideoRejected as exc:
        raise Rejected(exc.code, str(exc)) from None

    def build() -> Media:
        media = _new_video(session, found, details, actor)
        storage.put_derived(media.sha256, "poster.jpg", poster)
        storage.put_derived(media.sha256, "contact-sheet.jpg", sheet)
        if found.waveform:
            storage.put_derived(media.sha256, "waveform.png", found.waveform)
        return media

    return _commit_new(
        session, storage, holder, data, found.sha256, build, matches, details, actor, on_commit
    )


def ingest_audio_fingerprinted(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    heard: AudioFileFingerprint,
    details: IngestDetails,
    *,
    actor: User | None,
    thresholds: Thresholds,
    provenance: bool = True,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Add a recording whose sound was fingerprinted elsewhere; draw its waveform."""
    check_details(details)
    matches = search_sound(session, holder, heard, thresholds, provenance=provenance)

    def build() -> Media:
        media = _media_row(
            session,
            details,
            actor,
            sha256=heard.sha256,
            kind=MediaKind.AUDIO,
            mime_type=heard.mime_type,
            size_bytes=heard.size,
            duration_s=round(heard.duration, 3),
            extracted={"audio": heard.metadata},
        )
        _add_audio(session, media, heard.print)
        storage.put_derived(media.sha256, "waveform.png", heard.waveform)
        return media

    return _commit_new(
        session, storage, holder, data, heard.sha256, build, matches, details, actor, on_commit
    )


def _add_audio(session: Session, media: Media, fingerprint: AudioPrint | None) -> None:
    """Keep a recording's or a video track's sound fingerprint (none for a file without one)."""
    if fingerprint is None:
        return
    share = float(fingerprint.informative.mean()) if len(fingerprint.values) else 0.0
    session.add(
        MediaAudio(
            media=media,
            fingerprint=fingerprint.to_bytes(),
            informative=fingerprint.mask_bytes(),
            duration_s=round(fingerprint.duration, 3),
            informative_share=round(share, 4),
        )
    )


def _commit_new(
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
            return _add_to_existing(session, existing, details, actor, on_commit)
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
        if on_commit is not None:
            on_commit(media, True, matches)
        session.commit()
    except IntegrityError:
        session.rollback()
        _discard_if_orphan(session, storage, sha256, placed.created)
        existing = session.scalar(sa.select(Media).where(Media.sha256 == sha256))
        if existing is None:
            raise
        return _add_to_existing(session, existing, details, actor, on_commit)
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
            algorithm=match.evidence,
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
    return MediaLink(
        source_media_id=media.id,
        target_media_id=match.media_id,
        kind=LinkKind.NEAR_DUPLICATE,
        algorithm=algorithm,
        distance=distance,
    )


def _discard_if_orphan(session: Session, storage: Store, sha256: str, created: bool) -> None:
    """Remove a file this call stored unless a committed record now refers to it."""
    if created and session.scalar(sa.select(Media.id).where(Media.sha256 == sha256)) is None:
        storage.discard(sha256)


def _media_row(
    session: Session, details: IngestDetails, actor: User | None, **fields: Any
) -> Media:
    """Add the media row with what the person typed; ``fields`` come from the file itself."""
    media = Media(
        original_filename=clean_filename(details.original_filename),
        title=clean_text(details.title, "title", 500),
        description=clean_text(details.description, "description", 20000),
        credit=clean_text(details.credit, "credit", 500),
        created_by=actor,
        **fields,
    )
    session.add(media)
    session.flush()
    return media


def _add_hashes(
    session: Session,
    media: Media,
    hashes: list[HashValue],
    index: int | None = None,
    time: float | None = None,
) -> None:
    for value in hashes:
        session.add(
            MediaHash(
                media_id=media.id,
                algorithm=value.algorithm,
                variant=value.variant,
                bits=value.bits,
                bit_length=len(value.bits) * 8,
                quality=value.quality,
                frame_index=index,
                frame_time_s=time,
            )
        )


def _add_features(
    session: Session,
    media: Media,
    features: Features,
    index: int | None = None,
    time: float | None = None,
) -> None:
    descriptors, positions = features.pack()
    session.add(
        MediaFeatures(
            media_id=media.id,
            frame_index=index,
            frame_time_s=time,
            width=features.width,
            height=features.height,
            keypoints=len(features),
            descriptors=descriptors,
            positions=positions,
        )
    )


def _new_video(
    session: Session, found: VideoFingerprint, details: IngestDetails, actor: User | None
) -> Media:
    media = _media_row(
        session,
        details,
        actor,
        sha256=found.sha256,
        kind=MediaKind.VIDEO,
        mime_type=found.mime_type,
        size_bytes=found.size,
        width=found.width,
        height=found.height,
        duration_s=found.duration,
        extracted={"video": found.metadata, "sampled_frames": len(found.frames)},
    )
    for frame in found.frames:
        _add_hashes(session, media, frame.hashes, frame.index, frame.time)
        if frame.features is not None and len(frame.features):
            _add_features(session, media, frame.features, frame.index, frame.time)
    _add_audio(session, media, found.audio)
    return media


def _new_image(
    session: Session, stored: ImageFingerprint, details: IngestDetails, actor: User | None
) -> Media:
    gps = stored.metadata.get("exif", {}).get("GPS") or {}
    media = _media_row(
        session,
        details,
        actor,
        sha256=stored.sha256,
        kind=MediaKind.IMAGE,
        mime_type=stored.mime_type,
        size_bytes=stored.size,
        width=stored.width,
        height=stored.height,
        extracted={"format": stored.format, **stored.metadata},
        capture_latitude=gps.get("latitude"),
        capture_longitude=gps.get("longitude"),
    )
    _add_hashes(session, media, stored.hashes)
    _add_features(session, media, stored.features)
    return media


def check_details(details: IngestDetails) -> None:
    """Validate what was typed before any work is done, so errors come first and cheap."""
    clean_text(details.title, "title", 500)
    clean_text(details.credit, "credit", 500)
    clean_text(details.description, "description", 20000)
    if details.sighting is not None:
        s = details.sighting
        clean_url(s.url, "sighting URL")
        clean_url(s.archive_url, "archive URL")
        for name in ("posted_at", "observed_at", "deleted_at"):
            aware(getattr(s, name), f"sighting {name.replace('_at', '')} time")
        if s.posted_at and s.deleted_at and s.deleted_at < s.posted_at:
            raise Invalid("a post cannot be deleted before it was posted")
    if details.acknowledgement is not None:
        ack = details.acknowledgement
        try:
            AckStatus(ack.status)
        except ValueError:
            raise Invalid(
                f"acknowledgement status must be one of {', '.join(s.value for s in AckStatus)}"
            ) from None
        if not clean_text(ack.party, "party", 200):
            raise Invalid("an acknowledgement needs a party")
        clean_url(ack.url, "statement URL")
        aware(ack.stated_at, "statement time")


def apply_details(
    session: Session, media: Media, details: IngestDetails, actor: User | None
) -> tuple[Sighting | None, Acknowledgement | None]:
    """Attach incident, tags, sighting and acknowledgement; return the new sighting and
    acknowledgement, if any (``record_details`` records them once the media's event stands)."""
    if details.incident and media.incident_id is None:
        media.incident = incident_named(session, details.incident)
    for name in details.tags:
        tag = tag_named(session, name)
        if tag not in media.tags:
            media.tags.append(tag)
    sighting = build_sighting(session, media, details.sighting, actor) if details.sighting else None
    ack = None
    if details.acknowledgement is not None:
        ack = build_acknowledgement(session, details.acknowledgement, actor, media=media)
    session.flush()
    return sighting, ack


def record_details(
    session: Session,
    media: Media,
    sighting: Sighting | None,
    ack: Acknowledgement | None,
    actor: User | None,
) -> None:
    """Record a new sighting and acknowledgement of ``media`` as events of their own."""
    if sighting is not None:
        audit.record(
            session, actor, "sighting.create", "media", media.id, sighting_fields(sighting)
        )
    if ack is not None:
        audit.record(
            session, actor, "acknowledgement.create", "media", media.id, acknowledgement_fields(ack)
        )


def _utc(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def sighting_fields(sighting: Sighting) -> dict[str, Any]:
    """Every field of a sighting, as its audit event keeps them."""
    return {
        "sighting": sighting.id,
        "url": sighting.url,
        "platform": sighting.platform,
        "source": sighting.source.name if sighting.source else None,
        "account": sighting.account,
        "posted_at": _utc(sighting.posted_at),
        "observed_at": _utc(sighting.observed_at),
        "deleted_at": _utc(sighting.deleted_at),
        "caption": sighting.caption,
        "archive_url": sighting.archive_url,
    }


def acknowledgement_fields(ack: Acknowledgement) -> dict[str, Any]:
    """Every field of an acknowledgement, as its audit event keeps them."""
    return {
        "acknowledgement": ack.id,
        "party": ack.party.name,
        "status": ack.status.value,
        "statement": ack.statement,
        "source": ack.source.name if ack.source else None,
        "url": ack.statement_url,
        "stated_at": _utc(ack.stated_at),
    }


def build_sighting(
    session: Session, media: Media, s: SightingInput, actor: User | None
) -> Sighting:
    """Add a sighting of ``media`` to the session, its fields cleaned."""
    sighting = Sighting(
        media=media,
        url=clean_url(s.url, "sighting URL"),
        platform=clean_text(s.platform, "platform", 64),
        source=source_named(session, s.source) if s.source else None,
        account=clean_text(s.account, "account", 200),
        posted_at=aware(s.posted_at, "posted time"),
        observed_at=aware(s.observed_at, "observed time"),
        deleted_at=aware(s.deleted_at, "deleted time"),
        caption=clean_text(s.caption, "caption", 20000),
        archive_url=clean_url(s.archive_url, "archive URL"),
        capture_id=s.capture_id,
        created_by=actor,
    )
    session.add(sighting)
    return sighting


def build_acknowledgement(
    session: Session,
    ack: AcknowledgementInput,
    actor: User | None,
    *,
    media: Media | None = None,
    incident: Incident | None = None,
) -> Acknowledgement:
    """Add a party's acknowledgement of a media or an incident to the session."""
    added = Acknowledgement(
        party=party_named(session, ack.party),
        media=media,
        incident=incident,
        status=AckStatus(ack.status),
        statement=clean_text(ack.statement, "statement", 20000),
        source=source_named(session, ack.source) if ack.source else None,
        statement_url=clean_url(ack.url, "statement URL"),
        stated_at=aware(ack.stated_at, "statement time"),
        created_by=actor,
    )
    session.add(added)
    return added


def _add_to_existing(
    session: Session,
    media: Media,
    details: IngestDetails,
    actor: User | None,
    on_commit: OnCommit | None = None,
) -> IngestResult:
    """Record what a repeated upload adds (a sighting, an acknowledgement, tags), nothing else."""
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
