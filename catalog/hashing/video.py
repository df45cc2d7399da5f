"""Video: recognise a container by content, sample frames cheaply with PyAV (a steady rate
plus scene changes, near-identical neighbours dropped), and hash each kept frame with the
image pipeline. Also makes the poster frame and the contact sheet.

Decoding is the cost. The H.264/H.265 decoders are told to skip the loop filter and
non-reference frames (invisible at hashing size), frames are converted to RGB only when kept,
and long files are read keyframe by keyframe.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import features as orb
from . import perceptual
from .audio import (
    AudioFileFingerprint,
    AudioPrint,
    AudioRejected,
    QueryVariant,
    fingerprint_audio_file,
    listen,
    looks_like_audio,
)
from .decode import WORKING_SIZE
from .embedded import read_c2pa
from .perceptual import HashValue
from .views import FULL, Source, head_of, sha256_of, size_of, stream_of, views_of

# Containers we accept, as FFmpeg names them after probing the content.
CONTAINERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/webm",
}
# Seconds between steady samples; scene changes add frames in between.
SAMPLE_EVERY_S = 1.0
# Mean difference (0-255) of a 16x16 grey thumbnail that counts as a cut.
SCENE_CHANGE = 28.0
# A kept frame this close (PDQ bits) to the previous kept frame adds nothing.
NEAR_IDENTICAL = 8
# Stills for people: the poster's longest side, the sheet's tile width and its frames.
POSTER_SIDE = 1280
SHEET_TILE_WIDTH = 200
SHEET_FRAMES = 60
# Files longer than this are read keyframe by keyframe.
KEYFRAMES_ONLY_AFTER_S = 600.0
# Frames whose keypoints are stored, spread over the clip (keypoints are the costly part).
FEATURE_FRAMES = 16
MAX_FRAMES = 7200


class VideoRejected(ValueError):
    """The bytes are not a video we can hash; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Frame:
    """One kept frame: where it is, its hashes and (for some frames) its keypoints."""

    index: int
    time: float
    hashes: list[HashValue]
    features: orb.Features | None = None
    # PDQ of the frame and its trimmed view mirrored left to right ("full/flip_horizontal"):
    # searched with, so a mirrored copy finds its original's frames; never stored.
    mirrored: list[HashValue] = field(default_factory=list)


@dataclass
class VideoFingerprint:
    """What the catalogue keeps for a video."""

    sha256: str
    size: int
    width: int
    height: int
    duration: float
    mime_type: str
    metadata: dict[str, Any]
    frames: list[Frame] = field(default_factory=list)
    decoded_frames: int = 0
    last_time: float = 0.0
    # The pixel limit the video was read under; every decoded frame is held to it.
    pixel_limit: int = 0
    # Its sound, when it has a track that can be read, and a picture of it.
    audio: AudioPrint | None = None
    waveform: bytes = field(default=b"", repr=False)
    audio_variants: list[QueryVariant] = field(default_factory=list, repr=False)


def looks_like_video(data: Source) -> bool:
    """Return whether the file starts like an MP4/MOV or Matroska/WebM container."""
    head = head_of(data, 8)
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free")
        or head[:4] == b"\x1a\x45\xdf\xa3"
    )


def probe_duration(data: Source) -> float | None:
    """Return how long a video's or a recording's header says it lasts (seconds), reading no
    frame; None for a file that opens as neither (the fingerprinting says why)."""
    if not (looks_like_video(data) or looks_like_audio(data)):
        return None
    try:
        with av.open(stream_of(data), mode="r", metadata_errors="replace") as container:
            picture = _picture_stream(container)
            if picture is not None:
                return _duration(container, picture)
            if container.streams.audio:  # a recording
                sound = container.streams.audio[0]
                if sound.duration and sound.time_base:
                    return float(sound.duration * sound.time_base)
                return (container.duration or 0) / 1_000_000 or None
            return None
    except (av.FFmpegError, ValueError, OSError):
        return None


def _picture_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is not a recording's attached picture (an album cover)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


# Told the share of the video read so far (0 to 1), now and then.
Progress = Callable[[float], None]


