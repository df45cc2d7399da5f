"""Copies of footage whose picture moves: pillarboxed and letterboxed copies sampled at other
instants than the original, and stills from logo-stamped and cropped copies placed at their
time in the original. Every clip is generated from the sample photographs (three photos each,
no photo shared between clips), so a match outside a clip's own copy is a false one."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from catalog.hashing import fingerprint_query
from catalog.hashing.video import VideoFingerprint, fingerprint_video
from catalog.index import CatalogIndex

from .media import ALL_PHOTOS, PHOTOS
from .video_tools import encode, fit, index_of, moving, video_matches

LIMITS = {"max_duration_s": 3600, "max_pixels": 100_000_000}
SECONDS = 12
LANDSCAPE, PORTRAIT = (640, 360), (360, 640)
# (clip, where the copy starts in seconds, the frame it is boxed into): each copy is sampled
# at other instants than its original, and its bars' edges differ.
BOXED = [
    (0, 0.47, (480, 360)),  # letterboxed into 4:3
    (1, 0.25, (640, 360)),  # portrait pillarboxed into 16:9
    (2, 0.8, (360, 360)),  # letterboxed into a square
    (3, 0.6, (480, 360)),  # portrait pillarboxed into 4:3
    (4, 0.33, (360, 640)),  # landscape letterboxed into portrait
    (5, 0.9, (720, 360)),  # portrait in a wide frame
]


def photos_of(clip: int) -> list[Image.Image]:
    return [
        Image.open(PHOTOS / name).convert("RGB") for name in ALL_PHOTOS[3 * clip : 3 * clip + 3]
    ]


def size_of(clip: int) -> tuple[int, int]:
    return LANDSCAPE if clip % 2 == 0 else PORTRAIT


@pytest.fixture(scope="module")
def originals() -> tuple[CatalogIndex, list[VideoFingerprint]]:
    prints = [
        fingerprint_video(
            encode(moving(photos_of(n), size_of(n), SECONDS), size_of(n), fps=15), **LIMITS
        )
        for n in range(len(BOXED))
    ]
    return index_of(prints), prints


@pytest.mark.parametrize(("clip", "start", "frame"), BOXED)
def test_a_boxed_copy_of_moving_footage_is_found(originals, clip, start, frame) -> None:
    index, _ = originals
    pictures = (fit(p, frame) for p in moving(photos_of(clip), size_of(clip), SECONDS, start=start))
    copy = fingerprint_video(encode(pictures, frame, fps=15, crf=32), **LIMITS)
    found = video_matches(index, copy)
    assert set(found) == {clip + 1}, sorted(found)
    match = found[clip + 1]
    assert match.details["query_coverage"] >= 0.4
    # The copy starts ``start`` seconds into the original; frames a second apart, and
    # keyframes whose keypoints fit the most alike stored keyframe, place it to about that.
    assert match.details["offset"] == pytest.approx(start, abs=1.5)


def test_a_mirrored_copy_is_found_by_its_frames_mirrored(originals) -> None:
    index, _ = originals
    pictures = (
        p.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        for p in moving(photos_of(2), LANDSCAPE, SECONDS, start=0.4)
    )
    copy = fingerprint_video(encode(pictures, LANDSCAPE, fps=15, crf=30), **LIMITS)
    assert all(f.mirrored[0].variant == "full/flip_horizontal" for f in copy.frames)
    found = video_matches(index, copy)
    assert set(found) == {3}
    match = found[3]
    assert match.kind == "mirrored_rotated" and match.details["mirrored"] is True
    assert match.details["query_coverage"] >= 0.8
    assert match.details["offset"] == pytest.approx(0.4, abs=1.0)


def stamped(picture: Image.Image, keep: float) -> bytes:
    """The centre ``keep`` of a frame with a channel's logo over a corner, as a JPEG."""
    width, height = picture.size
    kept_w, kept_h = int(width * keep), int(height * keep)
    left, top = (width - kept_w) // 2, (height - kept_h) // 2
    out = picture.crop((left, top, left + kept_w, top + kept_h))
    draw = ImageDraw.Draw(out)
    draw.rectangle((10, 10, 10 + kept_w // 4, 10 + kept_h // 5), fill=(200, 30, 30))
    draw.text((16, 16), "NEWS 24", fill="white")
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.mark.parametrize("at", [0.5, 2.5, 4.6, 6.3, 8.2, 9.7, 11.4])
def test_a_still_from_a_logo_stamped_copy_is_placed_at_its_time(originals, at) -> None:
    """The still's keypoints fit a keyframe; aligned onto the clip's frame, its hash then finds
    the sampled frame it was taken nearest to."""
    index, _ = originals
    frames = list(moving(photos_of(0), LANDSCAPE, SECONDS))
    [match] = index.match(fingerprint_query(stamped(frames[int(at * 15)], 1.0), 100_000_000))
    assert match.media_id == 1 and match.frame_time == pytest.approx(at, abs=0.6)


@pytest.mark.parametrize("at", [2.5, 6.3, 9.7])
def test_a_still_from_a_cropped_copy_is_placed_near_its_time(originals, at) -> None:
    """A crop is placed at the keyframe its keypoints fit best: keyframes are a second or more
    apart, and in a zooming shot a crop looks most like a frame a little later."""
    index, _ = originals
    frames = list(moving(photos_of(0), LANDSCAPE, SECONDS))
    matches = index.match(fingerprint_query(stamped(frames[int(at * 15)], 0.8), 100_000_000))
    assert [m.media_id for m in matches] == [1]
    assert matches[0].kind == "cropped_contained"
    assert matches[0].frame_time == pytest.approx(at, abs=3.0)


def test_unrelated_moving_footage_matches_nothing(originals) -> None:
    index, _ = originals
    others = [Image.open(PHOTOS / name).convert("RGB") for name in ALL_PHOTOS[18:21]]
    pictures = (
        Image.fromarray(np.asarray(p)[:, ::-1].copy())  # mirrored, as well as unrelated
        for p in moving(others, LANDSCAPE, SECONDS)
    )
    copy = fingerprint_video(encode(pictures, LANDSCAPE, fps=15), **LIMITS)
    assert video_matches(index, copy) == {}
