"""Subtitles: the text streams inside a video (MKV/WebM SubRip, ASS, WebVTT; MP4 mov_text,
decoded with PyAV) and sidecar ``.srt``/``.vtt`` files next to a video or uploaded with it.

Sidecar files are parsed here, strictly, rather than by FFmpeg's demuxers: FFmpeg skips what it
cannot read without saying so, while an evidence catalogue must say which cues it dropped and
why, and bound what a hostile file costs (size, cue count, text per cue, nested tags) before
any of it is stored. Whatever is read is cleaned the same way: tags and ASS override codes
removed, control characters and bidirectional overrides (which can make stored text display
other than it reads) dropped.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import BinaryIO

import av

from .spans import TextReading, TextSpan

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_CUES = 20_000
MAX_CUE_CHARS = 1_000
MAX_TAG_DEPTH = 8
SUBTITLE_SUFFIXES = (".srt", ".vtt")
# Streams holding pictures of text, which would need OCR of their bitmaps (not done).
BITMAP_CODECS = {"dvd_subtitle", "dvb_subtitle", "hdmv_pgs_subtitle", "xsub"}

_TIMING = re.compile(
    r"^\s*((?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d{1,3}:)?\d{1,2}:\d{2}[.,]\d{1,3})"
    r"(?:\s+.*)?$"
)
_ASS_CODES = re.compile(r"\{\\[^}]*\}")
# HTML-ish tags (<i>, <font ...>, WebVTT's <c.yellow>, <v Name>, <00:01.000>); a lone "<" stays.
_TAG = re.compile(r"<(/?)(?:[A-Za-z][\w.-]*(?:\s[^<>]*)?|\d{1,2}:\d{2}[^<>]*)>")
# Control characters but the line break, and the bidirectional marks, embeddings, overrides
# and isolates (U+200E/F, U+202A-E, U+2066-9), and the BOM met inside the text.
_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{2,8})?$", re.I)


class SubtitleRejected(ValueError):
    """A subtitle file that cannot be read; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_subtitle_file(path: str | Path) -> bool:
    """Return whether a file name is a sidecar subtitle's (``.srt`` or ``.vtt``, any case)."""
    return Path(path).suffix.lower() in SUBTITLE_SUFFIXES


def sidecar_for(video_path: str | Path) -> Path | None:
    """Return the subtitle file next to a video: ``NAME.srt``/``NAME.vtt`` first, then one
    with a language tag (``NAME.en.vtt``); None when there is none."""
    video = Path(video_path)
    if not video.parent.is_dir():
        return None
    stem = video.stem.casefold()
    plain, tagged = [], []
    for candidate in sorted(video.parent.iterdir()):
        name = candidate.name.casefold()
        if not (is_subtitle_file(candidate) and candidate.is_file()):
            continue
        middle = name[: -len(candidate.suffix)]
        if middle == stem:
            plain.append(candidate)
        elif middle.startswith(stem + ".") and _LANGUAGE_TAG.match(middle[len(stem) + 1 :]):
            tagged.append(candidate)
    found = plain or tagged
    return found[0] if found else None


def language_of(name: str) -> str | None:
    """Return the language tag of a sidecar's name (``clip.uk.srt`` -> ``uk``), if any."""
    parts = Path(name).name.split(".")
    if len(parts) >= 3 and _LANGUAGE_TAG.match(parts[-2]):
        return parts[-2].lower()
    return None


def clean(text: str) -> str:
    """Return a cue's plain text: no ASS codes, tags, entities, control or bidi characters."""
    text = _ASS_CODES.sub("", text).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    text = html.unescape(_TAG.sub("", text))
    text = _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


