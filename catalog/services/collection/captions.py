"""The subtitles a captured post offers for its video (yt-dlp's choice, in the languages of
``CAPTURE_SUBTITLE_LANGUAGES`` and the post's own): kept as the capture's files, one per
language (``subtitles-LANG``), and read into the video's text with their times, marked
``yt-dlp:LANG``.

The capture process that fetched them loaded a hostile page, so its word on each file is
checked again here; a file that is not readable subtitles is a note on the capture, never a
failed capture.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ...models import Media, MediaKind
from ...text.spans import TextReading
from .. import Invalid
from ..text import keep_subtitles, read_captions

SUBTITLE_TYPES = {"vtt": "text/vtt", "srt": "application/x-subrip"}
# A language as a capture file's role can carry it (roles are at most 32 characters).
LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,2}")
ROLE_PREFIX = "subtitles-"


def _captions(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The subtitle files the capture process named, each with a language and format that
    can be recorded; the rest left out."""
    found = result.get("subtitles")
    if not isinstance(found, list):
        return []
    kept, langs = [], set()
    for item in found:
        if not isinstance(item, dict):
            continue
        lang, ext = item.get("lang"), item.get("ext")
        if not isinstance(lang, str) or not LANGUAGE.fullmatch(lang) or ext not in SUBTITLE_TYPES:
            continue
        if lang in langs or len(ROLE_PREFIX + lang) > 32:
            continue  # one file per language: a role names one file
        langs.add(lang)
        kept.append(item)
    return kept


def caption_files(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The subtitle files to keep as the capture's own, as ``role``, ``file`` and type."""
    return [
        {
            "role": ROLE_PREFIX + item["lang"],
            "file": item["file"],
            "content_type": SUBTITLE_TYPES[item["ext"]],
        }
        for item in _captions(result)
    ]


def read_captions_of(
    folder: Path, result: dict[str, Any], media: dict[str, Any], notes: list[str]
) -> TextReading | None:
    """Read the subtitles offered for one media file of the capture (by its URL) into one
    reading; None when there are none. A file that cannot be read is noted and left out."""
    reading, read = TextReading(), False
    for item in _captions(result):
        if item.get("media_url") != media.get("url"):
            continue
        lang = item["lang"]
        try:
            data = (folder / item["file"]).read_bytes()
            one = read_captions(data, lang, item["ext"])
        except (OSError, Invalid) as exc:
            notes.append(f"subtitles not read: {str(exc)[:300]}")
            continue
        read = True
        reading.spans.extend(one.spans)
        reading.notes.extend(f"{lang} subtitles: {note}" for note in one.notes)
        if item.get("automatic"):
            reading.notes.append(f"the {lang} subtitles were made by the platform, not the poster")
    notes.extend(reading.notes[:20])
    return reading if read else None


def keep_captions(session: Session, media: Media, reading: TextReading, notes: list[str]) -> None:
    """Keep a post's subtitles with a media the ingest did not give them to (one that existed
    already, or whose file was not served as video); the caller commits."""
    if media.kind not in (MediaKind.VIDEO, MediaKind.AUDIO):
        notes.append(f"subtitles not kept: media {media.id} is not a video or a recording")
        return
    keep_subtitles(session, media.id, reading)
