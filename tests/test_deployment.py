"""Several servers, tested together: PostgreSQL, an S3 bucket (SeaweedFS), Redis, two app servers
(gunicorn, separate processes, each with its own index snapshot) and a job worker, started
here with the settings docs/deploy.md says they share.

An upload through one server is found through the other within the freshness interval; the
same file sent to both at once is one media; a capture asked of one is done by the worker and
found through the other; a server killed and restarted comes back ready from its snapshot,
without writing a new one; ``catalog verify`` is clean at the end. Then the restore drill of
docs/deploy.md: the database dumped and restored into a fresh one, the bucket copied into a
fresh bucket, and ``verify`` clean against the pair.

Marked ``deployment``: ``pytest -m deployment`` runs it alone.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.index import read_snapshot_meta
from catalog.services.media.snapshots import current

from .cluster import (
    AppServer,
    Process,
    analyst_key,
    call,
    flask,
    multipart,
    shared_settings,
    worker,
)
from .conftest import BACKENDS_KEY
from .media import encode, pattern
from .pgserver import PostgresServer
from .postsite import PostSite
from .redisserver import RedisServer
from .s3server import ACCESS_KEY, SECRET_KEY, SeaweedServer

pytestmark = [pytest.mark.deployment, pytest.mark.slow]
# INDEX_REFRESH_SECONDS, the freshness interval: a server reads rows added elsewhere at most
# this long after they were committed (plus the time of one request).
REFRESH_S = 1.0


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> PostgresServer:
    """The suite's PostgreSQL server; several servers never share one SQLite file."""
    if "postgresql" not in request.config.stash[BACKENDS_KEY]:
        pytest.skip("several app servers need PostgreSQL, which this run does not use")
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def name_of(url: str) -> str:
    return url.split("?")[0].rsplit("/", 1)[-1]