def _tag_depth(text: str) -> int:
    """The deepest nesting of HTML-ish tags in a cue (unclosed tags count as open)."""
    depth = deepest = 0
    for match in _TAG.finditer(text):
        if match.group(1):
            depth = max(0, depth - 1)
        elif not match.group(0).endswith("/>"):
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def decode_text(data: bytes) -> str:
    """Return a subtitle file's text: UTF-8 (with or without BOM), UTF-16 with BOM, else
    Windows-1251 (Russian and Ukrainian subtitles often are); refuse what looks binary."""
    if data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8", errors="replace")
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SubtitleRejected("bad_encoding", f"not valid UTF-16 text: {error}") from error
    elif data.count(b"\x00") > max(8, len(data) // 100):
        raise SubtitleRejected("binary", "the file holds NUL bytes: not a subtitle text file")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1251", errors="replace")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n")
    if controls > max(8, len(text) // 100):
        raise SubtitleRejected("binary", "the file is mostly control bytes: not subtitle text")
    return text


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    hours = int(parts[0]) if len(parts) == 3 else 0
    minutes, seconds = int(parts[-2]), float(parts[-1])
    if minutes >= 60 or seconds >= 60:
        raise ValueError(stamp)
    return hours * 3600 + minutes * 60 + seconds


def read_subtitle_file(data: bytes, name: str) -> TextReading:
    """Return the cues of a sidecar ``.srt`` or ``.vtt`` as spans; raise SubtitleRejected
    for a file too large, binary or with no readable cue. Bad cues are left out and noted."""
    if len(data) > MAX_FILE_BYTES:
        raise SubtitleRejected(
            "too_large",
            f"the subtitle file is {len(data)} bytes, more than {MAX_FILE_BYTES} allowed",
        )
    text = decode_text(data).replace("\r\n", "\n").replace("\r", "\n")
    webvtt = text.lstrip("\ufeff").startswith("WEBVTT")
    if Path(name).suffix.lower() == ".vtt" and not webvtt:
        raise SubtitleRejected("malformed", "a WebVTT file must begin with the line WEBVTT")
    blocks = [block for block in re.split(r"\n\s*\n", text) if block.strip()]
    if webvtt:
        blocks = blocks[1:]  # the header block
    reading, bad = TextReading(), 0
    source, lang = ("sidecar", language_of(name))
    for block in blocks:
        lines = block.strip("\n").split("\n")
        if webvtt and lines[0].split(" ")[0] in ("NOTE", "STYLE", "REGION"):
            continue
        timing = next((i for i, line in enumerate(lines[:3]) if "-->" in line), None)
        matched = _TIMING.match(lines[timing]) if timing is not None else None
        try:
            if matched is None:
                raise ValueError(block[:40])
            start, end = _seconds(matched.group(1)), _seconds(matched.group(2))
        except ValueError:
            bad += 1
            continue
        body = "\n".join(lines[timing + 1 :])  # type: ignore[operator]
        if end < start or _tag_depth(body) > MAX_TAG_DEPTH:
            bad += 1
            continue
        if len(reading.spans) >= MAX_CUES:
            reading.notes.append(f"subtitles cut: more than {MAX_CUES} cues")
            break
        cue = clean(body)
        if len(cue) > MAX_CUE_CHARS:
            cue = cue[:MAX_CUE_CHARS]
            reading.notes.append(f"a cue at {start:g} s was cut to {MAX_CUE_CHARS} characters")
        if cue:
            reading.spans.append(
                TextSpan(field="subtitle", text=cue, at=start, until=end, lang=lang, source=source)
            )
    if not reading.spans:
        raise SubtitleRejected(
            "malformed",
            f"no readable cue in {Path(name).name}: "
            + (f"none of its {bad} blocks has a valid time line" if bad else "it holds no cue"),
        )
    if bad:
        reading.notes.append(f"{bad} cues left out: no valid time line, or tags nested too deep")
    return reading


def read_subtitle_streams(source: str | Path | bytes | BinaryIO) -> TextReading:
    """Return the cues of every text subtitle stream inside a video container as spans
    (``source`` "stream:N", ``lang`` the stream's language tag)."""
    import io

    reading = TextReading()
    stream_in = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with av.open(stream_in, mode="r", metadata_errors="replace") as container:
            for stream in container.streams.subtitles:
                _read_stream(container, stream, reading)
    except (av.FFmpegError, ValueError, OSError) as error:
        reading.notes.append(f"subtitles not read: the file could not be opened ({error})")
    reading.spans.sort(key=lambda span: (span.at or 0.0, span.source or ""))
    return reading


def _read_stream(
    container: av.container.InputContainer, stream: av.stream.Stream, reading: TextReading
) -> None:
    """Add one subtitle stream's cues to the reading."""
    codec = stream.codec_context.name if stream.codec_context else "unknown"
    label = f"stream:{stream.index}"
    if codec in BITMAP_CODECS:
        reading.notes.append(f"subtitles not read: {label} holds pictures of text ({codec})")
        return
    lang = stream.language if stream.language not in (None, "und") else None
    time_base = float(stream.time_base) if stream.time_base else 0.001
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            base = packet.pts * time_base
            subtitle = stream.codec_context.decode2(packet)  # type: ignore[attr-defined]
            if subtitle is None:
                continue
            start = base + subtitle.start_display_time / 1000
            if subtitle.end_display_time > subtitle.start_display_time:
                end = base + subtitle.end_display_time / 1000
            else:
                end = base + (packet.duration or 0) * time_base
            raw = "\n".join(_rect_text(rect) for rect in subtitle.rects)
            if _tag_depth(raw) > MAX_TAG_DEPTH:
                continue
            text = clean(raw)[:MAX_CUE_CHARS]
            if not text:
                continue
            count += 1
            if count > MAX_CUES:
                reading.notes.append(f"subtitles cut: {label} has more than {MAX_CUES} cues")
                return
            reading.spans.append(
                TextSpan(
                    field="subtitle",
                    text=text,
                    at=round(start, 3),
                    until=round(max(start, end), 3),
                    lang=lang,
                    source=label,
                )
            )
    except av.FFmpegError as error:
        reading.notes.append(f"subtitles cut: {label} could not be read to its end ({error})")


def _rect_text(rect: object) -> str:
    """The text of one subtitle rectangle: an ASS event's dialogue, or plain text."""
    dialogue = getattr(rect, "dialogue", None)
    if dialogue is not None:
        value = dialogue
    else:
        value = getattr(rect, "text", b"") or b""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
