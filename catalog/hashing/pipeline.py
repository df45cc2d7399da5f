"""From file bytes to everything the catalogue keeps or searches with, in one decode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import features as orb
from . import perceptual
from .audio import AudioFileFingerprint, AudioRejected
from .decode import DecodedImage, ImageRejected, open_image
from .embedded import read_c2pa
from .perceptual import HashValue
from .video import VideoFingerprint, VideoRejected, fingerprint_timed
from .views import Source, sha256_of, size_of, views_of


@dataclass
class ImageFingerprint:
    """What ingest stores for an image: identity, description, hashes and keypoints."""

    sha256: str
    size: int
    width: int
    height: int
    format: str
    mime_type: str
    metadata: dict[str, Any]
    hashes: list[HashValue]
    features: orb.Features


@dataclass
class QueryFingerprint:
    """What search needs for an image: every hash of every view and symmetry, and keypoints."""

    sha256: str
    hashes: list[HashValue]  # variant is "<view>/<symmetry>", e.g. "trimmed/flip_horizontal"
    features: list[tuple[str, orb.Features]] = field(default_factory=list)  # (symmetry, features)
    # The working pictures the keypoints were taken from, by symmetry, to re-hash aligned parts.
    images: dict[str, np.ndarray] = field(default_factory=dict)


def fingerprint_image(data: Source, max_pixels: int) -> ImageFingerprint:
    """Decode ``data`` once and compute what the catalogue stores for it."""
    return _stored_fingerprint(data, open_image(data, max_pixels))


def fingerprint_for_ingest(
    data: Source, max_pixels: int
) -> tuple[ImageFingerprint, QueryFingerprint]:
    """Decode ``data`` once and compute both what is stored and what finds its near-duplicates."""
    decoded = open_image(data, max_pixels)
    stored_features, query_features = orb.extract_sets(
        decoded.rgb, (orb.MAX_KEYPOINTS, orb.QUERY_KEYPOINTS)
    )
    stored = _stored_fingerprint(data, decoded, stored_features)
    return stored, query_from_array(stored.sha256, decoded.rgb, query_features)


@dataclass
class FileFingerprint:
    """The outcome of hashing one file in a worker process: fingerprints or a rejection."""

    path: str
    stored: ImageFingerprint | None = None
    query: QueryFingerprint | None = None
    video: VideoFingerprint | None = None
    audio: AudioFileFingerprint | None = None
    error_code: str | None = None
    error: str | None = None


def fingerprint_file(
    path: str, max_pixels: int, max_bytes: int, max_video_s: float = 3 * 3600
) -> FileFingerprint:
    """Read and fingerprint the file at ``path``; never raises for a bad file (bulk import)."""
    try:
        handle = open(path, "rb")  # closed by the with block below, whatever happens
    except OSError as exc:
        return FileFingerprint(
            path, error_code="unreadable", error=f"cannot read the file ({exc.strerror})"
        )
    # Read from the file as the decoders need it, never whole into memory.
    with handle:
        if size_of(handle) > max_bytes:
            return FileFingerprint(
                path, error_code="too_large", error=f"the file is larger than {max_bytes} bytes"
            )
        try:
            timed = fingerprint_timed(handle, max_duration_s=max_video_s, max_pixels=max_pixels)
            if isinstance(timed, VideoFingerprint):
                return FileFingerprint(path, video=timed)
            if timed is not None:
                return FileFingerprint(path, audio=timed)
            stored, query = fingerprint_for_ingest(handle, max_pixels)
        except (ImageRejected, VideoRejected, AudioRejected) as exc:
            return FileFingerprint(path, error_code=exc.code, error=str(exc))
        except OSError as exc:
            return FileFingerprint(
                path, error_code="unreadable", error=f"cannot read the file ({exc.strerror})"
            )
    return FileFingerprint(path, stored, query)


def _stored_fingerprint(
    data: Source, decoded: DecodedImage, features: orb.Features | None = None
) -> ImageFingerprint:
    hashes: list[HashValue] = []
    for view, rgb in views_of(decoded.rgb):
        hashes.append(perceptual.pdq(rgb, view))
        hashes.append(perceptual.phash(rgb, view))
    return ImageFingerprint(
        sha256=sha256_of(data),
        size=size_of(data),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        mime_type=decoded.mime_type,
        metadata=_with_credentials(decoded.metadata, data, decoded.mime_type),
        hashes=hashes,
        features=features if features is not None else orb.extract(decoded.rgb),
    )


def _with_credentials(metadata: dict[str, Any], data: Source, mime_type: str) -> dict[str, Any]:
    credentials = read_c2pa(data, mime_type)
    return {**metadata, "c2pa": credentials} if credentials else metadata


def fingerprint_query(data: Source, max_pixels: int) -> QueryFingerprint:
    """Decode ``data`` once and compute what a search compares against the catalogue."""
    decoded = open_image(data, max_pixels)
    return query_from_array(sha256_of(data), decoded.rgb)


def query_from_array(
    sha256: str, rgb: np.ndarray, features: orb.Features | None = None
) -> QueryFingerprint:
    """Compute the search hashes of an already decoded picture (also used for video frames)."""
    hashes: list[HashValue] = []
    for view, array in views_of(rgb):
        for value in perceptual.pdq_dihedral(array):
            hashes.append(
                HashValue(value.algorithm, value.bits, value.quality, f"{view}/{value.variant}")
            )
        for value in perceptual.phash_dihedral(array):
            hashes.append(
                HashValue(value.algorithm, value.bits, value.quality, f"{view}/{value.variant}")
            )
    # ORB is rotation-invariant but not mirror-invariant: also describe the mirror image.
    images = {"original": rgb, "flip_horizontal": np.ascontiguousarray(rgb[:, ::-1])}
    feature_sets = [
        ("original", features if features is not None else orb.extract(rgb, orb.QUERY_KEYPOINTS)),
        ("flip_horizontal", orb.extract(images["flip_horizontal"], orb.QUERY_KEYPOINTS)),
    ]
    return QueryFingerprint(sha256, hashes, feature_sets, images)
