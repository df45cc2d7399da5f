"""What an analyst types, read as a query: words, phrases in quotes and field filters.

Nothing typed reaches a search engine as its own syntax: a query is read into words (the
same folding as stored text, ``terms.words_of``), grouped into phrases where quoted, and the
engines are given only those words, quoted by the service. ``"``, ``NEAR(``, ``*``, ``:``
or ``-`` are characters like any other; an unbalanced quote quotes to the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .terms import words_of

# The fields a hit can be in: what records say, then what was read from the media.
RECORD_FIELDS = (
    "title",
    "description",
    "credit",
    "caption",
    "account",
    "source",
    "statement",
    "party",
    "incident",
    "capture",
)
READ_FIELDS = ("ocr", "subtitle", "transcript")
FIELDS = RECORD_FIELDS + READ_FIELDS
# Longer queries are refused, not cut: a cut query would answer another question.
MAX_QUERY_CHARS = 1000
MAX_CLAUSES = 16
MAX_PHRASE_WORDS = 12

# An optional ``field:`` then a quoted phrase (an unbalanced quote runs to the end) or a word.
_PIECE = re.compile(r'(?:([a-z]+):)?(?:"([^"]*)"?|(\S+))?')


class QueryError(ValueError):
    """The query cannot be searched for; the message says why, in words for the user."""


@dataclass(frozen=True)
class Clause:
    """Words that must all appear in one text; a phrase wants them in this order, together."""

    words: tuple[str, ...]
    phrase: bool = False


@dataclass
class Query:
    """A read query: its clauses and the fields it is limited to (none: every field)."""

    clauses: list[Clause] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)

    @property
    def words(self) -> list[str]:
        """Every word of every clause, in order."""
        return [w for clause in self.clauses for w in clause.words]


def parse(text: str, fields: set[str] | None = None) -> Query:
    """Read ``text`` into a Query, limited to ``fields`` when given; raise QueryError."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    unknown = (fields or set()) - set(FIELDS)
    if unknown:
        raise QueryError(
            f"unknown field {sorted(unknown)[0]!r}: the fields are {', '.join(FIELDS)}"
        )
    query = Query(fields=set(fields or ()))
    for match in _PIECE.finditer(text):
        name, quoted, bare = match.group(1), match.group(2), match.group(3)
        if name is not None:
            if name in FIELDS:
                query.fields.add(name)
            else:  # "foo:bar" with no such field is two words
                query.clauses.extend(Clause((w,)) for w in words_of(name))
        if bare is not None:
            query.clauses.extend(Clause((w,)) for w in words_of(bare))
        elif quoted is not None:
            words = words_of(quoted)
            if len(words) > MAX_PHRASE_WORDS:
                raise QueryError(f"a phrase in quotes may have at most {MAX_PHRASE_WORDS} words")
            if len(words) == 1:
                query.clauses.append(Clause(tuple(words)))
            elif words:
                query.clauses.append(Clause(tuple(words), phrase=True))
    if not query.clauses:
        raise QueryError("the query has no words to search for")
    if len(query.clauses) > MAX_CLAUSES:
        raise QueryError(f"the query may have at most {MAX_CLAUSES} words or phrases")
    return query
