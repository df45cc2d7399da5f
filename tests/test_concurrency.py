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
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body, headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, json.loads(payload) if payload else {}


def test_a_media_added_through_one_worker_is_found_through_every_worker_within_two_seconds(
    fresh_database_url: str, tmp_path: Path
) -> None:
    migrated(fresh_database_url)
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": fresh_database_url,
        "CATALOG_MEDIA_ROOT": str(tmp_path / "media"),
        "CATALOG_SECRET_KEY": "workers-test",
        "CATALOG_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    cli = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]
    subprocess.run(
        [*cli, "user", "create", "ana", "--role", "analyst", "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    secret = (
        subprocess.run(
            [*cli, "apikey", "create", "ana"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .split()[-1]
    )
    headers = {"Authorization": f"Bearer {secret}"}
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
            "3",
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
        deadline, streak = time.monotonic() + 60, 0
        while streak < 15:  # every worker has answered ready (connections are spread over them)
            try:
                streak = streak + 1 if request(port, "GET", "/readyz", {})[0] == 200 else 0
            except OSError:
                streak = 0
                time.sleep(0.2)
            assert time.monotonic() < deadline, "gunicorn did not become ready"
        # Every worker's index is loaded (and empty); now one of them takes an upload.
        boundary = "b0undary"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
            + encode(pattern(seed=3), "PNG")
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, created = request(
            port,
            "POST",
            "/api/v1/media",
            {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            body,
        )
        added = time.monotonic()
        assert status == 201
        pdq = next(
            h["hex"]
            for h in created["media"]["hashes"]
            if h["algorithm"] == "pdq" and h["variant"] == "full"
        )
        found_from, streak = None, 0
        while streak < 30 and time.monotonic() - added < 10:
            _, answer = request(
                port, "GET", f"/api/v1/search/hash?algorithm=pdq&hex={pdq}", headers
            )
            hit = any(m["media_id"] == created["media"]["id"] for m in answer.get("matches", []))
            if hit and found_from is None:
                found_from = time.monotonic() - added
            streak = streak + 1 if hit else 0
            if not hit:
                found_from = None
            time.sleep(0.02)
        assert streak >= 30 and found_from is not None and found_from <= 2.0, (streak, found_from)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
