"""Video stills cost little memory whatever the picture size: frames are scaled down as they
are decoded, one is held at a time, and every decoded frame is held to the pixel limit (a
stream may declare a small picture and then carry huge ones)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image

from catalog.hashing.video import VideoRejected, fingerprint_video, iter_frames_at, poster_and_sheet

from .media import encode, pattern
from .video_tools import encode as encode_clip

ROOT = Path(__file__).resolve().parent.parent


def clip(size: tuple[int, int], seconds: int, fps: int = 2) -> bytes:
    """An H.264 clip with a different picture every frame (every sample is kept)."""
    pictures = (pattern(160, 90, seed=n) for n in range(seconds * fps))
    return encode_clip(pictures, size, fps=fps, crf=35)


def growing_mjpeg() -> bytes:
    """A Matroska stream that declares 320x240 and then carries 4000x3000 pictures."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuvj420p"
        stream.time_base = Fraction(1, 1)
        for n, size in enumerate([(320, 240), (320, 240), (4000, 3000), (4000, 3000)]):
            jpeg = encode(pattern(*size, seed=n), "JPEG", quality=60)
            packet = av.Packet(jpeg)
            packet.stream = stream
            packet.pts = packet.dts = n
            packet.time_base = Fraction(1, 1)
            packet.duration = 1
            container.mux(packet)
    return buffer.getvalue()


def test_stills_are_scaled_as_they_are_decoded() -> None:
    data = clip((1920, 1080), seconds=3)
    found = list(iter_frames_at(data, [0.0, 1.0, 2.0], max_side=320, max_pixels=10**8))
    assert [t for t, _ in found] == [0.0, 1.0, 2.0]
    assert all(max(image.size) <= 320 for _, image in found)
    assert found[0][1].size == (320, 180)


def test_every_decoded_frame_is_held_to_the_pixel_limit() -> None:
    data = growing_mjpeg()
    with pytest.raises(VideoRejected, match="pixel limit"):
        list(iter_frames_at(data, [0.0, 1.0, 2.0, 3.0], max_side=320, max_pixels=1_000_000))
    with pytest.raises(VideoRejected, match="pixel limit"):
        fingerprint_video(data, max_duration_s=60, max_pixels=1_000_000)
    # Within the limit the same stream is read to its end.
    assert len(list(iter_frames_at(data, [0.0, 3.0], max_side=320, max_pixels=10**8))) == 2


def test_poster_and_sheet_of_a_4k_clip_stay_small_in_memory(tmp_path: Path) -> None:
    # 20 seconds of 4K with a new picture each half second: 20 kept frames. Holding them at
    # full size costs 20 x 25 MB; scaled as decoded, a few MB. Measured in a child process
    # (peak resident memory) against the same process before it makes the stills.
    path = tmp_path / "uhd.mp4"
    path.write_bytes(clip((3840, 2160), seconds=20))
    # The peak is read from /proc (VmHWM), reset first: a child's ru_maxrss starts at its
    # parent's peak, which would hide everything below it.
    program = textwrap.dedent(
        f"""
        def peak_mb():
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
        from catalog.hashing.video import fingerprint_video, poster_and_sheet
        data = open({str(path)!r}, "rb").read()
        found = fingerprint_video(data, max_duration_s=60, max_pixels=10**8)
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset the peak to what is resident now
        before = peak_mb()
        poster, sheet = poster_and_sheet(data, found)
        after = peak_mb()
        print(len(found.frames), before, after, len(poster), len(sheet))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    )
    frames, before_mb, after_mb, poster, sheet = map(int, out.stdout.split())
    assert frames >= 15 and poster > 0 and sheet > 0
    assert after_mb - before_mb < 120, (before_mb, after_mb)


def test_poster_is_the_most_detailed_frame_at_a_viewable_size() -> None:
    data = clip((1280, 720), seconds=4)
    found = fingerprint_video(data, max_duration_s=60, max_pixels=10**8)
    poster, sheet = poster_and_sheet(data, found)
    with Image.open(io.BytesIO(poster)) as picture:
        assert max(picture.size) <= 1280 and picture.size[0] > picture.size[1]
    with Image.open(io.BytesIO(sheet)) as picture:
        assert picture.width == 6 * 200
