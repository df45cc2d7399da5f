"""Pictures of catalogued media for the web pages: thumbnails, previews and video stills,
made from the original on first request and kept beside it as derived files."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO

from ...hashing import ImageRejected
from ...hashing.thumbs import image_jpeg, video_frames_jpeg
from ...hashing.video import VideoRejected
from ...models import Media, MediaKind
from ...storage import StorageError, Store
from .. import NotFound

SIZES = {"thumb.jpg": 360, "preview.jpg": 1600}
FRAME_SIDE = 240
_FRAMES_LOCK = threading.Lock()


def picture(storage: Store, media: Media, name: str, max_pixels: int) -> bytes:
    """Return a thumbnail or preview of the media (JPEG), making it if needed."""
    if name not in SIZES:
        raise NotFound(f"no picture called {name}")
    held = _derived(storage, media, name)
    if held is not None:
        return held
    if media.kind is not MediaKind.IMAGE:
        # A video's poster frame; a recording's waveform.
        drawn = "poster.jpg" if media.kind is MediaKind.VIDEO else "waveform.png"
        poster = _derived(storage, media, drawn)
        if poster is None:
            raise NotFound(f"this {media.kind.value} has no picture of it")
        opened: BinaryIO = io.BytesIO(poster)
    else:
        opened = _original(storage, media)
    try:
        with opened as source:
            data = image_jpeg(source, SIZES[name], max_pixels)
    except ImageRejected as exc:
        raise NotFound(f"no picture can be shown of this file: {exc}") from None
    storage.put_derived(media.sha256, name, data)
    return data


def derived(storage: Store, media: Media, name: str) -> bytes:
    """Return a derived file made at ingest (poster, contact sheet, waveform) or a still."""
    data = _derived(storage, media, name)
    if data is None:
        raise NotFound(f"this media has no {name}")
    return data


def frame_name(time: float) -> str:
    """Return the derived file name of the still at ``time`` seconds."""
    return f"frame-{int(round(time * 1000)):09d}.jpg"


def video_frames(storage: Store, media: Media, times: list[float], max_pixels: int) -> None:
    """Make the stills at ``times`` that are not held yet, in one decoding pass."""
    # A page asks for a whole strip at once: the first request decodes it, the others wait
    # for it here and find the stills made instead of decoding the video again each.
    with _FRAMES_LOCK:
        try:
            held = set(storage.derived_names(media.sha256))
        except StorageError as exc:
            raise NotFound(str(exc)) from None
        missing = [t for t in times if frame_name(t) not in held]
        if not missing:
            return
        try:
            with _original(storage, media) as source:
                stills = video_frames_jpeg(source, missing, FRAME_SIDE, max_pixels)
        except VideoRejected:
            return  # frames over today's pixel limit: no stills (the page shows none)
        for time, data in stills.items():
            storage.put_derived(media.sha256, frame_name(time), data)


def _derived(storage: Store, media: Media, name: str) -> bytes | None:
    try:
        return storage.read_derived(media.sha256, name)
    except StorageError as exc:
        raise NotFound(str(exc)) from None


def _original(storage: Store, media: Media) -> BinaryIO:
    """Open the stored original (read a piece at a time, never whole)."""
    try:
        return storage.open(media.sha256)
    except StorageError as exc:
        raise NotFound(str(exc)) from None
