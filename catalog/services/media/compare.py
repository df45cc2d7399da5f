"""Two media side by side: how far apart their stored hashes are, the links recorded between
them, for video and sound where in each the matching stretches lie, for a still the time of the
video's frame it is, and the evidence that made the match, said for the page's header."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...hashing import HashValue
from ...hashing.audio import AudioPrint, QueryVariant
from ...hashing.perceptual import least_distance
from ...index import Thresholds
from ...index.audio import AudioIndex
from ...models import LinkKind, Media, MediaHash, MediaKind, MediaLink
from ..evidence import evidence_text
from ..records import get_media
from .matching import IndexHolder


@dataclass
class Comparison:
    """What is known about how two media relate."""

    a: Media
    b: Media
    links: list[MediaLink]
    distances: dict[str, int] = field(default_factory=dict)  # least distance per algorithm
    video: dict[str, Any] | None = None  # segments, coverage, offset (or the time of a still)
    audio: dict[str, Any] | None = None  # the shared sound: segments, coverages, offset
    still: dict[str, Any] | None = None  # a picture and a video: which is which, and the time
    evidence: list[str] = field(default_factory=list)  # what made the match, for the header


def _least_distance(a: list[MediaHash], b: list[MediaHash], algorithm: str) -> int | None:
    left = [h.bits for h in a if h.algorithm == algorithm]
    right = [h.bits for h in b if h.algorithm == algorithm]
    if not left or not right:
        return None
    return least_distance(
        np.frombuffer(b"".join(left), dtype=np.uint8).reshape(len(left), -1),
        np.frombuffer(b"".join(right), dtype=np.uint8).reshape(len(right), -1),
    )


def compare(
    session: Session, holder: IndexHolder, a_id: int, b_id: int, thresholds: Thresholds
) -> Comparison:
    """Compare media ``a_id`` with ``b_id``; for video, find the matching segments via the index."""
    a, b = get_media(session, a_id), get_media(session, b_id)
    links = list(
        session.scalars(
            sa.select(MediaLink).where(
                sa.or_(
                    sa.and_(MediaLink.source_media_id == a_id, MediaLink.target_media_id == b_id),
                    sa.and_(MediaLink.source_media_id == b_id, MediaLink.target_media_id == a_id),
                )
            )
        )
    )
    a_hashes, b_hashes = sorted(a.hashes, key=lambda h: h.id), b.hashes  # loaded with the media
    result = Comparison(a, b, links)
    for algorithm in ("pdq", "phash"):
        distance = _least_distance(a_hashes, b_hashes, algorithm)
        if distance is not None:
            result.distances[algorithm] = distance
    if any(h.frame_time_s is not None for h in a_hashes + b_hashes):
        frames: dict[float, list[HashValue]] = {}
        for h in a_hashes:
            frames.setdefault(h.frame_time_s or 0.0, []).append(
                HashValue(h.algorithm, h.bits, h.quality, h.variant)
            )
        holder.refresh(session)
        for match in holder.index.match_frames(sorted(frames.items()), thresholds):
            if match.media_id == b_id:
                result.video = {"distance": match.distance, "score": match.score, **match.details}
                if "segments" in result.video:
                    result.video["segments"] = _drawn(result.video["segments"], a, b)
    result.audio = shared_sound(a, b)
    result.still = _still_in_video(a, b, links, a_hashes, list(b_hashes))
    result.evidence = _evidence(result, thresholds)
    return result


def _still_in_video(
    a: Media, b: Media, links: list[MediaLink], a_hashes: list[MediaHash], b_hashes: list[MediaHash]
) -> dict[str, Any] | None:
    """For a picture and a video: the time of the video's frame the picture is (the frame-of
    link's, else the sampled frame nearest by PDQ), to show that frame beside the picture."""
    kinds = {a.kind, b.kind}
    if kinds != {MediaKind.IMAGE, MediaKind.VIDEO}:
        return None
    image, video = (a, b) if a.kind is MediaKind.IMAGE else (b, a)
    linked = [
        link.frame_time_s
        for link in links
        if link.kind is LinkKind.FRAME_OF and link.frame_time_s is not None
    ]
    if linked:
        return {"image": image.id, "video": video.id, "time": linked[0], "distance": None}
    image_hashes, video_hashes = (a_hashes, b_hashes) if image is a else (b_hashes, a_hashes)
    pictured = [h for h in image_hashes if h.algorithm == "pdq"]
    frames = [h for h in video_hashes if h.algorithm == "pdq" and h.frame_time_s is not None]
    if not pictured or not frames:
        return None
    # Each frame's distance to the picture's nearest view; both lists are non-empty here.
    by_frame = [(_least_distance(pictured, [f], "pdq") or 0, f) for f in frames]
    distance, nearest = min(by_frame, key=lambda pair: pair[0])
    return {
        "image": image.id,
        "video": video.id,
        "time": nearest.frame_time_s,
        "distance": distance,
    }


