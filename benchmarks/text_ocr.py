"""OCR speed on one core: a 12-megapixel photograph without text, pictures with text, a 720p
video with text as a multiple of real time, and the hashing step of `flask catalog import` of
12-megapixel photographs with text reading on and off, against the naive hashing pipeline.

    python -m benchmarks.text_ocr [--photos 48] [--texts 10] [--video-s 10]

The process pins itself to one core (``os.sched_setaffinity``) and sets ``OMP_THREAD_LIMIT=1``
before Tesseract is loaded, so each figure is one core's work; the import's hashing processes
each run on one core too (catalog/cli/media.py). Ratios are measured in the same run, since
these machines are shared. Reading is timed through ``catalog.text.read.read_file``, as the
import calls it (decode included); the import rows time ``prepare_file`` (fingerprints, and the
text unless ``text_options`` is None) file after file, the naive pipeline is
``benchmarks.speed.naive_hash``.
"""

from __future__ import annotations

import os

# Before anything loads Tesseract or OpenMP: one thread, on one core.
os.environ["OMP_THREAD_LIMIT"] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from benchmarks.speed import make_12mp_jpegs, naive_hash  # noqa: E402
from benchmarks.text_recall import FACES, STYLES, draw_picture, video  # noqa: E402
from catalog.cli.media import prepare_file  # noqa: E402
from catalog.config import DEFAULTS  # noqa: E402
from catalog.services.text import reading_options  # noqa: E402
from catalog.text import ocr  # noqa: E402
from catalog.text.read import read_file  # noqa: E402

# Sample pictures that show text (a scanned page, letters, a logo): not photographs without it.
WITH_TEXT = ("page.png", "text.png", "logo.png")
LINES = ["Песков: переговоры сорваны", "Зеленський: термінова заява", "Kadyrov: talks collapse"]


def timed(path: Path, kind: str, options: dict[str, object]) -> tuple[float, int]:
    """Seconds to read ``path``'s text, and how many lines were read."""
    started = time.perf_counter()
    with open(path, "rb") as handle:
        reading = read_file(handle, kind, **options)  # type: ignore[arg-type]
    return time.perf_counter() - started, len(reading.spans)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms (max {max(values) * 1000:.0f})"


def bench(work: Path, photos: int, texts: int, video_s: float) -> list[tuple[str, str]]:
    """Time each measure; return the table's rows."""
    options = reading_options(DEFAULTS)
    limits = (
        int(DEFAULTS["MAX_IMAGE_PIXELS"]),
        int(float(DEFAULTS["MAX_UPLOAD_MB"]) * 1024 * 1024),
        float(DEFAULTS["MAX_VIDEO_SECONDS"]),
    )
    plain = make_12mp_jpegs(work, photos, leave_out=WITH_TEXT)
    rng = random.Random(11)
    with_text = []
    for n in range(texts):
        path = work / f"text-{n:02d}.jpg"
        style, face = STYLES[n % len(STYLES)], FACES[n % len(FACES)]
        draw_picture(style, LINES[n % len(LINES)], face, rng)[0].save(path, quality=90)
        with_text.append(path)
    clip = work / "clip.mp4"
    video(
        clip,
        LINES[0],
        min(1.0, video_s / 4),
        FACES[0],
        rng,
        seconds=video_s,
        size=(1280, 720),
        fps=25,
        style="chyron",  # a band the cheap test finds (burnt subtitles: see text_recall)
    )

    timed(with_text[0], "image", options)  # warm-up: Tesseract's models load once
    no_text: list[float] = []
    called: list[str] = []
    for path in plain:
        before = ocr.calls["recognize"]
        no_text.append(timed(path, "image", options)[0])
        if ocr.calls["recognize"] > before:
            called.append(f"{path.name} ({ocr.calls['recognize'] - before})")
    text_times, lines = zip(*(timed(p, "image", options) for p in with_text), strict=True)
    video_seconds, video_lines = timed(clip, "video", options)

    started = time.perf_counter()
    for path in plain:
        naive_hash(path)
    naive = time.perf_counter() - started
    started = time.perf_counter()
    for path in plain:
        prepare_file(str(path), *limits, None)
    off = time.perf_counter() - started
    started = time.perf_counter()
    for path in plain:
        prepare_file(str(path), *limits, options)
    on = time.perf_counter() - started
    return [
        (
            f"12-MP photograph without text ({photos})",
            f"{ms(no_text)}; Tesseract called on {len(called)}: {', '.join(called) or 'none'}",
        ),
        (f"picture with text, 0.9–1.7 MP ({texts}, {sum(lines)} lines read)", ms(list(text_times))),
        (
            f"720p video with text, {video_s:.0f} s at 25 fps ({video_lines} lines read)",
            f"{video_seconds:.1f} s, {video_seconds / video_s:.3f}× real time",
        ),
        (f"naive hashing (decode, phash, pdq), {photos} photographs", f"{naive:.1f} s"),
        (
            "import's hashing, text reading off",
            f"{off:.1f} s ({naive / off:.1f}× faster than naive)",
        ),
        (
            "import's hashing, text reading on",
            f"{on:.1f} s ({on / off:.2f}× reading off, {naive / on:.1f}× faster than naive)",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=48, help="12-MP photographs without text")
    parser.add_argument("--texts", type=int, default=10, help="pictures with text")
    parser.add_argument("--video-s", type=float, default=10.0, help="length of the 720p video")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-text-ocr-"))
    try:
        rows = bench(work, args.photos, args.texts, args.video_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"OCR speed on {cores} core (OMP_THREAD_LIMIT=1)\n")
    print("| measure | value |\n|---|---|")
    print("\n".join(f"| {a} | {b} |" for a, b in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
