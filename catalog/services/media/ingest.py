"""Ingest: fingerprint a file, find what it resembles, and hand it to the commit (``commit``)
that stores it with everything known about it in one transaction, or nothing.

The file is fingerprinted before anything is written, so a file that is not an image, video or
recording we can read leaves no trace. Pictures, videos and recordings each have their own way
in, also for fingerprints computed elsewhere (a worker process of ``catalog import``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...hashing import ImageRejected, sha256_of
from ...hashing.audio import AudioFileFingerprint, AudioRejected
from ...hashing.pipeline import ImageFingerprint, QueryFingerprint, fingerprint_for_ingest
from ...hashing.video import (
    Progress,
    VideoFingerprint,
    VideoRejected,
    fingerprint_timed,
    poster_and_sheet,
)
from ...hashing.views import Source, size_of
from ...index import Thresholds
from ...models import Media, MediaKind, User
from ...storage import Store
from ..records import IngestDetails, check_details
from .commit import IngestResult, OnCommit, add_to_existing, commit_new
from .matching import IndexHolder
from .rows import add_audio, media_row, new_image, new_video
from .search import Rejected, search_frames, search_query, search_sound


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
        return add_to_existing(session, existing, details, actor, on_commit)
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
    return commit_new(
        session,
        storage,
        holder,
        data,
        stored.sha256,
        lambda: new_image(session, stored, details, actor),
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
        media = new_video(session, found, details, actor)
        storage.put_derived(media.sha256, "poster.jpg", poster)
        storage.put_derived(media.sha256, "contact-sheet.jpg", sheet)
        if found.waveform:
            storage.put_derived(media.sha256, "waveform.png", found.waveform)
        return media

    return commit_new(
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
        media = media_row(
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
        add_audio(session, media, heard.print)
        storage.put_derived(media.sha256, "waveform.png", heard.waveform)
        return media

    return commit_new(
        session, storage, holder, data, heard.sha256, build, matches, details, actor, on_commit
    )
