"""The two search engines, spoken to in their own syntax from a read query: SQLite's FTS5
and PostgreSQL's full-text search (a tsvector's GIN index, pg_trgm for misspellings).

Only words that ``catalog.text`` folded reach an engine, each quoted here: nothing a user
typed is engine syntax. Both engines answer the same question, which texts have every
clause of the query, best first, with a score where greater is better.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from sqlalchemy.orm import Session

from ...models import Media, MediaText, TextTerm
from ...text.query import Clause
from ...text.terms import Probe, probe

# PostgreSQL's stored tsvector (the column ``text_search_tsv``, GIN-indexed), as the
# migration made it (a test holds the two equal).
PG_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, stems), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, words), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, latin), 'C'))"
)
# How many texts an engine ranks for one query before they are grouped by media: enough
# for a page of media however many hits each has, bounded so a common word costs little.
# A query more texts answer has its newest CANDIDATES ranked: its best answers among recent
# media, not among all (the engines have no early-ending top-k over a whole index).
CANDIDATES = 500


@dataclass(frozen=True)
class Found:
    """A text that has every clause: its row, its media, and the engine's score."""

    text_id: int
    media_id: int
    score: float


def _fts_string(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _fts_term(p: Probe, alternatives: Sequence[str]) -> str:
    star = "" if p.exact else "*"
    stems = " OR ".join(f"{_fts_string(s)}{star}" for s in (p.stem, *alternatives))
    latin = " OR ".join(f"{_fts_string(s)}{star}" for s in (p.latin, *alternatives))
    return f"({{words stems}}: ({stems}) OR {{latin}}: ({latin}))"


def _fts_phrase(probes: Sequence[Probe]) -> str:
    stems = " + ".join(f"{_fts_string(p.stem)}{'' if p.exact else '*'}" for p in probes)
    latin = " + ".join(f"{_fts_string(p.latin)}{'' if p.exact else '*'}" for p in probes)
    return f"({{stems}}: ({stems}) OR {{words}}: ({stems}) OR {{latin}}: ({latin}))"


def fts_match(clauses: Sequence[Clause], fuzzy: dict[str, list[str]]) -> str:
    """The FTS5 MATCH expression for the clauses (``fuzzy``: stems a misspelt word may mean)."""
    parts = []
    for clause in clauses:
        probes = [probe(w) for w in clause.words]
        if clause.phrase:
            parts.append(_fts_phrase(probes))
        else:
            parts.append(_fts_term(probes[0], fuzzy.get(clause.words[0], [])))
    return " AND ".join(parts)


def _ts_lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _ts_term(p: Probe, alternatives: Sequence[str]) -> str:
    star = ":" if p.exact else ":*"
    stems = " | ".join(f"{_ts_lexeme(s)}{star}AB" for s in (p.stem, *alternatives))
    latin = " | ".join(f"{_ts_lexeme(s)}{star}C" for s in (p.latin, *alternatives))
    return f"({stems} | {latin})"


def ts_query(clauses: Sequence[Clause], fuzzy: dict[str, list[str]]) -> str:
    """The tsquery text for the clauses, for ``to_tsquery('simple', ...)``."""
    parts = []
    for clause in clauses:
        probes = [probe(w) for w in clause.words]
        if clause.phrase:
            stems = " <-> ".join(f"{_ts_lexeme(p.stem)}{':' if p.exact else ':*'}A" for p in probes)
            words = " <-> ".join(f"{_ts_lexeme(p.stem)}{':' if p.exact else ':*'}B" for p in probes)
            latin = " <-> ".join(
                f"{_ts_lexeme(p.latin)}{':' if p.exact else ':*'}C" for p in probes
            )
            parts.append(f"(({stems}) | ({words}) | ({latin}))")
        else:
            parts.append(_ts_term(probes[0], fuzzy.get(clause.words[0], [])))
    return " & ".join(parts)


def search(
    session: Session,
    clauses: Sequence[Clause],
    fuzzy: dict[str, list[str]],
    fields: Iterable[str],
    media_ids: sa.Select[tuple[int]] | None,
    limit: int = CANDIDATES,
) -> list[Found]:
    """The texts that have every clause, best first: of the texts that do, the newest
    ``limit`` are ranked (a word in a quarter of the catalogue must not rank them all)."""
    if session.get_bind().dialect.name == "postgresql":
        return _pg_search(session, ts_query(clauses, fuzzy), fields, media_ids, limit)
    fts = sa.table("text_search_fts", sa.column("rowid"), sa.column("rank"))
    match = sa.text("text_search_fts MATCH :match").bindparams(match=fts_match(clauses, fuzzy))
    # FTS5 walks its matches newest first and works out bm25 only for those it returns.
    ranked = (
        _narrowed(
            sa.select(MediaText.id, MediaText.media_id, -fts.c.rank)
            .select_from(fts)
            .join(MediaText, MediaText.id == fts.c.rowid)
            .where(match),
            fields,
            media_ids,
        )
        .order_by(fts.c.rowid.desc())
        .limit(limit)
    )
    found = [Found(int(r[0]), int(r[1]), float(r[2])) for r in session.execute(ranked)]
    return sorted(found, key=lambda f: (-f.score, -f.text_id))


def _pg_search(
    session: Session,
    query: str,
    fields: Iterable[str],
    media_ids: sa.Select[tuple[int]] | None,
    limit: int,
) -> list[Found]:
    """PostgreSQL's answer. The planner cannot tell how many texts a prefix matches (it
    guesses a few per cent, and may then read the whole table), so the GIN index is asked
    for at most ``limit`` + 1 texts. Fewer: they are all ranked. More: the word is common,
    and the newest texts that have it are found in the newest ids, in a window that grows
    fourfold until it holds ``limit`` of them."""
    tsq = sa.func.to_tsquery(sa.literal_column("'simple'::regconfig"), query)
    vector: sa.ColumnElement[Any] = sa.literal_column("media_texts.text_search_tsv")
    matching = _narrowed(sa.select(MediaText.id).where(vector.op("@@")(tsq)), fields, media_ids)
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    try:
        first = list(session.scalars(matching.limit(limit + 1)))
        if len(first) > limit:
            top = session.scalar(sa.select(sa.func.max(MediaText.id))) or 0
            window = max(limit * 16, top // 64)
            while True:
                first = list(
                    session.scalars(matching.where(MediaText.id > top - window).limit(limit))
                )
                if len(first) >= limit or window >= top:
                    break
                window *= 4
    finally:
        session.execute(sa.text("RESET enable_seqscan"))
    if not first:
        return []
    ranked = sa.select(MediaText.id, MediaText.media_id, sa.func.ts_rank_cd(vector, tsq)).where(
        MediaText.id.in_(first)
    )
    found = [Found(int(r[0]), int(r[1]), float(r[2])) for r in session.execute(ranked)]
    return sorted(found, key=lambda f: (-f.score, -f.text_id))


def _narrowed(
    query: sa.Select[Any], fields: Iterable[str], media_ids: sa.Select[tuple[int]] | None
) -> sa.Select[Any]:
    # Withdrawn media are few: left out by their ids rather than by a join with every media,
    # which PostgreSQL's planner misjudges (it expects few media not withdrawn).
    withdrawn = sa.select(Media.id).where(Media.withdrawn_at.is_not(None))
    query = query.where(MediaText.media_id.not_in(withdrawn))
    wanted = sorted(fields)
    if wanted:
        query = query.where(MediaText.field.in_(wanted))
    if media_ids is not None:
        query = query.where(MediaText.media_id.in_(media_ids))
    return query


def known_prefix(session: Session, stem: str) -> bool:
    """Whether some stored stem or Latin form starts with ``stem``."""
    upper = stem[:-1] + chr(ord(stem[-1]) + 1)
    found = session.scalar(
        sa.select(TextTerm.term).where(TextTerm.term >= stem, TextTerm.term < upper).limit(1)
    )
    return found is not None


def near_stems(session: Session, stem: str, limit: int = 5) -> list[str]:
    """Stored stems and Latin forms within an edit or two of ``stem`` (one up to six
    letters, two beyond): the words an OCR slip or a typo may have meant."""
    distance = 1 if len(stem) <= 6 else 2
    # The stems of a similar length that share the first letter, which OCR misreads least
    # (it slips inside words, on similar shapes); the btree of the terms finds them.
    first = stem[0]
    candidates = set(
        session.scalars(
            sa.select(TextTerm.term).where(
                TextTerm.term >= first,
                TextTerm.term < chr(ord(first) + 1),
                sa.func.length(TextTerm.term).between(len(stem) - distance, len(stem) + distance),
            )
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        # And, by pg_trgm's index, those with many trigrams in common whatever their first
        # letter.
        similarity = sa.func.similarity(TextTerm.term, stem)
        candidates.update(
            session.scalars(
                sa.select(TextTerm.term)
                .where(TextTerm.term.op("%")(stem))
                .order_by(similarity.desc())
                .limit(200)
            )
        )
    close = process.extract(
        stem, candidates, scorer=Levenshtein.distance, score_cutoff=distance, limit=limit
    )
    return [term for term, _dist, _i in sorted(close, key=lambda c: c[1]) if term != stem]
