"""A Hamming-distance index over fixed-length binary hashes (FAISS binary indexes).

Rows are added in bulk at start-up and a few at a time afterwards; queries ask for every
stored hash within a radius. Each stored hash carries the media it belongs to, its row id
in the database and, for video, the frame time, so a hit says exactly what matched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import faiss
import numpy as np

from ..hashing.perceptual import least_distance

FLAT = "flat"
MULTIHASH = "multihash"


@dataclass(frozen=True)
class Hit:
    """One stored hash within the radius of a query hash."""

    media_id: int
    row_id: int
    frame_time: float | None
    distance: int


class _Column:
    """A growable numpy column (amortised doubling), so small adds stay cheap."""

    def __init__(self, dtype: type, width: int | None = None) -> None:
        self.tail = () if width is None else (width,)
        self.data = np.empty((1024, *self.tail), dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        needed = self.size + len(values)
        if needed > len(self.data):
            grown = np.empty((max(needed, 2 * len(self.data)), *self.tail), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : needed] = values
        self.size = needed

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class HammingIndex:
    """Binary hashes of ``bits`` bits, searchable by radius; safe to share between threads."""

    def __init__(self, bits: int, kind: str = FLAT) -> None:
        if bits % 8:
            raise ValueError("bits must be a multiple of 8")
        self.bits = bits
        self.kind = kind
        self._index = self._make(bits, kind)
        self._media = _Column(np.int64)
        self._rows = _Column(np.int64)
        self._times = _Column(np.float64)
        # A copy of the codes, to compare one media's hashes without a search.
        self._codes = _Column(np.uint8, bits // 8)
        self._lock = threading.RLock()

    @staticmethod
    def _make(bits: int, kind: str) -> faiss.IndexBinary:
        if kind == FLAT:
            return faiss.IndexBinaryFlat(bits)
        if kind == MULTIHASH:
            # Sixteen-bit substrings: a hash within radius r has a substring within r // 16
            # bits (pigeonhole); one flip per probe keeps radii up to 31 exact.
            tables = bits // 16
            index = faiss.IndexBinaryMultiHash(bits, tables, 16)
            index.nflip = 1
            return index
        raise ValueError(f"unknown index kind {kind!r}")

    def __len__(self) -> int:
        return self._rows.size

    def add(
        self,
        row_ids: np.ndarray,
        media_ids: np.ndarray,
        frame_times: np.ndarray,
        codes: np.ndarray,
    ) -> None:
        """Add hashes; ``codes`` is uint8 of shape (n, bits/8), frame time NaN for stills."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.bits // 8)
        if not (len(row_ids) == len(media_ids) == len(frame_times) == len(codes)):
            raise ValueError("columns of different lengths")
        if not len(codes):
            return
        with self._lock:
            self._index.add(codes)
            self._media.extend(np.asarray(media_ids, dtype=np.int64))
            self._rows.extend(np.asarray(row_ids, dtype=np.int64))
            self._times.extend(np.asarray(frame_times, dtype=np.float64))
            self._codes.extend(codes)

    def search(self, codes: np.ndarray, radius: int) -> list[list[Hit]]:
        """Return, for each query hash, the stored hashes within ``radius`` bits, nearest first."""
        queries = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.bits // 8)
        if not len(queries):
            return []
        with self._lock:
            if not self._rows.size:
                return [[] for _ in range(len(queries))]
            # FAISS counts "within radius" as strictly less than.
            lims, distances, labels = self._index.range_search(queries, radius + 1)
            media, rows, times = self._media.view(), self._rows.view(), self._times.view()
            results: list[list[Hit]] = []
            for q in range(len(queries)):
                start, end = int(lims[q]), int(lims[q + 1])
                order = np.argsort(distances[start:end], kind="stable")
                hits = []
                for position in order:
                    label = labels[start + position]
                    time = times[label]
                    hits.append(
                        Hit(
                            int(media[label]),
                            int(rows[label]),
                            None if np.isnan(time) else float(time),
                            int(distances[start + position]),
                        )
                    )
                results.append(hits)
            return results

    def distance_to_media(self, codes: np.ndarray, media_id: int) -> int | None:
        """Return the least distance from any query hash to any stored hash of one media."""
        queries = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.bits // 8)
        with self._lock:
            positions = np.flatnonzero(self._media.view() == media_id)
            if not len(positions) or not len(queries):
                return None
            stored = self._codes.view()[positions]
        return least_distance(queries, stored)

    def frame_count(self, media_id: int) -> int:
        """Return how many distinct frames of a media hold hashes here (1 for a still)."""
        with self._lock:
            mask = self._media.view() == media_id
            times = self._times.view()[mask]
        if not len(times):
            return 0
        return max(1, len(np.unique(times[~np.isnan(times)])))

    def memory_bytes(self) -> int:
        """Return an estimate of the memory held (codes, side columns, multi-hash tables)."""
        with self._lock:
            size = self._rows.size
            codes = size * self.bits // 8
            columns = sum(
                c.data.nbytes for c in (self._media, self._rows, self._times, self._codes)
            )
            tables = size * (self.bits // 16) * 16 if self.kind == MULTIHASH else 0
            return codes + columns + tables
