"""The rows of a new media: the media itself with what the person typed, and its
fingerprints (hashes per view and frame, keypoints, sound) as the index reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ...hashing import Features, HashValue
from ...hashing.audio import AudioPrint
from ...hashing.pipeline import ImageFingerprint
from ...hashing.video import VideoFingerprint
from ...models import Media, MediaAudio, MediaFeatures, MediaHash, MediaKind, User
from ..records import IngestDetails, clean_filename, clean_text


def media_row(session: Session, details: IngestDetails, actor: User | None, **fields: Any) -> Media:
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


def add_hashes(
    session: Session,
    media: Media,
    hashes: list[HashValue],
    index: int | None = None,
    time: float | None = None,
) -> None:
    """Add a hash row per algorithm and view (of one frame, for a video)."""
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


def add_features(
    session: Session,
    media: Media,
    features: Features,
    index: int | None = None,
    time: float | None = None,
) -> None:
    """Add the keypoints of a picture or of one video frame."""
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


def new_video(
    session: Session, found: VideoFingerprint, details: IngestDetails, actor: User | None
) -> Media:
    """Add a video's media row with its sampled frames' hashes, keypoints and sound."""
    media = media_row(
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
        add_hashes(session, media, frame.hashes, frame.index, frame.time)
        if frame.features is not None and len(frame.features):
            add_features(session, media, frame.features, frame.index, frame.time)
    add_audio(session, media, found.audio)
    return media


def new_image(
    session: Session, stored: ImageFingerprint, details: IngestDetails, actor: User | None
) -> Media:
    """Add a picture's media row with its hashes, keypoints and GPS position."""
    gps = stored.metadata.get("exif", {}).get("GPS") or {}
    media = media_row(
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
    add_hashes(session, media, stored.hashes)
    add_features(session, media, stored.features)
    return media


def add_audio(session: Session, media: Media, fingerprint: AudioPrint | None) -> None:
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
