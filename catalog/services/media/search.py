"""Search: which catalogued media a file or a hash matches, best first, with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...hashing import ImageRejected, fingerprint_query, parse_hex, sha256_of
from ...hashing.audio import (
    AudioFileFingerprint,
    AudioRejected,
    QueryVariant,
)
from ...hashing.perceptual import BIT_LENGTHS, PDQ
from ...hashing.pipeline import QueryFingerprint
from ...hashing.video import VideoFingerprint, VideoRejected, fingerprint_timed
from ...hashing.views import Source, size_of, stream_of
from ...index import Match, Thresholds
from ...index.audio import AudioMatch
from ...models import Media
from ...storage import StorageError, Store
from ...text.ocr import DEFAULT_LANGUAGES
from ...text.read import read_file
from .. import Invalid
from ..evidence import ProvenanceSummary, evidence_text, match_name, summarise, withdrawn_ids
from ..text import reading_difference
from .matching import IndexHolder

EXACT = "exact"
NEAR_DUPLICATE = "near_duplicate"
# What a video match rests on: its pictures, its sound, or both.
FRAMES, AUDIO, BOTH = "frames", "audio", "frames+audio"
# Unrelated sound differs in about this share of bits: the scale of an audio match's score.
UNRELATED_BER = 0.35


class Rejected(Invalid):
    """A file was refused; ``code`` names the reason for programs, the message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SearchMatch:
    """One catalogued media matching the query, with the evidence and its provenance."""

    media: Media
    kind: str  # exact, near_duplicate, mirrored_rotated, cropped_contained
    evidence: str  # sha256, pdq, phash or orb
    distance: float
    score: float
    query_variant: str = "full/original"
    frame_time: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    provenance: ProvenanceSummary = field(default_factory=ProvenanceSummary)
    query_kind: str | None = None  # image, video or audio: what was searched, where known
    # How the query's text differs from the match's ("text in the picture differs: ..."):
    # the same picture with another caption is how a decontextualised copy shows.
    text_difference: str | None = None

    @property
    def name(self) -> str:
        """The match's one name, as its stored link will say it (see ``match_name``)."""
        return match_name(
            self.kind,
            self.evidence,
            self.details,
            time=self.frame_time,
            other=self.media.id,
            this_kind=self.query_kind,
            other_kind=self.media.kind.value,
        )

    @property
    def media_id(self) -> int:
        """The matched media's id, read without loading its row again (a rollback expires it)."""
        identity = sa.inspect(self.media).identity
        assert identity is not None  # a search result is a row read from the database
        return int(identity[0])

    def as_dict(self) -> dict[str, Any]:
        """Return the match as JSON-ready data (the CLI's and the API's shape)."""
        data: dict[str, Any] = {
            "media_id": self.media.id,
            "sha256": self.media.sha256,
            "kind": self.kind,
            "kind_label": self.name,
            "match": self.evidence,
            "distance": self.distance,
            "score": self.score,
            "media_kind": self.media.kind.value,
            "title": self.media.title,
            "query_variant": self.query_variant,
        }
        if self.frame_time is not None:
            data["time"] = self.frame_time
        data.update(self.details)
        data["evidence"] = evidence_text(self.evidence, self.distance, self.details)
        data["provenance"] = self.provenance.as_dict()
        data["text_difference"] = self.text_difference
        return data


def search_file(
    session: Session,
    holder: IndexHolder,
    data: Source,
    thresholds: Thresholds,
    *,
    max_pixels: int,
    limit: int = 50,
    max_video_s: float = 3 * 3600,
) -> list[SearchMatch]:
    """Return the media matching the file: the exact copy first, then near-duplicates."""
    if not size_of(data):
        raise Rejected("empty", "the file is empty")
    sha256 = sha256_of(data)
    # A withdrawn media matches nothing, not even its own bytes.
    exact = session.scalar(
        sa.select(Media).where(Media.sha256 == sha256, Media.withdrawn_at.is_(None))
    )
    try:
        timed = fingerprint_timed(data, max_duration_s=max_video_s, max_pixels=max_pixels)
    except (VideoRejected, AudioRejected) as exc:
        if exact is None:
            raise Rejected(exc.code, str(exc)) from None
        return _with_provenance(
            session, [SearchMatch(exact, EXACT, "sha256", 0.0, 1.0)], thresholds
        )
    if isinstance(timed, VideoFingerprint):
        return search_frames(session, holder, timed, thresholds, limit=limit, exact=exact)
    if timed is not None:
        return search_sound(session, holder, timed, thresholds, limit=limit, exact=exact)
    try:
        query = fingerprint_query(data, max_pixels)
    except ImageRejected as exc:
        if exact is None:
            raise Rejected(exc.code, str(exc)) from None
        query = None  # the bytes are catalogued even if they no longer decode
    matches = search_query(session, holder, query, thresholds, limit=limit, exact=exact)
    _tell_text_apart(session, data, matches, max_pixels)
    return matches


