"""Words too short to be looked for as prefixes ("з", "у", "и" in Ukrainian and Russian) are
looked for whole, in either engine's syntax: PostgreSQL's tsquery once answered a 500 here
(a weight without its colon, 'з'AB), which the text search benchmark found."""

from __future__ import annotations

from sqlalchemy.orm import Session

from catalog.models import Media, MediaKind
from catalog.services.text import find_text
from catalog.services.text.entries import add_entries, make_entry


def test_a_query_with_a_one_letter_word_finds_the_text(session: Session) -> None:
    row = Media(sha256="e" * 64, kind=MediaKind.IMAGE, mime_type="image/jpeg", size_bytes=1)
    session.add(row)
    session.flush()
    add_entries(session, [make_entry(row.id, "caption", "Зеленський з бійцями у Харкові")])
    add_entries(session, [make_entry(row.id, "ocr", "ТЕРМІНОВО: дрон над Києвом")])
    session.flush()
    for query in ("Зеленський з", "з", '"Зеленський з"', "дрон у"):
        assert [r.media.id for r in find_text(session, query)] == [row.id], query