def fingerprint_video(
    data: Source, *, max_duration_s: float, max_pixels: int, progress: Progress | None = None
) -> VideoFingerprint:
    """Probe, sample and hash a video; raise VideoRejected with a reason for a bad file."""
    # Read before the decoder opens the file: they share its position.
    sha256, size = sha256_of(data), size_of(data)
    try:
        container = av.open(stream_of(data), mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise VideoRejected("not_a_video", f"the file is not a video we can read ({exc})") from None
    with container:
        mime = CONTAINERS.get(container.format.name)
        if mime is None:
            raise VideoRejected(
                "unsupported_format", f"videos in {container.format.long_name} are not accepted"
            )
        found_stream = _picture_stream(container)
        if found_stream is None:  # none, or only a recording's cover picture
            raise VideoRejected("no_video_stream", "the file has no video stream (audio only?)")
        stream = found_stream
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = _duration(container, stream)
        if width <= 0 or height <= 0:
            raise VideoRejected("corrupt", "the video stream has no picture size")
        if width * height > max_pixels:
            raise VideoRejected(
                "too_many_pixels", f"the video is {width}x{height}, more than the pixel limit"
            )
        if duration > max_duration_s:
            raise VideoRejected(
                "too_long",
                f"the video lasts {duration:.0f} s, more than the limit of {max_duration_s:.0f} s",
            )
        if container.format.name == "matroska,webm" and stream.codec_context.name in (
            "vp8",
            "vp9",
            "av1",
        ):
            mime = "video/webm"
        elif container.format.name == "matroska,webm":
            mime = "video/x-matroska"
        # The container's own title (MP4's ©nam, Matroska's TITLE), often the clip's name
        # where it was first posted or the camera's.
        title = next(
            (str(v)[:200] for k, v in container.metadata.items() if k.lower() == "title"), ""
        )
        titled = {"title": title} if title.strip() else {}
        metadata: dict[str, Any] = {
            "container": container.format.name.split(",")[0],
            "codec": stream.codec_context.name,
            "frame_rate": round(float(stream.average_rate), 3) if stream.average_rate else None,
            "duration": round(duration, 3),
            **titled,
            **{
                k: str(v)[:200]
                for k, v in container.metadata.items()
                if k
                in (
                    "creation_time",
                    "encoder",
                    "location",
                    "com.apple.quicktime.location.ISO6709",
                    "make",
                    "model",
                )
            },
        }
        fingerprint = VideoFingerprint(sha256, size, width, height, duration, mime, metadata)
        # Read while the container is open: its streams are gone once it closes.
        slack = _end_slack(stream, duration)
        fingerprint.pixel_limit = max_pixels
        try:
            _sample(
                container,
                stream,
                fingerprint,
                keyframes_only=duration > KEYFRAMES_ONLY_AFTER_S,
                progress=progress,
            )
        except av.FFmpegError as exc:
            if not fingerprint.frames:
                raise VideoRejected("corrupt", f"the video cannot be decoded ({exc})") from None
            raise VideoRejected(
                "truncated",
                f"the video is truncated or damaged after {fingerprint.last_time:.1f} s"
                f" ({exc.strerror or exc})",
            ) from None
    if not fingerprint.frames:
        raise VideoRejected("no_frames", "the video has no frame that can be decoded")
    credentials = read_c2pa(data, mime)  # once the decoder is done with the file
    if credentials:
        fingerprint.metadata["c2pa"] = credentials
    # A file cut short still opens and plays its first part; its header says how long it
    # should be. Its last decoded frame is at most a few frames from the end (non-reference
    # frames are skipped), or a whole group of pictures when only keyframes are read.
    if duration and fingerprint.last_time + slack < duration:
        raise VideoRejected(
            "truncated",
            f"the video is cut short: it plays {fingerprint.last_time:.1f} s"
            f" of the {duration:.1f} s its header declares",
        )
    # A soundtrack is read as far as the pictures last (and a little more): a short video
    # with hours of sound is not hours of work.
    _hear(data, fingerprint, min(max_duration_s, (duration or fingerprint.last_time) + 30.0))
    return fingerprint


def fingerprint_timed(
    data: Source, *, max_duration_s: float, max_pixels: int, progress: Progress | None = None
) -> VideoFingerprint | AudioFileFingerprint | None:
    """Fingerprint a video, or a recording (an MP4 of sound only is one: a voice note); None
    for a file that starts like neither (a picture). Raise VideoRejected or AudioRejected."""
    if looks_like_video(data):
        try:
            return fingerprint_video(
                data, max_duration_s=max_duration_s, max_pixels=max_pixels, progress=progress
            )
        except VideoRejected as exc:
            return _recording_instead(data, exc, max_duration_s=max_duration_s)
    if looks_like_audio(data):
        return fingerprint_audio_file(data, max_duration_s=max_duration_s)
    return None


def _recording_instead(
    data: Source, refused: VideoRejected, *, max_duration_s: float
) -> AudioFileFingerprint:
    """Read a file the video reader refused for want of a picture as a recording (an M4A in
    an MP4 container); raise the video's refusal again when it is no recording either."""
    if refused.code != "no_video_stream":
        raise refused
    try:
        return fingerprint_audio_file(data, max_duration_s=max_duration_s)
    except AudioRejected as exc:
        if exc.code in ("no_audio_stream", "not_audio", "unsupported_format"):
            raise VideoRejected(
                "no_video_stream", "the file has no video stream, and no sound either"
            ) from None
        raise


def _hear(data: Source, fingerprint: VideoFingerprint, max_duration_s: float) -> None:
    """Fingerprint the video's soundtrack, if it has one that can be read: a damaged or
    missing track costs the video its sound match, not its place in the catalogue."""
    try:
        heard = listen(data, max_duration_s=max_duration_s)
    except AudioRejected as exc:
        fingerprint.metadata["audio"] = f"unreadable: {exc}"
        return
    if heard is None or not heard.print.duration:
        return
    fingerprint.audio, fingerprint.waveform = heard.print, heard.waveform
    fingerprint.audio_variants = heard.variants  # every ingest is also a search
    fingerprint.metadata["audio"] = "sound" if heard.print.has_evidence else "silent"


def _end_slack(stream: av.video.stream.VideoStream, duration: float) -> float:
    """How far before its declared end a whole file's last decoded frame may fall."""
    if duration > KEYFRAMES_ONLY_AFTER_S:
        return max(10.0, 0.05 * duration)
    rate = float(stream.average_rate) if stream.average_rate else 0.0
    frame_gap = 1.0 / rate if rate > 0 else 1.0
    # Up to four skipped frames, never less than half a second: 1-fps time-lapses stay whole.
    return max(0.5, 4 * frame_gap, 0.02 * duration)


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _sample(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    fingerprint: VideoFingerprint,
    *,
    keyframes_only: bool,
    progress: Progress | None = None,
) -> None:
    stream.thread_type = "NONE"  # one core per file; bulk import runs files in parallel
    # Deblocking and non-reference frames are invisible at 512 pixels; skipping them is most
    # of the decoding cost saved.
    stream.codec_context.skip_frame = "NONKEY" if keyframes_only else "NONREF"
    try:
        stream.codec_context.options = {"skip_loop_filter": "all"}
    except (AttributeError, ValueError):  # decoders without the option
        pass
    scale = min(1.0, WORKING_SIZE / max(fingerprint.width, fingerprint.height))
    out_w, out_h = (
        max(2, int(fingerprint.width * scale) // 2 * 2),
        max(2, int(fingerprint.height * scale) // 2 * 2),
    )
    next_sample = 0.0
    # Keypoints for FEATURE_FRAMES frames spread over the declared duration, taken as the
    # frames pass, so no picture is held after it is hashed (memory stays flat for an hour).
    feature_every = max(SAMPLE_EVERY_S, fingerprint.duration / FEATURE_FRAMES)
    next_feature = next_report = 0.0
    previous_thumb: np.ndarray | None = None
    previous_pdq: bytes | None = None
    start = (
        float(stream.start_time * stream.time_base)
        if stream.start_time is not None and stream.time_base
        else 0.0
    )
    for frame in container.decode(stream):
        fingerprint.decoded_frames += 1
        _check_pixels(frame, fingerprint.pixel_limit)
        time = (
            (float(frame.pts * stream.time_base) - start)
            if frame.pts is not None and stream.time_base
            else fingerprint.decoded_frames / 30.0
        )
        fingerprint.last_time = max(fingerprint.last_time, time)
        if progress is not None and fingerprint.duration and time >= next_report:
            progress(min(1.0, time / fingerprint.duration))
            next_report = time + fingerprint.duration / 50  # every 2 % of the video
        thumb = _thumb(frame)
        cut = (
            previous_thumb is not None
            and float(np.abs(thumb - previous_thumb).mean()) > SCENE_CHANGE
        )
        previous_thumb = thumb
        if not (time >= next_sample or cut):
            continue
        if time >= next_sample:
            next_sample = (int(time / SAMPLE_EVERY_S) + 1) * SAMPLE_EVERY_S
        rgb = frame.to_ndarray(format="rgb24", width=out_w, height=out_h)
        pdq, flipped = _pdq_and_mirror(rgb, FULL)
        if (
            previous_pdq is not None
            and perceptual.hamming(pdq.bits, previous_pdq) <= NEAR_IDENTICAL
            and not cut
        ):
            continue
        previous_pdq = pdq.bits
        hashes = [pdq, perceptual.phash(rgb, FULL)]
        mirrored = [flipped]
        for view, inner in views_of(rgb)[1:]:
            view_pdq, view_flipped = _pdq_and_mirror(inner, view)
            hashes += [view_pdq, perceptual.phash(inner, view)]
            mirrored.append(view_flipped)
        kept = Frame(len(fingerprint.frames), round(max(0.0, time), 3), hashes, mirrored=mirrored)
        if time >= next_feature:
            kept.features = orb.extract(rgb)
            next_feature = time + feature_every
        fingerprint.frames.append(kept)
        if len(fingerprint.frames) >= MAX_FRAMES:
            break


def _pdq_and_mirror(rgb: np.ndarray, view: str) -> tuple[HashValue, HashValue]:
    """Return the PDQ of a picture and of its mirror image. The mirror is hashed afresh:
    pdqhash's dihedral forms of a textured frame differ from it by up to 30 bits."""
    flipped = perceptual.pdq(np.ascontiguousarray(rgb[:, ::-1]), f"{view}/flip_horizontal")
    return perceptual.pdq(rgb, view), flipped


def _thumb(frame: av.VideoFrame) -> np.ndarray:
    """Return a 16x16-ish grey thumbnail from the luma plane, without converting the frame."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    luma = rows[:, : plane.width]
    step_y, step_x = max(1, plane.height // 16), max(1, plane.width // 16)
    return luma[::step_y, ::step_x][:16, :16].astype(np.float32)


def poster_and_sheet(
    data: Source, fingerprint: VideoFingerprint, columns: int = 6
) -> tuple[bytes, bytes]:
    """Return JPEGs of the poster frame and of a contact sheet of kept frames with their times.

    Frames arrive scaled down and one at a time: the sheet takes a tile of each, and only the
    best poster so far is kept, so memory does not grow with the picture size or the length.
    """
    times = sorted({f.time for f in fingerprint.frames})[:SHEET_FRAMES]
    tile_w = SHEET_TILE_WIDTH
    tile_h = max(1, int(tile_w * fingerprint.height / max(1, fingerprint.width)))
    rows = max(1, -(-len(times) // columns))
    sheet = Image.new("RGB", (columns * tile_w, rows * (tile_h + 18)), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    poster: Image.Image | None = None
    detail = -1.0
    count = 0
    for count, (time, image) in enumerate(
        iter_frames_at(data, times, max_side=POSTER_SIDE, max_pixels=fingerprint.pixel_limit),
        start=1,
    ):
        x, y = ((count - 1) % columns) * tile_w, ((count - 1) // columns) * (tile_h + 18)
        sheet.paste(image.resize((tile_w, tile_h)), (x, y))
        draw.text(
            (x + 4, y + tile_h + 2),
            f"{int(time // 60)}:{time % 60:05.2f}",
            fill=(230, 230, 230),
            font=font,
        )
        # The poster is the kept frame with the most detail (a black opening frame says nothing).
        spread = float(np.asarray(image.convert("L")).std())
        if spread > detail:
            poster, detail = image, spread
    if poster is None:
        raise VideoRejected("no_frames", "no frame could be decoded for the thumbnails")
    used_rows = -(-count // columns)
    return _jpeg(poster), _jpeg(sheet.crop((0, 0, sheet.width, used_rows * (tile_h + 18))))


def iter_frames_at(
    data: Source, times: list[float], *, max_side: int, max_pixels: int
) -> Iterator[tuple[float, Image.Image]]:
    """Yield (time, picture) for the frame at or just after each of ``times`` (seconds), in
    one decoding pass, each scaled as it is decoded to fit ``max_side``; raise VideoRejected
    when a decoded frame has more pixels than ``max_pixels``, whatever the header said."""
    wanted = sorted(set(times))
    if not wanted:
        return
    with av.open(stream_of(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        start = (
            float(stream.start_time * stream.time_base)
            if stream.start_time is not None and stream.time_base
            else 0.0
        )
        position = 0
        try:
            for frame in container.decode(stream):
                _check_pixels(frame, max_pixels)
                time = (
                    float(frame.pts * stream.time_base) - start
                    if frame.pts is not None and stream.time_base
                    else 0.0
                )
                if time + 1e-3 < wanted[position]:
                    continue
                scale = min(1.0, max_side / max(frame.width, frame.height))
                size = (max(2, round(frame.width * scale)), max(2, round(frame.height * scale)))
                rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                yield wanted[position], Image.fromarray(rgb)
                while position < len(wanted) and wanted[position] <= time + 1e-3:
                    position += 1
                if position >= len(wanted):
                    return
        except av.FFmpegError:
            return  # a damaged tail: the stills before it stand


def _check_pixels(frame: av.VideoFrame, max_pixels: int) -> None:
    if max_pixels and frame.width * frame.height > max_pixels:
        raise VideoRejected(
            "too_many_pixels",
            f"a frame of the video is {frame.width}x{frame.height}, more than the pixel limit",
        )


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=82)
    return buffer.getvalue()
