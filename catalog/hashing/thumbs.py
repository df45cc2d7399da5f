"""Pictures for people rather than for hashing: upright JPEG thumbnails and previews of
images, and stills of chosen video frames. Pure: bytes in, JPEG bytes out."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from .decode import IMAGE_FORMATS, ImageRejected, to_rgb
from .video import iter_frames_at
from .views import Source, stream_of

JPEG_QUALITY = 84


def _jpeg(image: Image.Image, max_side: int) -> bytes:
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def image_jpeg(data: Source, max_side: int, max_pixels: int) -> bytes:
    """Return an upright JPEG of the image, its longest side at most ``max_side``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream_of(data))
        with image:
            if image.format not in IMAGE_FORMATS or image.width * image.height > max_pixels:
                raise ImageRejected("unsupported_format", "no preview can be made of this file")
            if image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # decode at reduced scale where it can
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            return _jpeg(to_rgb(upright), max_side)
    except ImageRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on damaged files
        raise ImageRejected("corrupt", f"no preview can be made ({exc})") from None


def video_frames_jpeg(
    data: Source, times: list[float], max_side: int, max_pixels: int
) -> dict[float, bytes]:
    """Return a JPEG still of the video at each of ``times`` (seconds), decoded in one pass."""
    frames = iter_frames_at(data, times, max_side=max_side, max_pixels=max_pixels)
    return {time: _jpeg(image, max_side) for time, image in frames}
