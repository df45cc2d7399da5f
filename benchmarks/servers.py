"""Several servers on this machine: uploads and look-ups per second through two app servers
against one, in the same run, on the deployment of docs/deploy.md (PostgreSQL, an S3 bucket
on SeaweedFS, Redis, gunicorn app servers with their own snapshots); and the time
``catalog storage migrate`` takes for 1,000 originals, folder to bucket, again (resumed) and
back.

    python -m benchmarks.servers [--uploads 240] [--lookup-seconds 8] [--originals 1000]

Clients are threads of this process sending to the servers in turn; they share the machine's
cores with the servers, as a balancer on the same box would.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from catalog import schema
from catalog.db import make_engine
from catalog.storage import Storage
from tests.cluster import AppServer, analyst_key, call, flask, multipart, shared_settings
from tests.media import encode, pattern
from tests.pgserver import PostgresServer
from tests.redisserver import RedisServer
from tests.s3server import ACCESS_KEY, SECRET_KEY, SeaweedServer

from .speed import table

CLIENTS = 4


def upload_rate(
    servers: list[AppServer], headers: dict[str, str], pictures: list[bytes], hexes: list[str]
) -> tuple[float, float]:
    """Upload every picture, spread over the servers by CLIENTS threads, adding each one's PDQ
    to ``hexes``; return (uploads per second, median seconds per upload)."""
    timings: list[float] = []
    lock = threading.Lock()

    def send(item: tuple[int, bytes]) -> None:
        number, data = item
        server = servers[number % len(servers)]
        body, kind = multipart(data, f"p{number}.jpg")
        began = time.perf_counter()
        status, answer, _ = call(
            server.port, "POST", "/api/v1/media", {**headers, "Content-Type": kind}, body
        )
        if status != 201:
            raise RuntimeError(f"upload answered {status}: {answer}")
        with lock:
            timings.append(time.perf_counter() - began)
            hexes.extend(
                h["hex"]
                for h in answer["media"]["hashes"]
                if h["algorithm"] == "pdq" and h["variant"] == "full"
            )

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(send, enumerate(pictures)))
    elapsed = time.perf_counter() - started
    return len(pictures) / elapsed, statistics.median(timings)


def lookup_rate(
    servers: list[AppServer], headers: dict[str, str], hexes: list[str], seconds: float
) -> tuple[float, float]:
    """Search by PDQ hash for ``seconds``, CLIENTS threads over the servers; return (look-ups
    per second, median seconds per look-up)."""
    timings: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(number: int) -> None:
        rng = random.Random(number)
        turn = number
        while time.perf_counter() < stop:
            server = servers[turn % len(servers)]
            turn += 1
            began = time.perf_counter()
            status, answer, _ = call(
                server.port,
                "GET",
                f"/api/v1/search/hash?algorithm=pdq&hex={rng.choice(hexes)}",
                headers,
            )
            if status != 200 or not answer["matches"]:
                raise RuntimeError(f"look-up answered {status}: {answer}")
            with lock:
                timings.append(time.perf_counter() - began)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    return len(timings) / elapsed, statistics.median(timings)


def serving(uploads: int, lookup_seconds: float, workers: int) -> list[tuple[str, ...]]:
    """Measure one app server, then two, on one deployment; return the table's rows."""
    work = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    pg, s3, redis = PostgresServer(), SeaweedServer(), RedisServer()
    running: list[AppServer] = []
    try:
        pg.start(), s3.start(), redis.start()
        url = pg.create_database("servers")
        engine = make_engine(url)
        schema.upgrade(engine)
        engine.dispose()
        env = shared_settings(
            url, "s3://bench/catalogue", s3.endpoint_url, (ACCESS_KEY, SECRET_KEY), redis.socket,
            CATALOG_INSTANCE_PATH=str(work / "operator"),
            CATALOG_LOGIN_RATE_LIMIT="100000 per minute",
            CATALOG_S3_CREATE_BUCKET="true",
        )  # fmt: skip
        headers = analyst_key(env)
        rows: list[tuple[str, ...]] = []
        results: dict[int, tuple[float, float, float, float]] = {}
        seed = 1000
        for count in (1, 2):
            servers = [
                AppServer(f"app-{count}-{n}", env, work / f"app-{count}-{n}", workers=workers)
                for n in range(count)
            ]
            running.extend(servers)
            for server in servers:
                server.start()
            for server in servers:
                server.wait_ready()
            pictures = [encode(pattern(seed=seed + n), "JPEG", quality=90) for n in range(uploads)]
            seed += uploads
            hexes: list[str] = []
            up, up_median = upload_rate(servers, headers, pictures, hexes)
            time.sleep(2.0)  # past INDEX_REFRESH_SECONDS: every server has read every upload
            look, look_median = lookup_rate(servers, headers, hexes, lookup_seconds)
            results[count] = (up, up_median, look, look_median)
            for server in servers:
                server.stop()
        one, two = results[1], results[2]
        rows.append(
            (
                "uploads per second",
                f"{one[0]:.1f} (median {one[1] * 1000:.0f} ms)",
                f"{two[0]:.1f} (median {two[1] * 1000:.0f} ms)",
                f"{two[0] / one[0]:.2f}",
            )
        )
        rows.append(
            (
                "look-ups per second",
                f"{one[2]:.0f} (median {one[3] * 1000:.1f} ms)",
                f"{two[2]:.0f} (median {two[3] * 1000:.1f} ms)",
                f"{two[2] / one[2]:.2f}",
            )
        )
        return rows
    finally:
        for server in running:
            server.stop()
        redis.stop()
        s3.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def migrating(originals: int) -> list[tuple[str, ...]]:
    """Time ``catalog storage migrate`` of ``originals`` files: to a bucket, again, and back."""
    work = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    s3 = SeaweedServer()
    try:
        s3.start()
        store = Storage(work / "media")
        rng = random.Random(7)
        total = 0
        for _ in range(originals):
            # Photographs as sent around: 100 KB to 1 MB, incompressible.
            data = rng.randbytes(rng.randint(100_000, 1_000_000))
            total += len(data)
            store.put_bytes(data)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALOG_", "AWS_"))}
        env.update(
            {
                "CATALOG_MEDIA_ROOT": str(work / "media"),
                "CATALOG_INSTANCE_PATH": str(work / "instance"),
                "CATALOG_S3_ENDPOINT_URL": s3.endpoint_url,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1",
                "CATALOG_S3_CREATE_BUCKET": "true",  # migrate makes the bucket it copies into
            }
        )
        rows = []
        for label, target, store_env in (
            ("folder to bucket", "s3://migrated/catalogue", env),
            ("again (all there: resumed)", "s3://migrated/catalogue", env),
            (
                "bucket to a new folder",
                f"file://{work / 'back'}",
                {**env, "CATALOG_STORAGE_URL": "s3://migrated/catalogue"},
            ),
        ):
            began = time.perf_counter()
            ran = flask(store_env, "storage", "migrate", "--to", target, "--json")
            seconds = time.perf_counter() - began
            if ran.returncode != 0:
                raise RuntimeError(ran.stdout + ran.stderr)
            report = json.loads(ran.stdout)
            rows.append(
                (
                    f"{originals} originals ({total / 1e6:.0f} MB), {label}",
                    f"{seconds:.1f} s",
                    f"{report['copied']} copied, {report['already_there']} there",
                    f"{report['bytes_copied'] / 1e6 / seconds:.0f} MB/s"
                    if report["copied"]
                    else "—",
                )
            )
        return rows
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=240)
    parser.add_argument("--lookup-seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per server")
    parser.add_argument("--originals", type=int, default=1000)
    args = parser.parse_args(argv)
    print(f"app servers of {args.workers} gunicorn worker(s), {CLIENTS} client threads")
    print(
        table(
            ("measure", "one app server", "two app servers", "two / one"),
            serving(args.uploads, args.lookup_seconds, args.workers),
        )
    )
    print()
    print(table(("catalog storage migrate", "time", "outcome", "rate"), migrating(args.originals)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
