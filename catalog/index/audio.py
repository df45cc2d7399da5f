"""Matching sound: an inverted index of Chromaprint values that finds the recordings sharing a
query's sound and where, as Chromaprint matchers do, then checks each found alignment bit by
bit and places the shared stretches in both recordings.

Look-up: every informative value of the query finds the recordings holding that exact value
(sorted arrays searched by bisection, so the work grows with the hits, not the catalogue),
and each hit votes for one alignment (recording, position there minus position in the
query). An excerpt's values recur in its original at one alignment, so its votes pile up
there, while chance hits scatter. Values held by too many recordings (common chords) are
not asked.

Check: the best-voted alignments are compared value by value over windows of two seconds,
each window allowed to drift a few values from the last (a copy sped up or slowed down is
read back at the nearest of a few speeds, not exactly); windows whose bit error rate is low
enough are the shared stretches (``segments``), and their share of each side's informative
sound is the coverage.

Pure: no Flask, no database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..hashing.audio import ITEM_S, VALUE_SPAN_S, AudioPrint, QueryVariant
from .audio_base import SoundBase

# Alignments a query variant checks (the best voted), and the votes one needs. Two exact
# 32-bit values at one alignment are enough to be worth checking: music laid under speech
# changes most values by a few bits, leaving an excerpt only two or three exact ones, and
# the check, not the vote, is what tells shared sound from chance.
CANDIDATES = 12
MIN_VOTES = 2
# A value held by more recordings than this is too common to tell anything apart.
MAX_POSTINGS = 5_000
# The most postings one reading of a query gathers (an hour's query would gather hundreds
# of millions): past it, its commonest values are left out.
MAX_HITS = 2_000_000
# Windows of this many values are compared; each may drift this far from the last.
WINDOW = 16
DRIFT = 3
# A window whose bit error rate is at most this is shared sound (unrelated sound: ~0.35).
WINDOW_BER = 0.27
# A match needs this many values (about 4 s) in shared windows; an alignment with fewer
# than SURE_VOTES votes needs FEW_VOTES_MATCHED (about 10 s). Music under an excerpt leaves it
# few exact values but long shared stretches; two chance votes over unrelated speech have led
# to a 6-second stretch within WINDOW_BER.
MIN_MATCHED = 32
SURE_VOTES = 4
FEW_VOTES_MATCHED = 80
# Pending postings are merged into the sorted arrays past this many.
MERGE_AFTER = 500_000
# Bits set in each byte value: the bit errors of XORed values, a byte at a time.
_POPCOUNT = np.array([bin(n).count("1") for n in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class AudioSegment:
    """A stretch of sound both recordings share: its times in the query and in the match."""

    query_start: float
    query_end: float
    match_start: float
    match_end: float

    def as_dict(self) -> dict[str, float]:
        """The segment as JSON-ready data (seconds, to the millisecond)."""
        return {
            "query_start": round(self.query_start, 3),
            "query_end": round(self.query_end, 3),
            "match_start": round(self.match_start, 3),
            "match_end": round(self.match_end, 3),
        }


@dataclass
class AudioMatch:
    """A recording sharing the query's sound: where, how much, and how closely."""

    recording_id: int
    speed: float  # the query played this much faster lines up with the recording
    offset_s: float  # match time minus query time at the first shared stretch
    ber: float  # bit error rate over the shared windows
    query_coverage: float  # share of the query's informative sound that is shared
    match_coverage: float  # share of the recording's informative sound that is shared
    segments: list[AudioSegment] = field(default_factory=list)
    votes: int = 0


