"""Test media: the real samples kept in ``tests/data`` (see its README for where each comes
from and its licence), the sets generated from them, and pictures made on the spot.

Generated rather than stored, as ThreatExchange itself made them from one photograph:
the eight dihedral forms of the bridge photograph and the bridge photograph in every Pillow
mode. Listing a folder never decides what is tested: every list below is fixed and counted,
and a missing file fails the test that reads it.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

from catalog.hashing.features import Features
from catalog.hashing.perceptual import HashValue
from catalog.hashing.pipeline import ImageFingerprint
from catalog.index import CatalogIndex

DATA = Path(__file__).resolve().parent / "data"
TE = DATA / "threatexchange"
PHOTOS = DATA / "photos"
VIDEOS = TE / "videos"

BRIDGE = "threatexchange/bridge-mods/aaa-orig.jpg"
BRIDGE_EDITS = [
    "blur-a-little.jpg",
    "blur-a-lot.jpg",
    "high-contrast.jpg",
    "high-saturation.jpg",
    "sharpen-a-little.jpg",
    "sharpen-a-lot.jpg",
    "shrink-a-little.jpg",
    "shrink-a-lot.jpg",
    "square-128x128.jpg",
    "square-256x256.jpg",
    "square-512x512.jpg",
]
LABELME = [
    "q0003.jpg",
    "q0004.jpg",
    "q0122.jpg",
    "q0291.jpg",
    "q0746.jpg",
    "q1050.jpg",
    "q2821.jpg",
]
EXIF_ORIENTATIONS = [1, 3, 6, 8]
CHAIRS = [
    "chair-19-sd-bar.mp4",
    "chair-20-sd-bar.mp4",
    "chair-22-sd-grey-bar.mp4",
    "chair-22-sd-sepia-bar.mp4",
    "chair-22-with-large-logo-bar.mp4",
    "chair-22-with-small-logo-bar.mp4",
    "chair-orig-22-sd-bar.mp4",
]
PATTERNS = [
    "pattern-hd-no-bar.mp4",
    "pattern-longer-no-bar.mp4",
    "pattern-sd-grey-bar.mp4",
    "pattern-sd-with-large-logo-bar.mp4",
    "pattern-sd-with-small-logo-bar.mp4",
]
LONERS = ["doorknob-hd-no-bar.mp4", "test-padded-dimensions.mp4"]

# The photographs are split in two. Thresholds are chosen on the tuning set
# (benchmarks/accuracy.py); the suite checks them on the validation set, photographs the
# tuning never saw, with transformations made from other seeds (tests/test_accuracy.py).
TUNING_CATALOGUED = [
    "astronaut.png",
    "camera.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "moon.png",
    "brick.png",
    "grass.png",
    "page.png",
    "ihc.png",
    "logo.png",
    "motorcycle_left.png",
]
TUNING_UNRELATED = ["gravel.png", "text.png"]
TUNING_STEREO_PARTNER = "motorcycle_right.png"
VALIDATION_CATALOGUED = ["china.jpg", "chelsea.png", "rocket.jpg", "clock_motion.png"]
VALIDATION_UNRELATED = ["flower.jpg", "coins.png", "cell.png"]
ALL_PHOTOS = sorted(
    TUNING_CATALOGUED
    + TUNING_UNRELATED
    + [TUNING_STEREO_PARTNER]
    + VALIDATION_CATALOGUED
    + VALIDATION_UNRELATED
)

# Every Pillow mode ThreatExchange's "modes" set covers, each saved in a format that keeps
# the mode (HSV has none, so it travels as the WebP the set used, as RGB).
MODES = {
    "1": "PNG",
    "L": "PNG",
    "LA": "PNG",
    "P": "PNG",
    "PA": "WEBP",
    "RGB": "JPEG",
    "RGBA": "PNG",
    "CMYK": "JPEG",
    "YCbCr": "JPEG",
    "I": "TIFF",
    "F": "TIFF",
    "LAB": "TIFF",
    "HSV": "WEBP",
}
DIHEDRAL = {
    "rotate-90": Image.Transpose.ROTATE_90,
    "rotate-180": Image.Transpose.ROTATE_180,
    "rotate-270": Image.Transpose.ROTATE_270,
    "flipx": Image.Transpose.FLIP_LEFT_RIGHT,
    "flipy": Image.Transpose.FLIP_TOP_BOTTOM,
    "flip-plus-1": Image.Transpose.TRANSPOSE,
    "flip-minus-1": Image.Transpose.TRANSVERSE,
}


def sample(relative: str) -> bytes:
    """Return the bytes of a sample file, e.g. sample('photos/coins.png')."""
    return (DATA / relative).read_bytes()


def photo(name: str) -> bytes:
    """Return the bytes of a sample photograph."""
    return (PHOTOS / name).read_bytes()


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    """Return ``image`` saved in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@functools.cache
def bridge_image() -> Image.Image:
    """The ThreatExchange bridge photograph, decoded."""
    return Image.open(io.BytesIO(sample(BRIDGE))).convert("RGB")


@functools.cache
def dihedral_forms() -> dict[str, bytes]:
    """The bridge photograph turned and flipped seven ways, as JPEGs (ThreatExchange's dih set)."""
    return {
        name: encode(bridge_image().transpose(op), "JPEG", quality=90)
        for name, op in DIHEDRAL.items()
    }


@functools.cache
def mode_forms() -> dict[str, bytes]:
    """The bridge photograph converted to every Pillow mode, each saved in a format for it."""
    forms = {}
    for mode, fmt in MODES.items():
        converted = bridge_image().convert(mode)
        forms[f"{mode}.{fmt.lower()}"] = encode(converted, fmt)
    return forms


def pattern(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A picture with structure at several scales (smooth gradients plus blocks), distinct per
    seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            128 + 100 * np.sin(x / (9 + seed % 7) + rng.uniform(0, 6)),
            128 + 100 * np.cos(y / (13 + seed % 5) + rng.uniform(0, 6)),
            128 + 100 * np.sin((x + y) / (17 + seed % 3)),
        ],
        axis=-1,
    )
    blocks = rng.integers(0, 255, size=(height // 40 + 1, width // 40 + 1, 3))
    base += np.kron(blocks, np.ones((40, 40, 1)))[:height, :width] * 0.5
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def index_fingerprint(index: CatalogIndex, media_id: int, found: ImageFingerprint, row: int) -> int:
    """Add a picture's stored hashes and keypoints to ``index`` with row ids after ``row``, as
    the database would number them; return the keypoint row's id (the last used)."""
    return index_picture(index, media_id, None, found.hashes, found.features, row)


def index_picture(
    index: CatalogIndex,
    media_id: int,
    time: float | None,
    hashes: list[HashValue],
    features: Features | None,
    row: int,
) -> int:
    """Add one picture's (or video frame's, at ``time``) hashes and any keypoints to ``index``
    with row ids after ``row``; return the last row id used."""
    for value in hashes:
        row += 1
        index.add_hashes(
            value.algorithm,
            np.array([row]),
            np.array([media_id]),
            np.array([np.nan if time is None else time]),
            np.frombuffer(value.bits, np.uint8),
        )
    if features is not None:
        row += 1
        index.add_features(row, media_id, time, features)
    return row
