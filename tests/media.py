"""Test pictures: the real samples in ../shared/data and images generated on the spot."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
TE = SHARED / "threatexchange"
PHOTOS = SHARED / "photos"


def sample(relative: str) -> bytes:
    """Return the bytes of a sample file, e.g. sample('photos/coins.png')."""
    return (SHARED / relative).read_bytes()


def encode(image: Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    """Return ``image`` saved in ``fmt``."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pattern(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A picture with structure at several scales (smooth gradients plus blocks), distinct per seed."""
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
