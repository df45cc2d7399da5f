"""Pictures of catalogued media for the web pages: thumbnails, previews and video stills,
made from the original on first request and kept beside it as derived files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import BinaryIO

from ..hashing import ImageRejected
from ..hashing.thumbs import image_jpeg, video_frames_jpeg
from ..hashing.video import VideoRejected
from ..models import Media, MediaKind
from ..storage import Storage, StorageError
from . import NotFound

SIZES = {"thumb.jpg": 360, "preview.jpg": 1600}
FRAME_SIDE = 240
_FRAMES_LOCK = threading.Lock()


def picture(storage: Storage, media: Media, name: str, max_pixels: int) -> Path:
    """Return the path of a thumbnail or preview of the media, making it if needed."""
    if name not in SIZES:
        raise NotFound(f"no picture called {name}")
    path = storage.derived_path(media.sha256, name)
    if path.is_file():
        return path
    if media.kind is not MediaKind.IMAGE:
        # A video's poster frame; a recording's waveform.
        drawn = "poster.jpg" if media.kind is MediaKind.VIDEO else "waveform.png"
        poster = storage.derived_path(media.sha256, drawn)
        if not poster.is_file():
            raise NotFound(f"this {media.kind.value} has no picture of it")
        opened: BinaryIO = poster.open("rb")
    else:
        opened = _original(storage, media)
    try:
        with opened as source:
            data = image_jpeg(source, SIZES[name], max_pixels)
    except ImageRejected as exc:
        raise NotFound(f"no picture can be shown of this file: {exc}") from None
    return storage.put_derived(media.sha256, name, data)


def frame_name(time: float) -> str:
    """Return the derived file name of the still at ``time`` seconds."""
    return f"frame-{int(round(time * 1000)):09d}.jpg"


def video_frames(storage: Storage, media: Media, times: list[float], max_pixels: int) -> None:
    """Make the stills at ``times`` that are not held yet, in one decoding pass."""
    # A page asks for a whole strip at once: the first request decodes it, the others wait
    # for it here and find the stills made instead of decoding the video again each.
    with _FRAMES_LOCK:
        missing = [
            t for t in times if not storage.derived_path(media.sha256, frame_name(t)).is_file()
        ]
        if not missing:
            return
        try:
            with _original(storage, media) as source:
                stills = video_frames_jpeg(source, missing, FRAME_SIDE, max_pixels)
        except VideoRejected:
            return  # frames over today's pixel limit: no stills (the page shows none)
        for time, data in stills.items():
            storage.put_derived(media.sha256, frame_name(time), data)


def _original(storage: Storage, media: Media) -> BinaryIO:
    """Open the stored original (read a piece at a time, never whole)."""
    try:
        return storage.open(media.sha256)
    except StorageError as exc:
        raise NotFound(str(exc)) from None
