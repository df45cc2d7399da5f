"""Reading a whole file: the text in a picture, or the text on screen and in the subtitle
streams of a video; what could not be read is noted, never raised."""

from __future__ import annotations

import warnings
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from .regions import DETECT_SIDE, text_regions
from .spans import TextReading

# The longest side OCR reads a picture at: text a person can read on a screen stays legible,
# and a 12-megapixel photograph is decoded at half its size (JPEG's own reduction).
OCR_SIDE = 2000


def _picture(handle: BinaryIO, max_pixels: int, side: int = OCR_SIDE) -> tuple[Image.Image, float]:
    """The picture upright, at most OCR_SIDE on its longest side, and its scale to the
    original (the same on both sides)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(handle)
    if image.width * image.height > max_pixels:
        raise ValueError(f"the picture has more than {max_pixels} pixels")
    # ``thumbnail`` asks JPEG's decoder for a reduced picture first (draft), then resizes
    # what is left: a 12-megapixel photograph costs a decode at half size, not a full one
    # and a resize of twelve million pixels.
    width = image.width
    # The detection's copy may come straight from the decoder's reduction (gap 1); the
    # copy OCR reads keeps twice its size before the resize, for sharper letters.
    gap = 1.0 if side <= DETECT_SIDE else 2.0
    image.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=gap)
    scale = image.width / width
    upright = ImageOps.exif_transpose(image.convert("RGB"))
    return upright, scale


def read_file(
    handle: BinaryIO,
    kind: str,
    *,
    languages: str,
    max_pixels: int,
    time_limit_s: float,
    max_video_s: float = 3 * 3600,
) -> TextReading:
    """Read the text of a file of ``kind`` (image, video, audio) from its start."""
    from .ocr import read_picture
    from .subtitles import read_subtitle_streams
    from .video_ocr import read_video

    reading = TextReading()
    if kind == "image":
        try:
            # The cheap test first, on a picture decoded small (a JPEG at an eighth or a
            # quarter of its size): a photograph without text costs that decode and no more.
            small, _ = _picture(handle, max_pixels, DETECT_SIDE)
            if not text_regions(small)[0]:
                return reading
            handle.seek(0)
            image, scale = _picture(handle, max_pixels)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            reading.notes.append(f"text not read: the picture could not be decoded ({exc})")
            return reading
        read = read_picture(image, languages, time_limit_s)
        reading.notes.extend(read.notes)
        for span in read.spans:
            if span.box is not None and scale != 1.0:
                x, y, w, h = (round(v / scale) for v in span.box)
                span = type(span)(**{**span.__dict__, "box": (x, y, w, h)})
            reading.spans.append(span)
        return reading
    if kind in ("video", "audio"):
        for reader in (read_subtitle_streams,):
            handle.seek(0)
            try:
                got = reader(handle)
            except Exception as exc:  # noqa: BLE001 - a broken stream is a note, not a stop
                reading.notes.append(f"subtitles not read: {exc}")
            else:
                reading.spans.extend(got.spans)
                reading.notes.extend(got.notes)
        if kind == "video":
            handle.seek(0)
            got = read_video(handle, languages, max_pixels, time_limit_s)
            reading.spans.extend(got.spans)
            reading.notes.extend(got.notes)
    return reading
