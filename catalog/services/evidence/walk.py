"""The cluster walk: which media belong together. A cluster is the media joined by
near-duplicate, derived-from and frame-of links that an analyst confirmed, or that the matcher
proposed with at least the configured confidence; rejected links never join. Also how sure the
matcher was of a link (``link_confidence``), which ingest uses to choose a link's witness,
and which members a cluster holds only through links nobody confirmed (``unconfirmed``): their
facts are shown apart and never make a published statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import LinkKind, LinkReview, Media, MediaLink
from .wording import match_name, witness

DEFAULT_CONFIDENCE = 0.45
MAX_CLUSTER = 500  # a runaway chain of weak links must not load the whole catalogue


def link_confidence(algorithm: str | None, distance: float | None) -> float:
    """How sure the matcher was of a link, from 0 to 1 (a verified keypoint match counts 0.9)."""
    algorithm = witness(algorithm)[0]  # a mirror's or a counted witness is as sure as ever
    if algorithm == "sha256":
        return 1.0
    if algorithm == "orb":
        return 0.9
    if distance is None:
        return 0.5
    if algorithm == "audio":  # the distance is the share of fingerprint bits that differ
        return max(0.0, 1 - float(distance) / 0.35) * 0.9  # unrelated sound: about 0.35
    bits = {"pdq": 64, "phash": 32}.get(algorithm or "", 64)  # half the hash: a coin toss
    return max(0.0, 1 - float(distance) / bits)


# Built once: these run for every search answer, as plain column queries with the names
# joined in (no ORM objects, no statement built per call).
_LINKS = sa.select(
    MediaLink.source_media_id,
    MediaLink.target_media_id,
    MediaLink.kind,
    MediaLink.algorithm,
    MediaLink.distance,
    MediaLink.review,
    MediaLink.id,
).where(
    sa.or_(
        MediaLink.source_media_id.in_(sa.bindparam("ids", expanding=True)),
        MediaLink.target_media_id.in_(sa.bindparam("ids", expanding=True)),
    ),
    MediaLink.review != LinkReview.REJECTED,
)


# Withdrawn media are few (mistakes): their ids are read once per walk, not joined into each
# step, and the links touching them are skipped, so no cluster reaches through them.
_WITHDRAWN = sa.select(Media.id).where(Media.withdrawn_at.is_not(None))


def withdrawn_ids(session: Session) -> frozenset[int]:
    """Return the ids of the withdrawn media, to leave out of clusters, matches and reports."""
    return frozenset(session.scalars(_WITHDRAWN))


def _relation(kind: LinkKind, algorithm: str | None, origin_is_source: bool) -> str:
    """How the far end of a link relates to the near end, in words."""
    if kind is LinkKind.FRAME_OF:
        return "the video this is a frame of" if origin_is_source else "a frame of this video"
    if kind is LinkKind.DERIVED_FROM:
        return (
            "the original this was derived from" if origin_is_source else "a copy derived from this"
        )
    return match_name("near_duplicate", algorithm)  # a crop, a mirror or a copy, as stored


def clusters(
    session: Session,
    media_ids: list[int],
    min_confidence: float = DEFAULT_CONFIDENCE,
    links: Iterable[tuple[Any, ...]] | None = None,
    unconfirmed: dict[int, dict[int, dict[str, Any]]] | None = None,
) -> dict[int, dict[int, str]]:
    """Return, for each media, the other members of its cluster and how each relates to it.

    ``links`` passes the links touching ``media_ids`` when the caller has read them already
    (as _LINKS would, and in its order: it decides the wording where two paths are equally
    short), saving the first query of the walk. ``unconfirmed``, when given, is filled for
    each media with the members no path of confirmed links reaches, each with the proposed
    link that brought it in (``link_id``, ``confidence``: the weakest on the way).
    """
    edges: dict[int, list[tuple[int, str, int | None, float]]] = {}
    # A withdrawn media asked about (its own page) still shows its copies; as anyone else's
    # member it is out.
    hidden = withdrawn_ids(session) - set(media_ids)
    seen: set[int] = set(media_ids)
    frontier = set(media_ids)
    while frontier and len(seen) < MAX_CLUSTER:
        ids = sorted(frontier)
        frontier = set()
        if links is None:
            step: Iterable[Any] = session.execute(_LINKS, {"ids": ids})
        else:
            step = [link for link in links if link[5] is not LinkReview.REJECTED]
            links = None
        for source, target, kind, algorithm, distance, review, link_id in step:
            if source in hidden or target in hidden:
                continue
            confidence = link_confidence(algorithm, distance)
            if review is not LinkReview.CONFIRMED and confidence < min_confidence:
                continue
            # A confirmed link is certain; a proposed one carries its id and how sure it is.
            proposed = None if review is LinkReview.CONFIRMED else link_id
            edges.setdefault(source, []).append(
                (target, _relation(kind, algorithm, True), proposed, confidence)
            )
            edges.setdefault(target, []).append(
                (source, _relation(kind, algorithm, False), proposed, confidence)
            )
            for node in (source, target):
                if node not in seen:
                    seen.add(node)
                    frontier.add(node)
    found: dict[int, dict[int, str]] = {}
    for origin in media_ids:
        members: dict[int, str] = {}
        queue = [(origin, "", 0)]
        while queue:
            node, via, depth = queue.pop(0)
            for neighbour, relation, _, _ in edges.get(node, []):
                if neighbour == origin or neighbour in members:
                    continue
                members[neighbour] = relation if depth == 0 else f"{relation} of #{node} ({via})"
                queue.append((neighbour, relation, depth + 1))
        found[origin] = members
        if unconfirmed is not None:
            unconfirmed[origin] = _unconfirmed(origin, edges)
    return found


def _unconfirmed(
    origin: int, edges: dict[int, list[tuple[int, str, int | None, float]]]
) -> dict[int, dict[str, Any]]:
    """The members reached from ``origin`` only through proposed links, each with the
    proposed link that brought it in and the weakest confidence on its way."""
    confirmed = {origin}
    stack = [origin]
    while stack:
        node = stack.pop()
        for neighbour, _, proposed, _ in edges.get(node, []):
            if proposed is None and neighbour not in confirmed:
                confirmed.add(neighbour)
                stack.append(neighbour)
    # Out from the confirmed part, the first proposed link crossed names the way in; the
    # strongest way is kept (a widest-path walk: the weakest link on a way bounds it).
    best: dict[int, dict[str, Any]] = {}
    frontier = sorted(confirmed)
    while frontier:
        following = []
        for node in frontier:
            held = best.get(node)
            for neighbour, _, proposed, confidence in edges.get(node, []):
                if neighbour in confirmed:
                    continue
                sure = 1.0 if proposed is None else confidence  # confirmed: certain
                way = (
                    {"link_id": proposed, "confidence": round(sure, 3)}
                    if held is None
                    else {**held, "confidence": round(min(held["confidence"], sure), 3)}
                )
                current = best.get(neighbour)
                if current is None or way["confidence"] > current["confidence"]:
                    best[neighbour] = way
                    following.append(neighbour)
        frontier = following
    return best


def grouped(
    session: Session,
    media_ids: list[int],
    min_confidence: float = DEFAULT_CONFIDENCE,
    *,
    confirmed_only: bool = False,
) -> list[list[int]]:
    """Group ``media_ids`` by the clusters they fall into (within the set), biggest group first;
    with ``confirmed_only``, by chains of confirmed links alone (what may be published)."""
    wanted = set(media_ids)
    shaky: dict[int, dict[int, dict[str, Any]]] = {}
    members = clusters(session, sorted(wanted), min_confidence, unconfirmed=shaky)
    groups: list[list[int]] = []
    placed: set[int] = set()
    for m in sorted(wanted):
        if m not in placed:
            joined = set(members[m]) - (set(shaky.get(m, {})) if confirmed_only else set())
            group = sorted({m} | (joined & wanted))
            placed.update(group)
            groups.append(group)
    return sorted(groups, key=lambda g: (-len(g), g[0]))
