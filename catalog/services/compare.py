"""Two media side by side: how far apart their stored hashes are, the links recorded between
them, and for video where in each the matching stretches lie. Also how a set of media falls
into duplicate clusters, for incident pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..hashing import HashValue
from ..index import Thresholds
from ..models import Media, MediaHash, MediaLink
from .catalogue import get_media
from .matching import IndexHolder
from .provenance import DEFAULT_CONFIDENCE
from .provenance import clusters as provenance_clusters


@dataclass
class Comparison:
    """What is known about how two media relate."""

    a: Media
    b: Media
    links: list[MediaLink]
    distances: dict[str, int] = field(default_factory=dict)  # least distance per algorithm
    video: dict[str, Any] | None = None  # segments, coverage, offset (or the time of a still)


def _hashes(session: Session, media_id: int) -> list[MediaHash]:
    return list(session.scalars(sa.select(MediaHash).where(MediaHash.media_id == media_id).order_by(MediaHash.id)))


def _least_distance(a: list[MediaHash], b: list[MediaHash], algorithm: str) -> int | None:
    left = [h.bits for h in a if h.algorithm == algorithm]
    right = [h.bits for h in b if h.algorithm == algorithm]
    if not left or not right:
        return None
    x = np.frombuffer(b"".join(left), dtype=np.uint8).reshape(len(left), -1)
    y = np.frombuffer(b"".join(right), dtype=np.uint8).reshape(len(right), -1)
    return int(np.unpackbits(x[:, None, :] ^ y[None, :, :], axis=2).sum(axis=2).min())


def compare(session: Session, holder: IndexHolder, a_id: int, b_id: int, thresholds: Thresholds) -> Comparison:
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
    a_hashes, b_hashes = _hashes(session, a_id), _hashes(session, b_id)
    result = Comparison(a, b, links)
    for algorithm in ("pdq", "phash"):
        distance = _least_distance(a_hashes, b_hashes, algorithm)
        if distance is not None:
            result.distances[algorithm] = distance
    if any(h.frame_time_s is not None for h in a_hashes + b_hashes):
        frames: dict[float, list[HashValue]] = {}
        for h in a_hashes:
            frames.setdefault(h.frame_time_s or 0.0, []).append(HashValue(h.algorithm, h.bits, h.quality, h.variant))
        holder.refresh(session)
        for match in holder.index.match_frames(sorted(frames.items()), thresholds):
            if match.media_id == b_id:
                result.video = {"distance": match.distance, "score": match.score, **match.details}
    return result


def clusters(session: Session, media_ids: list[int], min_confidence: float = DEFAULT_CONFIDENCE) -> list[list[int]]:
    """Group ``media_ids`` by the clusters they belong to (within the set), biggest group first."""
    wanted = set(media_ids)
    members = provenance_clusters(session, sorted(wanted), min_confidence)
    groups: list[list[int]] = []
    placed: set[int] = set()
    for m in sorted(wanted):
        if m in placed:
            continue
        group = sorted({m} | (set(members[m]) & wanted))
        placed.update(group)
        groups.append(group)
    return sorted(groups, key=lambda g: (-len(g), g[0]))
