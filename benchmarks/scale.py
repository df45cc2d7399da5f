"""A catalogue of 100,000 and 1,000,000 pictures: search by file and by hash through the API,
the index's memory per server, start-up, and import into a full catalogue.

    python -m benchmarks.scale [--sizes 100000,1000000] [--queries 60] [--import-files 48]

Per size, a SQLite catalogue is filled in bulk. Its real part: the accuracy run's originals
(tuning and validation photographs, fingerprinted by the pipeline) and 10,000 distractors made
from Debian wallpapers (``benchmarks.distractors``). The rest is a synthetic bulk whose
keypoints are descriptors of those real pictures, each drawn at random and changed in about
8 of its 256 bits, so the visual words fill as photographs fill them (uniform random bits
would spread evenly over the words and flatter an inverted file). Then ``catalog index
snapshot`` writes the server's snapshot, gunicorn starts with 2 workers (the ``make run``
configuration), and one client sends, one at a time: 1-megapixel JPEGs of the validation
photographs' transformations to ``POST /api/v1/search`` and hashes 8 bits off stored ones to
``GET /api/v1/search/hash``. Latency is gunicorn's own (request read to response written).

Memory is the proportional set size (PSS) of both workers together, less the same measure of
a server on an empty catalogue started in the same run: what holding the index costs the
server, counting the mapped snapshot once however many workers share it.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image

from catalog import create_app, schema
from catalog.db import database, get_session, make_engine
from catalog.hashing import fingerprint_image
from catalog.models import Media, MediaFeatures, MediaHash
from catalog.services.people import accounts

from . import distractors, import_memory
from .accuracy import Query, build_validation
from .api import free_port, percentile, post_file, server_latencies, start_gunicorn, wait_ready
from .speed import ROOT, bench_import, make_12mp_jpegs, table

MAX_PIXELS = 200_000_000
KEYPOINTS = 96
BATCH = 20_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


# -- filling the catalogue ------------------------------------------------------------------


def real_pictures(count: int) -> tuple[list[str], distractors.Fingerprints]:
    """Return the originals' names and the fingerprints of originals then distractors."""
    originals, _ = build_validation()
    names, rows = [], []
    for name, data in originals.items():
        found = fingerprint_image(data, MAX_PIXELS)
        desc, pos = found.features.pack()
        names.append(name)
        rows.append(
            (
                found.sha256,
                next(h.bits for h in found.hashes if h.algorithm == "pdq" and h.variant == "full"),
                next(
                    h.bits for h in found.hashes if h.algorithm == "phash" and h.variant == "full"
                ),
                np.frombuffer(desc, np.uint8).reshape(-1, 32),
                np.frombuffer(pos, "<u2").reshape(-1, 2),
                (found.features.width, found.features.height),
            )
        )
    pool = distractors.make(count)
    desc = np.zeros((len(rows), KEYPOINTS, 32), np.uint8)
    pos = np.zeros((len(rows), KEYPOINTS, 2), np.uint16)
    for i, row in enumerate(rows):
        desc[i, : len(row[3])], pos[i, : len(row[4])] = row[3], row[4]
    merged = distractors.Fingerprints(
        [r[0] for r in rows] + pool.sha256,
        np.concatenate([np.array([np.frombuffer(r[1], np.uint8) for r in rows]), pool.pdq]),
        np.concatenate([np.array([np.frombuffer(r[2], np.uint8) for r in rows]), pool.phash]),
        np.concatenate([desc, pool.descriptors]),
        np.concatenate([pos, pool.positions]),
        np.concatenate([[len(r[3]) for r in rows], pool.keypoints]),
        np.concatenate([np.array([r[5] for r in rows]), pool.sizes]),
    )
    return names, merged


