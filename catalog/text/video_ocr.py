"""Reading text in videos: the frames the catalogue samples (one each ``SAMPLE_EVERY_S``, as
the hashing does) get the cheap test for text; Tesseract runs again only when the text area
changed, and the same line seen on consecutive samples becomes one span from when it was
first seen to when it was last seen plus a sample step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import BinaryIO

import av
import cv2
import numpy as np

from catalog.hashing.video import SAMPLE_EVERY_S, VideoRejected, iter_frames_at, probe_duration

from .ocr import DEFAULT_LANGUAGES, DEFAULT_TIME_LIMIT_S, read_regions
from .regions import Region, text_regions
from .spans import TextReading, TextSpan

# Frames are read at most this size (longest side): a 4K frame's text is legible at half.
READ_SIDE = 1920
# The most samples read from one video (two hours at one a second).
MAX_SAMPLES = 7200
# Mean difference (0-255) of the text area's thumbnail below which the text is taken as
# unchanged and not read again.
TEXT_CHANGED = 6.0
THUMB_SIZE = (96, 54)
# Lines on consecutive samples at least this alike (0-1) are one line still on screen.
SAME_LINE = 0.8

VideoSource = str | Path | bytes | BinaryIO


@dataclass
class _Seen:
    """A line on screen: the best reading of it so far and when it was first and last seen."""

    span: TextSpan
    first: float
    last: float


def read_video(
    source: VideoSource,
    languages: str = DEFAULT_LANGUAGES,
    max_pixels: int = 0,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> TextReading:
    """Return the lines of text seen in a video's sampled frames, each with when it was on
    screen (``at``, ``until``) and where (``box``, frame pixels as read); ``time_limit_s``
    bounds the reading of each frame."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as stream:
            return _read(stream, languages, max_pixels, time_limit_s)
    return _read(source, languages, max_pixels, time_limit_s)


def _read(
    source: bytes | BinaryIO, languages: str, max_pixels: int, time_limit_s: float
) -> TextReading:
    reading = TextReading()
    duration = probe_duration(source)
    if duration is None:
        reading.notes.append("text not read: not a video that can be opened")
        return reading
    if not isinstance(source, bytes):
        source.seek(0)
    count = min(MAX_SAMPLES, int(duration / SAMPLE_EVERY_S) + 1)
    times = [round(i * SAMPLE_EVERY_S, 3) for i in range(count)]
    on_screen: list[_Seen] = []
    previous_thumb: np.ndarray | None = None
    previous_lines: list[TextSpan] = []
    try:
        for at, picture in iter_frames_at(source, times, max_side=READ_SIDE, max_pixels=max_pixels):
            regions, small, scale = text_regions(picture)
            thumb = _text_thumb(small, regions, scale)
            if not regions:
                lines: list[TextSpan] = []
            elif (
                previous_thumb is not None
                and float(np.abs(thumb - previous_thumb).mean()) < TEXT_CHANGED
            ):
                lines = previous_lines  # the same text area: the same lines
            else:
                frame = read_regions(
                    picture, regions, languages, time.monotonic() + time_limit_s, time_limit_s
                )
                lines = frame.spans
                for note in frame.notes:
                    if note not in reading.notes:
                        reading.notes.append(f"{note} at {at:g} s")
            previous_thumb, previous_lines = thumb, lines
            on_screen = _follow(on_screen, lines, at, reading)
    except VideoRejected as error:
        reading.notes.append(f"text not read: {error}")
    except (av.FFmpegError, ValueError, OSError) as error:
        reading.notes.append(f"text not read: the video could not be decoded ({error})")
    for seen in on_screen:
        _close(seen, reading)
    reading.spans.sort(key=lambda span: (span.at or 0.0, (span.box or (0, 0, 0, 0))[1]))
    return reading


def _text_thumb(small: np.ndarray, regions: list[Region], scale: float) -> np.ndarray:
    """A small grey picture of the text area alone (the rest black), to tell a change."""
    masked = np.zeros_like(small)
    for region in regions:
        x0, y0 = int(region.x * scale), int(region.y * scale)
        x1, y1 = int((region.x + region.w) * scale) + 1, int((region.y + region.h) * scale) + 1
        masked[y0:y1, x0:x1] = small[y0:y1, x0:x1]
    return cv2.resize(masked, THUMB_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def _follow(
    on_screen: list[_Seen], lines: list[TextSpan], at: float, reading: TextReading
) -> list[_Seen]:
    """Extend the lines still on screen with this sample's lines; close those gone."""
    still: list[_Seen] = []
    waiting = list(on_screen)
    for line in lines:
        match = max(waiting, key=lambda seen: _alike(seen.span.text, line.text), default=None)
        if match is not None and _alike(match.span.text, line.text) >= SAME_LINE:
            waiting.remove(match)
            if (line.confidence or 0.0) > (match.span.confidence or 0.0):
                match.span = line
            match.last = at
            still.append(match)
        else:
            still.append(_Seen(line, at, at))
    for gone in waiting:
        _close(gone, reading)
    return still


def _close(seen: _Seen, reading: TextReading) -> None:
    reading.spans.append(
        replace(seen.span, at=seen.first, until=round(seen.last + SAMPLE_EVERY_S, 3))
    )


def _alike(a: str, b: str) -> float:
    return SequenceMatcher(None, a.casefold(), b.casefold()).ratio()
