"""What media say, as text: each piece read from a media or written in its records, with the
terms the search engines index, and the state of reading each media."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, JSONDocument, UTCDateTime, utcnow


class MediaText(Base):
    """One searchable text of a media: an OCR line, a subtitle cue, a caption, a statement.

    ``words``, ``stems`` and ``latin`` are its terms (catalog.text.terms), which SQLite's FTS5
    table ``text_search_fts`` and PostgreSQL's GIN index ``text_search_vector`` index; both
    are made by the migration, outside these models (neither engine's index is a column).
    """

    __tablename__ = "media_texts"
    __table_args__ = (
        sa.Index("ix_media_texts_media_field", "media_id", "field"),
        sa.CheckConstraint("until IS NULL OR at IS NULL OR until >= at", name="span_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"))
    # title, description, credit, caption, account, source, statement, party, incident,
    # capture (from records); ocr, subtitle, transcript (read from the media).
    field: Mapped[str] = mapped_column(sa.String(16))
    text: Mapped[str] = mapped_column(sa.Text)
    # Seconds from the start where the text is on screen or spoken (video and sound).
    at: Mapped[float | None]
    until: Mapped[float | None]
    # Where in the picture (x, y, width, height), for OCR of pictures.
    box: Mapped[list[int] | None] = mapped_column(sa.JSON)
    lang: Mapped[str | None] = mapped_column(sa.String(16))
    # What read it ("tesseract", "stream:2", "sidecar", "yt-dlp:en"), or the record's table.
    source: Mapped[str | None] = mapped_column(sa.String(64))
    # The record it came from (a sighting's, an acknowledgement's id), for record fields.
    ref_id: Mapped[int | None]
    words: Mapped[str] = mapped_column(sa.Text, default="")
    stems: Mapped[str] = mapped_column(sa.Text, default="")
    latin: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MediaTextState(Base):
    """Whether the text in a media was read: queued, read, or not read and why."""

    __tablename__ = "media_text_states"

    media_id: Mapped[int] = mapped_column(
        sa.ForeignKey("media.id", ondelete="CASCADE"), primary_key=True
    )
    # queued, read, failed
    state: Mapped[str] = mapped_column(sa.String(16), default="queued", index=True)
    # What could not be read and why ("text not read: the time limit of 20 s passed").
    notes: Mapped[list[str] | None] = mapped_column(JSONDocument)
    attempts: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TextTerm(Base):
    """One stem that some stored text has: where a query's misspelt word (an OCR slip)
    finds the stems it could have meant."""

    __tablename__ = "text_terms"

    term: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
