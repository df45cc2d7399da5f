"""Concurrency on both databases: twenty simultaneous uploads of one file give one media with
every sighting; different files uploaded at once all land; and under gunicorn with several
workers, a media added through one worker is found by hash through every worker within 2 s."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from catalog import schema
from catalog.db import get_session, make_engine
from catalog.models import Media, Sighting
from catalog.services import accounts
from catalog.storage import get_storage

from .media import encode, pattern
from .test_serving import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
WORKERS = 3


def migrated(url: str) -> None:
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()


def catalogue(app_factory: Callable[..., Flask], url: str) -> tuple[Flask, dict[str, str]]:
    migrated(url)
    app = app_factory(url)
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
        _, secret = accounts.create_api_key(get_session(), "ana")
    return app, {"Authorization": f"Bearer {secret}"}


def at_once(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; return the results in order."""
    gate = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_twenty_uploads_of_one_file_give_one_media_and_every_sighting(
    app_factory, fresh_database_url: str
) -> None:
    app, headers = catalogue(app_factory, fresh_database_url)
    data = encode(pattern(seed=1), "JPEG")

    def send(i: int) -> int:
        metadata = json.dumps({"sighting": {"url": f"https://t.me/channel/{i}"}})
        response = app.test_client().post(
            "/api/v1/media",
            headers=headers,
            data={"file": (io.BytesIO(data), "a.jpg"), "metadata": metadata},
            content_type="multipart/form-data",
        )
        return response.status_code

    statuses = at_once(20, send)
    assert sorted(statuses).count(201) == 1 and sorted(statuses).count(200) == 19, statuses
    with app.app_context():
        session = get_session()
        assert session.scalar(sa.select(sa.func.count()).select_from(Media)) == 1
        urls = session.scalars(sa.select(Sighting.url)).all()
        assert sorted(urls) == sorted(f"https://t.me/channel/{i}" for i in range(20))
        assert len(list(get_storage().iter_originals())) == 1


def test_different_uploads_at_once_all_land(app_factory, fresh_database_url: str) -> None:
    app, headers = catalogue(app_factory, fresh_database_url)
    files = [encode(pattern(seed=10 + i), "PNG") for i in range(10)]

    def send(i: int) -> int:
        return (
            app.test_client()
            .post(
                "/api/v1/media",
                headers=headers,
                data={"file": (io.BytesIO(files[i]), f"{i}.png")},
                content_type="multipart/form-data",
            )
            .status_code
        )

    assert at_once(10, send) == [201] * 10
    with app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Media)) == 10
        assert len(list(get_storage().iter_originals())) == 10
    result = app.test_cli_runner().invoke(args=["catalog", "verify"])
    assert result.exit_code == 0, result.output


def request(
    port: int, method: str, path: str, headers: dict, body: bytes | None = None
) -> tuple[int, dict, str]:
    """Send one request on its own connection; return status, JSON body and the process
    that answered (X-Served-By)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body, headers)
    response = connection.getresponse()
    payload = response.read()
    served_by = response.getheader("X-Served-By", "")
    connection.close()
    return response.status, json.loads(payload) if payload else {}, served_by


def gets_at_once(port: int, path: str, headers: dict, count: int = 6) -> list:
    """Send ``count`` GETs together (a sync worker takes one at a time, so they spread over
    the workers); return each answer, or the error that stopped it."""
    return at_once(count, lambda _: request(port, "GET", path, headers))


def served_catalogue(database_url: str, folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Migrate ``database_url`` and make an analyst with an API key through the command line,
    as an operator would; return the environment for app servers and the key's headers."""
    migrated(database_url)
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": database_url,
        "CATALOG_MEDIA_ROOT": str(folder / "media"),
        "CATALOG_SECRET_KEY": "served-test",
        "CATALOG_INSTANCE_PATH": str(folder / "instance"),
        "CATALOG_SERVED_BY_HEADER": "true",
    }
    cli = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]
    subprocess.run(
        [*cli, "user", "create", "ana", "--role", "analyst", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    made = subprocess.run(
        [*cli, "apikey", "create", "ana"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return env, {"Authorization": f"Bearer {made.stdout.split()[-1]}"}


def test_a_media_added_through_one_worker_is_found_through_every_worker_within_two_seconds(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env, headers = served_catalogue(fresh_database_url, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--access-logfile",
            "/dev/null",
            "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Ready means every one of the three workers has answered ready, each naming itself.
        deadline, workers = time.monotonic() + 60, set()
        while len(workers) < WORKERS:
            answers = gets_at_once(port, "/readyz", {})
            workers |= {a[2] for a in answers if not isinstance(a, Exception) and a[0] == 200}
            if any(isinstance(a, OSError) for a in answers):
                time.sleep(0.2)  # not listening yet
            assert time.monotonic() < deadline, f"only {len(workers)} workers became ready"
        assert len(workers) == WORKERS and all(":" in who for who in workers), workers
        # Every worker's index is loaded (and empty); now one of them takes an upload.
        boundary = "b0undary"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + encode(pattern(seed=3), "PNG")
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, created, uploader = request(
            port,
            "POST",
            "/api/v1/media",
            {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            body,
        )
        added = time.monotonic()
        assert status == 201 and uploader in workers
        pdq = next(
            h["hex"]
            for h in created["media"]["hashes"]
            if h["algorithm"] == "pdq" and h["variant"] == "full"
        )
        path = f"/api/v1/search/hash?algorithm=pdq&hex={pdq}"
        found_by: dict[str, float] = {}  # worker -> seconds after the upload it first found it
        missed_after_finding: list[str] = []
        while set(found_by) != workers and time.monotonic() - added < 10:
            # Answers within one round may come in any order, so a worker that found it in an
            # earlier round must find it in every answer of this one.
            hits_now: set[str] = set()
            for status, answer, who in gets_at_once(port, path, headers):
                assert status == 200 and who in workers, (status, who)
                hit = any(m["media_id"] == created["media"]["id"] for m in answer["matches"])
                if hit:
                    hits_now.add(who)
                elif who in found_by:
                    missed_after_finding.append(who)
            for who in hits_now:
                found_by.setdefault(who, time.monotonic() - added)
            time.sleep(0.02)
        assert set(found_by) == workers, f"never found through {workers - set(found_by)}"
        assert max(found_by.values()) <= 2.0, found_by
        assert not missed_after_finding, missed_after_finding
        # And from then on every answer, whoever gives it, finds it.
        for _ in range(5):
            answers = gets_at_once(port, path, headers)
            assert all(a["matches"] and s == 200 for s, a, _ in answers)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
