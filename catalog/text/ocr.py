"""Reading text in pictures: the cheap test of ``regions`` first, then Tesseract (through
tesserocr, whose wheel bundles libtesseract; the language data are Debian's) on the blocks it
found, line by line, within a time limit. Video frames are read in ``video_ocr``.

Tesseract's API objects are costly to make and not thread-safe: one is kept per process and
language set, and a lock lets one thread at a time use it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .regions import Picture, Region, grey_crop, text_regions
from .spans import TextReading, TextSpan

DEFAULT_LANGUAGES = "eng+rus+ukr"
DEFAULT_TIME_LIMIT_S = 20.0
# Where Debian (and other systems) keep the language data, after TESSDATA_PREFIX.
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)
# Tesseract reads best with lines about this tall (pixels); blocks are scaled to it.
READ_LINE_H = 40.0
# Lines (and words) read with less confidence than this (0-100) are noise more often than not.
MIN_LINE_CONFIDENCE = 55.0
MIN_WORD_CONFIDENCE = 30.0

# How many times Tesseract was asked to recognise a block, per process (the tests read it to
# tell the cheap path from the costly one).
calls: Counter[str] = Counter()

_apis: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


class OcrUnavailable(RuntimeError):
    """Tesseract or its language data are not installed (``make ocr-deps``)."""


def tessdata_path(languages: str = DEFAULT_LANGUAGES) -> str:
    """Return the folder holding every ``LANG.traineddata`` of ``languages`` (``eng+rus``)."""
    wanted = [lang for lang in languages.split("+") if lang]
    candidates = [os.environ.get("TESSDATA_PREFIX", ""), *TESSDATA_DIRS]
    for folder in candidates:
        for path in (Path(folder), Path(folder) / "tessdata"):
            if folder and all((path / f"{lang}.traineddata").is_file() for lang in wanted):
                return str(path)
    raise OcrUnavailable(f"no Tesseract language data for {languages} (run `make ocr-deps`)")


def _api(languages: str) -> Any:
    """The process's Tesseract for a language set, made on first use (call under _lock)."""
    path = tessdata_path(languages)
    key = (path, languages)
    if key not in _apis:
        try:
            import tesserocr
        except ImportError as error:  # pragma: no cover - the lock files install it
            raise OcrUnavailable("tesserocr is not installed") from error
        _apis[key] = tesserocr.PyTessBaseAPI(
            path=path, lang=languages, psm=tesserocr.PSM.SINGLE_BLOCK
        )
    return _apis[key]