def pg_dump(server: PostgresServer, tool: str, *args: str) -> None:
    """Run PostgreSQL's own dump or restore tool against the test server's socket."""
    subprocess.run(
        [str(server.bindir / tool), "--host", str(server.socket_dir), "--port", str(server.port),
         "--username", "postgres", *args],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def snapshot_of(server: AppServer) -> tuple[str, int] | None:
    folder = current(Path(server.env["CATALOG_INDEX_DIR"]))
    if folder is None:
        return None
    return folder.name, read_snapshot_meta(folder)["pictures"]


def pdq_search(port: int, headers: dict[str, str], pdq: str) -> list[int]:
    status, body, _ = call(port, "GET", f"/api/v1/search/hash?algorithm=pdq&hex={pdq}", headers)
    assert status == 200, body
    return [match["media_id"] for match in body["matches"]]


def post_file(port: int, headers: dict[str, str], data: bytes, name: str) -> tuple[int, dict]:
    body, kind = multipart(data, name)
    status, answer, _ = call(port, "POST", "/api/v1/media", {**headers, "Content-Type": kind}, body)
    return status, answer


def full_pdq(answer: dict) -> str:
    return next(
        h["hex"]
        for h in answer["media"]["hashes"]
        if h["algorithm"] == "pdq" and h["variant"] == "full"
    )


def test_two_app_servers_a_worker_postgresql_s3_and_redis_work_as_one_catalogue(
    postgres: PostgresServer,
    s3_server: SeaweedServer,
    redis: RedisServer,
    processes: list[Process],
    tmp_path: Path,
) -> None:
    pg_server = postgres
    database_url = pg_server.create_database("deployed")
    env = shared_settings(
        database_url,
        "s3://deployed/catalogue",
        s3_server.endpoint_url,
        (ACCESS_KEY, SECRET_KEY),
        redis.socket,
        CATALOG_CAPTURE_ALLOWED_HOSTS="127.0.0.1",
        CATALOG_INSTANCE_PATH=str(tmp_path / "operator"),
    )
    # The migration alone may make the bucket, as in deploy/compose.yaml.
    upgraded = flask({**env, "CATALOG_S3_CREATE_BUCKET": "true"}, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    headers = analyst_key(env)
    first = AppServer("app-1", env, tmp_path / "app-1")
    second = AppServer("app-2", env, tmp_path / "app-2")
    jobs = worker(env, tmp_path / "worker")
    processes.extend([first, second, jobs])
    for process in processes:
        process.start()
    for server in (first, second):
        ready = server.wait_ready()
        assert ready["storage"] == "ok" and ready["index"] == "loaded", ready

    # An upload through one server is found through the other within the freshness interval.
    status, made = post_file(first.port, headers, encode(pattern(seed=31), "PNG"), "one.png")
    assert status == 201, made
    sent, media_id = time.monotonic(), made["media"]["id"]
    while media_id not in pdq_search(second.port, headers, full_pdq(made)):
        assert time.monotonic() - sent < REFRESH_S + 2.0, "not found through the other server"
        time.sleep(0.05)
    found_after = time.monotonic() - sent
    assert found_after <= REFRESH_S + 2.0
    status, got, _ = call(second.port, "GET", f"/api/v1/media/{media_id}", headers)
    assert status == 200 and got["sha256"] == made["media"]["sha256"]

    # The same new file sent to both servers at once is one media, one object.
    same = encode(pattern(seed=32), "PNG")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda port: post_file(port, headers, same, "same.png"), [first.port, second.port]
            )
        )
    assert sorted(status for status, _ in answers) == [200, 201], answers
    assert answers[0][1]["media"]["id"] == answers[1][1]["media"]["id"]
    sha = hashlib.sha256(same).hexdigest()
    status, held, _ = call(second.port, "GET", f"/api/v1/lookup/sha256/{sha}", headers)
    assert status == 200 and held["id"] == answers[0][1]["media"]["id"], held
    listed = flask(env, "storage", "where")
    assert listed.stdout.strip() == "s3://deployed/catalogue/"

    # A capture asked of one server is done by the worker and found through the other.
    with PostSite() as site:
        asked = json.dumps({"url": site.url("/post/image")}).encode()
        status, capture, got_headers = call(
            second.port,
            "POST",
            "/api/v1/captures",
            {**headers, "Content-Type": "application/json"},
            asked,
        )
        assert status == 202, capture
        location = got_headers["Location"]
        path = location[location.index("/api/") :]
        deadline = time.monotonic() + 120
        while capture.get("status") not in ("done", "failed"):
            assert time.monotonic() < deadline, f"capture not done:\n{jobs.output()}"
            time.sleep(0.3)
            _, capture, _ = call(first.port, "GET", path, headers)
    assert capture["status"] == "done" and len(capture["media"]) == 1, capture
    captured = capture["media"][0]["media_id"]
    status, got, _ = call(first.port, "GET", f"/api/v1/media/{captured}", headers)
    assert status == 200

    # A server killed and restarted comes back ready from its snapshot: the snapshot written
    # now holds every picture, and the restarted server maps it rather than writing another.
    written = flask(first.env, "index", "snapshot")
    assert written.returncode == 0, written.stderr
    before = snapshot_of(first)
    assert before is not None and before[1] >= 3, before
    first.kill()
    restarted = first.start()  # the same settings, port and index folder
    started = time.monotonic()
    ready = restarted.wait_ready()
    assert ready["index"] == "loaded", ready
    assert snapshot_of(restarted) == before, "the restarted server wrote a new snapshot"
    assert media_id in pdq_search(restarted.port, headers, full_pdq(made))
    assert time.monotonic() - started < 60

    # And at the end the whole catalogue proves itself: every object re-hashed, no orphan.
    verified = flask(env, "verify")
    assert verified.returncode == 0 and "OK" in verified.stdout, verified.stdout + verified.stderr

    # The restore drill: dump the database, restore it into a fresh one; copy the bucket
    # into a fresh bucket; verify the pair.
    dump = tmp_path / "catalog.dump"
    pg_dump(pg_server, "pg_dump", "--format=custom", f"--file={dump}", name_of(database_url))
    restored_url = pg_server.create_database("restored")
    pg_dump(pg_server, "pg_restore", "--no-owner", f"--dbname={name_of(restored_url)}", str(dump))
    copied = flask(
        {**env, "CATALOG_S3_CREATE_BUCKET": "true"},
        *("storage", "migrate", "--to", "s3://restored/catalogue", "--json"),
    )
    assert copied.returncode == 0, copied.stderr
    restored_env = {
        **env,
        "CATALOG_DATABASE_URL": restored_url,
        "CATALOG_STORAGE_URL": "s3://restored/catalogue",
    }
    drill = flask(restored_env, "verify")
    assert drill.returncode == 0 and "OK" in drill.stdout, drill.stdout + drill.stderr
