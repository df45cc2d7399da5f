"""Video: real-time factor of sampling and hashing per resolution (one core), frames kept per
minute, a worker's peak memory while it ingests 1080p and 4K clips, how the sample clips
match each other with their coverage, and recall per transformation of a copy
(``benchmarks.video_copies``).

    python -m benchmarks.video [--seconds 60]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from catalog.hashing.video import fingerprint_video
from tests.audio_tools import music, write_sound
from tests.media import ALL_PHOTOS, CHAIRS, LONERS, PATTERNS, PHOTOS, VIDEOS
from tests.video_tools import index_of, video_matches

from . import video_copies

LIMITS = {"max_duration_s": 4 * 3600, "max_pixels": 100_000_000}


ROOT = Path(__file__).resolve().parent.parent


def make_clip(width: int, height: int, seconds: int, fps: int = 30) -> bytes:
    """Encode a clip like phone footage: a slow pan and zoom over photographs, a cut every 8 s,
    with a soundtrack (AAC, 128 kbit/s: music-like tones), so its sound is read too."""
    photos = [Image.open(PHOTOS / name).convert("RGB") for name in ALL_PHOTOS[:8]]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44_100, layout="stereo")
        sound.bit_rate = 128_000
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        stream.time_base = Fraction(1, fps)
        for n in range(seconds * fps):
            scene = photos[(n // (8 * fps)) % len(photos)]
            t = (n % (8 * fps)) / (8 * fps)
            zoom = 1.0 + 0.3 * t
            w, h = int(scene.width / zoom), int(scene.height / zoom)
            x = int((scene.width - w) * t)
            picture = scene.crop(
                (x, (scene.height - h) // 2, x + w, (scene.height - h) // 2 + h)
            ).resize((width, height))
            for packet in stream.encode(av.VideoFrame.from_image(picture)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        write_sound(container, sound, music(seconds, seed=width))
    return buffer.getvalue()


def speed_rows(seconds: int) -> list[tuple[str, ...]]:
    rows = []
    for label, (width, height) in {
        "480p": (854, 480),
        "720p": (1280, 720),
        "1080p": (1920, 1080),
    }.items():
        data = make_clip(width, height, seconds)
        started = time.perf_counter()
        found = fingerprint_video(data, **LIMITS)
        elapsed = time.perf_counter() - started
        target = {"720p": "≥ 30×", "1080p": "≥ 12×"}.get(label, "")
        rows.append(
            (
                f"{label} H.264 ({width}x{height}, {len(data) * 8 / seconds / 1e6:.1f} Mbit/s)",
                f"{seconds} s",
                f"{elapsed:.2f} s",
                f"{found.duration / elapsed:.1f}×",
                target,
                f"{len(found.frames) / found.duration * 60:.0f}",
                f"{found.decoded_frames}",
            )
        )
    return rows


def match_rows() -> list[tuple[str, ...]]:
    """Each sample clip searched against all of them, by frames and keyframes as the search
    service does (sound aside: the pattern clips share none)."""
    names = sorted(CHAIRS + PATTERNS + LONERS)
    prints = [fingerprint_video((VIDEOS / name).read_bytes(), **LIMITS) for name in names]
    index = index_of(prints)
    rows = []
    for media_id, name in enumerate(names, start=1):
        found = video_matches(index, prints[media_id - 1])
        family = name.split("-")[0]
        expected = {
            n for n in names if n.split("-")[0] == family and family in ("chair", "pattern")
        } - {name}
        got = {names[m - 1]: match for m, match in found.items() if m != media_id}
        cells = (
            ", ".join(
                f"{other} ({got[other].details['query_coverage']:.2f}"
                f"/{got[other].details['match_coverage']:.2f})"
                for other in sorted(got)
            )
            or "nothing"
        )
        missed = sorted(expected - set(got))
        wrong = sorted(set(got) - expected)
        rows.append((name, cells, ", ".join(missed) or "none", ", ".join(wrong) or "none"))
    return rows


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    return "\n".join(
        ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(r) + " |" for r in rows]
    )


# What a worker does with an uploaded video, in a child process of its own: read it, sample
# and hash it, make the poster and contact sheet. Peak resident memory against the same
# process once the file is read (the baseline of the same run).
# The peak is VmHWM, reset once the file is read (a child's ru_maxrss starts at its parent's).
_WORKER = """
def peak_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
from catalog.hashing.audio import RATE
from catalog.hashing.video import fingerprint_video, poster_and_sheet
data = open({path!r}, "rb").read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
idle = peak_mb()
found = fingerprint_video(data, max_duration_s=4 * 3600, max_pixels=100_000_000)
poster_and_sheet(data, found)
print(idle, peak_mb(), len(found.frames))
"""


def memory_rows(seconds: int) -> list[tuple[str, ...]]:
    rows = []
    for label, (width, height) in {"1080p": (1920, 1080), "4K": (3840, 2160)}.items():
        data = make_clip(width, height, seconds, fps=10)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "clip.mp4"
            path.write_bytes(data)
            out = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(_WORKER.format(path=str(path)))],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
        idle, peak, kept = map(int, out.stdout.split())
        rows.append(
            (
                f"{label} H.264 ({width}x{height}, {seconds} s, {len(data) / 1e6:.1f} MB)",
                str(kept),
                f"{idle} MB",
                f"{peak} MB",
                f"{peak - idle} MB",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clips", type=int, default=8, help="clips for the copies table")
    args = parser.parse_args(argv)
    print("Video sampling and hashing, one core\n")
    print(
        table(
            (
                "clip",
                "length",
                "time",
                "real-time factor",
                "target",
                "frames kept per minute",
                "frames decoded",
            ),
            speed_rows(args.seconds),
        )
    )
    print("\nA worker's memory while it ingests a video (fingerprint, poster, contact sheet)\n")
    print(
        table(
            ("clip", "frames kept", "file read", "peak", "peak over file read"),
            memory_rows(args.seconds),
        )
    )
    print("\nSample clips against each other (coverage: query/match)\n")
    print(
        table(
            ("query", "matches (coverage)", "family members missed", "wrong matches"), match_rows()
        )
    )
    print()
    video_copies.main(["--clips", str(args.clips), "--seconds", str(args.seconds)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
