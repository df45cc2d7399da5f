"""The text of a media as its pages show it: the lines read from a picture in reading order,
a video's text on its timeline, the state of reading it, and how the text of two media that
look alike differs (the same picture posted with another caption).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import Media, MediaText, MediaTextState
from ...text.query import READ_FIELDS
from ...text.spans import TextReading
from ...text.terms import words_of
from .. import fetch

# A page shows at most this many texts of one media (a long video read every few seconds
# has thousands); the search finds every one of them all the same.
MAX_SHOWN = 2000
# What the compare page sets side by side: what was read, then what the records say.
COMPARED_FIELDS = ("ocr", "subtitle", "transcript", "title", "caption")
# The excerpts quoted where the text of two media differs.
EXCERPT_CHARS = 60


def _order(row: MediaText) -> tuple[float, int, int, int]:
    # Timed text by time; a picture's lines top to bottom, then left to right.
    at = row.at if row.at is not None else float("inf")
    box = row.box or [0, 0, 0, 0]
    return (at, box[1] if len(box) > 1 else 0, box[0] if box else 0, row.id)


def media_text(
    session: Session, media_id: int, fields: Iterable[str] = READ_FIELDS
) -> list[MediaText]:
    """The texts of a media in ``fields`` (by default what was read from it), in the order
    they are on screen: by time, then top to bottom and left to right."""
    rows = session.scalars(
        sa.select(MediaText)
        .where(MediaText.media_id == media_id, MediaText.field.in_(tuple(fields)))
        .order_by(MediaText.at, MediaText.id)
        .limit(MAX_SHOWN)
    )
    return sorted(rows, key=_order)


def reading_state(session: Session, media_id: int) -> MediaTextState | None:
    """How reading the text of a media went (state and notes), or None if it never was."""
    return session.get(MediaTextState, media_id)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text.rfind(" ", 0, EXCERPT_CHARS)
    return text[: cut if cut > EXCERPT_CHARS // 2 else EXCERPT_CHARS] + "…"


def _differs(label: str, left: Sequence[str], right: Sequence[str]) -> str | None:
    """How two lists of texts differ by their words, or None when they say the same."""
    if not left and not right:
        return None
    left_words = {tuple(words_of(t)) for t in left} - {()}
    right_words = {tuple(words_of(t)) for t in right} - {()}
    if left_words == right_words:
        return None
    only_left = [t for t in left if tuple(words_of(t)) not in right_words]
    only_right = [t for t in right if tuple(words_of(t)) not in left_words]
    said_left = f"'{_excerpt(' / '.join(only_left))}'" if only_left else "nothing more"
    said_right = f"'{_excerpt(' / '.join(only_right))}'" if only_right else "nothing more"
    return f"{label} differs: {said_left} vs {said_right}"


def _read(session: Session, media_id: int) -> bool:
    state = session.get(MediaTextState, media_id)
    return state is not None and state.state == "read"


def text_difference(session: Session, a_id: int, b_id: int) -> str | None:
    """How what two media say differs — the text read from their pictures, their captions —
    with short excerpts of each side; None when their words agree (or nothing is known)."""
    fetch(session, Media, a_id, "media")
    fetch(session, Media, b_id, "media")
    texts = {mid: media_text(session, mid, ("ocr", "caption")) for mid in (a_id, b_id)}

    def of(mid: int, name: str) -> list[str]:
        return [r.text for r in texts[mid] if r.field == name]

    said = []
    ocr_a, ocr_b = of(a_id, "ocr"), of(b_id, "ocr")
    # Text not read yet from one of them is not a difference, only an unknown.
    if (ocr_a and ocr_b) or (_read(session, a_id) and _read(session, b_id)):
        said.append(_differs("text in the picture", ocr_a, ocr_b))
    caption_a, caption_b = of(a_id, "caption"), of(b_id, "caption")
    if caption_a and caption_b:  # a media seen nowhere yet has no caption to differ by
        said.append(_differs("caption", caption_a, caption_b))
    found = [s for s in said if s]
    return "; ".join(found) if found else None


def reading_difference(session: Session, reading: TextReading, media_id: int) -> str | None:
    """How the text read from a query picture differs from what a catalogued media's picture
    says, or None when they agree or the media's text was not read yet."""
    if not _read(session, media_id):
        return None
    theirs = [r.text for r in media_text(session, media_id, ("ocr",))]
    ours = [s.text for s in reading.spans if s.field == "ocr"]
    return _differs("text in the picture", ours, theirs)


@dataclass
class TextPair:
    """The text of two media, for the compare page: each side's texts and how they differ."""

    a: list[MediaText] = field(default_factory=list)
    b: list[MediaText] = field(default_factory=list)
    difference: str | None = None


def compare_text(session: Session, a_id: int, b_id: int) -> TextPair:
    """What two media say, side by side (read text, title, captions), and how it differs."""
    return TextPair(
        media_text(session, a_id, COMPARED_FIELDS),
        media_text(session, b_id, COMPARED_FIELDS),
        text_difference(session, a_id, b_id),
    )
