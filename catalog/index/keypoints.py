"""An index of ORB descriptors with the positions they came from, for crop-resistant search.

A query's descriptors vote for the stored pictures whose descriptors are near; each picture
with enough votes is checked geometrically (``hashing.features.verify``), which rejects the
chance agreements that textures and repeated patterns produce.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import faiss
import numpy as np

from ..hashing.features import DESCRIPTOR_BYTES, Features, Verification, verify

# Descriptor distance (of 256 bits) under which two patches count as the same.
MATCH_DISTANCE = 64
# Stored pictures checked geometrically per query, most votes first.
MAX_CANDIDATES = 24
MIN_VOTES = 8


@dataclass(frozen=True)
class FeatureMatch:
    """A stored picture the query contains or is contained in."""

    media_id: int
    row_id: int
    frame_time: float | None
    verification: Verification
    width: int  # of the stored picture's working image
    height: int


@dataclass(frozen=True)
class _Entry:
    media_id: int
    row_id: int
    frame_time: float | None
    points: np.ndarray
    width: int
    height: int


class KeypointIndex:
    """ORB descriptors of many pictures; safe to share between threads."""

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
        self._owner = np.empty(0, dtype=np.int32)  # descriptor -> entry
        self._keypoint = np.empty(0, dtype=np.int32)  # descriptor -> keypoint within entry
        self._pending_owner: list[np.ndarray] = []
        self._pending_keypoint: list[np.ndarray] = []
        self._entries: list[_Entry] = []
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def descriptor_count(self) -> int:
        """Return how many descriptors are held."""
        return int(self._index.ntotal)

    def add(self, media_id: int, row_id: int, frame_time: float | None, features: Features) -> None:
        """Add one picture's keypoints."""
        if not len(features):
            return
        with self._lock:
            entry = len(self._entries)
            self._entries.append(
                _Entry(
                    media_id, row_id, frame_time, features.points, features.width, features.height
                )
            )
            self._index.add(np.ascontiguousarray(features.descriptors, dtype=np.uint8))
            self._pending_owner.append(np.full(len(features), entry, dtype=np.int32))
            self._pending_keypoint.append(np.arange(len(features), dtype=np.int32))

    def _columns(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pending_owner:
            self._owner = np.concatenate([self._owner, *self._pending_owner])
            self._keypoint = np.concatenate([self._keypoint, *self._pending_keypoint])
            self._pending_owner.clear()
            self._pending_keypoint.clear()
        return self._owner, self._keypoint

    def search(self, query: Features, neighbours: int = 4) -> list[FeatureMatch]:
        """Return the stored pictures geometrically consistent with ``query``, best first."""
        if not len(query):
            return []
        with self._lock:
            if not self._entries:
                return []
            k = min(neighbours, int(self._index.ntotal))
            distances, labels = self._index.search(np.ascontiguousarray(query.descriptors), k)
            owner, keypoint = self._columns()
            entries = list(self._entries)
        close = (labels >= 0) & (distances <= MATCH_DISTANCE)
        query_idx = np.repeat(np.arange(len(query)), k).reshape(len(query), k)[close]
        hit = labels[close]
        hit_distance = distances[close]
        if not len(hit):
            return []
        hit_owner = owner[hit]
        hit_kp = keypoint[hit]
        # Keep correspondences one-to-one: each stored keypoint pairs with its closest query
        # keypoint only, so a cluster of similar query patches (a lattice, text) cannot pile
        # up on one stored point and pass for a consistent transform.
        order = np.argsort(hit_distance, kind="stable")
        votes: dict[int, dict[int, int]] = {}
        used: set[tuple[int, int]] = set()
        for i in order.tolist():
            e, kp, q = int(hit_owner[i]), int(hit_kp[i]), int(query_idx[i])
            pairs = votes.setdefault(e, {})
            if q in pairs or (e, kp) in used:
                continue
            pairs[q] = kp
            used.add((e, kp))
        ranked = sorted(votes.items(), key=lambda item: -len(item[1]))[:MAX_CANDIDATES]
        matches = []
        for entry_index, pairs_by_query in ranked:
            if len(pairs_by_query) < MIN_VOTES:
                break
            entry = entries[entry_index]
            candidate = Features(
                entry.points, np.zeros((0, DESCRIPTOR_BYTES), np.uint8), entry.width, entry.height
            )
            pair_array = np.array(list(pairs_by_query.items()), dtype=np.int64)
            result = verify(query, candidate, pair_array)
            if result is not None:
                matches.append(
                    FeatureMatch(
                        entry.media_id,
                        entry.row_id,
                        entry.frame_time,
                        result,
                        entry.width,
                        entry.height,
                    )
                )
        matches.sort(key=lambda m: -m.verification.inliers)
        return matches

    def memory_bytes(self) -> int:
        """Return an estimate of the memory held."""
        with self._lock:
            count = int(self._index.ntotal)
            points = sum(e.points.nbytes for e in self._entries)
            return count * (DESCRIPTOR_BYTES + 8) + points + len(self._entries) * 120