# Reading the query's text costs a cheap test (tens of milliseconds) and OCR only where it
# finds text, and only when there are near-duplicates to compare it with, within this limit.
QUERY_TEXT_LIMIT_S = 5.0


def _tell_text_apart(
    session: Session, data: Source, matches: list[SearchMatch], max_pixels: int
) -> None:
    near = [m for m in matches if m.kind != EXACT]
    if not near:
        return
    handle = stream_of(data)
    handle.seek(0)
    reading = read_file(
        handle,
        "image",
        languages=DEFAULT_LANGUAGES,
        max_pixels=max_pixels,
        time_limit_s=QUERY_TEXT_LIMIT_S,
    )
    for match in near:
        match.text_difference = reading_difference(session, reading, match.media_id)


def stage_query(storage: Store, data: Source, max_bytes: int | None = None) -> str | None:
    """Keep a searched file so it can be catalogued from its results; return its SHA-256, or
    None when it cannot be kept. It is an original no record names until then, so ``gc``
    removes it once an hour old: its lifetime is bounded without a table of its own."""
    try:
        return storage.put_stream(stream_of(data), max_bytes=max_bytes).sha256
    except StorageError:
        return None  # the search still answers; only the button is not offered


def search_query(
    session: Session,
    holder: IndexHolder,
    query: QueryFingerprint | None,
    thresholds: Thresholds,
    *,
    limit: int = 50,
    exact: Media | None = None,
    exclude: int | None = None,
    provenance: bool = True,
) -> list[SearchMatch]:
    """Match a computed query against the index and attach media rows and, unless asked not
    to (an import shows no matches), their provenance."""
    found: list[Match] = []
    if query is not None:
        holder.refresh(session)
        found = holder.index.match(query, thresholds, load_features=holder.feature_loader(session))
    results: list[SearchMatch] = []
    if exact is not None:
        results.append(SearchMatch(exact, EXACT, "sha256", 0.0, 1.0))
    # Withdrawn media are left out before the limit is applied, so they take no place in it.
    hidden = withdrawn_ids(session) if found else frozenset()
    wanted = [
        m
        for m in found
        if m.media_id not in (exclude, exact.id if exact else None) and m.media_id not in hidden
    ][:limit]
    media = _media_by_id(session, [m.media_id for m in wanted])
    for match in wanted:
        row = media.get(match.media_id)
        if row is None:  # deleted since the index loaded it
            continue
        results.append(
            SearchMatch(
                row,
                match.kind,
                match.algorithm,
                match.distance,
                match.score,
                match.query_variant,
                match.frame_time,
                dict(match.details),
            )
        )
    return _with_provenance(session, results[:limit], thresholds) if provenance else results[:limit]


def search_frames(
    session: Session,
    holder: IndexHolder,
    found: VideoFingerprint,
    thresholds: Thresholds,
    *,
    limit: int = 50,
    exact: Media | None = None,
    provenance: bool = True,
) -> list[SearchMatch]:
    """Match a video's sampled frames and its sound; videos and recordings with coverage and
    segments, stills with a time (with their provenance unless asked not to)."""
    holder.refresh(session)
    sound = _heard(holder, found.audio_variants, exact)
    matches = holder.index.match_frames(
        [(f.time, f.hashes) for f in found.frames],
        thresholds,
        features=[(f.time, f.features) for f in found.frames if f.features is not None],
        load_features=holder.feature_loader(session),
        # Where the sound placed the query in a video, its frames are compared at that time.
        offsets={m.recording_id: m.offset_s for m in sound},
        mirrored=[(f.time, f.mirrored) for f in found.frames if f.mirrored],
    )
    results: list[SearchMatch] = []
    if exact is not None:
        results.append(SearchMatch(exact, EXACT, "sha256", 0.0, 1.0))
    hidden = withdrawn_ids(session) if matches else frozenset()
    wanted = [
        m
        for m in matches
        if m.media_id != (exact.id if exact else None) and m.media_id not in hidden
    ][:limit]
    media = _media_by_id(session, [m.media_id for m in wanted])
    for match in wanted:
        row = media.get(match.media_id)
        if row is not None:
            details = dict(match.details)
            time = details.pop("time", None)
            results.append(
                SearchMatch(
                    row,
                    match.kind,
                    FRAMES if time is None else match.algorithm,
                    match.distance,
                    match.score,
                    query_variant=match.query_variant,
                    frame_time=time,
                    details=details,
                )
            )
    results = _merge_sound(session, results, sound)[:limit]
    return _with_provenance(session, results, thresholds) if provenance else results


def search_sound(
    session: Session,
    holder: IndexHolder,
    heard: AudioFileFingerprint,
    thresholds: Thresholds,
    *,
    limit: int = 50,
    exact: Media | None = None,
    provenance: bool = True,
) -> list[SearchMatch]:
    """Match a recording's sound: recordings and videos sharing it, with the shared stretches
    placed in both (with their provenance unless asked not to)."""
    holder.refresh(session)
    results = [SearchMatch(exact, EXACT, "sha256", 0.0, 1.0)] if exact is not None else []
    results = _merge_sound(session, results, _heard(holder, heard.variants, exact))[:limit]
    for result in results:
        result.query_kind = "audio"
    return _with_provenance(session, results, thresholds) if provenance else results


