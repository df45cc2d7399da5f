"""Memory of `flask catalog import` against the folder's size: the peak of the whole command
(the importing process and its hashing processes, summed) should not grow with the number of
files, since the hashing works only a few files ahead of the ingest.

    python -m benchmarks.import_memory [--counts 100 10000]

Each count gets a folder of its own of distinct 800x600 JPEGs, made the same way every run
from the sample photographs, and a fresh SQLite catalogue. The time includes start-up; the
peak is the largest sum of the processes' RSS seen in samples every 50 ms (pages shared
between them count in each, the same at every count).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.media import ALL_PHOTOS, PHOTOS

ROOT = Path(__file__).resolve().parent.parent
SIZE = (800, 600)
SAMPLE_SECONDS = 0.05


@functools.cache
def _photo(name: str) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB")


def make_jpegs(folder: Path, count: int) -> list[Path]:
    """Write ``count`` distinct 800x600 JPEGs; file n is the same whatever ``count`` is."""
    paths = []
    for n in range(count):
        rng = np.random.default_rng(n)
        # Two crops of two photographs blended, tinted and with noise: distinct pictures,
        # not near-copies of a few, so the import does the work of a real folder.
        layers = []
        for name in rng.choice(ALL_PHOTOS, 2, replace=False):
            image = _photo(str(name))
            w, h = image.size
            cw, ch = int(w * rng.uniform(0.3, 0.9)), int(h * rng.uniform(0.3, 0.9))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = image.crop((x, y, x + cw, y + ch)).resize(SIZE, Image.Resampling.BILINEAR)
            layers.append(np.asarray(crop, dtype=np.int32))
        # In integers (weights out of 256): float noise on every file costs more than the rest.
        weight = int(rng.integers(51, 103))
        pixels = (layers[0] * (256 - weight) + layers[1] * weight) >> 8
        pixels = (pixels * rng.integers(205, 308, size=3)) >> 8
        pixels += rng.integers(-8, 9, size=pixels.shape, dtype=np.int32)
        path = folder / f"photo-{n:05d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=85)
        paths.append(path)
    return paths


def _tree(root: int) -> list[int]:
    """Return ``root`` and every process descended from it that is alive now."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # ended while we looked
        # The command name may hold spaces and parentheses: the fields follow its last ")".
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0  # ended, or a zombie (which holds no memory)


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command``; return its seconds, the peak summed RSS of its process tree in MB and
    its standard output."""
    peak_kb = 0
    done = threading.Event()

    def sample(pid: int) -> None:
        nonlocal peak_kb
        while not done.is_set():
            peak_kb = max(peak_kb, sum(_rss_kb(p) for p in _tree(pid)))
            done.wait(SAMPLE_SECONDS)

    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = threading.Thread(target=sample, args=(process.pid,), daemon=True)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{err[-2000:]}")
    return seconds, peak_kb / 1024, out


def measure(count: int) -> dict:
    """Import ``count`` fresh JPEGs into a fresh SQLite catalogue; return one row."""
    work = Path(tempfile.mkdtemp(prefix="bench-import-memory-"))
    try:
        folder = work / "photos"
        folder.mkdir()
        make_jpegs(folder, count)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
        env["CATALOG_INSTANCE_PATH"] = str(work / "instance")
        flask = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        seconds, peak_mb, out = run_measured([*flask, "import", str(folder)], env)
        summary = out.strip().splitlines()[-1]
        if summary != f"added {count}, already known 0, rejected 0":
            raise RuntimeError(f"unexpected import result: {summary}")
        return {
            "files": count,
            "seconds": round(seconds, 1),
            "files_per_s": round(count / seconds, 1),
            "peak_mb": round(peak_mb),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows(counts: tuple[int, ...] = (100, 10_000)) -> list[dict]:
    """Measure the import of each count of files, smallest first."""
    return [measure(count) for count in sorted(counts)]


def main(argv: list[str] | None = None) -> int:
    """Print the measured rows as a markdown table, with the ratio of peak memories."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[100, 10_000])
    args = parser.parse_args(argv)
    measured = rows(tuple(args.counts))
    print(
        f"`flask catalog import` of 800x600 JPEGs, fresh SQLite catalogue, --jobs "
        f"{os.cpu_count()} (default), start-up included; peak = summed RSS of the "
        f"command's processes, sampled every {SAMPLE_SECONDS * 1000:.0f} ms\n"
    )
    print("| files | seconds | files/s | peak MB |\n|---|---|---|---|")
    for row in measured:
        print(
            f"| {row['files']:,} | {row['seconds']:.1f} | {row['files_per_s']:.1f} "
            f"| {row['peak_mb']:,} |"
        )
    smallest, largest = measured[0], measured[-1]
    print(
        f"\npeak at {largest['files']:,} files / peak at {smallest['files']:,} files: "
        f"{largest['peak_mb'] / smallest['peak_mb']:.2f}× (target ≤ 1.2×)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
