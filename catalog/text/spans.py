"""The unit of text read from a media: a span with where (a box) or when (seconds) it is."""

from __future__ import annotations

from dataclasses import dataclass, field

# Where a span was read from. ``transcript`` is the seam for a speech-to-text engine: none
# can be installed here, and one that is would add spans of this field with their times.
FIELDS_READ = ("ocr", "subtitle", "transcript")


@dataclass(frozen=True)
class TextSpan:
    """One piece of text read from a media."""

    field: str  # one of FIELDS_READ
    text: str
    at: float | None = None  # seconds from the start (video, sound); None for pictures
    until: float | None = None  # seconds; the end of the time the text is on screen or spoken
    box: tuple[int, int, int, int] | None = None  # x, y, width, height in the displayed picture
    lang: str | None = None  # what read it thought the language was ("eng", "rus", "ukr")
    source: str | None = None  # "tesseract", "stream:2", "sidecar", "yt-dlp:en", ...
    confidence: float | None = None  # 0..100 where the reader gives one


@dataclass
class TextReading:
    """Everything read from one media, with notes on what could not be read and why."""

    spans: list[TextSpan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "text not read: time limit of 20 s"
