"""What every hash is taken over: a file's byte identity (SHA-256) and the views of a picture
(the whole of it and, when it has bars or margins, the part inside them).

Shared by the image pipeline and the video sampler, so neither imports the other.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .trim import trim

# Variant names of the views that are hashed.
FULL = "full"
TRIMMED = "trimmed"
# A trimmed view smaller than this on a side is too small to hash meaningfully.
MIN_TRIMMED_SIDE = 16


def sha256_of(data: bytes) -> str:
    """Return the SHA-256 of ``data`` as hex."""
    return hashlib.sha256(data).hexdigest()


def views_of(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Return the whole picture and, when it has bars or margins, the picture inside them."""
    views = [(FULL, rgb)]
    inner = trim(rgb)
    if inner is not None and min(inner.shape[:2]) >= MIN_TRIMMED_SIDE:
        views.append((TRIMMED, inner))
    return views
