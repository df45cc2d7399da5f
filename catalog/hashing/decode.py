"""Open an image once, safely and cheaply: sniff the format from content, refuse bombs and
truncated files, decode at reduced size where the format allows, honour EXIF orientation,
and bring every Pillow mode to plain RGB for hashing."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from .embedded import read_xmp
from .views import Source, size_of, stream_of

try:  # HEIC/HEIF come from an optional plugin.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIF_SUPPORTED = False

# Formats we accept, as Pillow names them after sniffing the content (never the file name).
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "MPO"} | (
    {"HEIF"} if HEIF_SUPPORTED else set()
)
# Longest side of the picture the hashers see; pHash and PDQ work on 32 and 64 pixels,
# ORB needs a few hundred.
WORKING_SIZE = 512
DRAFT_SHARE = 0.9
# Below this a picture has no structure left for a perceptual hash to describe.
MIN_SIDE = 16


class ImageRejected(ValueError):
    """The bytes are not an image we can hash; ``code`` says why, the message in words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class DecodedImage:
    """A picture ready to hash, with what was learnt from the file itself."""

    rgb: np.ndarray  # uint8, H x W x 3, upright, longest side <= WORKING_SIZE
    width: int  # of the upright original
    height: int
    format: str
    mime_type: str
    metadata: dict[str, Any] = field(default_factory=dict)


def open_image(data: Source, max_pixels: int) -> DecodedImage:
    """Decode ``data`` for hashing; raise ImageRejected with a clear reason otherwise."""
    if not size_of(data):
        raise ImageRejected("empty", "the file is empty")
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked below, before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream_of(data))
    except UnidentifiedImageError:
        raise ImageRejected(
            "not_an_image", "the file is not an image in a supported format"
        ) from None
    except Image.DecompressionBombError:
        raise ImageRejected("too_many_pixels", "the image has too many pixels") from None
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many kinds on bad headers
        raise ImageRejected("corrupt", f"the image header cannot be read ({exc})") from None
    with image:
        if image.format not in IMAGE_FORMATS:
            raise ImageRejected(
                "unsupported_format", f"images in {image.format} format are not accepted"
            )
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRejected("corrupt", "the image has no pixels")
        if min(width, height) < MIN_SIDE:
            raise ImageRejected(
                "too_small",
                f"the image is {width}x{height};"
                f" at least {MIN_SIDE} pixels a side are needed to compare it",
            )
        if width * height > max_pixels:
            raise ImageRejected(
                "too_many_pixels",
                f"the image is {width}x{height} pixels, more than the limit of {max_pixels}",
            )
        fmt = image.format
        mime = Image.MIME.get(fmt, "application/octet-stream")
        metadata = read_metadata(image)
        if fmt == "JPEG":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: the costliest step, made cheap.
            # Asking for a little under the working size lets it pick 1/8 for 4000x3000.
            scale = DRAFT_SHARE * WORKING_SIZE / max(width, height)
            image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        try:
            image.load()
        except Image.DecompressionBombError:
            raise ImageRejected("too_many_pixels", "the image has too many pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageRejected(
                "truncated", f"the image data is truncated or corrupt ({exc})"
            ) from None
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        upright = ImageOps.exif_transpose(image) or image
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        rgb = to_rgb(upright)
    rgb.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    array = np.asarray(rgb, dtype=np.uint8)
    return DecodedImage(array, width, height, fmt, mime, metadata)


def to_rgb(image: Image.Image) -> Image.Image:
    """Return an RGB copy of ``image`` whatever its mode; transparency is laid on white."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        if low >= 0 and high <= 255:
            scaled = values
        else:  # stretch wide ranges (16-bit scans, float data) into 8 bits
            scaled = (values - low) * (255.0 / (high - low or 1.0))
        return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return image.copy()
    if mode in ("LAB", "HSV"):
        from PIL import ImageCms

        if mode == "HSV":
            return _hsv_to_rgb(image)
        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        converted = ImageCms.applyTransform(image, transform)
        # applyTransform returns None only when asked to convert in place, which it is not here.
        assert converted is not None
        return converted
    return image.convert("RGB")


def _hsv_to_rgb(image: Image.Image) -> Image.Image:
    hsv = np.asarray(image, dtype=np.float64) / 255.0
    h, s, v = hsv[..., 0] * 6.0, hsv[..., 1], hsv[..., 2]
    i = np.floor(h).astype(int) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros(hsv.shape)
    for index, (r, g, b) in enumerate(choices):
        mask = i == index
        out[mask] = np.stack([r[mask], g[mask], b[mask]], axis=-1)
    return Image.fromarray((out * 255).round().astype(np.uint8), "RGB")


_EXIF_FIELDS = {
    ExifTags.Base.Make: "Make",
    ExifTags.Base.Model: "Model",
    ExifTags.Base.Software: "Software",
    ExifTags.Base.DateTime: "DateTime",
    ExifTags.Base.Artist: "Artist",
    ExifTags.Base.Copyright: "Copyright",
    ExifTags.Base.ImageDescription: "ImageDescription",
    ExifTags.Base.Orientation: "Orientation",
}
_EXIF_IFD_FIELDS = {
    ExifTags.Base.DateTimeOriginal: "DateTimeOriginal",
    ExifTags.Base.DateTimeDigitized: "DateTimeDigitized",
    ExifTags.Base.OffsetTimeOriginal: "OffsetTimeOriginal",
    ExifTags.Base.LensModel: "LensModel",
}


def read_metadata(image: Image.Image) -> dict[str, Any]:
    """Return the EXIF fields analysts use (camera, software, capture time, GPS) as JSON."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not stop the hashing
        return {}
    found: dict[str, Any] = {}
    for tag, name in _EXIF_FIELDS.items():
        if tag in exif:
            found[name] = _clean(exif[tag])
    try:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        for tag, name in _EXIF_IFD_FIELDS.items():
            if tag in sub:
                found[name] = _clean(sub[tag])
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except Exception:  # noqa: BLE001
        gps = {}
    position = _gps_position(gps)
    if position:
        found["GPS"] = position
    metadata: dict[str, Any] = {}
    xmp = read_xmp(image.info.get("xmp") or image.info.get("XML:com.adobe.xmp"))
    if xmp:
        metadata["xmp"] = xmp
    if found:
        metadata["exif"] = found
        taken = _exif_datetime(found.get("DateTimeOriginal"), found.get("OffsetTimeOriginal"))
        if taken:
            metadata["exif_captured_at"] = taken
    return metadata


def _clean(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value.replace("\x00", "").strip()[:500]
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)[:500]


def _gps_position(gps: Any) -> dict[str, float] | None:
    try:
        lat = _dms(gps[ExifTags.GPS.GPSLatitude]) * (
            -1 if gps.get(ExifTags.GPS.GPSLatitudeRef) == "S" else 1
        )
        lon = _dms(gps[ExifTags.GPS.GPSLongitude]) * (
            -1 if gps.get(ExifTags.GPS.GPSLongitudeRef) == "W" else 1
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"latitude": round(lat, 7), "longitude": round(lon, 7)}


def _dms(parts: Any) -> float:
    degrees, minutes, seconds = (float(p) for p in parts)
    return degrees + minutes / 60 + seconds / 3600


def _exif_datetime(text: Any, offset: Any) -> str | None:
    """Return EXIF 'YYYY:MM:DD HH:MM:SS' (with its offset when given) as ISO 8601."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.strptime(text.strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    iso = moment.isoformat()
    if isinstance(offset, str) and len(offset) == 6 and offset[0] in "+-":
        iso += offset
    return iso
