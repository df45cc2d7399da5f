"""Video copies: recall, placement and false matches per transformation of a clip, through the
search service, and which evidence found each copy (frames, sound, or both).

    python -m benchmarks.video_copies [--clips 8] [--seconds 60]

The catalogue holds ``--clips`` clips of moving footage (a slow pan and zoom over two sample
photographs each, no photo shared) with a spoken soundtrack (espeak-ng, music between
sentences). Each query is a 15-second excerpt from a random place, changed one way; the
unrelated queries are other photographs under other sentences.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from catalog import create_app, schema
from catalog.db import database, get_session, make_engine
from catalog.hashing.video import fingerprint_video
from catalog.services.media import get_index, ingest_bytes, search_file, thresholds_from
from catalog.services.records import IngestDetails
from catalog.storage import get_storage
from tests.audio_tools import (
    OTHER_SENTENCES,
    at_speed,
    excerpt,
    film_frames,
    made_up_sentences,
    music,
    recording,
    under,
)
from tests.media import ALL_PHOTOS, PHOTOS
from tests.video_tools import fit, moving

from .speed import table

SIZE = (640, 360)
FPS = 15
EXCERPT_S = 15.0


@dataclass(frozen=True)
class Change:
    """One way a copy differs from its original."""

    picture: Callable[[Image.Image], Image.Image] = lambda p: p
    sound: Callable[[np.ndarray], np.ndarray] = lambda s: s
    speed: float = 1.0
    crf: int = 28
    audio_bit_rate: int = 128_000


def _newscast(picture: Image.Image) -> Image.Image:
    """The picture at 40 % of the width, inset in a studio frame with a headline and ticker."""
    frame = Image.new("RGB", SIZE, (18, 34, 82))
    draw = ImageDraw.Draw(frame)
    for y in range(0, SIZE[1], 6):  # a studio backdrop with some texture
        draw.line((0, y, SIZE[0], y), fill=(24, 44 + y % 30, 100))
    draw.rectangle((0, 300, SIZE[0], SIZE[1]), fill=(200, 20, 30))
    draw.text((12, 318), "BREAKING: footage shared online shows the scene", fill="white")
    draw.text((20, 40), "LIVE", fill="white")
    width = int(SIZE[0] * 0.4)
    inset = picture.resize((width, width * SIZE[1] // SIZE[0]))
    frame.paste(inset, (SIZE[0] - width - 24, 60))
    return frame


def _large_logo(picture: Image.Image) -> Image.Image:
    """A channel's emblem over a third of the picture's height, and a ticker along the foot."""
    out = picture.copy()
    draw = ImageDraw.Draw(out)
    radius = SIZE[1] // 6
    cx, cy = SIZE[0] // 2 - 60, SIZE[1] // 2 - 30
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline="black", width=9)
    draw.ellipse((cx - 30, cy - 20, cx - 10, cy), fill="black")
    draw.ellipse((cx + 10, cy - 20, cx + 30, cy), fill="black")
    draw.arc((cx - 35, cy, cx + 35, cy + 40), 0, 180, fill="black", width=8)
    draw.rectangle((0, SIZE[1] - 44, SIZE[0], SIZE[1]), fill=(250, 200, 0))
    draw.text((10, SIZE[1] - 30), "SHARE IF YOU SAW THIS  ·  FOLLOW FOR MORE", fill="black")
    return out


CHANGES: dict[str, Change] = {
    "excerpt, 15 s of the clip": Change(),
    "re-encoded: 240p, CRF 34, AAC 64 kbit/s": Change(
        picture=lambda p: p.resize((426, 240)), crf=34, audio_bit_rate=64_000
    ),
    "sound 10 dB quieter": Change(sound=lambda s: s * 0.316),
    "3 % faster (picture and sound)": Change(speed=1.03),
    "3 % slower (picture and sound)": Change(speed=0.97),
    "music under the speech at -12 dB": Change(sound=lambda s: under(s, music(20, 7), -12)),
    "letterboxed into 4:3": Change(picture=lambda p: fit(p, (480, 360))),
    "pillarboxed into a wider frame": Change(picture=lambda p: fit(p, (800, 360))),
    "picture mirrored": Change(picture=lambda p: p.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "inset at 40 % in a newscast frame": Change(picture=_newscast),
    "large logo and ticker": Change(picture=_large_logo),
}


def _photos(clip: int) -> list[Image.Image]:
    return [Image.open(PHOTOS / n).convert("RGB") for n in ALL_PHOTOS[2 * clip : 2 * clip + 2]]


def _film(
    photos: list[Image.Image], sound: np.ndarray, start: float, seconds: float, change: Change
) -> bytes:
    """The footage from ``start`` for ``seconds`` (of the original's time), changed."""
    pictures: Iterator[np.ndarray] = (
        np.asarray(change.picture(p))
        for p in moving(photos, SIZE, start + seconds, fps=FPS, start=start, speed=change.speed)
    )
    heard = change.sound(excerpt(sound, start, seconds))
    if change.speed != 1.0:
        heard = at_speed(heard, change.speed)
    return film_frames(
        pictures, heard, fps=FPS, crf=change.crf, audio_bit_rate=change.audio_bit_rate
    )


def rows(clips: int, seconds: float) -> list[tuple[str, ...]]:
    """Catalogue the clips, search every changed excerpt, and tabulate what was found."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        url = f"sqlite:///{work / 'catalog.db'}"
        schema.upgrade(make_engine(url))
        app = create_app(
            {"DATABASE_URL": url, "MEDIA_ROOT": str(work / "media"), "SECRET_KEY": "b"}
        )
        with app.app_context(), database(app).sessions():
            return _measure(app, clips, seconds)


def _measure(app, clips: int, seconds: float) -> list[tuple[str, ...]]:  # noqa: ANN001
    session, holder = get_session(), get_index()
    thresholds = thresholds_from(app.config)
    limits = {"max_pixels": app.config["MAX_IMAGE_PIXELS"]}
    # Each clip says its own sentences: the same sentence in the same synthetic voice is the
    # same sound, and would match across clips.
    sounds = [
        recording(seconds, seed=3000 + n, sentences=made_up_sentences(3000 + n))
        for n in range(clips)
    ]
    media_ids = []
    took = time.perf_counter()
    for n in range(clips):
        data = _film(_photos(n), sounds[n], 0.0, seconds, Change())
        result = ingest_bytes(
            session,
            get_storage(),
            holder,
            data,
            IngestDetails(title=f"clip {n}"),
            actor=None,
            thresholds=thresholds,
            **limits,
        )
        media_ids.append(result.media.id)
    print(f"catalogued {clips} clips of {seconds:g} s in {time.perf_counter() - took:.0f} s")
    rng = np.random.default_rng(11)
    out = []
    for name, change in CHANGES.items():
        found = placed = wrong = pictures = pictures_placed = 0
        evidence: Counter[str] = Counter()
        for n in range(clips):
            start = float(rng.uniform(2, seconds - EXCERPT_S - 2))
            query = _film(_photos(n), sounds[n], start, EXCERPT_S, change)
            results = search_file(session, holder, query, thresholds, **limits)
            hit = next((r for r in results if r.media_id == media_ids[n]), None)
            wrong += sum(r.media_id != media_ids[n] for r in results)
            seen = _by_pictures(session, holder, query, thresholds, limits)
            pictures += media_ids[n] in seen
            pictures_placed += abs(seen.get(media_ids[n], -1e9) - start) <= 1.5
            if hit is None:
                continue
            found += 1
            evidence[hit.evidence] += 1
            # The sound places a copy to a few milliseconds, frames to about a second.
            offset = hit.details.get("audio_offset", hit.details.get("offset"))
            placed += offset is not None and abs(offset - start) <= 1.5
        split = ", ".join(f"{k} {v}" for k, v in sorted(evidence.items())) or "—"
        out.append(
            (
                name,
                f"{found}/{clips}",
                f"{placed}/{clips}",
                split,
                f"{pictures}/{clips}, placed {pictures_placed}",
                str(wrong),
            )
        )
    false = 0
    for n in range(3):
        others = [
            Image.open(PHOTOS / p).convert("RGB") for p in ALL_PHOTOS[16 + 2 * n : 18 + 2 * n]
        ]
        other = recording(EXCERPT_S, seed=7000 + n, sentences=OTHER_SENTENCES)
        query = _film(others, other, 0.0, EXCERPT_S, Change())
        false += len(search_file(session, holder, query, thresholds, **limits))
    out.append(("unrelated footage and speech", "—", "—", "—", "—", f"{false} in 3 queries"))
    return out


def _by_pictures(session, holder, query: bytes, thresholds, limits: dict) -> dict[int, float]:  # noqa: ANN001
    """The media the query's pictures find with no help from its sound, with the offset."""
    found = fingerprint_video(query, max_duration_s=3600, **limits)
    return {
        m.media_id: m.details["offset"]
        for m in holder.index.match_frames(
            [(f.time, f.hashes) for f in found.frames],
            thresholds,
            features=[(f.time, f.features) for f in found.frames if f.features is not None],
            load_features=holder.feature_loader(session),
            mirrored=[(f.time, f.mirrored) for f in found.frames],
        )
    }


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.seconds < EXCERPT_S + 5:
        parser.error(f"--seconds must be at least {EXCERPT_S + 5:g}")
    print(
        f"Video copies: {EXCERPT_S:g} s excerpts of {args.clips} clips of {args.seconds:g} s, "
        "each changed one way\n"
    )
    print(
        table(
            (
                "change",
                "found",
                "placed (±1.5 s)",
                "found by",
                "by pictures alone",
                "other clips matched",
            ),
            rows(args.clips, args.seconds),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