def _heard(
    holder: IndexHolder, variants: list[QueryVariant], exact: Media | None
) -> list[AudioMatch]:
    """The recordings sharing the query's sound (none for a query without evidence)."""
    if not variants:
        return []
    return holder.audio.search(variants, exclude=exact.id if exact is not None else None)


def _merge_sound(
    session: Session, results: list[SearchMatch], sound: list[AudioMatch]
) -> list[SearchMatch]:
    """Add what the sound found to what the pictures found: a video both found matches by
    frames and audio, one only the sound found by audio; best first."""
    by_media = {r.media_id: r for r in results if r.kind != EXACT and r.frame_time is None}
    media = _media_by_id(session, [m.recording_id for m in sound if m.recording_id not in by_media])
    for heard in sound:
        segments = [segment.as_dict() for segment in heard.segments]
        said = {
            "audio_coverage": heard.query_coverage,
            "audio_match_coverage": heard.match_coverage,
            "audio_segments": segments,
            "audio_offset": heard.offset_s,
            "audio_speed": heard.speed,
            "audio_bit_error_rate": heard.ber,
        }
        score = 0.5 * max(heard.query_coverage, heard.match_coverage) + 0.5 * (
            1 - heard.ber / UNRELATED_BER
        )
        found = by_media.get(heard.recording_id)
        if found is not None:
            found.evidence = BOTH
            found.details.update(said)
            found.score = round(max(found.score, score), 4)
            continue
        row = media.get(heard.recording_id)
        if row is None:  # not in the catalogue any more
            continue
        results.append(
            SearchMatch(
                row,
                NEAR_DUPLICATE,
                AUDIO,
                heard.ber,
                round(max(0.0, min(1.0, score)), 4),
                details={
                    "query_coverage": heard.query_coverage,
                    "match_coverage": heard.match_coverage,
                    "segments": segments,
                    "offset": heard.offset_s,
                    **said,
                },
            )
        )
    exact = [r for r in results if r.kind == EXACT]
    rest = sorted((r for r in results if r.kind != EXACT), key=lambda r: -r.score)
    return exact + rest


def search_hash(
    session: Session,
    holder: IndexHolder,
    algorithm: str,
    hex_digest: str,
    *,
    max_distance: int | None = None,
    thresholds: Thresholds,
    limit: int = 50,
) -> list[SearchMatch]:
    """Return media whose stored hashes of ``algorithm`` are within ``max_distance`` of the hex."""
    try:
        bits = parse_hex(algorithm, hex_digest)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    default = thresholds.pdq if algorithm == PDQ else thresholds.phash_loose
    radius = default if max_distance is None else max_distance
    if not 0 <= radius <= BIT_LENGTHS[algorithm] // 2:
        raise Invalid(
            f"distance for {algorithm} must be between 0 and {BIT_LENGTHS[algorithm] // 2}"
        )
    holder.refresh(session)
    hits = holder.index.hashes[algorithm].search(np.frombuffer(bits, dtype=np.uint8), radius)[0]
    nearest: dict[int, Any] = {}
    for hit in hits:
        if hit.media_id not in nearest:
            nearest[hit.media_id] = hit
    hidden = withdrawn_ids(session) if nearest else frozenset()
    ordered = [hit for hit in nearest.values() if hit.media_id not in hidden][:limit]
    media = _media_by_id(session, [hit.media_id for hit in ordered])
    bits_total = BIT_LENGTHS[algorithm]
    results = [
        SearchMatch(
            media[hit.media_id],
            "near_duplicate",
            algorithm,
            float(hit.distance),
            round(1 - hit.distance / (bits_total / 2), 4),
            frame_time=hit.frame_time,
        )
        for hit in ordered
        if hit.media_id in media
    ]
    return _with_provenance(session, results, thresholds)


# Built once: every search answer runs it. The index keeps a withdrawn media's hashes (it
# may be restored); it drops out here, where every match meets its row, as if deleted.
_MEDIA_BY_ID = sa.select(Media).where(
    Media.id.in_(sa.bindparam("ids", expanding=True)), Media.withdrawn_at.is_(None)
)


def _media_by_id(session: Session, ids: list[int]) -> dict[int, Media]:
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(_MEDIA_BY_ID, {"ids": ids})}


def _with_provenance(
    session: Session, results: list[SearchMatch], thresholds: Thresholds
) -> list[SearchMatch]:
    known = {r.media.id: r.media for r in results}
    summaries = summarise(session, list(known), thresholds.cluster_confidence, known=known)
    for result in results:
        result.provenance = summaries[result.media.id]
    return results
