"""Reading the text in media: which media wait to be read, reading one, and keeping what was
read with its notes. A media is read once; reading it again replaces what was read.

Pictures and videos are read by the worker (a ``text`` job per upload, and a sweep of what
waits), or in the import's own hashing processes, which hand the reading to the ingest so an
import ends with its files searchable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ...models import Media, MediaText, MediaTextState, utcnow
from ...storage import StorageError, Store
from ...text.read import read_file
from ...text.spans import FIELDS_READ, TextReading
from .. import Invalid, fetch
from .entries import add_entries, span_entry
from .records import reindex_records

QUEUED, READ, FAILED = "queued", "read", "failed"
# Subtitles given with a media rather than read from it: a sidecar file, or the captions
# yt-dlp offered when its post was captured ("yt-dlp:LANG"). Reading the media again keeps them.
SIDECAR, CAPTIONS = "sidecar", "yt-dlp:"
# A reading that broke this many times is left "failed", with its reason, for an analyst.
MAX_ATTEMPTS = 3


def reading_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """The reader's settings from the app's config."""
    return {
        "languages": str(config.get("OCR_LANGUAGES", "eng+rus+ukr")),
        "max_pixels": int(config.get("MAX_IMAGE_PIXELS", 100_000_000)),
        "time_limit_s": float(config.get("OCR_TIME_LIMIT_S", 20.0)),
        "max_video_s": float(config.get("MAX_VIDEO_SECONDS", 3 * 3600)),
    }


def text_state(session: Session, media_id: int) -> str | None:
    """Whether the text of a media was read (queued, read, failed), or None if never asked."""
    state = session.get(MediaTextState, media_id)
    return state.state if state is not None else None


def queue_reading(session: Session, media: Media) -> MediaTextState:
    """Note that the text of ``media`` waits to be read (the caller commits)."""
    state = session.get(MediaTextState, media.id)
    if state is None:
        state = MediaTextState(media_id=media.id, state=QUEUED, attempts=0)
        session.add(state)
    else:
        state.state = QUEUED
    return state


def keep_reading(session: Session, media_id: int, reading: TextReading) -> MediaTextState:
    """Store what was read from a media, replacing any earlier reading (the caller commits).

    Subtitles given with the media (a sidecar file, a post's captions) are not read from it:
    they stay unless the reading brings subtitles of the same source."""
    state = session.get(MediaTextState, media_id)
    if state is None:
        state = MediaTextState(media_id=media_id, attempts=0)
        session.add(state)
    source = sa.func.coalesce(MediaText.source, "")
    given = sa.or_(source == SIDECAR, source.startswith(CAPTIONS))
    brought = sorted({s.source for s in reading.spans if s.source})
    session.execute(
        sa.delete(MediaText).where(
            MediaText.media_id == media_id,
            MediaText.field.in_(FIELDS_READ),
            sa.or_(sa.not_(given), source.in_(brought)),
        )
    )
    add_entries(session, (span_entry(media_id, s) for s in reading.spans))
    state.state = READ
    state.notes = reading.notes or None
    state.read_at = utcnow()
    return state


def read_media(
    session: Session, storage: Store, media_id: int, config: Mapping[str, Any]
) -> MediaTextState:
    """Read the text of one media from its original and keep it; commit. A media catalogued
    before text was kept gets its record text written too."""
    media = fetch(session, Media, media_id, "media")
    state = session.get(MediaTextState, media_id)
    if state is None:
        state = queue_reading(session, media)
        reindex_records(session, [media_id])
    state.attempts += 1
    session.commit()
    options = reading_options(config)
    if media.original_removed_at is not None:
        reading = TextReading(notes=["text not read: the original was removed"])
    else:
        try:
            with storage.open(media.sha256) as handle:
                reading = read_file(handle, media.kind.value, **options)
        except (OSError, StorageError) as exc:
            return _not_read(session, media_id, f"the original could not be opened ({exc})")
        except Exception as exc:  # noqa: BLE001 - noted on the media, never a stuck queue
            return _not_read(session, media_id, f"the reader failed ({type(exc).__name__})")
    state = keep_reading(session, media_id, reading)
    session.commit()
    return state


def _not_read(session: Session, media_id: int, why: str) -> MediaTextState:
    """Note why the text was not read; after MAX_ATTEMPTS it is no longer tried."""
    session.rollback()
    state = fetch(session, MediaTextState, media_id, "text state")
    state.state = FAILED if state.attempts >= MAX_ATTEMPTS else QUEUED
    state.notes = [f"text not read: {why}"]
    session.commit()
    return state


def waiting(session: Session, older_than_s: float = 30.0, limit: int = 100) -> list[int]:
    """Media whose text waits to be read since at least ``older_than_s`` seconds, and media
    catalogued before the catalogue read text (no state at all), oldest first."""
    since = utcnow() - timedelta(seconds=older_than_s)
    state = aliased(MediaTextState)
    return list(
        session.scalars(
            sa.select(Media.id)
            .outerjoin(state, state.media_id == Media.id)
            .where(
                Media.withdrawn_at.is_(None),
                sa.or_(
                    state.media_id.is_(None),
                    sa.and_(state.state == QUEUED, state.updated_at <= since),
                ),
            )
            .order_by(Media.id)
            .limit(limit)
        )
    )


def read_sidecar(stream: BinaryIO, name: str) -> TextReading:
    """Read a subtitle file given beside a video (its cues marked ``sidecar``); raise
    Invalid, naming the file, when it is not one that can be read."""
    from ...text.subtitles import MAX_FILE_BYTES

    data = stream.read(MAX_FILE_BYTES + 1)
    return _given(data, name, SIDECAR, None, f"the subtitle file {name!r} was")


def _given(data: bytes, name: str, source: str, lang: str | None, what: str) -> TextReading:
    """Subtitles given with a media, their cues marked with ``source`` (and ``lang``);
    ``what`` starts the refusal ("the subtitle file 'a.srt' was")."""
    from ...text.subtitles import SubtitleRejected, read_subtitle_file

    try:
        reading = read_subtitle_file(data, name)
    except SubtitleRejected as exc:
        raise Invalid(f"{what} not read: {exc}") from None
    spans = [replace(s, source=source, lang=lang or s.lang) for s in reading.spans]
    return TextReading(spans, reading.notes)


def read_captions(data: bytes, lang: str, ext: str) -> TextReading:
    """Read a subtitle file a post's extractor offered in ``lang`` (its cues marked
    ``yt-dlp:LANG``); raise Invalid when it is not one that can be read."""
    return _given(
        data, f"captions.{ext}", f"{CAPTIONS}{lang}"[:64], lang, f"the {lang} subtitles were"
    )


def keep_subtitles(session: Session, media_id: int, reading: TextReading) -> int:
    """Keep subtitles given with a media, replacing only the earlier ones of the sources its
    cues carry (the caller commits); return how many cues were kept."""
    sources = {s.source for s in reading.spans if s.source}
    if sources:
        session.execute(
            sa.delete(MediaText).where(
                MediaText.media_id == media_id, MediaText.source.in_(sorted(sources))
            )
        )
    return add_entries(session, (span_entry(media_id, s) for s in reading.spans))
