"""Sound: recall and false matches per transformation, fingerprinting speed, and look-up time
in an index of 100,000 recordings against one of 10,000 (the ratio shows whether look-ups
grow with the catalogue).

    python -m benchmarks.audio [--recordings 100000] [--seconds 20] [--queries 40]

Recordings of the transformation table are speech from espeak-ng with music between
sentences (``tests/audio_tools``); the scale recordings are generated chords, a new one every
0.15 s over noise, each distinct (speech would take hours to make a hundred thousand of).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from catalog.hashing.audio import (
    RATE,
    AudioPrint,
    QueryVariant,
    decode_audio,
    fingerprint_samples,
    listen,
    query_variants,
)
from catalog.index.audio import AudioIndex
from tests.audio_tools import (
    OTHER_SENTENCES,
    at_speed,
    encode,
    excerpt,
    music,
    recording,
    under,
)

from .speed import table

TRANSFORMS = {
    "excerpt, 15 s of 5 min": lambda x: x,
    "AAC 64 kbit/s": lambda x: _back(encode(x, "aac")),
    "Opus 64 kbit/s": lambda x: _back(encode(x, "libopus")),
    "10 dB quieter": lambda x: x * 0.316,
    "3 % faster": lambda x: at_speed(x, 1.03),
    "3 % slower": lambda x: at_speed(x, 0.97),
    "music under at -12 dB": lambda x: under(x, music(15, 7), -12),
}


def _back(data: bytes) -> np.ndarray:
    samples = decode_audio(data, max_duration_s=3600)
    assert samples is not None
    return samples


def transformations(originals: int) -> list[tuple[str, ...]]:
    """Recall of each transformation's excerpts, and what unrelated speech matched."""
    index = AudioIndex()
    sounds = [recording(300, seed=1000 + n) for n in range(originals)]
    for n, sound in enumerate(sounds):
        index.add(n, fingerprint_samples(sound))
    rows = []
    rng = np.random.default_rng(5)
    for name, change in TRANSFORMS.items():
        found = placed = 0
        for n, sound in enumerate(sounds):
            start = float(rng.uniform(10, 270))
            matches = index.search(query_variants(change(excerpt(sound, start, 15))))
            best = next((m for m in matches if m.recording_id == n), None)
            found += best is not None
            placed += best is not None and abs(best.segments[0].match_start - start) < 1.5
        rows.append((name, f"{found}/{originals}", f"{placed}/{originals}", "—"))
    false = 0
    for n in range(originals):
        other = recording(15, seed=5000 + n, sentences=OTHER_SENTENCES)
        false += len(index.search(query_variants(other)))
    rows.append(("unrelated speech", "—", "—", f"{false} in {originals} queries"))
    return rows


def _chords(args: tuple[int, float]) -> tuple[bytes, bytes, float]:
    """One distinct generated recording's fingerprint (stored form)."""
    made = fingerprint_samples(_chords_samples(*args))
    return made.to_bytes(), made.mask_bytes(), made.duration


