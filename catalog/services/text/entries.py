"""Writing what media say: the rows of ``media_texts`` with their terms, and the stems they
add to the vocabulary that misspelt queries are corrected against.

Text read from a media (OCR, subtitles, a transcript) is replaced as a whole when the media
is read again; text from its records is replaced whenever a record changes (records.py).
Everything stored is cleaned first: control characters, bidirectional overrides and NUL
go, and a text longer than ``MAX_TEXT`` is cut where a word ends.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ...models import MediaText, TextTerm
from ...text.spans import FIELDS_READ, TextSpan
from ...text.terms import analyse

# One text's length: a statement or a page's visible text can be long, but what a search
# shows is a snippet, and what it indexes beyond this adds cost, not answers.
MAX_TEXT = 20_000
# Bidirectional overrides and isolates reorder what is shown around them: a caption could
# make a snippet read backwards. Other control characters (NUL among them) are dropped too.
_UNSAFE = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean(text: str) -> str:
    """The text without control characters or direction overrides, at most MAX_TEXT long."""
    text = _UNSAFE.sub("", text)
    text = "".join(
        c if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs", "Co") else " " for c in text
    )
    text = re.sub(r"[ \t]+", " ", text).strip()
    if len(text) > MAX_TEXT:
        cut = text.rfind(" ", 0, MAX_TEXT)
        text = text[: cut if cut > MAX_TEXT // 2 else MAX_TEXT]
    return text


def make_entry(
    media_id: int,
    field: str,
    text: str,
    *,
    at: float | None = None,
    until: float | None = None,
    box: tuple[int, int, int, int] | list[int] | None = None,
    lang: str | None = None,
    source: str | None = None,
    ref_id: int | None = None,
) -> MediaText | None:
    """A media_texts row for ``text`` with its terms; None when the text has no words."""
    text = clean(text)
    terms = analyse(text)
    if not terms.words:
        return None
    words, stems, latin = terms.joined()
    return MediaText(
        media_id=media_id,
        field=field,
        text=text,
        at=at,
        until=until,
        box=list(box) if box is not None else None,
        lang=lang,
        source=source,
        ref_id=ref_id,
        words=words,
        stems=stems,
        latin=latin,
    )


def add_entries(session: Session, entries: Iterable[MediaText | None]) -> int:
    """Add the rows (skipping Nones) and their stems to the vocabulary; return how many."""
    rows = [e for e in entries if e is not None]
    if not rows:
        return 0
    session.add_all(rows)
    # Stems and Latin forms: a misspelt query is corrected against either script.
    terms = sorted(
        {t for row in rows for t in (*row.stems.split(), *row.latin.split()) if 2 < len(t) <= 64}
    )
    if terms:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for start in range(0, len(terms), 500):
            chunk = [{"term": t} for t in terms[start : start + 500]]
            session.execute(insert(TextTerm).values(chunk).on_conflict_do_nothing())
    return len(rows)


def span_entry(media_id: int, span: TextSpan) -> MediaText | None:
    """The row for one span read from a media."""
    if span.field not in FIELDS_READ:
        raise ValueError(f"not a field text is read into: {span.field}")
    return make_entry(
        media_id,
        span.field,
        span.text,
        at=span.at,
        until=span.until,
        box=span.box,
        lang=span.lang,
        source=span.source,
    )