def _evidence(c: Comparison, thresholds: Thresholds) -> list[str]:
    """What made the match, as the header says it: the links' witnesses, the video's
    segments and coverage, the shared sound's offset and score, and a hash distance only
    where it is itself a match (or nothing else is known): never a distance saying "no match"
    beside the evidence that made one."""
    said: list[str] = []
    for link in c.links:
        text = evidence_text(link.algorithm, link.distance)
        if text not in said:
            said.append(text)
    if c.video and c.video.get("segments"):
        segments = c.video["segments"]
        said.append(
            f"video frames: {len(segments)} matching segment{'s' if len(segments) != 1 else ''}; "
            f"#{c.a.id} {c.video.get('query_coverage') or 0:.0%} covered, "
            f"#{c.b.id} {c.video.get('match_coverage') or 0:.0%}"
        )
    if c.audio:
        said.append(
            f"sound: offset {c.audio['offset']:+.1f} s; "
            f"{c.audio['bit_error_rate']:.0%} of fingerprint bits differ; "
            f"#{c.a.id} {c.audio['query_coverage']:.0%} shared, "
            f"#{c.b.id} {c.audio['match_coverage']:.0%}"
        )
    limits = {"pdq": thresholds.pdq, "phash": thresholds.phash_loose}
    for algorithm, distance in sorted(c.distances.items()):
        if distance <= limits[algorithm] or not said:
            said.append(f"{evidence_text(algorithm, distance)} at the closest views")
    return said


def _drawn(segments: list[dict[str, Any]], a: Media, b: Media) -> list[dict[str, Any]]:
    """Segments as the timelines draw them: a sampled frame stands for the time until the
    next one, so a segment runs to the frame after its last (or the end of the video), and a
    copy matched from first frame to last fills its timeline, as its coverage says."""
    a_times = sorted({h.frame_time_s for h in a.hashes if h.frame_time_s is not None})
    b_times = sorted({h.frame_time_s for h in b.hashes if h.frame_time_s is not None})

    def through(end: float, times: list[float], duration: float | None) -> float:
        later = [t for t in times if t > end + 1e-6]
        return later[0] if later else max(end, duration or end)

    return [
        {
            **segment,
            "query_end": through(segment["query_end"], a_times, a.duration_s),
            "match_end": through(segment["match_end"], b_times, b.duration_s),
        }
        for segment in segments
    ]


def shared_sound(a: Media, b: Media) -> dict[str, Any] | None:
    """Where the two media's sound is the same (segments: ``query`` times in ``a``, ``match``
    times in ``b``), read from their stored fingerprints (at their own speed: the search that
    linked them also tried others)."""
    if a.audio is None or b.audio is None:
        return None
    left, right = (
        AudioPrint.from_bytes(sound.fingerprint, sound.informative, sound.duration_s)
        for sound in (a.audio, b.audio)
    )
    if not left.has_evidence or not right.has_evidence:
        return None
    index = AudioIndex()
    index.add(b.id, right)
    found = index.search([QueryVariant(1.0, 0.0, left)])
    if not found:
        return None
    match = found[0]
    return {
        "query_coverage": match.query_coverage,
        "match_coverage": match.match_coverage,
        "segments": [segment.as_dict() for segment in match.segments],
        "offset": match.offset_s,
        "bit_error_rate": match.ber,
    }