def scale(recordings: int, seconds: float, queries: int) -> list[tuple[str, ...]]:
    """Look-up time at ``recordings`` against a tenth of them, and the index's memory."""
    started = time.perf_counter()
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        made = pool.map(_chords, [(n, seconds) for n in range(recordings)], chunksize=200)
    making = time.perf_counter() - started
    prints = [AudioPrint.from_bytes(v, m, d) for v, m, d in made]
    rng = np.random.default_rng(9)
    asked = [int(i) for i in rng.choice(recordings // 10, size=queries, replace=False)]
    # Queries: 8 s from the middle of catalogued recordings (in the smaller index too), read
    # every way a search reads them.
    readings = []
    for i in asked:
        seed_samples = _chords_samples(i, seconds)
        middle = len(seed_samples) // 2
        readings.append(query_variants(seed_samples[middle - 4 * RATE : middle + 4 * RATE]))
    rows = [
        ("recordings made and fingerprinted", f"{recordings} × {seconds:g} s in {making:.0f} s")
    ]
    for size in (recordings // 10, recordings):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        index = AudioIndex()
        took = time.perf_counter()
        for n in range(size):
            index.add(n, prints[n])
        index.search(readings[0])  # merges the pending postings
        built = time.perf_counter() - took
        grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        times, hits = _lookups(index, asked, readings)
        rows += [
            (
                f"{size:,} recordings: index",
                f"{index.postings:,} values, built in {built:.1f} s, +{grew:.0f} MB peak",
            ),
            (
                f"{size:,} recordings: look-up p50 / p99",
                f"{statistics.median(times) * 1000:.1f} / {np.percentile(times, 99) * 1000:.1f} ms"
                f" (12 readings of an 8 s query), found {hits}/{len(asked)}",
            ),
        ]
    rows += _mapped(index, asked, readings)
    return rows


def _lookups(
    index: AudioIndex, asked: list[int], readings: list[list[QueryVariant]]
) -> tuple[list[float], int]:
    """Time each query's search; return the times and how many found their recording."""
    times, hits = [], 0
    for i, variants in zip(asked, readings, strict=True):
        began = time.perf_counter()
        matches = index.search(variants)
        times.append(time.perf_counter() - began)
        hits += any(m.recording_id == i for m in matches)
    return times, hits


def _mapped(
    index: AudioIndex, asked: list[int], readings: list[list[QueryVariant]]
) -> list[tuple[str, ...]]:
    """The same index saved as a snapshot's sound and mapped back, as a restarted worker
    opens it: time to save and to open, size on disk, look-ups over the mapped arrays."""
    folder = Path(tempfile.mkdtemp(prefix="bench-sound-snapshot-"))
    try:
        took = time.perf_counter()
        index.save(folder)
        saved = time.perf_counter() - took
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        took = time.perf_counter()
        mapped = AudioIndex()
        mapped.open_base(folder)
        opened = time.perf_counter() - took
        times, hits = _lookups(mapped, asked, readings)
        return [
            (
                f"{len(mapped):,} recordings: snapshot",
                f"saved in {saved:.1f} s, {size:.0f} MB on disk, mapped in {opened * 1000:.0f} ms",
            ),
            (
                f"{len(mapped):,} recordings mapped: look-up p50 / p99",
                f"{statistics.median(times) * 1000:.1f} / {np.percentile(times, 99) * 1000:.1f} ms"
                f" (first look-ups read the pages from disk), found {hits}/{len(asked)}",
            ),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _chords_samples(seed: int, seconds: float) -> np.ndarray:
    """The samples ``_chords`` fingerprinted for ``seed`` (made again, the same)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    out = rng.normal(0, 0.02, len(t))
    step = int(0.15 * RATE)
    for start in range(0, len(t), step):
        part = slice(start, start + step)
        for note in 110 * 2 ** (rng.integers(0, 36, size=3) / 12):
            out[part] += np.sin(2 * np.pi * note * t[part]) * rng.uniform(0.05, 0.2)
    return (out / max(1e-9, np.abs(out).max()) * 0.6).astype(np.float32)


def speed() -> list[tuple[str, ...]]:
    """How many times faster than real time sound is decoded and fingerprinted."""
    sound = encode(recording(300, seed=77), "aac", 96_000)
    started = time.perf_counter()
    heard = listen(sound, max_duration_s=3600)
    took = time.perf_counter() - started
    assert heard is not None
    return [
        (
            "decode + fingerprint + 12 query readings, 5 min AAC",
            f"{took:.2f} s: {300 / took:.0f}× real time on one core",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--originals", type=int, default=12)
    args = parser.parse_args(argv)
    print("Sound: recall per transformation (15 s excerpts of 5-minute recordings)\n")
    print(
        table(
            ("transformation", "found", "placed (±1.5 s)", "false matches"),
            transformations(args.originals),
        )
    )
    print("\nSound: fingerprinting speed\n")
    print(table(("measure", "value"), speed()))
    print("\nSound: look-up at scale\n")
    print(table(("measure", "value"), scale(args.recordings, args.seconds, args.queries)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