class AudioIndex:
    """Recordings' fingerprints and the inverted index of their values; thread-safe.

    A snapshot's recordings are mapped from disk (``open_base``); those added since are held
    in memory beside them.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._base: SoundBase | None = None
        self._hidden: set[int] = set()  # recordings of the base removed or added again
        self._prints: dict[int, AudioPrint] = {}
        self._removed: set[int] = set()
        self._keys = np.zeros(0, dtype=np.uint32)
        self._recordings = np.zeros(0, dtype=np.int64)
        self._positions = np.zeros(0, dtype=np.int32)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_count = 0
        self._recent: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.watermark = 0  # the highest stored row read (the service's bookkeeping)

    def __len__(self) -> int:
        base = len(self._base) if self._base is not None else 0
        return base - len(self._hidden) + len(self._prints)

    @property
    def recordings_in_memory(self) -> int:
        """How many recordings are held past the mapped snapshot."""
        return len(self._prints)

    def open_base(self, folder: Path) -> bool:
        """Map the recordings a snapshot holds (before any is added); False when it has none."""
        with self._lock:
            self._base = SoundBase.open(folder)
            return self._base is not None

    def save(self, folder: Path) -> None:
        """Write every recording held, mapped or in memory, as a snapshot's sound part."""
        with self._lock:
            held = dict(
                (rid, found)
                for rid, found in (self._base.items() if self._base is not None else [])
                if rid not in self._hidden
            )
            held.update(self._prints)
        SoundBase.build(held.items()).save(folder)

    def _reference(self, recording_id: int) -> AudioPrint | None:
        found = self._prints.get(recording_id)
        if found is None and self._base is not None and recording_id not in self._hidden:
            found = self._base.print_of(recording_id)
        return found

    @property
    def postings(self) -> int:
        """How many values are indexed."""
        return len(self._keys) + self._pending_count

    def add(self, recording_id: int, fingerprint: AudioPrint, *, defer: bool = False) -> bool:
        """Index a recording's informative values; False (nothing indexed) without evidence.
        With ``defer`` (loading many), the main arrays are not rebuilt here: call ``merge``."""
        if not fingerprint.has_evidence:
            return False
        positions = np.flatnonzero(fingerprint.informative).astype(np.int32)
        with self._lock:
            if recording_id in self._removed:  # its old postings must go before new ones come
                self._merge()
            if self._base is not None and recording_id in self._base:
                self._hidden.add(recording_id)  # the mapped postings are the old ones
            self._prints[recording_id] = fingerprint
            self._pending.append(
                (
                    fingerprint.values[positions],
                    np.full(len(positions), recording_id, dtype=np.int64),
                    positions,
                )
            )
            self._pending_count += len(positions)
            self._recent = None
            if not defer and self._pending_count > MERGE_AFTER:
                self._merge()
        return True

    def remove(self, recording_id: int) -> None:
        """Forget a recording (its postings are skipped until the next merge drops them)."""
        with self._lock:
            if self._prints.pop(recording_id, None) is not None:
                self._removed.add(recording_id)
            if self._base is not None and recording_id in self._base:
                self._hidden.add(recording_id)

    def merge(self) -> None:
        """Fold every pending posting into the main sorted arrays."""
        with self._lock:
            self._merge()

    def settle(self) -> None:
        """Fold the pending postings in once there are many (after additions with ``defer``)."""
        with self._lock:
            if self._pending_count > MERGE_AFTER:
                self._merge()

    def _merge(self) -> None:
        """Fold pending postings (and removals) into the sorted arrays."""
        keys = [self._keys, *(p[0] for p in self._pending)]
        recordings = [self._recordings, *(p[1] for p in self._pending)]
        positions = [self._positions, *(p[2] for p in self._pending)]
        all_keys = np.concatenate(keys)
        all_recordings = np.concatenate(recordings)
        all_positions = np.concatenate(positions)
        if self._removed:
            keep = ~np.isin(all_recordings, np.fromiter(self._removed, dtype=np.int64))
            all_keys, all_recordings, all_positions = (
                all_keys[keep],
                all_recordings[keep],
                all_positions[keep],
            )
            self._removed.clear()
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._recordings = all_recordings[order]
        self._positions = all_positions[order]
        self._pending, self._pending_count, self._recent = [], 0, None

    def _parts(self) -> list[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], set[int]]]:
        """The sorted parts a look-up searches, each with the recordings whose postings there
        no longer count: the mapped snapshot, the main arrays in memory, and the postings added
        since they were built, sorted on their own (a search never re-sorts the catalogue)."""
        if self._pending and self._recent is None:
            keys = np.concatenate([p[0] for p in self._pending])
            order = np.argsort(keys, kind="stable")
            self._recent = (
                keys[order],
                np.concatenate([p[1] for p in self._pending])[order],
                np.concatenate([p[2] for p in self._pending])[order],
            )
        parts = [((self._keys, self._recordings, self._positions), self._removed)]
        if self._base is not None:
            base = self._base
            parts.insert(0, ((base.keys, base.recordings, base.positions), self._hidden))
        return parts + ([(self._recent, self._removed)] if self._recent is not None else [])

    def search(self, variants: list[QueryVariant], exclude: int | None = None) -> list[AudioMatch]:
        """Return the recordings sharing the query's sound, best first (most of the query
        covered); ``exclude`` leaves out the query's own recording."""
        with self._lock:
            best: dict[int, AudioMatch] = {}
            for variant in variants:
                for recording_id, shift, votes in self._vote(variant):
                    if recording_id == exclude:
                        continue
                    found = self._check(variant, recording_id, shift, votes)
                    if found is None:
                        continue
                    held = best.get(recording_id)
                    if held is None or (found.query_coverage, -found.ber) > (
                        held.query_coverage,
                        -held.ber,
                    ):
                        best[recording_id] = found
        return sorted(best.values(), key=lambda m: (-m.query_coverage, m.ber))

    def _vote(self, variant: QueryVariant) -> list[tuple[int, int, int]]:
        """The best-voted alignments of one reading of the query: (recording, position
        there minus position in the query, votes)."""
        where = np.flatnonzero(variant.print.informative)
        if not len(where):
            return []
        values = variant.print.values[where]
        found = [_hits(part, values, where, gone) for part, gone in self._parts() if len(part[0])]
        if not found:
            return []
        recordings = np.concatenate([f[0] for f in found])
        shifts = np.concatenate([f[1] for f in found])
        if not len(recordings):
            return []
        codes = recordings * (1 << 32) + (shifts + (1 << 31))
        unique, votes = np.unique(codes, return_counts=True)
        # Neighbouring alignments count together: a drifting copy spreads its votes.
        padded = np.concatenate([[0], votes, [0]])
        near = np.concatenate([[False], np.diff(unique) == 1, [False]])
        smoothed = votes + padded[:-2] * near[:-1] + padded[2:] * near[1:]
        top = np.argsort(-smoothed, kind="stable")[: CANDIDATES * 3]
        chosen: list[tuple[int, int, int]] = []
        taken: set[tuple[int, int]] = set()
        for i in top:
            if smoothed[i] < MIN_VOTES or len(chosen) >= CANDIDATES:
                break
            recording, shift = int(unique[i] >> 32), int(unique[i] & 0xFFFFFFFF) - (1 << 31)
            if any((recording, shift + d) in taken for d in range(-DRIFT, DRIFT + 1)):
                continue
            taken.add((recording, shift))
            chosen.append((recording, shift, int(smoothed[i])))
        return chosen

    def _check(
        self, variant: QueryVariant, recording_id: int, shift: int, votes: int
    ) -> AudioMatch | None:
        """Compare the query with a recording along one alignment, window by window."""
        query, reference = variant.print, self._reference(recording_id)
        if reference is None:
            return None
        matched: list[tuple[int, int, int]] = []  # (query start, query end, shift) per window
        errors = compared = 0
        current = shift
        for start in range(0, len(query.values) - WINDOW + 1, WINDOW // 2):
            result = _best_window(query, reference, start, current)
            if result is None:
                continue
            ber, used, best_shift, bits = result
            if ber <= WINDOW_BER:
                current = best_shift  # follow a drifting copy
                matched.append((start, start + WINDOW, best_shift))
                errors += bits
                compared += used
        shared_query = _covered(query, [(a, b) for a, b, _ in matched])
        if shared_query < (MIN_MATCHED if votes >= SURE_VOTES else FEW_VOTES_MATCHED):
            return None
        shared_reference = _covered(reference, [(a + s, b + s) for a, b, s in matched])
        segments = _segments(variant, reference, matched)
        first = segments[0]
        return AudioMatch(
            recording_id=recording_id,
            speed=variant.speed,
            offset_s=round(first.match_start - first.query_start, 3),
            ber=round(errors / max(1, compared * 32), 4),
            query_coverage=round(shared_query / max(1, int(query.informative.sum())), 4),
            match_coverage=round(shared_reference / max(1, int(reference.informative.sum())), 4),
            segments=segments,
            votes=votes,
        )


def _hits(
    part: tuple[np.ndarray, np.ndarray, np.ndarray],
    values: np.ndarray,
    where: np.ndarray,
    gone: set[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Every posting of the query's values in one sorted part: (recording, alignment), the
    values held too widely left out, the commonest dropped past ``MAX_HITS``, and the
    postings of the recordings ``gone`` from this part skipped."""
    keys, recordings, positions = part
    low = np.searchsorted(keys, values, "left")
    counts = np.searchsorted(keys, values, "right") - low
    counts[counts > MAX_POSTINGS] = 0
    if int(counts.sum()) > MAX_HITS:  # a long query: keep its rarer values, which tell most
        order = np.argsort(counts, kind="stable")
        over = np.cumsum(counts[order]) > MAX_HITS
        counts[order[over]] = 0
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # Every posting of every value, without a Python loop: range starts repeated, plus a
    # running index within each range.
    starts = np.repeat(low - np.cumsum(counts) + counts, counts) + np.arange(total)
    shifts = positions[starts].astype(np.int64) - np.repeat(where, counts)
    found = np.asarray(recordings[starts])
    if gone:
        kept = ~np.isin(found, np.fromiter(gone, dtype=np.int64))
        return found[kept], shifts[kept]
    return found, shifts


def _best_window(
    query: AudioPrint, reference: AudioPrint, start: int, shift: int
) -> tuple[float, int, int, int] | None:
    """The lowest bit error rate of a query window against the reference near ``shift``:
    (rate, values compared, shift, bit errors), or None where too little is informative."""
    window = query.values[start : start + WINDOW]
    useful = query.informative[start : start + WINDOW]
    if useful.sum() < WINDOW // 2:
        return None
    best: tuple[float, int, int, int] | None = None
    for candidate in range(shift - DRIFT, shift + DRIFT + 1):
        low, high = start + candidate, start + candidate + WINDOW
        if low < 0 or high > len(reference.values):
            continue
        both = useful & reference.informative[low:high]
        used = int(both.sum())
        if used < WINDOW // 2:
            continue
        xor = np.bitwise_xor(window[both], reference.values[low:high][both])
        bits = int(_POPCOUNT[xor.view(np.uint8)].sum())
        rate = bits / (used * 32)
        if best is None or rate < best[0]:
            best = (rate, used, candidate, bits)
    return best


def _covered(fingerprint: AudioPrint, spans: list[tuple[int, int]]) -> int:
    """How many informative values of ``fingerprint`` the spans cover (overlaps once)."""
    mask = np.zeros(len(fingerprint.values), dtype=bool)
    for low, high in spans:
        mask[max(0, low) : max(0, high)] = True
    return int((mask & fingerprint.informative).sum())


def _segments(
    variant: QueryVariant, reference: AudioPrint, matched: list[tuple[int, int, int]]
) -> list[AudioSegment]:
    """Merge overlapping or touching matched windows into stretches, timed in both (a
    stretch ends where the sound its last value sums ends)."""
    merged: list[list[int]] = []
    for start, end, shift in matched:
        if merged and start <= merged[-1][1]:
            merged[-1][1], merged[-1][3] = end, shift
        else:
            merged.append([start, end, shift, shift])

    def query_time(item: int) -> float:
        return variant.shift_s + item * ITEM_S * variant.speed

    query_length = variant.shift_s + variant.print.duration * variant.speed
    return [
        AudioSegment(
            query_start=query_time(start),
            query_end=min(query_length, query_time(end - 1) + VALUE_SPAN_S * variant.speed),
            match_start=(start + first_shift) * ITEM_S,
            match_end=min(reference.duration, (end - 1 + last_shift) * ITEM_S + VALUE_SPAN_S),
        )
        for start, end, first_shift, last_shift in merged
    ]
