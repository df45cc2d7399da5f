"""The similarity index: pure (no Flask, no SQLAlchemy), built from rows, queried by files.

``CatalogIndex`` holds one Hamming index per hash algorithm and one keypoint index, and
turns a query's hashes and keypoints into matches grouped per media with a kind, a distance
and a score. The service layer feeds it rows from the database and keeps it fresh.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..hashing import perceptual
from ..hashing.features import Features, align
from ..hashing.perceptual import BIT_LENGTHS, PDQ, PHASH, HashValue
from ..hashing.pipeline import QueryFingerprint
from . import vocabulary as words
from .audio import AudioIndex
from .hamming import FLAT, MULTIHASH, HammingIndex, Hit
from .keypoints import FeatureMatch, KeypointIndex, LoadFeatures

__all__ = [
    "CatalogIndex",
    "FLAT",
    "Hit",
    "HammingIndex",
    "KeypointIndex",
    "LoadFeatures",
    "MULTIHASH",
    "Match",
    "Thresholds",
]

NEAR_DUPLICATE = "near_duplicate"
FRAME_OF = "frame_of"
MIRRORED_ROTATED = "mirrored_rotated"
CROPPED_CONTAINED = "cropped_contained"


@dataclass(frozen=True)
class Thresholds:
    """Distances under which hashes count as the same picture (chosen by the benchmark)."""

    pdq: int = 31
    # pHash is coarse: alone it decides only when nearly identical (text pages shrunk small
    # defeat PDQ but not pHash); otherwise a pHash this close lets a PDQ up to ``pdq_loose``
    # count.
    phash: int = 2
    phash_loose: int = 10
    pdq_loose: int = 52
    min_inliers: int = 12
    # Video frames are sampled at different instants in two copies of a clip, so a frame is
    # matched more loosely; the time-consistency of several frames guards the decision.
    frame_pdq: int = 45
    # Once frames of two videos have met at a time offset, the query's other frames are
    # compared with the candidate's frames at that offset only, and count under this looser
    # distance: a logo over the middle of every frame, or a pan sampled half a second apart,
    # moves PDQ further than ``frame_pdq`` but still far short of an unrelated frame (~100+).
    frame_pdq_along: int = 72
    # Links the matcher proposed join a media's cluster when at least this sure (0 to 1).
    cluster_confidence: float = 0.45


@dataclass
class Match:
    """One catalogued media that the query matches, with the evidence."""

    media_id: int
    kind: str
    score: float
    algorithm: str
    distance: float
    query_variant: str = "full/original"
    row_id: int | None = None
    frame_time: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


def set_threads(count: int) -> None:
    """Set how many threads FAISS searches with (1 suits one process per core)."""
    faiss.omp_set_num_threads(max(1, count))


SNAPSHOT_FORMAT = 1


class CatalogIndex:
    """All similarity indexes of one catalogue, with the watermarks of what they hold.

    Without a database to load stored keypoints from (``keep_features``), the index keeps
    them itself; the service layer instead passes a loader to ``match``.
    """

    def __init__(
        self,
        kind: str = FLAT,
        vocabulary: words.Vocabulary | None = None,
        *,
        keep_features: bool = False,
    ) -> None:
        self.kind = kind
        self.hashes = {name: HammingIndex(bits, kind) for name, bits in BIT_LENGTHS.items()}
        self.keypoints = KeypointIndex(vocabulary or words.default(), keep_features=keep_features)
        # Sound, indexed apart; its watermark is the highest sound row read.
        self.audio = AudioIndex()
        # Highest database ids loaded, so a refresh reads only what is newer.
        self.hash_watermark = 0
        self.feature_watermark = 0
        self.refresh_lock = threading.Lock()
        self.snapshot: str | None = None  # the snapshot this index was opened from
        # What identifies the database a snapshot came from: (hash row id, media id, bits).
        self.check: tuple[int, int, str] | None = None

    def save(self, folder: Path) -> None:
        """Write everything held, and the watermarks, as a snapshot in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, index in self.hashes.items():
            index.save(folder, name)
        self.keypoints.save(folder / "keypoints")
        self.audio.save(folder)
        meta = {
            "format": SNAPSHOT_FORMAT,
            "vocabulary": self.keypoints.vocabulary.digest,
            "hash_watermark": self.hash_watermark,
            "feature_watermark": self.feature_watermark,
            "hashes": {name: len(index) for name, index in self.hashes.items()},
            "pictures": len(self.keypoints),
            "audio_watermark": self.audio.watermark,
            "recordings": len(self.audio),
            "check": list(self.check) if self.check else None,
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def open(
        cls, folder: Path, kind: str = FLAT, vocabulary: words.Vocabulary | None = None
    ) -> CatalogIndex:
        """Map a snapshot written by ``save``; rows past its watermarks are added as usual."""
        meta = read_snapshot_meta(folder)
        index = cls(kind, vocabulary)
        if meta["vocabulary"] != index.keypoints.vocabulary.digest:
            raise ValueError(f"{folder}: made with another visual vocabulary")
        for name, hashes in index.hashes.items():
            hashes.open_base(folder, name)
        index.keypoints.open_base(folder / "keypoints")
        # A snapshot written before sound was kept in it: the recordings are read afresh.
        if index.audio.open_base(folder):
            index.audio.watermark = int(meta.get("audio_watermark", 0))
        index.hash_watermark = int(meta["hash_watermark"])
        index.feature_watermark = int(meta["feature_watermark"])
        index.snapshot = folder.name
        check = meta.get("check")
        index.check = (int(check[0]), int(check[1]), str(check[2])) if check else None
        return index

    def add_hashes(
        self,
        algorithm: str,
        row_ids: np.ndarray,
        media_ids: np.ndarray,
        frame_times: np.ndarray,
        codes: np.ndarray,
    ) -> None:
        """Add stored hashes of one algorithm (unknown algorithms are ignored)."""
        index = self.hashes.get(algorithm)
        if index is not None:
            index.add(row_ids, media_ids, frame_times, codes)
        if len(row_ids):
            self.hash_watermark = max(self.hash_watermark, int(np.max(row_ids)))

    def add_features(
        self, row_id: int, media_id: int, frame_time: float | None, features: Features
    ) -> None:
        """Add one picture's stored keypoints."""
        self.add_features_many([(row_id, media_id, frame_time, features)])

    def add_features_many(
        self,
        pictures: Iterable[tuple[int, int, float | None, Features]],
        *,
        merge: bool = True,
    ) -> None:
        """Add stored keypoints (row id, media id, frame time, features) in one batch."""
        batch = list(pictures)
        self.keypoints.add_many(batch, merge=merge)
        if batch:
            self.feature_watermark = max(self.feature_watermark, max(p[0] for p in batch))

    def match(
        self,
        query: QueryFingerprint,
        thresholds: Thresholds = Thresholds(),
        *,
        use_keypoints: bool = True,
        load_features: LoadFeatures | None = None,
    ) -> list[Match]:
        """Return the catalogued media the query matches, best first, one entry per media."""
        best: dict[int, Match] = {}
        pdq_best = self._nearest(query, PDQ, thresholds.pdq_loose)
        phash_best = self._nearest(query, PHASH, thresholds.phash_loose)
        for media_id, (distance, hit, variant) in pdq_best.items():
            phash_distance = phash_best.get(media_id, (99, None, ""))[0]
            strong = distance <= thresholds.pdq
            loose = phash_distance <= thresholds.phash_loose
            if strong or loose:
                best[media_id] = self._global_match(
                    media_id, PDQ, distance, hit, variant, 1 - distance / 128
                )
        # pHash alone decides only in the query's own orientation: its 64 bits collide too
        # often across the eight turned and mirrored forms of a low-contrast picture.
        upright = QueryFingerprint(
            query.sha256, [h for h in query.hashes if h.variant.endswith("/original")]
        )
        for media_id, (distance, hit, variant) in self._nearest(
            upright, PHASH, thresholds.phash
        ).items():
            if media_id not in best:
                best[media_id] = self._global_match(
                    media_id, PHASH, distance, hit, variant, 1 - distance / 32
                )
        if use_keypoints:
            for symmetry, found in self._keypoint_matches(query, load_features):
                if found.verification.inliers < thresholds.min_inliers:
                    continue
                current = best.get(found.media_id)
                if current is None:
                    # Re-hashing the aligned part is the costly step: only for a new match.
                    nearest = self._pdq_distance(query, symmetry, found)
                    match = self._keypoint_match(
                        found, symmetry, None if nearest is None else nearest[0]
                    )
                    # Keypoints are kept for a few frames of a video; the query, aligned onto
                    # the video's frame, is placed at the stored frame its hash is nearest to.
                    if (
                        nearest is not None
                        and match.frame_time is not None
                        and nearest[1] is not None
                        and nearest[0] <= thresholds.frame_pdq_along
                    ):
                        match.frame_time = nearest[1]
                    best[found.media_id] = match
                elif current.algorithm != "orb":
                    current.details.setdefault("inliers", found.verification.inliers)
        return sorted(best.values(), key=lambda m: (-m.score, m.distance, m.media_id))

    def _keypoint_matches(
        self, query: QueryFingerprint, load: LoadFeatures | None
    ) -> list[tuple[str, FeatureMatch]]:
        """Verify the candidates of every symmetry, loading their keypoints in one call."""
        voted = [(s, f, self.keypoints.candidates(f)) for s, f in query.features]
        rows = sorted({c.row_id for _, _, found in voted for c in found})
        if not rows:
            return []
        stored = (load or self.keypoints.load_kept)(rows)
        return [
            (symmetry, match)
            for symmetry, features, found in voted
            for match in self.keypoints.verify(features, found, stored)
        ]

    def _nearest(
        self, query: QueryFingerprint, algorithm: str, radius: int
    ) -> dict[int, tuple[int, Hit, str]]:
        """Return per media the nearest stored hash of ``algorithm`` to any query hash."""
        values = [h for h in query.hashes if h.algorithm == algorithm]
        if not values:
            return {}
        codes = np.frombuffer(b"".join(h.bits for h in values), dtype=np.uint8)
        nearest: dict[int, tuple[int, Hit, str]] = {}
        for value, hits in zip(values, self.hashes[algorithm].search(codes, radius), strict=True):
            for hit in hits:
                known = nearest.get(hit.media_id)
                # Prefer the original orientation when distances tie.
                if (
                    known is None
                    or hit.distance < known[0]
                    or (
                        hit.distance == known[0]
                        and value.variant.endswith("/original")
                        and not known[2].endswith("/original")
                    )
                ):
                    nearest[hit.media_id] = (hit.distance, hit, value.variant)
        return nearest

    def _pdq_distance(
        self, query: QueryFingerprint, symmetry: str, found: FeatureMatch
    ) -> tuple[int, float | None] | None:
        """Return how far, in PDQ bits, the query is from a media its keypoints matched, and
        the frame time of the nearest stored hash (None for a still).

        Where the candidate lies wholly inside the query (a screenshot, a captioned copy),
        the part of the query that shows it is aligned and hashed again, which measures the
        copy itself rather than the frame around it; otherwise the nearest of the query's
        whole-picture hashes is used.
        """
        index = self.hashes[PDQ]
        codes = [h.bits for h in query.hashes if h.algorithm == PDQ]
        check = found.verification
        image = query.images.get(symmetry)
        if image is not None and check.candidate_coverage >= 0.9 and check.matrix:
            codes.append(perceptual.pdq(align(image, check, found.width, found.height)).bits)
        if not codes:
            return None
        return index.nearest_in_media(
            np.frombuffer(b"".join(codes), dtype=np.uint8),
            found.media_id,
            # A video that returns to a view has near frames elsewhere: keep to the shot.
            None if found.frame_time is None else (found.frame_time, PLACE_WITHIN_S),
        )

    @staticmethod
    def _global_match(
        media_id: int, algorithm: str, distance: int, hit: Hit, variant: str, score: float
    ) -> Match:
        symmetry = variant.split("/")[-1]
        kind = NEAR_DUPLICATE if symmetry == "original" else MIRRORED_ROTATED
        return Match(
            media_id=media_id,
            kind=kind,
            score=round(max(0.0, min(1.0, score)), 4),
            algorithm=algorithm,
            distance=float(distance),
            query_variant=variant,
            row_id=hit.row_id,
            frame_time=hit.frame_time,
        )

    @staticmethod
    def _keypoint_match(found: FeatureMatch, symmetry: str, pdq_distance: int | None) -> Match:
        check = found.verification
        rotation = abs(check.rotation_deg)
        turned = min(abs(rotation - 90), abs(rotation - 180)) < 20
        same_view = min(check.query_coverage, check.candidate_coverage) >= 0.8
        if symmetry != "original" or turned:
            kind = MIRRORED_ROTATED
        elif same_view:
            kind = NEAR_DUPLICATE
        else:
            kind = CROPPED_CONTAINED
        score = 0.5 + 0.4 * min(1.0, check.inliers / 60)
        return Match(
            media_id=found.media_id,
            kind=kind,
            score=round(score, 4),
            algorithm="orb",
            distance=float(pdq_distance if pdq_distance is not None else 256),
            query_variant=f"full/{symmetry}",
            row_id=found.row_id,
            frame_time=found.frame_time,
            details={
                "inliers": check.inliers,
                "query_area": round(check.query_coverage, 3),
                "match_area": round(check.candidate_coverage, 3),
                "rotation": round(check.rotation_deg, 1),
                "scale": round(check.scale, 3),
            },
        )

    def match_frames(
        self,
        frames: list[tuple[float, list[HashValue]]],
        thresholds: Thresholds = Thresholds(),
        *,
        features: list[tuple[float, Features]] | None = None,
        load_features: LoadFeatures | None = None,
        offsets: dict[int, float] | None = None,
        mirrored: list[tuple[float, list[HashValue]]] | None = None,
    ) -> list[Match]:
        """Match a video's sampled frames (time, hashes) and aggregate per catalogued media.

        A catalogued video matches when query frames meet its frames at a consistent time
        offset; the result says which share of each side matched, where, and the offset. A
        catalogued still matches when a frame of the query shows it, at that frame's time.
        Frames with keypoints (``features``: time, keypoints) also meet stored pictures and
        video frames whose geometry they fit: a clip under a large logo or a ticker, or inset
        in a newscast frame, whose frame hashes differ too much. ``offsets`` (media id: match
        time minus query time) are where another witness, the sound, placed the query in a
        video; where its frames met, they are compared along that offset too.
        ``mirrored`` frames (the query's frames mirrored left to right) find, among the media
        the frames did not, a mirrored copy's original (kind ``mirrored_rotated``).
        """
        usable = [(t, h) for t, h in frames if _informative(h)]
        pairs = self._frame_pairs(usable, thresholds)
        for time, fit in self._keypoint_frames(features or [], load_features, thresholds):
            already = pairs.setdefault(fit.media_id, [])
            if already and (already[0][1] is None) != (fit.frame_time is None):
                continue  # a media is a still or a video: its pairs are all of one kind
            if any(t == time for t, _, _ in already):
                continue  # one pair per query frame: its hash's, or its best-fitting keyframe
            already.append((time, fit.frame_time, KEYPOINT_PAIR_DISTANCE))
        self._extend_along(pairs, usable, thresholds.frame_pdq_along, offsets or {})
        matches = self._by_media(pairs, len(usable), thresholds.frame_pdq)
        if mirrored:
            found = {m.media_id for m in matches}
            flipped = [(t, h) for t, h in mirrored if _informative(h)]
            # Every other frame is searched (the costly step); the rest are compared along.
            others = {
                m: p
                for m, p in self._frame_pairs(flipped[::2], thresholds).items()
                if m not in found
            }
            placed = {m: o for m, o in (offsets or {}).items() if m not in found}
            self._extend_along(others, flipped, thresholds.frame_pdq_along, placed)
            for match in self._by_media(others, len(flipped), thresholds.frame_pdq):
                if match.kind == NEAR_DUPLICATE:
                    match.kind = MIRRORED_ROTATED
                match.query_variant = "full/flip_horizontal"
                match.details["mirrored"] = True
                matches.append(match)
        return sorted(matches, key=lambda m: (-m.score, m.distance, m.media_id))

    def _frame_pairs(
        self, frames: list[tuple[float, list[HashValue]]], thresholds: Thresholds
    ) -> dict[int, list[tuple[float, float | None, int]]]:
        """Per media, the (query time, its frame time, distance) of each query frame's nearest
        stored frame within ``frame_pdq`` (frame time None for a still)."""
        pairs: dict[int, list[tuple[float, float | None, int]]] = {}
        for time, hashes in frames:
            query = QueryFingerprint("", hashes)
            for media_id, (distance, hit, _variant) in self._nearest(
                query, PDQ, thresholds.frame_pdq
            ).items():
                pairs.setdefault(media_id, []).append((time, hit.frame_time, distance))
        return pairs

    def _by_media(
        self,
        pairs: dict[int, list[tuple[float, float | None, int]]],
        query_frames: int,
        strict: int,
    ) -> list[Match]:
        """Turn each media's frame pairs into a match: a still at the query frame that shows
        it best, a video by the segments its pairs form."""
        matches = []
        for media_id, found in pairs.items():
            if found[0][1] is None:
                time, _, distance = min(found, key=lambda item: item[2])
                matches.append(
                    Match(
                        media_id,
                        FRAME_OF,
                        round(1 - distance / 128, 4),
                        PDQ,
                        float(distance),
                        frame_time=None,
                        details={"time": time},
                    )
                )
                continue
            # Every frame of a catalogued video carries its time, so no pair is dropped here;
            # the filter only narrows the type.
            timed = [(t, hit_time, d) for t, hit_time, d in found if hit_time is not None]
            result = _aggregate(timed, query_frames, self.hashes[PDQ].frame_count(media_id), strict)
            if result is not None:
                result.media_id = media_id
                matches.append(result)
        return matches

    def _extend_along(
        self,
        pairs: dict[int, list[tuple[float, float | None, int]]],
        frames: list[tuple[float, list[HashValue]]],
        radius: int,
        known: dict[int, float],
    ) -> None:
        """Add the query frames that meet a candidate video's frames at the offset its best
        run of pairs found, or at the offset the sound placed the query at (``known``).

        Only candidates whose frames already met are extended: the looser distance confirms
        a placement, it never makes one (slides of one template, say, come within it by
        chance). Only the best-supported are (``EXTEND_CANDIDATES``, and any the sound
        placed), and a query frame is compared only with the candidate's frames within
        ``SEGMENT_GAP_S`` of those offsets, so the work stays with the candidates, not the
        catalogue. Not every offset pairs met at: footage that returns to the same view (a
        static interview, a revisited scene) has chance pairs there, which the looser
        distance must not amplify.
        """
        timed = {m: found for m, found in pairs.items() if found and found[0][1] is not None}
        ranked = sorted(timed, key=lambda m: -len({p[0] for p in timed[m]}))[:EXTEND_CANDIDATES]
        ranked += [m for m in known if m in timed and m not in ranked]
        for media_id in ranked:
            found = timed[media_id]
            run = max(
                _by_offset([(t, hit, d) for t, hit, d in found if hit is not None]),
                key=lambda group: len({p[0] for p in group}),
            )
            # Every offset of the run, to the second: a keyframe's keypoints fit the stored
            # keyframe that looks most alike, which in a zooming shot is a little off.
            offsets = sorted({float(round(hit - t)) for t, hit, _ in run})
            if media_id in known:
                offsets.append(known[media_id])
            stored, times = self.hashes[PDQ].of_media(media_id)
            order = np.argsort(times, kind="stable")
            stored, times = stored[order], times[order]
            seen = {t for t, _, _ in found}
            for time, hashes in frames:
                if time in seen:
                    continue
                codes = np.frombuffer(
                    b"".join(h.bits for h in hashes if h.algorithm == PDQ), dtype=np.uint8
                ).reshape(-1, stored.shape[1])
                best: tuple[int, float] | None = None
                for offset in offsets:  # the nearest frame across them; ties to the first
                    # The candidate's frames within SEGMENT_GAP_S of this frame moved by it.
                    low = int(np.searchsorted(times, time + offset - SEGMENT_GAP_S, "left"))
                    high = int(np.searchsorted(times, time + offset + SEGMENT_GAP_S, "right"))
                    if high <= low:
                        continue
                    nearest = perceptual.distances(codes, stored[low:high]).min(axis=0)
                    at = int(np.argmin(nearest))
                    if best is None or nearest[at] < best[0]:
                        best = (int(nearest[at]), float(times[low + at]))
                if best is not None and best[0] <= radius:
                    found.append((time, best[1], best[0]))

    def _keypoint_frames(
        self,
        features: list[tuple[float, Features]],
        load: LoadFeatures | None,
        thresholds: Thresholds,
    ) -> list[tuple[float, FeatureMatch]]:
        """The stored pictures and frames each keyframe's keypoints fit: (query time, match)."""
        voted = [(t, f, self.keypoints.candidates(f)) for t, f in features if len(f)]
        rows = sorted({c.row_id for _, _, found in voted for c in found})
        if not rows:
            return []
        stored = (load or self.keypoints.load_kept)(rows)
        return [
            (time, match)
            for time, feats, found in voted
            for match in self.keypoints.verify(feats, found, stored)
            if match.verification.inliers >= thresholds.min_inliers
        ]

    def memory_bytes(self) -> int:
        """Return an estimate of the memory held by every index."""
        return sum(i.memory_bytes() for i in self.hashes.values()) + self.keypoints.memory_bytes()


def read_snapshot_meta(folder: Path) -> dict[str, Any]:
    """Return a snapshot's description (format, vocabulary, watermarks, counts)."""
    meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{folder}: snapshot format {meta.get('format')} is not {SNAPSHOT_FORMAT}")
    return meta


# PDQ quality under which a frame is too flat (a black fade, a bare wall) to say anything.
MIN_FRAME_QUALITY = 30


def _informative(hashes: list[HashValue]) -> bool:
    return any(
        h.algorithm == PDQ and (h.quality is None or h.quality >= MIN_FRAME_QUALITY) for h in hashes
    )


# The distance a frame pair found by keypoints counts as (PDQ bits): a fit of geometry says
# the pictures share content, not that they look alike whole, so it weighs like a fair match.
KEYPOINT_PAIR_DISTANCE = 24
# A still fitted to a video's keyframe is placed at the nearest-hashed frame this close to it.
PLACE_WITHIN_S = 30.0
# Candidate videos whose frames are compared along their offsets (the best-supported first).
EXTEND_CANDIDATES = 20

# Matched frame pairs whose time offsets differ by more than this belong to different segments.
SEGMENT_GAP_S = 2.0


def _by_offset(found: list[tuple[float, float, int]]) -> list[list[tuple[float, float, int]]]:
    """Group (query time, candidate time, distance) pairs whose time offsets run together."""
    ordered = sorted(found, key=lambda item: (item[1] - item[0], item[0]))
    groups: list[list[tuple[float, float, int]]] = [[ordered[0]]]
    for pair in ordered[1:]:
        last = groups[-1][-1]
        if abs((pair[1] - pair[0]) - (last[1] - last[0])) <= SEGMENT_GAP_S:
            groups[-1].append(pair)
        else:
            groups.append([pair])
    return groups


def _aggregate(
    found: list[tuple[float, float, int]], query_frames: int, candidate_frames: int, strict: int
) -> Match | None:
    """Group (query time, candidate time, distance) pairs by time offset into segments."""
    groups = _by_offset(found)
    # A lone frame pair is chance unless the query itself is that short.
    needed = 1 if query_frames <= 2 else 2
    kept = [g for g in groups if len({p[0] for p in g}) >= needed]
    if not kept:
        return None
    matched_query = {p[0] for g in kept for p in g}
    matched_candidate = {p[1] for g in kept for p in g}
    # The distance (and the score, and a link's confidence) rests on the pairs that met on
    # their own; pairs found along their offset add coverage, not closeness.
    distances = [p[2] for g in kept for p in g if p[2] <= strict] or [p[2] for g in kept for p in g]
    segments = [
        {
            "query_start": min(p[0] for p in g),
            "query_end": max(p[0] for p in g),
            "match_start": min(p[1] for p in g),
            "match_end": max(p[1] for p in g),
        }
        for g in sorted(kept, key=lambda g: min(p[0] for p in g))
    ]
    main = max(kept, key=len)
    offset = float(np.median([p[1] - p[0] for p in main]))
    query_coverage = min(1.0, len(matched_query) / max(1, query_frames))
    match_coverage = min(1.0, len(matched_candidate) / max(1, candidate_frames))
    mean = float(np.mean(distances))
    score = 0.5 * max(query_coverage, match_coverage) + 0.5 * (1 - mean / 64)
    return Match(
        media_id=0,
        kind=NEAR_DUPLICATE,
        score=round(max(0.0, min(1.0, score)), 4),
        algorithm=PDQ,
        distance=round(mean, 2),
        details={
            "query_coverage": round(query_coverage, 3),
            "match_coverage": round(match_coverage, 3),
            "segments": segments,
            "offset": round(offset, 3),
        },
    )
