"""The job queue holds plain JSON only: a pickle written into it (on SQLite, on a Redis with a
password) is refused unread and dropped, never run; messages with other than ids and plain
values are refused when written and when read; and jobs still go through it, over a Redis
that asks for a password and speaks TLS (``rediss://``)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import logging
import pickle
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.jobs import enqueue_capture, make_consumer, queue
from catalog.models import UploadStatus
from catalog.queue_format import QueueFormatError
from catalog.services.media import uploads

from .api_tools import keys
from .redisserver import RedisServer
from .test_upload_jobs import LONG, SHORT_LIMIT, upload

__all__ = ["keys"]  # a fixture, used by name

PASSWORD = "queue-" + uuid.uuid4().hex


class Planted:
    """A pickle whose loading writes a file: proof that the queue unpickled it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204 - pickle's protocol
        return (Path.write_text, (self.path, "unpickled"))


@pytest.fixture(params=["sqlite", "redis"])
def queued_app(request: pytest.FixtureRequest, app: Flask) -> Iterator[Flask]:
    """The app with its queue on SQLite, or on a Redis that asks for a password."""
    if request.param == "sqlite":
        yield app
        return
    server = RedisServer(password=PASSWORD).start()
    app.config["QUEUE_URL"] = server.queue_url
    try:
        yield app
    finally:
        server.stop()


def run_worker_once(app: Flask) -> None:
    """One turn of a real consumer's worker thread: take a message and run it."""
    worker, _ = make_consumer(app, 1, scheduler=False).worker_threads[0]
    worker.loop()


def test_a_pickle_written_into_the_queue_is_refused_and_never_run(
    queued_app: Flask, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    huey = queue(queued_app)
    planted = tmp_path / "planted"
    huey.storage.enqueue(pickle.dumps(Planted(planted)), 0)
    with caplog.at_level(logging.ERROR, logger="huey"):
        run_worker_once(queued_app)
    assert not planted.exists(), "the worker unpickled what was written into the queue"
    assert "Error reading from queue" in caplog.text and "not JSON" in caplog.text
    assert huey.pending_count() == 0  # dropped, not left to be read again
    # Read through the schedule (a retry's delay), a pickle is skipped the same way.
    huey.storage.add_to_schedule(pickle.dumps(Planted(planted)), datetime.datetime(2000, 1, 1))
    assert huey.read_schedule(datetime.datetime.now()) == [] and not planted.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"args": [{"py/object": "os.system"}]},  # not an id or plain value
        {"args": [[1, 2]]},
        {"kwargs": {"capture_id": {"x": 1}}},
        {"on_complete": {"name": "catalog.jobs.capture"}},  # a task carried in the task
        {"eta": "tomorrow"},
        {"retries": "many"},
        {"surprise": 1},
    ],
)
def test_a_json_message_with_more_than_plain_values_is_refused(
    queued_app: Flask, changes: dict
) -> None:
    huey = queue(queued_app)
    enqueue_capture(7, app=queued_app)
    document = json.loads(huey.storage.dequeue())
    document["task"].update(changes)
    huey.storage.enqueue(json.dumps(document).encode(), 0)
    with pytest.raises(QueueFormatError):
        huey.dequeue()


def test_what_the_queue_holds_is_plain_and_reads_back(queued_app: Flask) -> None:
    huey = queue(queued_app)
    enqueue_capture(41, delay=30, app=queued_app)
    raw = huey.storage.dequeue()
    document = json.loads(raw)
    assert document["task"]["args"] == [41] and document["task"]["name"].endswith("capture")
    huey.storage.enqueue(raw, 0)
    task = huey.dequeue()
    assert task.args == (41,) and isinstance(task.eta, datetime.datetime)
    # Only ids and plain values may be written; a pipeline neither.
    jobs = queued_app.extensions["catalog.jobs"]
    with pytest.raises(QueueFormatError):
        jobs.capture(Path("/etc/passwd"))
    with pytest.raises(QueueFormatError):
        huey.enqueue(jobs.capture.s(1).then(jobs.upload, 2))
    assert huey.pending_count() == 0
    # Results and Huey's errors are plain too.
    huey.put_result("r", "done")
    assert huey.get("r") == "done"
    with pytest.raises(QueueFormatError):
        huey.put_result("r", {1, 2})


# -- Redis with a password, over TLS --------------------------------------------------------


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "catalog test redis")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "redis.crt", folder / "redis.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_upload_job_goes_through_a_redis_over_tls_with_a_password(
    app: Flask, client: FlaskClient, keys: dict, tmp_path: Path
) -> None:
    cert, key = certificate(tmp_path)
    server = RedisServer(password=PASSWORD, tls=(cert, key), tls_port=free_port()).start()
    try:
        url = server.tls_url(cert, db=2)
        app.config.update(QUEUE_URL=url, **SHORT_LIMIT)
        answer = upload(client, keys["analyst"], LONG, "chair.mp4")
        assert answer.status_code == 202, answer.json
        huey = queue(app)
        assert huey.pending_count() == 1
        task = huey.dequeue()
        huey.execute(task)
        with app.app_context():
            job = uploads.get_upload(get_session(), answer.json["upload"]["id"])
            assert job.status is UploadStatus.DONE and job.media_id is not None
        # The server takes no client without the password, nor one that skips TLS.
        with pytest.raises(redis.AuthenticationError):
            redis.from_url(url.replace(PASSWORD, "wrong")).ping()
        with pytest.raises(redis.ConnectionError):
            redis.from_url(
                f"redis://:{PASSWORD}@127.0.0.1:{server.tls_port}/2?socket_timeout=5"
            ).ping()
    finally:
        server.stop()
