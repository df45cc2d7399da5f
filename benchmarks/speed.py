"""Speed and memory: (1) importing 12-megapixel JPEGs against the naive hashing pipeline,
(2) search by hash with 1 and 10 million catalogued images, (3) bulk import rate.

    python -m benchmarks.speed [--files 40] [--sizes 1000000,10000000] [--kinds flat,multihash]

Ratios are measured against a baseline in the same run, since these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
import sqlalchemy as sa
from PIL import Image, ImageFilter

from catalog import create_app, schema
from catalog.db import database, make_engine
from catalog.models import Media, MediaHash
from catalog.services.media import IndexHolder, search_hash, thresholds_from
from tests.media import ALL_PHOTOS, BRIDGE_EDITS, PHOTOS, TE

ROOT = Path(__file__).resolve().parent.parent


def make_12mp_jpegs(folder: Path, count: int, leave_out: tuple[str, ...] = ()) -> list[Path]:
    """Write ``count`` distinct 4000x3000 JPEGs made from the sample photographs (but those
    named in ``leave_out``)."""
    sources = [PHOTOS / name for name in ALL_PHOTOS if name not in leave_out] + [
        TE / "bridge-mods" / name for name in ["aaa-orig.jpg", *BRIDGE_EDITS]
    ]
    rng = random.Random(7)
    paths = []
    for n in range(count):
        image = Image.open(sources[n % len(sources)]).convert("RGB")
        # A different crop and tint per file, so every file is a distinct picture.
        w, h = image.size
        box = (
            rng.randint(0, w // 8),
            rng.randint(0, h // 8),
            w - rng.randint(0, w // 8),
            h - rng.randint(0, h // 8),
        )
        image = (
            image.crop(box)
            .resize((4000, 3000), Image.Resampling.BICUBIC)
            .filter(ImageFilter.DETAIL)
        )
        tint = Image.new(
            "RGB", image.size, (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        )
        image = Image.blend(image, tint, 0.08)
        path = folder / f"photo-{n:03d}.jpg"
        image.save(path, "JPEG", quality=92)
        paths.append(path)
    return paths


def naive_hash(path: Path) -> tuple[str, str]:
    """The naive pipeline: full decode, imagehash.phash and pdqhash.compute on the full image."""
    image = Image.open(path)
    image.load()
    phash = str(imagehash.phash(image))
    vector, _ = pdqhash.compute(np.asarray(image.convert("RGB")))
    return phash, np.packbits(vector.astype(bool)).tobytes().hex()


def bench_import(count: int) -> list[tuple[str, str]]:
    """Time `flask catalog import` of a folder (fresh database, start-up included) vs naive."""
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        folder = work / "photos"
        folder.mkdir()
        paths = make_12mp_jpegs(folder, count)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        started = time.perf_counter()
        for path in paths:
            naive_hash(path)
        naive = time.perf_counter() - started

        env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
        env["CATALOG_INSTANCE_PATH"] = str(work / "instance")
        flask = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        started = time.perf_counter()
        done = subprocess.run(
            [*flask, "import", str(folder)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        ours = time.perf_counter() - started
        summary = done.stdout.strip().splitlines()[-1]
        rows = [
            ("files", f"{count} JPEGs, 4000x3000, {megabytes:.0f} MB"),
            (
                "naive pipeline (full decode, phash, pdq), 1 core",
                f"{naive:.1f} s ({count / naive:.2f} files/s)",
            ),
            (
                "`flask catalog import` (start-up, DB, storage, near-dup search), 2 cores",
                f"{ours:.1f} s ({count / ours:.2f} files/s)",
            ),
            ("speed-up (target ≥ 6×)", f"{naive / ours:.1f}×"),
            ("import result", summary),
        ]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fill_catalogue(url: str, size: int, seed: int = 1) -> np.ndarray:
    """Insert ``size`` media with one synthetic PDQ hash each, in bulk; return the codes."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    engine = make_engine(url)
    schema.upgrade(engine)
    batch = 100_000
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for start in range(0, size, batch):
            end = min(size, start + batch)
            conn.execute(
                sa.insert(Media.__table__),
                [
                    {
                        "id": i + 1,
                        "sha256": f"{i:064x}",
                        "kind": "image",
                        "mime_type": "image/jpeg",
                        "size_bytes": 1,
                        "verification": "unverified",
                        "extracted": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in range(start, end)
                ],
            )
            conn.execute(
                sa.insert(MediaHash.__table__),
                [
                    {
                        "id": i + 1,
                        "media_id": i + 1,
                        "algorithm": "pdq",
                        "variant": "full",
                        "bits": codes[i].tobytes(),
                        "bit_length": 256,
                        "quality": 100,
                    }
                    for i in range(start, end)
                ],
            )
        if engine.dialect.name == "postgresql":
            # Rows were inserted with their ids: move the sequences past them.
            for table in ("media", "media_hashes"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" (SELECT max(id) FROM {table}))"
                    )
                )
    engine.dispose()
    return codes


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_search(size: int, kinds: list[str], queries: int = 400) -> list[tuple[str, ...]]:
    """Fill a SQLite catalogue with ``size`` hashes; time load and search by hash per index kind."""
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    rows: list[tuple[str, ...]] = []
    try:
        url = f"sqlite:///{work / 'catalog.db'}"
        started = time.perf_counter()
        codes = fill_catalogue(url, size)
        fill_seconds = time.perf_counter() - started
        rng = np.random.default_rng(2)
        picks = rng.integers(0, size, queries)
        probes = []
        for i in picks:
            code = codes[i].copy()
            for bit in rng.choice(256, 8, replace=False):  # a near-duplicate, 8 bits away
                code[bit // 8] ^= 1 << (bit % 8)
            probes.append(code.tobytes().hex())
        for kind in kinds:
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "MEDIA_ROOT": str(work / "media"),
                    "SECRET_KEY": "bench",
                    "INDEX_KIND": kind,
                }
            )
            holder = IndexHolder(kind, 3600)
            before = rss_mb()
            with app.app_context(), database(app).sessions() as session:
                started = time.perf_counter()
                holder.refresh(session, force=True)
                load = time.perf_counter() - started
                grown = rss_mb() - before
                thresholds = thresholds_from(app.config)
                latencies = []
                found = 0
                for probe in probes:
                    started = time.perf_counter()
                    matches = search_hash(
                        session, holder, "pdq", probe, thresholds=thresholds, limit=10
                    )
                    latencies.append((time.perf_counter() - started) * 1000)
                    found += bool(matches)
            database(app).engine.dispose()
            latencies.sort()
            rows.append(
                (
                    f"{size:,}",
                    kind,
                    f"{fill_seconds:.0f} s",
                    f"{load:.1f} s ({load / size * 1e6:.1f} s/M)",
                    f"{holder.index.memory_bytes() / 1e6:.0f} MB index, +{grown:.0f} MB RSS",
                    f"{statistics.median(latencies):.2f} ms",
                    f"{latencies[int(len(latencies) * 0.99) - 1]:.2f} ms",
                    f"{found}/{len(probes)}",
                )
            )
            del holder
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40, help="12-MP JPEGs to import")
    parser.add_argument("--sizes", default="1000000,10000000", help="catalogue sizes for search")
    parser.add_argument("--kinds", default="flat,multihash", help="index kinds to compare")
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_import:
        print("Import of 12-megapixel JPEGs\n")
        print(table(("measure", "value"), bench_import(args.files)))
        print()
    kinds = args.kinds.split(",")
    rows = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        rows += bench_search(size, kinds)
    if rows:
        print("Search by PDQ hash (SQLite; synthetic hashes; query 8 bits from a stored hash)\n")
        print(
            table(
                (
                    "catalogued",
                    "index",
                    "bulk fill",
                    "start-up load",
                    "memory",
                    "p50",
                    "p99",
                    "found",
                ),
                rows,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
