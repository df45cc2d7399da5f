"""Distractor pictures for the scale runs: composites of Debian wallpapers, fingerprinted.

Each distractor is made from the wallpapers (``benchmarks.wallpapers``) by a fixed recipe
seeded by its number: a crop of one wallpaper at a random place and scale, often with a part
of another set into it, sometimes recoloured; encoded as JPEG and fingerprinted by the
catalogue's own pipeline (``fingerprint_image``), exactly as an upload would be. What is kept
is the fingerprint (hashes, ORB keypoints), cached in ``benchmarks/out`` so a re-run reuses it.

    python -m benchmarks.distractors --count 10000
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from catalog.hashing.pipeline import fingerprint_image

from . import wallpapers

CACHE = Path(__file__).resolve().parent / "out"
MAX_PIXELS = 50_000_000

_SOURCES: list[np.ndarray] = []


@dataclass
class Fingerprints:
    """Stored fingerprints of many pictures, as arrays (one row per picture)."""

    sha256: list[str]
    pdq: np.ndarray  # uint8 n x 32, the full view
    phash: np.ndarray  # uint8 n x 8
    descriptors: np.ndarray  # uint8 n x 96 x 32 (zero-padded)
    positions: np.ndarray  # uint16 n x 96 x 2
    keypoints: np.ndarray  # int n: how many of the 96 are real
    sizes: np.ndarray  # int n x 2: working width, height

    def __len__(self) -> int:
        return len(self.sha256)


def composite(number: int) -> bytes:
    """Return distractor ``number`` as JPEG bytes (needs the wallpapers loaded)."""
    rng = random.Random(number)
    base = _crop(rng, _SOURCES[rng.randrange(len(_SOURCES))], rng.uniform(0.3, 0.95))
    longest = rng.randint(640, 1200)
    base.thumbnail((longest, longest), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:  # a part of another wallpaper set into it
        inset = _crop(rng, _SOURCES[rng.randrange(len(_SOURCES))], rng.uniform(0.2, 0.6))
        side = int(min(base.size) * rng.uniform(0.25, 0.5))
        inset.thumbnail((side, side), Image.Resampling.BILINEAR)
        base.paste(
            inset,
            (
                rng.randrange(base.width - inset.width + 1),
                rng.randrange(base.height - inset.height + 1),
            ),
        )
    if rng.random() < 0.3:
        base = ImageEnhance.Color(base).enhance(rng.uniform(0.3, 1.6))
        base = ImageEnhance.Brightness(base).enhance(rng.uniform(0.7, 1.3))
    out = io.BytesIO()
    base.save(out, "JPEG", quality=rng.randint(70, 92))
    return out.getvalue()


def _crop(rng: random.Random, rgb: np.ndarray, share: float) -> Image.Image:
    height, width = rgb.shape[:2]
    h = max(64, int(height * share * rng.uniform(0.8, 1.2)))
    w = max(64, int(width * share * rng.uniform(0.8, 1.2)))
    h, w = min(h, height), min(w, width)
    top, left = rng.randrange(height - h + 1), rng.randrange(width - w + 1)
    return Image.fromarray(np.ascontiguousarray(rgb[top : top + h, left : left + w]))


def _fingerprint(number: int) -> tuple[str, bytes, bytes, np.ndarray, np.ndarray, int, int]:
    data = composite(number)
    found = fingerprint_image(data, MAX_PIXELS)
    pdq = next(h.bits for h in found.hashes if h.algorithm == "pdq" and h.variant == "full")
    phash = next(h.bits for h in found.hashes if h.algorithm == "phash" and h.variant == "full")
    descriptors, positions = found.features.pack()
    return (
        hashlib.sha256(data).hexdigest(),
        pdq,
        phash,
        np.frombuffer(descriptors, np.uint8).reshape(-1, 32),
        np.frombuffer(positions, "<u2").reshape(-1, 2),
        found.features.width,
        found.features.height,
    )


def _load_sources() -> None:
    _SOURCES[:] = [wallpapers.load(p) for p in wallpapers.require()]


def make(count: int, jobs: int = 2) -> Fingerprints:
    """Return the fingerprints of distractors 0..count-1 (cached in ``benchmarks/out``)."""
    path = CACHE / f"distractors-{count}.npz"
    if path.is_file():
        with np.load(path) as data:
            return Fingerprints(
                [str(s) for s in data["sha256"]],
                data["pdq"],
                data["phash"],
                data["descriptors"],
                data["positions"],
                data["keypoints"],
                data["sizes"],
            )
    _load_sources()  # before the fork, so the workers share the decoded wallpapers
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs) as pool:
        results = pool.map(_fingerprint, range(count), chunksize=64)
    limit = 96
    descriptors = np.zeros((count, limit, 32), np.uint8)
    positions = np.zeros((count, limit, 2), np.uint16)
    for i, (_, _, _, desc, pos, _, _) in enumerate(results):
        descriptors[i, : len(desc)] = desc
        positions[i, : len(pos)] = pos
    found = Fingerprints(
        [r[0] for r in results],
        np.array([np.frombuffer(r[1], np.uint8) for r in results]),
        np.array([np.frombuffer(r[2], np.uint8) for r in results]),
        descriptors,
        positions,
        np.array([len(r[3]) for r in results]),
        np.array([(r[5], r[6]) for r in results]),
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        sha256=np.array(found.sha256),
        pdq=found.pdq,
        phash=found.phash,
        descriptors=found.descriptors,
        positions=found.positions,
        keypoints=found.keypoints,
        sizes=found.sizes,
    )
    return found


def main() -> None:
    """Make (or read from the cache) the distractors and say how many keypoints they carry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    started = time.monotonic()
    found = make(args.count)
    print(
        f"{len(found)} distractors, {int(found.keypoints.sum()):,} keypoints, "
        f"{len(set(found.sha256))} distinct files, {time.monotonic() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
