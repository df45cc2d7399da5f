"""A Hamming-distance index over fixed-length binary hashes (FAISS binary indexes).

Rows are added in bulk at start-up and a few at a time afterwards; queries ask for every
stored hash within a radius. Each stored hash carries the media it belongs to, its row id
in the database and, for video, the frame time, so a hit says exactly what matched.

A snapshot's hashes are a base mapped from files (sorted by media, shared by every worker of
a server) and searched by FAISS's Hamming range search on the mapped codes; hashes added
since sit in a FAISS index in memory.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from ..hashing.perceptual import distances
from .columns import Column, load_array, save_array

FLAT = "flat"
MULTIHASH = "multihash"


@dataclass(frozen=True)
class Hit:
    """One stored hash within the radius of a query hash."""

    media_id: int
    row_id: int
    frame_time: float | None
    distance: int


class HammingIndex:
    """Binary hashes of ``bits`` bits, searchable by radius; safe to share between threads."""

    def __init__(self, bits: int, kind: str = FLAT) -> None:
        if bits % 8:
            raise ValueError("bits must be a multiple of 8")
        self.bits = bits
        self.kind = kind
        self._index = self._make(bits, kind)
        self._media = Column(np.int64)
        self._rows = Column(np.int64)
        self._times = Column(np.float64)
        # A copy of the codes, to compare one media's hashes without a search.
        self._codes = Column(np.uint8, bits // 8)
        # The mapped snapshot: codes, media, rows, times, sorted by media.
        self._base: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
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
        return self._rows.size + self._base_size

    @property
    def _base_size(self) -> int:
        return 0 if self._base is None else len(self._base[2])

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
        results: list[list[Hit]] = [[] for _ in range(len(queries))]
        with self._lock:
            base = self._base
            if base is not None and len(base[0]):
                self._collect(results, *_range_search(queries, base[0], radius), *base[1:])
            if self._rows.size:
                # FAISS counts "within radius" as strictly less than.
                found = self._index.range_search(queries, radius + 1)
                self._collect(
                    results, *found, self._media.view(), self._rows.view(), self._times.view()
                )
        for hits in results:
            hits.sort(key=lambda hit: hit.distance)
        return results

    @staticmethod
    def _collect(
        results: list[list[Hit]],
        lims: np.ndarray,
        distances: np.ndarray,
        labels: np.ndarray,
        media: np.ndarray,
        rows: np.ndarray,
        times: np.ndarray,
    ) -> None:
        for q, hits in enumerate(results):
            start, end = int(lims[q]), int(lims[q + 1])
            for label, distance in zip(labels[start:end], distances[start:end], strict=True):
                time = times[label]
                hits.append(
                    Hit(
                        int(media[label]),
                        int(rows[label]),
                        None if np.isnan(time) else float(time),
                        int(distance),
                    )
                )

    def _of_media(self, media_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the codes and frame times of one media's stored hashes."""
        codes, times = [], []
        if self._base is not None:
            base_codes, base_media, _, base_times = self._base
            start = int(np.searchsorted(base_media, media_id, "left"))
            end = int(np.searchsorted(base_media, media_id, "right"))
            codes.append(np.asarray(base_codes[start:end]))
            times.append(np.asarray(base_times[start:end]))
        positions = np.flatnonzero(self._media.view() == media_id)
        codes.append(self._codes.view()[positions])
        times.append(self._times.view()[positions])
        return np.concatenate(codes), np.concatenate(times)

    def of_media(self, media_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the codes and frame times of one media's stored hashes."""
        with self._lock:
            return self._of_media(media_id)

    def distance_to_media(self, codes: np.ndarray, media_id: int) -> int | None:
        """Return the least distance from any query hash to any stored hash of one media."""
        nearest = self.nearest_in_media(codes, media_id)
        return None if nearest is None else nearest[0]

    def nearest_in_media(
        self, codes: np.ndarray, media_id: int, around: tuple[float, float] | None = None
    ) -> tuple[int, float | None] | None:
        """Return the least distance from any query hash to one media's hashes, and the frame
        time of the stored hash at that distance (None for a still); ``around`` (time,
        seconds) keeps to a video's frames that close to a time."""
        queries = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, self.bits // 8)
        with self._lock:
            stored, times = self._of_media(media_id)
        if around is not None:
            close = np.abs(times - around[0]) <= around[1]  # NaN (a still's) is never close
            stored, times = stored[close], times[close]
        if not len(stored) or not len(queries):
            return None
        least = distances(queries, stored).min(axis=0)
        best = int(np.argmin(least))
        return int(least[best]), None if np.isnan(times[best]) else float(times[best])

    def frame_count(self, media_id: int) -> int:
        """Return how many distinct frames of a media hold hashes here (1 for a still)."""
        with self._lock:
            _, times = self._of_media(media_id)
        if not len(times):
            return 0
        return max(1, len(np.unique(times[~np.isnan(times)])))

    def save(self, folder: Path, name: str) -> None:
        """Write every hash held, sorted by media, as ``name``.*.npy files in ``folder``."""
        with self._lock:
            parts = [self._codes.view(), self._media.view(), self._rows.view(), self._times.view()]
            if self._base is not None:
                parts = [np.concatenate([b, p]) for b, p in zip(self._base, parts, strict=True)]
        order = np.lexsort((parts[2], parts[1]))
        for suffix, column in zip(("codes", "media", "rows", "times"), parts, strict=True):
            save_array(folder / f"{name}.{suffix}.npy", column[order])

    def open_base(self, folder: Path, name: str) -> None:
        """Map saved hashes as this index's base (before anything else is added)."""
        with self._lock:
            if len(self):
                raise RuntimeError("a base is mapped into an empty index only")
            codes, media, rows, times = (
                load_array(folder / f"{name}.{suffix}.npy")
                for suffix in ("codes", "media", "rows", "times")
            )
            if codes.shape[1:] != (self.bits // 8,):
                raise ValueError(f"{name}: saved codes are not {self.bits}-bit")
            self._base = (codes, media, rows, times)

    def memory_bytes(self) -> int:
        """Return an estimate of the memory held or mapped (codes, columns, multi-hash tables)."""
        with self._lock:
            size = self._rows.size
            codes = size * self.bits // 8
            columns = sum(
                c.data.nbytes for c in (self._media, self._rows, self._times, self._codes)
            )
            tables = size * (self.bits // 16) * 16 if self.kind == MULTIHASH else 0
            base = sum(a.nbytes for a in self._base) if self._base is not None else 0
            return codes + columns + tables + base


def _range_search(
    queries: np.ndarray, stored: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run FAISS's Hamming range search over codes in place (mapped, never copied)."""
    found = faiss.RangeSearchResult(len(queries))
    # Not in FAISS's type stubs, but part of its Python API (faiss/utils/hamming.h).
    faiss.hamming_range_search(  # type: ignore[attr-defined]
        faiss.swig_ptr(queries),
        faiss.swig_ptr(stored),
        len(queries),
        len(stored),
        radius + 1,  # strictly less than, as for the indexes
        stored.shape[1],
        found,
    )
    lims = faiss.rev_swig_ptr(found.lims, len(queries) + 1).copy()
    total = int(lims[-1])
    distances = faiss.rev_swig_ptr(found.distances, total).copy() if total else np.zeros(0)
    labels = faiss.rev_swig_ptr(found.labels, total).copy() if total else np.zeros(0, np.int64)
    return lims, distances, labels
