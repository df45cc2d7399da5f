"""The API under load: gunicorn with 2 workers in front of a catalogue of 1 million images,
on SQLite and on PostgreSQL.

    python -m benchmarks.api [--size 1000000] [--seconds 15] [--connections 8]
        [--db sqlite,postgresql]

Reports, per endpoint, requests per second driven by wrk (a C load generator, light on the
two cores the server also needs) and latency measured server side (gunicorn's access log,
request received to response sent) and client side (wrk). The baseline in the same run is
/healthz, which costs only the HTTP stack: the gap to it is what a look-up adds. Uploads are
real JPEGs from tests/data, sent by two client threads; each is fingerprinted, matched
against the million, stored and committed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from catalog import create_app
from catalog.db import get_session
from catalog.services.people import accounts
from tests.media import (
    ALL_PHOTOS,
    BRIDGE_EDITS,
    EXIF_ORIENTATIONS,
    LABELME,
    PHOTOS,
    TE,
)

from .speed import ROOT, fill_catalogue, table

WRK_SCRIPT = """
local paths = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  n = math.random(#paths)
end
request = function()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, log: Path, env: dict[str, str], errors: Path) -> subprocess.Popen:
    """Start gunicorn as ``make run`` does (2 workers), logging each request's server time.

    Without the job worker ``make run`` starts beside it: no jobs are queued here, and the
    memory figures count the app's workers only.
    """
    env = {**env, "CATALOG_QUEUE_EMBEDDED_WORKER": "false"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            str(log),
            "--access-logformat",
            "%(m)s %(U)s %(s)s %(D)s",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors.open("a"),
    )