def fill(url: str, size: int, real: distractors.Fingerprints, seed: int = 5) -> float:
    """Insert ``size`` pictures (the real ones first, then the synthetic bulk); return seconds."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    pool = np.concatenate([real.descriptors[i, :k] for i, k in enumerate(real.keypoints)])
    engine = make_engine(url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        for start in range(0, size, BATCH):
            end = min(size, start + BATCH)
            media, hashes, features = [], [], []
            bulk = _synthetic(rng, pool, end - start)
            for i in range(start, end):
                is_real = i < len(real)
                if is_real:
                    k = int(real.keypoints[i])
                    desc, pos = real.descriptors[i, :k], real.positions[i, :k]
                    width, height = (int(v) for v in real.sizes[i])
                    pdq, phash, sha = real.pdq[i].tobytes(), real.phash[i].tobytes(), real.sha256[i]
                else:
                    desc, pos = bulk[0][i - start], bulk[1][i - start]
                    width, height = 512, 384
                    pdq, phash = bulk[2][i - start].tobytes(), bulk[3][i - start].tobytes()
                    sha = f"{i:064x}"
                media.append(
                    {
                        "id": i + 1,
                        "sha256": sha,
                        "kind": "image",
                        "mime_type": "image/jpeg",
                        "size_bytes": 1,
                        "verification": "unverified",
                        "extracted": {},
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
                for n, (algorithm, bits) in enumerate((("pdq", pdq), ("phash", phash))):
                    hashes.append(
                        {
                            "id": 2 * i + n + 1,
                            "media_id": i + 1,
                            "algorithm": algorithm,
                            "variant": "full",
                            "bits": bits,
                            "bit_length": len(bits) * 8,
                            "quality": 100,
                        }
                    )
                features.append(
                    {
                        "id": i + 1,
                        "media_id": i + 1,
                        "algorithm": "orb",
                        "width": width,
                        "height": height,
                        "keypoints": len(desc),
                        "descriptors": np.ascontiguousarray(desc).tobytes(),
                        "positions": np.ascontiguousarray(pos).astype("<u2").tobytes(),
                    }
                )
            conn.execute(sa.insert(Media.__table__), media)
            conn.execute(sa.insert(MediaHash.__table__), hashes)
            conn.execute(sa.insert(MediaFeatures.__table__), features)
    engine.dispose()
    return time.perf_counter() - started


def _synthetic(
    rng: np.random.Generator, pool: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints drawn from real descriptors, each changed in about 8 of 256 bits."""
    desc = pool[rng.integers(0, len(pool), (count, KEYPOINTS))]
    noise = rng.integers(0, 256, desc.shape, dtype=np.uint8)
    for _ in range(4):  # AND of five random bytes: each bit set with probability 1/32
        noise &= rng.integers(0, 256, desc.shape, dtype=np.uint8)
    positions = rng.integers(0, 65536, (count, KEYPOINTS, 2), dtype=np.uint16)
    pdq = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    phash = rng.integers(0, 256, (count, 8), dtype=np.uint8)
    return desc ^ noise, positions, pdq, phash


# -- serving --------------------------------------------------------------------------------


