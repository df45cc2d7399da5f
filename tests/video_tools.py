"""Make test videos from the sample clips with PyAV: excerpts, pillarboxed and re-encoded
copies, concatenations, frame grabs, and broken or audio-only files."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import av
import numpy as np
from PIL import Image

from catalog.demo import encode_clip
from catalog.hashing.video import VideoFingerprint
from catalog.index import CatalogIndex, Thresholds

from .media import VIDEOS, index_picture


def clip(name: str) -> bytes:
    """Return a sample clip's bytes."""
    return (VIDEOS / name).read_bytes()


def frames(
    data: bytes, start: float = 0.0, end: float | None = None
) -> Iterator[tuple[float, Image.Image]]:
    """Yield (time, picture) for every frame between ``start`` and ``end`` seconds."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            time = float(frame.pts * stream.time_base)
            if time < start:
                continue
            if end is not None and time > end:
                break
            yield time, frame.to_image()


def encode(
    pictures: Iterator[Image.Image], size: tuple[int, int], fps: int = 30, crf: int = 28
) -> bytes:
    """Encode pictures as H.264 in MP4 (fast, for tests)."""
    return encode_clip(pictures, crf=crf, size=size, fps=fps, preset="ultrafast")


def transform(
    data: bytes,
    change: Callable[[Image.Image], Image.Image] = lambda p: p,
    *,
    start: float = 0.0,
    end: float | None = None,
    size: tuple[int, int] | None = None,
) -> bytes:
    """Re-encode a stretch of a clip with ``change`` applied to every frame."""
    changed = [change(p) for _, p in frames(data, start, end)]
    return encode(iter(changed), size or changed[0].size)


def moving(
    photos: list[Image.Image],
    size: tuple[int, int],
    seconds: float,
    *,
    fps: int = 15,
    start: float = 0.0,
    speed: float = 1.0,
    scene_s: float = 4.0,
) -> Iterator[Image.Image]:
    """Yield the frames of footage whose picture moves, as phone footage does: a slow pan (a
    tenth of the view a second) and zoom (5 % a second) over each photo in turn, a cut every
    ``scene_s`` seconds. ``start`` skips into the footage and ``speed`` plays it faster, so two
    copies can be sampled at different instants."""
    for n in range(int((seconds - start) / speed * fps)):
        at = start + n * speed / fps
        shot = int(at // scene_s)
        scene = photos[shot % len(photos)]
        into = at % scene_s
        # Each return to a photo starts from another zoom and place, so the footage never
        # repeats itself.
        visit = shot // len(photos)
        zoom = 1.25 + 0.4 * ((0.61 * visit) % 1) + 0.05 * into
        width, height = scene.width / zoom, scene.height / zoom
        if width / height > size[0] / size[1]:
            width = height * size[0] / size[1]
        else:
            height = width * size[1] / size[0]
        left = min(
            scene.width - width, (scene.width - width) * ((0.29 * visit) % 1) + 0.1 * width * into
        )
        top = (scene.height - height) * ((0.5 + 0.37 * visit) % 1)
        yield scene.resize(size, box=(left, top, left + width, top + height))


def pillarbox(picture: Image.Image, width: int) -> Image.Image:
    """Centre ``picture`` on a black frame ``width`` wide."""
    out = Image.new("RGB", (width, picture.height))
    out.paste(picture, ((width - picture.width) // 2, 0))
    return out


def fit(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale ``picture`` into ``size`` keeping its shape, on black bars, as editors do."""
    scale = min(size[0] / picture.width, size[1] / picture.height)
    inner = picture.resize(
        (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
    )
    out = Image.new("RGB", size)
    out.paste(inner, ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2))
    return out


def concat(*clips: bytes, size: tuple[int, int]) -> bytes:
    """Join clips end to end, each fitted into one frame size."""
    return encode((fit(p, size) for data in clips for _, p in frames(data)), size)


def grab(data: bytes, at: float) -> bytes:
    """Return the frame at ``at`` seconds as a JPEG, as a person exporting a still would."""
    for _time, picture in frames(data, at):
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=88)
        return buffer.getvalue()
    raise ValueError("no frame there")


def audio_only(seconds: float = 2.0) -> bytes:
    """An MP4 holding only an AAC audio track."""
    buffer = io.BytesIO()
    rate = 44100
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = (np.sin(np.arange(int(rate * seconds)) / 20) * 0.3).astype(np.float32)[None, :]
        frame_size = 1024
        for start in range(0, samples.shape[1], frame_size):
            chunk = np.ascontiguousarray(samples[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def index_of(prints: list[VideoFingerprint]) -> CatalogIndex:
    """An index holding each video's frame hashes and keyframe keypoints, as media 1, 2, ..."""
    index, row = CatalogIndex(keep_features=True), 0
    for media_id, found in enumerate(prints, start=1):
        for frame in found.frames:
            row = index_picture(index, media_id, frame.time, frame.hashes, frame.features, row)
    return index


def video_matches(index: CatalogIndex, found: VideoFingerprint) -> dict[int, object]:
    """Match a video's frames and keyframes as the search service does: media id -> match."""
    keyframes = [(f.time, f.features) for f in found.frames if f.features is not None]
    return {
        m.media_id: m
        for m in index.match_frames(
            [(f.time, f.hashes) for f in found.frames],
            Thresholds(),
            features=keyframes,
            mirrored=[(f.time, f.mirrored) for f in found.frames],
        )
    }


def titled(title: str, container: str = "mp4") -> bytes:
    """Three seconds of a sample clip in ``container`` whose metadata holds ``title``."""
    from fractions import Fraction

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        out.metadata["title"] = title
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 240, 360, "yuv420p"
        stream.time_base = Fraction(1, 10)
        stream.options = {"preset": "ultrafast"}
        for _, picture in frames(clip("pattern-sd-grey-bar.mp4"), 0, 3):
            for packet in stream.encode(av.VideoFrame.from_image(picture.resize((240, 360)))):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()
