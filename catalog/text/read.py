"""Reading a whole file: the text in a picture, or the text on screen and in the subtitle
streams of a video; what could not be read is noted, never raised."""

from __future__ import annotations

import warnings
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from .spans import TextReading

# The longest side OCR reads a picture at: text a person can read on a screen stays legible,
# and a 12-megapixel photograph costs a quarter of what it would whole.
OCR_SIDE = 2400


def _picture(handle: BinaryIO, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(handle)
    if image.width * image.height > max_pixels:
        raise ValueError(f"the picture has more than {max_pixels} pixels")
    image.draft("RGB", (OCR_SIDE, OCR_SIDE))  # JPEG decodes at a fraction of its size
    upright = ImageOps.exif_transpose(image.convert("RGB"))
    return upright


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
            image = _picture(handle, max_pixels)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            reading.notes.append(f"text not read: the picture could not be decoded ({exc})")
            return reading
        width, height = image.size
        scale = 1.0
        if max(width, height) > OCR_SIDE:
            scale = OCR_SIDE / max(width, height)
            image = image.resize((round(width * scale), round(height * scale)))
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