class Server:
    """gunicorn with 2 workers on a catalogue, as ``make run`` starts it."""

    def __init__(self, url: str, work: Path) -> None:
        self.url, self.work = url, work
        self.settings = {
            "DATABASE_URL": url,
            "MEDIA_ROOT": str(work / "media"),
            "INDEX_DIR": str(work / "index"),
            "SECRET_KEY": "bench",
        }
        self.env = {
            **os.environ,
            **{f"CATALOG_{k}": v for k, v in self.settings.items()},
            "CATALOG_INSTANCE_PATH": str(work / "instance"),
        }
        self.log = work / "access.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def api_key(self) -> str:
        app = create_app(self.settings)
        with app.app_context():
            accounts.create_user(get_session(), "bench", "bench-password-1", "analyst")
            _, key = accounts.create_api_key(get_session(), "bench")
        database(app).engine.dispose()
        return key

    def flask(self, *args: str) -> tuple[float, str]:
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return time.perf_counter() - started, out.stdout.strip()

    def start(self) -> float:
        """Start gunicorn; return seconds until both workers answer ready."""
        self.port = free_port()
        self.process = start_gunicorn(self.port, self.log, self.env, self.work / "server.log")
        return wait_ready(self.port)

    def workers(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def pss_mb(self) -> tuple[float, float]:
        """Return the workers' PSS together, and the part of it that maps the snapshot."""
        total = mapped = 0
        index_dir = self.settings["INDEX_DIR"]
        for pid in self.workers():
            in_index = False
            for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
                fields = line.split()
                if not fields:
                    continue
                if not fields[0].endswith(":") or "-" in fields[0]:  # a mapping's header
                    in_index = len(fields) >= 6 and fields[5].startswith(index_dir)
                elif fields[0] == "Pss:":
                    total += int(fields[1])
                    mapped += int(fields[1]) if in_index else 0
        return total / 1024, mapped / 1024

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


def search_file(port: int, key: str, data: bytes) -> tuple[int, bytes]:
    """POST ``data`` to /api/v1/search; return status and body."""
    return post_file(port, key, "/api/v1/search?limit=10", data, "q.jpg")


def get(port: int, key: str, path: str) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def megapixel(data: bytes) -> bytes:
    """Re-encode a query picture at about one megapixel (1155 x 866 for 4:3)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = (1_000_000 / (image.width * image.height)) ** 0.5
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def file_queries(count: int) -> list[Query]:
    """Related validation queries (every transformation, alternating seeds), at 1 megapixel."""
    _, queries = build_validation()
    related = [q for q in queries if q.expected is not None][:count]
    return [Query(q.group, megapixel(q.data), q.expected, q.name) for q in related]


# -- one size ----------------------------------------------------------------------------


def bench_size(
    size: int,
    real: distractors.Fingerprints,
    names: list[str],
    queries: list[Query],
    import_files: int,
    empty_pss: float,
) -> dict[str, object]:
    """Fill, snapshot, serve and query a catalogue of ``size`` pictures; return the figures."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{size}-"))
    server = Server(f"sqlite:///{work / 'catalog.db'}", work)
    figures: dict[str, object] = {"size": size}
    try:
        figures["fill_s"] = fill(server.url, size, real)
        key = server.api_key()
        figures["snapshot_s"], figures["snapshot"] = server.flask("index", "snapshot")
        figures["snapshot_mb"] = (
            sum(f.stat().st_size for f in (work / "index").rglob("*.npy")) / 1e6
        )
        figures["ready_s"] = server.start()
        port = server.port
        expected_ids = {name: i + 1 for i, name in enumerate(names)}
        for query in queries[:5]:  # warm both workers
            search_file(port, key, query.data)
        offset = server.log.stat().st_size
        found = 0
        for query in queries:
            status, body = search_file(port, key, query.data)
            if status != 200:
                raise RuntimeError(f"search by file answered {status}: {body[:300]!r}")
            found += f'"media_id": {expected_ids[query.expected or ""]},'.encode() in body or (
                f'"media_id":{expected_ids[query.expected or ""]},'.encode() in body
            )
        time.sleep(0.3)
        file_times, failed = server_latencies(server.log, offset, "/api/v1/search")
        file_times = [t for t in file_times]  # only POSTs are logged under /api/v1/search here
        rng = np.random.default_rng(9)
        offset = server.log.stat().st_size
        for i in rng.integers(0, len(real), 400):
            code = real.pdq[i].copy()
            for bit in rng.choice(256, 8, replace=False):
                code[bit // 8] ^= 1 << (bit % 8)
            get(port, key, f"/api/v1/search/hash?algorithm=pdq&hex={code.tobytes().hex()}&limit=10")
        time.sleep(0.3)
        hash_times, hash_failed = server_latencies(server.log, offset, "/api/v1/search/hash")
        pss, mapped = server.pss_mb()
        figures.update(
            file_p50=statistics.median(file_times),
            file_p99=percentile(file_times, 0.99),
            file_found=f"{found}/{len(queries)}",
            hash_p50=statistics.median(hash_times),
            hash_p99=percentile(hash_times, 0.99),
            failed=failed + hash_failed,
            pss_mb=pss,
            mapped_mb=mapped,
            index_mb=pss - empty_pss,
        )
        server.stop()
        if import_files:
            folder = work / "import"
            folder.mkdir()
            make_12mp_jpegs(folder, import_files)
            seconds, summary = server.flask("import", str(folder))
            figures["import_s"] = seconds
            figures["import_rate"] = import_files / seconds
            figures["import_summary"] = summary.splitlines()[-1] if summary else ""
        return figures
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def baseline_pss(queries: list[Query]) -> float:
    """Return the PSS of both workers of a server on an empty catalogue, after the same kinds
    of requests (so libraries loaded on first use count in both)."""
    work = Path(tempfile.mkdtemp(prefix="bench-scale-empty-"))
    server = Server(f"sqlite:///{work / 'catalog.db'}", work)
    try:
        schema.upgrade(make_engine(server.url))
        key = server.api_key()
        server.start()
        for query in queries[:20]:
            search_file(server.port, key, query.data)
            get(server.port, key, f"/api/v1/search/hash?algorithm=pdq&hex={'0' * 64}&limit=10")
        return server.pss_mb()[0]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _per_million(r: dict) -> str:
    return f"{r['index_mb'] / r['size'] * 1e6 / 1024:.2f} GB ({r['index_mb']:.0f} MB)"


# The table's lines: label, floor, aim, and how to show a size's figure.
LINES: list[tuple[str, str, str, Callable[[dict], str]]] = [
    ("search by file, API, p50", "150 ms", "60 ms", lambda r: f"{r['file_p50']:.0f} ms"),
    ("search by file, API, p99", "400 ms", "150 ms", lambda r: f"{r['file_p99']:.0f} ms"),
    ("  originals found by their 1-MP transformations", "", "", lambda r: str(r["file_found"])),
    ("search by hash, API, p50", "5 ms", "3 ms", lambda r: f"{r['hash_p50']:.2f} ms"),
    ("search by hash, API, p99", "", "", lambda r: f"{r['hash_p99']:.2f} ms"),
    ("index RAM per server, per million pictures", "1 GB", "0.5 GB", _per_million),
    ("  of which the mapped snapshot (PSS)", "", "", lambda r: f"{r['mapped_mb']:.0f} MB"),
    ("  snapshot on disk", "", "", lambda r: f"{r['snapshot_mb']:.0f} MB"),
    ("start-up to ready (both workers)", "30 s at 1M", "10 s", lambda r: f"{r['ready_s']:.1f} s"),
    ("`catalog index snapshot` from the database", "", "", lambda r: f"{r['snapshot_s']:.0f} s"),
    (
        "`catalog import` of 12-MP JPEGs into this catalogue",
        "8 files/s",
        "12 files/s",
        lambda r: f"{r['import_rate']:.1f} files/s" if "import_rate" in r else "not run",
    ),
    ("bulk fill (SQLite)", "", "", lambda r: f"{r['fill_s']:.0f} s"),
    ("failed requests", "0", "0", lambda r: str(r["failed"])),
]


def main(argv: list[str] | None = None) -> int:
    """Run every size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--distractors", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--import-files", type=int, default=48)
    parser.add_argument("--naive-files", type=int, default=48, help="0 skips import vs naive")
    parser.add_argument(
        "--memory-counts", default="100,10000", help="import memory by folder size ('' skips)"
    )
    args = parser.parse_args(argv)
    names, real = real_pictures(args.distractors)
    queries = file_queries(args.queries)
    empty = baseline_pss(queries)
    results = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        results.append(bench_size(size, real, names, queries, args.import_files, empty))
        print(results[-1], flush=True)
    header = ("measure", "floor", "aim", *(f"{r['size']:,}" for r in results))
    rows = [(label, floor, aim, *(show(r) for r in results)) for label, floor, aim, show in LINES]
    print()
    print(f"Empty server, both workers' PSS: {empty:.0f} MB\n")
    print(table(header, rows))
    import_rows = []
    if args.naive_files:
        measured = dict(bench_import(args.naive_files))
        speedup = next(v for k, v in measured.items() if k.startswith("speed-up"))
        import_rows.append(
            ("`catalog import` on an empty catalogue vs the naive pipeline", "6×", "10×", speedup)
        )
    counts = tuple(int(c) for c in args.memory_counts.split(",") if c)
    if len(counts) >= 2:
        memory = import_memory.rows(counts)
        ratio = memory[-1]["peak_mb"] / memory[0]["peak_mb"]
        import_rows.append(
            (
                f"peak memory of `catalog import`, {counts[-1]:,} files vs {counts[0]:,}",
                "1.2×",
                "1×",
                f"{ratio:.2f}× ({memory[-1]['peak_mb']:.0f} vs {memory[0]['peak_mb']:.0f} MB)",
            )
        )
    if import_rows:
        print()
        print(table(("measure", "floor", "aim", "measured"), import_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