def read_picture(
    image: Image.Image | np.ndarray,
    languages: str = DEFAULT_LANGUAGES,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> TextReading:
    """Return the lines of text read in a picture, each with its box in the picture's pixels."""
    if isinstance(image, Image.Image) and image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    regions, _, _ = text_regions(image)
    return read_regions(image, regions, languages, time.monotonic() + time_limit_s, time_limit_s)


def read_regions(
    picture: Picture,
    regions: list[Region],
    languages: str,
    deadline: float,
    time_limit_s: float,
) -> TextReading:
    """Read each region of a picture with Tesseract until the deadline (monotonic)."""
    reading = TextReading()
    if not regions:
        return reading
    with _lock:
        api = _api(languages)
        for number, region in enumerate(regions):
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or not _read_region(api, picture, region, left_ms, reading):
                skipped = len(regions) - number
                reading.notes.append(
                    f"text not read: time limit of {time_limit_s:g} s "
                    f"({skipped} of {len(regions)} text areas left unread)"
                )
                break
    reading.spans.sort(key=lambda span: (span.box or (0, 0, 0, 0))[1::-1])
    return reading


def _read_region(
    api: Any, picture: Picture, region: Region, timeout_ms: int, reading: TextReading
) -> bool:
    """Recognise one block and add its lines to the reading; False when time ran out."""
    import tesserocr

    width, height = (
        picture.size if isinstance(picture, Image.Image) else (picture.shape[1], picture.shape[0])
    )
    x0, y0 = max(0, region.x), max(0, region.y)
    x1, y1 = min(width, region.x + region.w), min(height, region.y + region.h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return True
    crop = grey_crop(picture, (x0, y0, x1, y1))
    scale = min(3.0, max(0.2, READ_LINE_H / max(1.0, region.line_h)))
    if abs(scale - 1.0) > 0.1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        crop = cv2.resize(crop, size, interpolation=interpolation)
    else:
        scale = 1.0
    # Tesseract wants dark ink on light paper. Letters are the lesser part of a text block, so
    # Otsu's lesser class is taken as ink: this also serves light letters on a dark band and
    # outlined captions (white letters edged in black over the picture).
    _, crop = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if cv2.countNonZero(crop) < crop.size / 2:
        crop = cv2.bitwise_not(crop)
    crop = np.ascontiguousarray(crop)
    # One or two lines are one block; a paragraph or a page gets Tesseract's layout analysis.
    api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK if region.lines <= 3 else tesserocr.PSM.AUTO)
    api.SetImageBytes(crop.tobytes(), crop.shape[1], crop.shape[0], 1, crop.shape[1])
    calls["recognize"] += 1
    if not api.Recognize(timeout=timeout_ms):
        return False
    iterator = api.GetIterator()
    if iterator is None:  # nothing recognised
        return True
    words: list[tuple[str, float, tuple[int, int, int, int], str]] = []
    for word in tesserocr.iterate_level(iterator, tesserocr.RIL.WORD):
        if word.IsAtBeginningOf(tesserocr.RIL.TEXTLINE) and words:
            _add_line(words, reading, x0, y0, scale)
            words = []
        try:
            text = word.GetUTF8Text(tesserocr.RIL.WORD)
        except RuntimeError:  # tesserocr's "No text returned" for an empty word
            continue
        box = word.BoundingBox(tesserocr.RIL.WORD)
        if text and text.strip() and box is not None:
            lang = word.WordRecognitionLanguage() or ""
            words.append((text.strip(), float(word.Confidence(tesserocr.RIL.WORD)), box, lang))
    if words:
        _add_line(words, reading, x0, y0, scale)
    return True


# Letters drawn alike in Latin and Cyrillic, which Tesseract reading eng+rus+ukr mixes up:
# "3 May" comes back as "З Мау", "не" in bold as "He".
_LATIN = "ABCEHKMOPTXaceopxyiI3"
_CYRILLIC = "АВСЕНКМОРТХасеорхуіІЗ"
_TO_CYRILLIC = str.maketrans(_LATIN, _CYRILLIC)
_TO_LATIN = str.maketrans(_CYRILLIC, _LATIN)
_LOOKALIKES = set(_LATIN + _CYRILLIC)


def _script(letter: str) -> str | None:
    if letter in _LOOKALIKES or not letter.isalpha():
        return None
    return "cyrillic" if "\u0400" <= letter <= "\u04ff" else "latin"


def one_script(words: list[str]) -> list[str]:
    """Write each word of a line in one script: a word's lookalike letters take the script of
    its other letters, or, when it has none, the line's script."""
    counts = Counter(s for word in words for s in map(_script, word) if s)
    line = counts.most_common(1)[0][0] if counts else None
    fixed: list[str] = []
    for word in words:
        own = Counter(s for s in map(_script, word) if s)
        script = own.most_common(1)[0][0] if own else line
        if script == "cyrillic" and any(c.isalpha() for c in word):
            lower = (
                fixed
                and word[:1] in _LATIN
                and word[1:2].islower()
                and not fixed[-1].endswith((".", "!", "?", ":"))
            )
            word = word.translate(_TO_CYRILLIC)
            if lower:  # a bold "н" reads as Latin "H": mid-sentence, "He" was "не"
                word = word[0].lower() + word[1:]
        elif script == "latin":
            word = word.translate(_TO_LATIN)
        fixed.append(word)
    return fixed


def _add_line(
    words: list[tuple[str, float, tuple[int, int, int, int], str]],
    reading: TextReading,
    x0: int,
    y0: int,
    scale: float,
) -> None:
    """Make a span of a line's words, dropping the doubtful words and a doubtful line."""
    kept = [w for w in words if w[1] >= MIN_WORD_CONFIDENCE and any(c.isalnum() for c in w[0])]
    text = " ".join(one_script([w[0] for w in kept]))
    letters = sum(c.isalpha() for c in text)
    if letters < 2:
        return
    confidence = sum(w[1] * len(w[0]) for w in kept) / sum(len(w[0]) for w in kept)
    if confidence < MIN_LINE_CONFIDENCE:
        return
    left = min(w[2][0] for w in kept)
    top = min(w[2][1] for w in kept)
    right = max(w[2][2] for w in kept)
    bottom = max(w[2][3] for w in kept)
    langs = Counter(w[3] for w in kept if w[3])
    box = (
        x0 + int(left / scale),
        y0 + int(top / scale),
        max(1, round((right - left) / scale)),
        max(1, round((bottom - top) / scale)),
    )
    reading.spans.append(
        TextSpan(
            field="ocr",
            text=text,
            box=box,
            lang=langs.most_common(1)[0][0] if langs else None,
            source="tesseract",
            confidence=round(confidence, 1),
        )
    )
