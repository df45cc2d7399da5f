"""Crop-resistant search in two stages: vote by visual words, then check the geometry.

**Candidates.** Every stored keypoint is a posting in the inverted list of its visual word
(``vocabulary``): the picture it belongs to (a slot) and a 32-bit signature of its
descriptor. A query descriptor reads the list of its word and votes for the pictures whose
postings' signatures lie within ``SIGNATURE_DISTANCE`` bits (bag of visual words with
Hamming embedding), so a query reads about 1,500 postings per descriptor at a million
pictures instead of 96 million descriptors.

**Verification.** Only the best-voted pictures are checked: their keypoints are loaded by the
caller (from the database), matched one-to-one with the query's, and a similarity transform
is fitted (``hashing.features.verify``), which rejects the chance agreements that textures
and repeated patterns produce.

Postings live in segments: the large one mapped from a snapshot on disk (every worker of a
server shares its pages) and small in-memory ones for pictures added since, merged as they
accumulate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hashing.features import DESCRIPTOR_BYTES, Features, Verification, extract, verify
from .columns import Column, load_array, save_array
from .vocabulary import SIGNATURE_DISTANCE, Vocabulary

# Descriptor distance (of 256 bits) under which two patches count as the same.
MATCH_DISTANCE = 64
# Stored pictures checked geometrically per query, most votes first.
MAX_CANDIDATES = 24
MIN_VOTES = 7
# Words whose lists are this many times longer than the average say little (a sky, a wall)
# and cost the most to read: a query skips them once the index is large.
STOP_FACTOR = 40
# Small in-memory segments merged once there are more than this many.
MAX_SEGMENTS = 6

LoadFeatures = Callable[[list[int]], dict[int, Features]]


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
class Candidate:
    """A stored picture that enough query descriptors voted for."""

    row_id: int
    media_id: int
    frame_time: float | None
    votes: int


class _Segment:
    """Postings sorted by word: an offsets table (large segments) or the words themselves."""

    def __init__(
        self,
        slots: np.ndarray,
        sigs: np.ndarray,
        words: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ) -> None:
        self.slots, self.sigs, self.words, self.offsets = slots, sigs, words, offsets

    def __len__(self) -> int:
        return len(self.slots)

    @classmethod
    def build(cls, words: np.ndarray, slots: np.ndarray, sigs: np.ndarray) -> _Segment:
        order = np.argsort(words, kind="stable")
        return cls(slots[order], sigs[order], words=words[order])

    def ranges(self, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.offsets is not None:
            return self.offsets[words], self.offsets[words + 1]
        assert self.words is not None
        return (
            np.searchsorted(self.words, words, "left"),
            np.searchsorted(self.words, words, "right"),
        )

    def sorted_words(self) -> np.ndarray:
        if self.words is not None:
            return self.words
        assert self.offsets is not None
        return np.repeat(np.arange(len(self.offsets) - 1, dtype=np.int32), np.diff(self.offsets))

    def index_bytes(self) -> int:
        table = self.words if self.words is not None else self.offsets
        return 0 if table is None else int(table.nbytes)

    def word_counts(self, words: int) -> np.ndarray:
        if self.offsets is not None:
            return np.diff(self.offsets)
        assert self.words is not None
        return np.bincount(self.words, minlength=words).astype(np.int64)


class KeypointIndex:
    """Postings of stored keypoints by visual word; safe to share between threads."""

    def __init__(self, vocabulary: Vocabulary, *, keep_features: bool = False) -> None:
        self.vocabulary = vocabulary
        self._segments: list[_Segment] = []
        self._rows = Column(np.int64)  # slot -> database row id
        self._media = Column(np.int64)
        self._times = Column(np.float64)  # NaN for stills
        self._base_slots = 0
        self._base: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Without a database to load keypoints from (tests, benchmarks), keep them here.
        self._features: dict[int, Features] | None = {} if keep_features else None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return self._base_slots + self._rows.size

    @property
    def pictures_in_memory(self) -> int:
        """Return how many pictures were added past the mapped base."""
        return self._rows.size

    @property
    def descriptor_count(self) -> int:
        """Return how many postings are held."""
        return sum(len(s) for s in self._segments)

    def add(self, media_id: int, row_id: int, frame_time: float | None, features: Features) -> None:
        """Add one picture's keypoints."""
        self.add_many([(row_id, media_id, frame_time, features)])

    def add_many(
        self, pictures: Iterable[tuple[int, int, float | None, Features]], *, merge: bool = True
    ) -> None:
        """Add pictures (row id, media id, frame time, keypoints) as one segment."""
        batch = [p for p in pictures if len(p[3])]
        if not batch:
            return
        descriptors = np.concatenate([p[3].descriptors for p in batch])
        words = self.vocabulary.assign(descriptors)
        sigs = self.vocabulary.signature(descriptors)
        with self._lock:
            first = len(self)
            counts = [len(p[3]) for p in batch]
            slots = np.repeat(np.arange(first, first + len(batch), dtype=np.uint32), counts)
            self._rows.extend(np.array([p[0] for p in batch], np.int64))
            self._media.extend(np.array([p[1] for p in batch], np.int64))
            self._times.extend(
                np.array([np.nan if p[2] is None else p[2] for p in batch], np.float64)
            )
            if self._features is not None:
                for row_id, _, _, features in batch:
                    self._features[row_id] = features
            self._segments.append(_Segment.build(words, slots, sigs))
            if merge:
                self._merge_small()

    def _merge_small(self) -> None:
        """Merge the newest in-memory segments while there are too many or the newest is as
        large as half the one before, so sizes fall geometrically and a search reads few."""
        first = 1 if self._segments and self._segments[0].offsets is not None else 0
        while len(self._segments) - first >= 2:
            last, before = self._segments[-1], self._segments[-2]
            if len(self._segments) - first <= MAX_SEGMENTS and 2 * len(last) < len(before):
                return
            self._segments[-2:] = [self._concat([before, last])]

    @staticmethod
    def _concat(segments: list[_Segment]) -> _Segment:
        return _Segment.build(
            np.concatenate([s.sorted_words() for s in segments]),
            np.concatenate([s.slots for s in segments]),
            np.concatenate([s.sigs for s in segments]),
        )

    def _slot_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, media, times = self._rows.view(), self._media.view(), self._times.view()
        if self._base is None:
            return rows, media, times
        base_rows, base_media, base_times = self._base
        return (
            np.concatenate([base_rows, rows]),
            np.concatenate([base_media, media]),
            np.concatenate([base_times, times]),
        )

    def candidates(self, query: Features, limit: int = MAX_CANDIDATES) -> list[Candidate]:
        """Return the stored pictures most query descriptors vote for, most votes first."""
        if not len(query):
            return []
        words = self.vocabulary.assign(query.descriptors)
        sigs = self.vocabulary.signature(query.descriptors)
        with self._lock:
            segments = list(self._segments)
            total = sum(len(s) for s in segments)
        if not total:
            return []
        stop = max(STOP_FACTOR * total // self.vocabulary.words, 2_000)
        voters, slots, postings = [], [], []
        for number, segment in enumerate(segments):
            starts, ends = segment.ranges(words)
            lengths = (ends - starts).astype(np.int64)
            lengths[lengths > stop] = 0
            count = int(lengths.sum())
            if not count:
                continue
            owner = np.repeat(np.arange(len(words)), lengths)
            offsets = np.cumsum(lengths) - lengths
            positions = np.arange(count) - np.repeat(offsets, lengths) + np.repeat(starts, lengths)
            near = np.bitwise_count(segment.sigs[positions] ^ sigs[owner]) <= SIGNATURE_DISTANCE
            voters.append(owner[near])
            slots.append(segment.slots[positions[near]].astype(np.int64))
            postings.append(positions[near] * 64 + number)  # unique across segments
        if not voters:
            return []
        return self._ranked(
            np.concatenate(slots),
            np.concatenate(voters),
            np.concatenate(postings),
            len(words),
            limit,
        )

    def _ranked(
        self,
        slots: np.ndarray,
        voters: np.ndarray,
        postings: np.ndarray,
        width: int,
        limit: int,
    ) -> list[Candidate]:
        """Count votes one-to-one and return the best-voted pictures."""
        # One vote per query descriptor and picture, however many of its postings agree...
        _, first = np.unique(slots * width + voters, return_index=True)
        # ...and per stored keypoint, however many query descriptors it agrees with (a lattice
        # or text in the query must not pile up on one stored patch).
        kept = first[np.unique(postings[first], return_index=True)[1]]
        voted, votes = np.unique(slots[kept], return_counts=True)
        keep = votes >= MIN_VOTES
        voted, votes = voted[keep], votes[keep]
        best = np.argsort(-votes, kind="stable")[:limit]
        with self._lock:
            rows, media, times = self._slot_at(voted[best])
        return [
            Candidate(int(r), int(m), None if np.isnan(t) else float(t), int(v))
            for r, m, t, v in zip(rows, media, times, votes[best], strict=True)
        ]

    def _slot_at(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.empty(len(slots), np.int64)
        media = np.empty(len(slots), np.int64)
        times = np.empty(len(slots), np.float64)
        in_base = slots < self._base_slots
        if self._base is not None and in_base.any():
            rows[in_base] = self._base[0][slots[in_base]]
            media[in_base] = self._base[1][slots[in_base]]
            times[in_base] = self._base[2][slots[in_base]]
        later = slots[~in_base] - self._base_slots
        rows[~in_base] = self._rows.view()[later]
        media[~in_base] = self._media.view()[later]
        times[~in_base] = self._times.view()[later]
        return rows, media, times

    def load_kept(self, row_ids: list[int]) -> dict[int, Features]:
        """Return keypoints kept in memory (an index built with ``keep_features``)."""
        kept = self._features or {}
        return {r: kept[r] for r in row_ids if r in kept}

    def verify(
        self, query: Features, found: list[Candidate], stored: dict[int, Features]
    ) -> list[FeatureMatch]:
        """Check each candidate's geometry against the query; return those that fit."""
        matches = []
        for candidate in found:
            features = stored.get(candidate.row_id)
            if features is None or not len(features):
                continue
            pairs = correspondences(query, features)
            result = verify(query, features, pairs)
            if result is not None:
                matches.append(
                    FeatureMatch(
                        candidate.media_id,
                        candidate.row_id,
                        candidate.frame_time,
                        result,
                        features.width,
                        features.height,
                    )
                )
        matches.sort(key=lambda m: -m.verification.inliers)
        return matches

    def search(self, query: Features, load: LoadFeatures | None = None) -> list[FeatureMatch]:
        """Return the stored pictures geometrically consistent with ``query``, best first."""
        found = self.candidates(query)
        if not found:
            return []
        stored = (load or self.load_kept)([c.row_id for c in found])
        return self.verify(query, found, stored)

    def save(self, folder: Path) -> None:
        """Write every posting as one segment with an offsets table, and the slot columns."""
        with self._lock:
            segments = list(self._segments)
            rows, media, times = self._slot_columns()
        folder.mkdir(parents=True, exist_ok=True)
        offsets, slots, sigs = _merged(segments, self.vocabulary.words)
        save_array(folder / "offsets.npy", offsets)
        save_array(folder / "slots.npy", slots)
        save_array(folder / "sigs.npy", sigs)
        save_array(folder / "rows.npy", rows)
        save_array(folder / "media.npy", media)
        save_array(folder / "times.npy", times)

    def open_base(self, folder: Path) -> None:
        """Map a saved index as this one's base (before anything else is added)."""
        with self._lock:
            if len(self) or self._segments:
                raise RuntimeError("a base is mapped into an empty index only")
            offsets = load_array(folder / "offsets.npy")
            segment = _Segment(
                load_array(folder / "slots.npy"), load_array(folder / "sigs.npy"), offsets=offsets
            )
            self._base = (
                load_array(folder / "rows.npy"),
                load_array(folder / "media.npy"),
                load_array(folder / "times.npy"),
            )
            self._base_slots = len(self._base[0])
            if len(segment):
                self._segments.append(segment)

    def memory_bytes(self) -> int:
        """Return the bytes held in memory and mapped (postings, slot columns)."""
        with self._lock:
            postings = sum(s.slots.nbytes + s.sigs.nbytes for s in self._segments)
            words = sum(s.index_bytes() for s in self._segments)
            base = sum(a.nbytes for a in self._base) if self._base is not None else 0
            columns = sum(c.data.nbytes for c in (self._rows, self._media, self._times))
            return postings + words + base + columns


def _merged(segments: list[_Segment], words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge segments into one by placing each posting in its word's range (a counting sort:
    linear, so adding a few pictures to a million-picture snapshot does not sort it again)."""
    counts = [s.word_counts(words) for s in segments]
    total_counts = np.sum(counts, axis=0) if counts else np.zeros(words, np.int64)
    offsets = np.concatenate([[0], np.cumsum(total_counts)]).astype(np.int64)
    total = int(offsets[-1])
    slots = np.empty(total, np.uint32)
    sigs = np.empty(total, np.uint32)
    free = offsets[:-1].copy()  # next free position in each word's range
    for segment, count in zip(segments, counts, strict=True):
        if not len(segment):
            continue
        starts = np.cumsum(count) - count
        destination = np.repeat(free - starts, count) + np.arange(len(segment))
        slots[destination] = segment.slots
        sigs[destination] = segment.sigs
        free += count
    return offsets, slots, sigs


def fit_pictures(query_rgb: np.ndarray, candidate_rgb: np.ndarray) -> Verification | None:
    """Fit the similarity that places the candidate picture in the query picture, from their
    own keypoints (for showing two media aligned); None when too few fit."""
    query, candidate = extract(query_rgb), extract(candidate_rgb)
    if not len(query) or not len(candidate):
        return None
    return verify(query, candidate, correspondences(query, candidate))


def correspondences(query: Features, stored: Features) -> np.ndarray:
    """Pair query and stored keypoints that are each other's nearest descriptor (one-to-one).

    Matching against one candidate's few keypoints, every query patch finds some nearest
    one; keeping only mutual nearest pairs within ``MATCH_DISTANCE`` leaves chance pairs too
    few to fit a transform (among 10,000 real distractors, nearest-only pairs let a dozen
    random ones fit on a quarter of the queries; mutual pairs on none, at the same recall).
    """
    if not len(query) or not len(stored):
        return np.zeros((0, 2), np.int64)
    left = np.ascontiguousarray(query.descriptors, dtype=np.uint8).view("<u8")
    right = np.ascontiguousarray(stored.descriptors, dtype=np.uint8).view("<u8")
    distances = np.zeros((len(left), len(right)), np.int32)
    for word in range(DESCRIPTOR_BYTES // 8):  # popcount of XOR, 64 bits at a time
        distances += np.bitwise_count(left[:, word, None] ^ right[None, :, word])
    nearest_stored = distances.argmin(axis=1)
    nearest_query = distances.argmin(axis=0)
    queries = np.flatnonzero(nearest_query[nearest_stored] == np.arange(len(left)))
    chosen = nearest_stored[queries]
    close = distances[queries, chosen] <= MATCH_DISTANCE
    return np.stack([queries[close], chosen[close]], axis=1).astype(np.int64)


__all__ = [
    "Candidate",
    "DESCRIPTOR_BYTES",
    "FeatureMatch",
    "KeypointIndex",
    "LoadFeatures",
    "correspondences",
]
