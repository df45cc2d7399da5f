"""Searching what media say: media ranked by how well their texts answer a query, each with
its hits (the field, a snippet with the words marked, the time in a video).

A text answers when it has every clause of the query; the engine ranks those texts, and a
media takes the score of its best text, raised a little for each further text that answers
and for words found close together. Where no single text has every clause, media whose
texts have them between them are found too, ranked below. A word that no stored stem starts
with (an OCR slip, a typo) is looked for as the stored stems an edit or two away.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import Media, MediaText
from ...text.query import Query, QueryError, parse
from ...text.snippets import snippet
from ...text.terms import alternates, probe
from .. import Invalid
from . import engines

MAX_LIMIT = 200
HITS_PER_MEDIA = 5
# Where no one text has every clause: how many texts each clause may bring before the media
# are intersected (a common word alone would otherwise read the whole table).
PER_CLAUSE = 1000


@dataclass
class TextHit:
    """One text of a media that answers the query."""

    field: str
    text: str  # the snippet
    at: float | None
    marks: list[tuple[int, int]] = default(default_factory=list)
    until: float | None = None
    box: list[int] | None = None
    text_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The hit as the API and ``catalog find`` print it."""
        return {
            "field": self.field,
            "text": self.text,
            "at": self.at,
            "until": self.until,
            "marks": [list(m) for m in self.marks],
            "box": self.box,
        }


@dataclass
class TextResult:
    """A media that answers the query, with its score and hits."""

    media: Media
    score: float
    hits: list[TextHit]

    def as_dict(self) -> dict[str, Any]:
        """The result as the API and ``catalog find`` print it."""
        return {
            "media_id": self.media.id,
            "sha256": self.media.sha256,
            "kind": self.media.kind.value,
            "title": self.media.title,
            "score": round(self.score, 6),
            "hits": [h.as_dict() for h in self.hits],
        }


def read_query(text: str, fields: Iterable[str] | None = None) -> Query:
    """Parse a query; raise Invalid with the reason when it cannot be searched for."""
    try:
        return parse(text, set(fields or ()))
    except QueryError as exc:
        raise Invalid(str(exc)) from None


def _fuzzy(session: Session, query: Query) -> dict[str, list[str]]:
    near: dict[str, list[str]] = {}
    for clause in query.clauses:
        if clause.phrase:
            continue
        word = clause.words[0]
        p = probe(word)
        if alternatives := alternates(p.stem):
            near[word] = alternatives
        if len(p.stem) < 4 or word.isdigit() or engines.known_prefix(session, p.stem):
            continue
        if p.latin != p.stem and engines.known_prefix(session, p.latin):
            continue
        found = engines.near_stems(session, p.stem)
        if not found and p.latin != p.stem:
            found = engines.near_stems(session, p.latin)
        if found:
            near[word] = [*near.get(word, []), *found]
    return near


def find_text(
    session: Session,
    text: str,
    *,
    limit: int = 20,
    fields: Iterable[str] | None = None,
    media_ids: sa.Select[tuple[int]] | None = None,
) -> list[TextResult]:
    """Media whose texts answer ``text``, best first (``media_ids``: a filter's media)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
    query = read_query(text, fields)
    fuzzy = _fuzzy(session, query)
    found = engines.search(session, query.clauses, fuzzy, query.fields, media_ids)
    if len(query.clauses) > 1:
        found = _closer_first(session, query, found)
    scores = _by_media(found)
    if len(scores) < limit and len(query.clauses) > 1:
        _add_spread(session, query, fuzzy, media_ids, scores)
    best = sorted(scores.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
    if not best:
        return []
    media = {
        m.id: m for m in session.scalars(sa.select(Media).where(Media.id.in_([b[0] for b in best])))
    }
    probes = [probe(w) for w in query.words] + [
        probe(alt) for alts in fuzzy.values() for alt in alts
    ]
    shown = [tid for _mid, (_score, text_ids) in best for tid in text_ids[:HITS_PER_MEDIA]]
    rows = {r.id: r for r in session.scalars(sa.select(MediaText).where(MediaText.id.in_(shown)))}
    results = []
    for media_id, (score, text_ids) in best:
        hits = []
        for row in (rows[t] for t in text_ids[:HITS_PER_MEDIA] if t in rows):
            snip, marks = snippet(row.text, probes)
            hits.append(TextHit(row.field, snip, row.at, marks, row.until, row.box, row.id))
        results.append(TextResult(media[media_id], score, hits))
    return results


def _closer_first(
    session: Session, query: Query, found: list[engines.Found]
) -> list[engines.Found]:
    """Raise the score of texts where the query's words stand close together: a text that
    says "Peskov denied the strike" answers "Peskov strike" better than one where the two
    words are a paragraph apart. (PostgreSQL's ranking counts it already; FTS5's bm25 not.)"""
    if not found:
        return found
    rows = session.execute(
        sa.select(MediaText.id, MediaText.words).where(MediaText.id.in_([f.text_id for f in found]))
    )
    words = {int(row[0]): str(row[1]) for row in rows}
    clauses = [[probe(w) for w in clause.words] for clause in query.clauses]
    raised = []
    for one in found:
        tokens = (words.get(one.text_id) or "").split()[:2000]
        places = []
        for probes in clauses:
            at = next((i for i, t in enumerate(tokens) if probes[0].finds(t)), None)
            if at is None:
                break
            places.append(at)
        gap = max(places) - min(places) - (len(clauses) - 1) if len(places) == len(clauses) else 50
        closeness = 1.0 / (1.0 + max(gap, 0))
        raised.append(engines.Found(one.text_id, one.media_id, one.score * (1.0 + closeness)))
    return sorted(raised, key=lambda f: (-f.score, -f.text_id))


def _by_media(found: list[engines.Found]) -> dict[int, tuple[float, list[int]]]:
    grouped: dict[int, list[engines.Found]] = defaultdict(list)
    for one in found:
        grouped[one.media_id].append(one)
    scores = {}
    for media_id, texts in grouped.items():
        # The best text counts whole; each further one a little, so a media that says it
        # in its title, its caption and its chyron comes before one that says it once.
        ranked = sorted(texts, key=lambda f: -f.score)
        score = ranked[0].score + 0.1 * sum(f.score for f in ranked[1:HITS_PER_MEDIA])
        scores[media_id] = (score, [f.text_id for f in ranked])
    return scores


def _add_spread(
    session: Session,
    query: Query,
    fuzzy: dict[str, list[str]],
    media_ids: sa.Select[tuple[int]] | None,
    scores: dict[int, tuple[float, list[int]]],
) -> None:
    per_clause = [
        engines.search(session, [c], fuzzy, query.fields, media_ids, limit=PER_CLAUSE)
        for c in query.clauses
    ]
    common = set.intersection(*({f.media_id for f in found} for found in per_clause))
    floor = min((s for s, _ in scores.values()), default=0.0)
    for media_id in common - scores.keys():
        texts = [f for found in per_clause for f in found if f.media_id == media_id]
        ranked = sorted({f.text_id: f for f in texts}.values(), key=lambda f: -f.score)
        # Below every media with one text that has it all, ordered among themselves.
        score = min(floor, 0.0) - 1.0 / (1.0 + sum(f.score for f in ranked))
        scores[media_id] = (score, [f.text_id for f in ranked])
