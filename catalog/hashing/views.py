"""What every hash is taken over: a file's byte identity (SHA-256) and the views of a picture
(the whole of it and, when it has bars or margins, the part inside them); and the file itself
as a ``Source``: its bytes, or a seekable binary file holding them, so that an upload spooled
to disk is read in pieces and never held whole in memory.

Shared by the image pipeline and the video sampler, so neither imports the other.
"""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

import numpy as np

from .trim import trim

# Variant names of the views that are hashed.
FULL = "full"
TRIMMED = "trimmed"
# A trimmed view smaller than this on a side is too small to hash meaningfully.
MIN_TRIMMED_SIDE = 16


# A file to fingerprint: its bytes, or a seekable binary file (an upload spooled to disk, an
# original opened from storage) read from its start.
Source = bytes | BinaryIO
CHUNK = 1024 * 1024


def stream_of(source: Source) -> BinaryIO:
    """Return a binary file positioned at the start of ``source``."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(source)
    source.seek(0)
    return source


def size_of(source: Source) -> int:
    """Return how many bytes ``source`` holds."""
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    # Seeking, not fstat: a spooled upload still in memory would be written out by fileno().
    return source.seek(0, io.SEEK_END)


def head_of(source: Source, length: int) -> bytes:
    """Return the first ``length`` bytes of ``source``."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:length])
    return stream_of(source).read(length)


def sha256_of(source: Source) -> str:
    """Return the SHA-256 of ``source`` as hex, read a chunk at a time."""
    if isinstance(source, bytes | bytearray | memoryview):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    stream = stream_of(source)
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def views_of(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Return the whole picture and, when it has bars or margins, the picture inside them."""
    views = [(FULL, rgb)]
    inner = trim(rgb)
    if inner is not None and min(inner.shape[:2]) >= MIN_TRIMMED_SIDE:
        views.append((TRIMMED, inner))
    return views
