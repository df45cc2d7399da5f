"""Concurrency on both databases: twenty simultaneous uploads of one file give one media with
every sighting; different files uploaded at once all land; an index refreshed while one upload
waits to commit and another lands still reads both; an upload naming an incident that is being
renamed waits for the rename, and neither deadlocks; and under gunicorn with several workers, a
media added through one worker is found by hash through every worker within 2 s."""

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
from catalog.db import database, get_session, make_engine
from catalog.models import Incident, Media, MediaFeatures, MediaHash, Sighting
from catalog.services.evidence import audit
from catalog.services.media import IndexHolder, get_index, ingest_bytes, thresholds_from
from catalog.services.people import accounts
from catalog.services.records import IngestDetails, named
from catalog.storage import get_storage

from .media import encode, pattern
from .test_serving import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
WORKERS = 3
WAIT_S = 60  # the longest any step below waits for another thread; never reached when it works


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


def test_an_index_refreshed_while_an_upload_waits_to_commit_still_reads_its_rows(
    app_factory, fresh_database_url: str, backend: str
) -> None:
    # Upload A has flushed its rows and waits to commit; upload B of another picture comes
    # along; an index refreshes in between, then both commit and it refreshes again. The
    # refresh reads only ids above the highest it has read, so it must never see B's rows
    # before A's lower ones: B has to wait for A (the uploads' own lock on PostgreSQL, the
    # write lock on SQLite) instead of drawing higher ids and committing first.
    migrated(fresh_database_url)
    app = app_factory(fresh_database_url)
    db = database(app)
    pictures = {"a": encode(pattern(seed=41), "PNG"), "b": encode(pattern(seed=42), "PNG")}
    a_flushed, release_a, b_began_writing = threading.Event(), threading.Event(), threading.Event()
    made: dict[str, int | object] = {}  # the new media's id, or what the upload gave instead

    @sa.event.listens_for(db.sessions, "after_flush")
    def pause_a(session: sa.orm.Session, _context: object) -> None:
        if threading.current_thread().name == "a" and any(
            isinstance(row, MediaHash) for row in session.new
        ):
            a_flushed.set()
            release_a.wait(WAIT_S)

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def note_b_writes(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.current_thread().name == "b" and statement.startswith("BEGIN IMMEDIATE"):
            b_began_writing.set()

    def upload(name: str) -> None:
        with app.app_context():
            try:
                result = ingest_bytes(
                    get_session(),
                    get_storage(),
                    get_index(),
                    pictures[name],
                    IngestDetails(),
                    actor=None,
                    thresholds=thresholds_from(app.config),
                    max_pixels=app.config["MAX_IMAGE_PIXELS"],
                )
                made[name] = result.media.id if result.created else result
            except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
                made[name] = exc

    def b_waits_for_a() -> bool:
        if backend == "sqlite":
            # Once B asks for the write lock it cannot have it until A commits.
            return b_began_writing.is_set()
        with db.engine.connect() as connection:
            return bool(
                connection.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            )

    def refresh(holder: IndexHolder) -> None:
        with db.sessions() as session:
            holder.refresh(session, force=True)

    holder = IndexHolder(app.config["INDEX_KIND"], 1.0)
    a = threading.Thread(target=upload, args=("a",), name="a")
    b = threading.Thread(target=upload, args=("b",), name="b")
    try:
        a.start()
        assert a_flushed.wait(WAIT_S), f"upload A never flushed its hashes: {made}"
        b.start()
        deadline = time.monotonic() + WAIT_S
        while b.is_alive() and not b_waits_for_a():
            assert time.monotonic() < deadline, "upload B neither finished nor waited for A"
            time.sleep(0.01)
        refresh(holder)  # A holds its rows uncommitted; B has committed, or waits for A
    finally:
        release_a.set()
        a.join(WAIT_S)
        b.join(WAIT_S)
    assert not a.is_alive() and not b.is_alive(), "an upload did not finish"
    assert all(isinstance(made.get(name), int) for name in pictures), made
    refresh(holder)
    with db.sessions() as session:
        stored = {
            algorithm: session.scalar(
                sa.select(sa.func.count()).where(MediaHash.algorithm == algorithm)
            )
            for algorithm in holder.index.hashes
        }
        keypoint_rows = session.scalar(sa.select(sa.func.count()).select_from(MediaFeatures))
        hash_ids = {
            name: session.scalars(sa.select(MediaHash.id).where(MediaHash.media_id == id_)).all()
            for name, id_ in made.items()
        }
    read = {algorithm: len(index) for algorithm, index in holder.index.hashes.items()}
    assert read == stored and all(stored.values()), (
        f"the index read {read} of the hashes stored {stored}; hash ids of upload A "
        f"{hash_ids['a']}, of B {hash_ids['b']}; watermark {holder.index.hash_watermark}"
    )
    assert len(holder.index.keypoints) == keypoint_rows == 2, (
        f"the index read keypoints of {len(holder.index.keypoints)} of {keypoint_rows} pictures"
    )


def test_an_upload_naming_an_incident_being_renamed_waits_for_the_rename_without_deadlock(
    app_factory, fresh_database_url: str, backend: str
) -> None:
    # A rename writes the incident's row first and takes the audit chain's lock last (in
    # audit.record). Paused between the two, it holds the row but not the chain; an upload
    # naming that incident must then wait for the row (on PostgreSQL its media's foreign key
    # needs the row the rename changes; on SQLite the rename holds the write lock) and land
    # once the rename commits. Were the upload to take the chain's lock before its rows, as
    # an earlier way of ordering uploads' commits did, each would wait for the other and
    # PostgreSQL would abort one of them as a deadlock.
    migrated(fresh_database_url)
    app = app_factory(fresh_database_url)
    db = database(app)
    with app.app_context():
        incident_id = named.create_named(get_session(), Incident, {"title": "Flood"}, None).id
    rename_flushed, release_rename = threading.Event(), threading.Event()
    upload_began_writing = threading.Event()
    outcome: dict[str, object] = {}  # what each thread's call returned, or raised

    @sa.event.listens_for(db.sessions, "after_flush")
    def pause_rename(session: sa.orm.Session, _context: object) -> None:
        # In after_flush the session still lists what it has just written as dirty.
        if threading.current_thread().name == "rename" and any(
            isinstance(row, Incident) for row in session.dirty
        ):
            rename_flushed.set()
            release_rename.wait(WAIT_S)

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def note_upload_writes(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.current_thread().name == "upload" and statement.startswith("BEGIN IMMEDIATE"):
            upload_began_writing.set()

    def rename() -> None:
        with app.app_context():
            try:
                changes = {"title": "Flood 2"}
                outcome["rename"] = named.update_named(
                    get_session(), Incident, incident_id, changes, None
                ).title
            except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
                outcome["rename"] = exc

    def upload() -> None:
        with app.app_context():
            try:
                result = ingest_bytes(
                    get_session(),
                    get_storage(),
                    get_index(),
                    encode(pattern(seed=43), "PNG"),
                    IngestDetails(incident="Flood"),
                    actor=None,
                    thresholds=thresholds_from(app.config),
                    max_pixels=app.config["MAX_IMAGE_PIXELS"],
                )
                outcome["upload"] = result.media.incident_id if result.created else result
            except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
                outcome["upload"] = exc

    def upload_waits_for_rename() -> bool:
        if backend == "sqlite":
            # Once the upload asks for the write lock it cannot have it until the rename ends.
            return upload_began_writing.is_set()
        with db.engine.connect() as connection:
            return bool(
                connection.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            )

    renamer = threading.Thread(target=rename, name="rename")
    uploader = threading.Thread(target=upload, name="upload")
    try:
        renamer.start()
        assert rename_flushed.wait(WAIT_S), f"the rename never flushed the incident: {outcome}"
        uploader.start()
        deadline = time.monotonic() + WAIT_S
        while not upload_waits_for_rename():
            # Finishing first would mean it never met the rename's row: nothing was tested.
            assert uploader.is_alive(), f"the upload did not wait for the rename: {outcome}"
            assert time.monotonic() < deadline, "the upload never came to wait for the rename"
            time.sleep(0.01)
    finally:
        release_rename.set()
        renamer.join(WAIT_S)
        uploader.join(WAIT_S)
    assert not renamer.is_alive() and not uploader.is_alive(), f"one did not finish: {outcome}"
    assert outcome["rename"] == "Flood 2" and isinstance(outcome["upload"], int), outcome
    with db.sessions() as session:
        titles = dict(session.execute(sa.select(Incident.id, Incident.title)).all())
        chain = audit.verify_chain(session)
    # Either order is a right one: on PostgreSQL the upload found "Flood" before the rename
    # committed and its media follows that incident to its new title; on SQLite it looked
    # only once the rename had committed, found no "Flood" and made one.
    if outcome["upload"] == incident_id:
        assert titles == {incident_id: "Flood 2"}, titles
    else:
        assert titles == {incident_id: "Flood 2", outcome["upload"]: "Flood"}, titles
    assert chain.ok, chain.faults


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