def post_file(port: int, key: str, path: str, data: bytes, name: str) -> tuple[int, bytes]:
    """POST ``data`` as the multipart field ``file``; return the status and the body."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request(
        "POST",
        path,
        body,
        {
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, answer


def wait_ready(port: int, timeout: float = 600) -> float:
    """Return seconds until /readyz answered 200 twenty times running (both workers ready)."""
    started = time.perf_counter()
    streak = 0
    while time.perf_counter() - started < timeout:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            status = connection.getresponse().status
            connection.close()
        except OSError:
            status = 0
        streak = streak + 1 if status == 200 else 0
        if streak >= 20:
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("the server did not become ready")


def worker_rss_mb(master: int) -> list[float]:
    """Return the resident memory of each gunicorn worker."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def server_latencies(log: Path, offset: int, prefix: str) -> tuple[list[float], int]:
    """Return the server-side times (ms) of requests to ``prefix`` logged after ``offset``.

    Also return how many of those requests were answered with a status other than 2xx.
    """
    times, failed = [], 0
    with log.open() as handle:
        handle.seek(offset)
        for line in handle:
            method, path, status, micros = line.split()
            if path.startswith(prefix):
                times.append(int(micros) / 1000)
                failed += not status.startswith("2")
    return times, failed


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def run_wrk(
    port: int, paths: list[str], key: str, seconds: int, connections: int, work: Path
) -> dict[str, float]:
    """Drive GETs of ``paths`` (round robin) with wrk; return requests/s and client p50/p99 (ms)."""
    script, listing = work / "paths.lua", work / "paths.txt"
    script.write_text(WRK_SCRIPT)
    listing.write_text("\n".join(paths) + "\n")
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(listing),
            key,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(label: str) -> float:
        value, scale = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * unit[scale]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency("50%"),
        "p99": latency("99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def real_jpegs() -> list[bytes]:
    """Every JPEG among the sample media (28), named one by one so none goes missing."""
    paths = (
        [PHOTOS / name for name in ALL_PHOTOS if name.endswith(".jpg")]
        + [TE / "bridge-mods" / name for name in ["aaa-orig.jpg", *BRIDGE_EDITS]]
        + [TE / "labelme-subset" / name for name in LABELME]
        + [TE / "exif-rotn" / f"exif-rotn-{o}.jpg" for o in EXIF_ORIENTATIONS]
    )
    return [path.read_bytes() for path in paths]


def upload_all(port: int, key: str, files: list[bytes], clients: int = 2) -> float:
    """Upload the files over ``clients`` connections at once; return seconds taken."""
    queue = list(enumerate(files))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                n, data = queue.pop()
            status, answer = post_file(port, key, "/api/v1/media", data, f"photo-{n}.jpg")
            if status not in (200, 201):
                failures.append(f"{status} {answer[:200]!r}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"uploads failed: {failures[:3]}")
    return time.perf_counter() - started


def bench_database(
    db: str,
    size: int,
    seconds: int,
    connections: int,
    load_connections: list[int],
    shared_buffers: str | None = None,
) -> tuple[str, list[tuple[str, ...]]]:
    """Fill a database with ``size`` images, serve it with gunicorn, drive it; return the table."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-api-{db}-"))
    server = postgres = None
    try:
        if db == "postgresql":
            # The suite's private server (fsync off, as in the tests): a stand-in for a real one.
            from tests.pgserver import PostgresServer

            settings = {"shared_buffers": shared_buffers} if shared_buffers else {}
            postgres = PostgresServer(settings).start()
            url = postgres.create_database("bench")
        else:
            url = f"sqlite:///{work / 'catalog.db'}"
        started = time.perf_counter()
        codes = fill_catalogue(url, size)
        fill = time.perf_counter() - started
        settings = {"DATABASE_URL": url, "MEDIA_ROOT": str(work / "media"), "SECRET_KEY": "bench"}
        app = create_app(settings)
        with app.app_context():
            accounts.create_user(get_session(), "bench", "bench-password-1", "analyst")
            _, key = accounts.create_api_key(get_session(), "bench")
        from catalog.db import database

        database(app).engine.dispose()

        rng = np.random.default_rng(3)
        probes = []
        for i in rng.integers(0, size, 2000):
            code = codes[i].copy()
            for bit in rng.choice(256, 8, replace=False):  # a near-duplicate, 8 bits away
                code[bit // 8] ^= 1 << (bit % 8)
            probes.append(f"/api/v1/search/hash?algorithm=pdq&hex={code.tobytes().hex()}&limit=10")
        shas = [f"/api/v1/lookup/sha256/{int(i):064x}" for i in rng.integers(0, size, 2000)]

        port, log = free_port(), work / "access.log"
        env = {
            **os.environ,
            **{f"CATALOG_{k}": v for k, v in settings.items()},
            "CATALOG_INSTANCE_PATH": str(work / "instance"),
        }
        server = start_gunicorn(port, log, env, work / "server.log")
        ready = wait_ready(port)
        rss = worker_rss_mb(server.pid)

        rows = []
        for label, prefix, paths, conns in [
            ("GET /healthz (baseline: HTTP stack only)", "/healthz", ["/healthz"], connections),
            (
                "GET /api/v1/search/hash (PDQ, 8 bits off a stored hash)",
                "/api/v1/search/hash",
                probes,
                connections,
            ),
            ("GET /api/v1/lookup/sha256", "/api/v1/lookup/sha256", shas, connections),
            *[
                (f"load test: search/hash, {n} connections", "/api/v1/search/hash", probes, n)
                for n in load_connections
            ],
        ]:
            offset = log.stat().st_size
            client = run_wrk(port, paths, key, seconds, conns, work)
            time.sleep(0.5)  # let the workers flush the last log lines
            times, failed = server_latencies(log, offset, prefix)
            rows.append(
                (
                    label,
                    f"{client['rps']:.0f}",
                    f"{statistics.median(times):.2f} ms",
                    f"{percentile(times, 0.99):.2f} ms",
                    f"{client['p50']:.2f} ms",
                    f"{client['p99']:.2f} ms",
                    f"{failed + int(client['errors'])}",
                )
            )

        files = real_jpegs()
        offset = log.stat().st_size
        took = upload_all(port, key, files)
        times, failed = server_latencies(log, offset, "/api/v1/media")
        rows.append(
            (
                f"POST /api/v1/media ({len(files)} real JPEGs,"
                f" {sum(map(len, files)) / 1e6:.0f} MB, 2 clients)",
                f"{len(files) / took:.1f}",
                f"{statistics.median(times):.0f} ms",
                f"{percentile(times, 0.99):.0f} ms",
                "",
                "",
                f"{failed}",
            )
        )
        title = (
            f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'} catalogue of {size:,} images:"
            f" bulk fill {fill:.0f} s; "
            f"both workers ready (index loaded) {ready:.1f} s after start;"
            f" worker memory {', '.join(f'{m:.0f} MB' for m in rss)}"
        )
        return title, rows
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="catalogued images")
    parser.add_argument("--seconds", type=int, default=15, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--load-connections", default="16,32", help="wrk connections of the load-test rows"
    )
    parser.add_argument("--db", default="sqlite,postgresql", help="databases to run on")
    parser.add_argument(
        "--pg-shared-buffers",
        default=None,
        help="PostgreSQL's shared_buffers (default: the server's, 128MB); e.g. 1GB",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed (Debian package wrk; `make bench` installs it)", file=sys.stderr
        )
        return 2
    print(
        f"API under gunicorn, 2 sync workers; wrk {args.connections} connections,"
        f" {args.seconds} s per row\n"
    )
    rates: dict[str, dict[str, float]] = {}
    for db in args.db.split(","):
        loads = [int(n) for n in args.load_connections.split(",") if n]
        title, rows = bench_database(
            db, args.size, args.seconds, args.connections, loads, args.pg_shared_buffers
        )
        rates[db] = {row[0].split()[1]: float(row[1]) for row in rows if row[0].startswith("GET")}
        print(title + "\n")
        print(
            table(
                (
                    "endpoint",
                    "requests/s",
                    "server p50",
                    "server p99",
                    "client p50",
                    "client p99",
                    "errors",
                ),
                rows,
            )
        )
        print()
    if {"sqlite", "postgresql"} <= rates.keys():
        ratios = ", ".join(
            f"{path} {rates['postgresql'][path] / rates['sqlite'][path]:.2f}×"
            for path in ("/api/v1/search/hash", "/api/v1/lookup/sha256")
        )
        print(f"PostgreSQL's look-ups per second over SQLite's (floor 0.8×, aim 1×): {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
