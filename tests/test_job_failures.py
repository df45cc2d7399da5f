"""How jobs end when things go wrong: a capture whose workers keep dying fails after its
attempts, as an upload does; an upload attempt past UPLOAD_JOB_TIMEOUT_SECONDS is stopped and
fails with the reason, its file kept; an internal error shows viewers a plain reason (the repr
and its SQL go to the log); and an upload's heartbeat renews only its own attempt's lease."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.jobs import make_consumer, requeue_abandoned
from catalog.models import AuditEvent, Capture, CaptureStatus, Media, UploadStatus, utcnow
from catalog.services.collection import captures
from catalog.services.evidence import audit
from catalog.services.media import uploads
from catalog.storage import get_storage

from .api_tools import keys
from .test_upload_jobs import LONG, jobs_app, run_job, upload
from .test_web import sign_in

__all__ = ["jobs_app", "keys"]  # fixtures, used by name

# What a database error's repr carries: the statement, with what it touched.
SQL = "SELECT users.password_hash FROM users WHERE users.id = 1"


def broken_database(*_args: object, **_kwargs: object) -> None:
    raise sa.exc.OperationalError(SQL, {"id": 1}, Exception("server closed the connection"))


def run_worker_once(app: Flask) -> None:
    """One turn of a real consumer's worker thread: take a message and run it."""
    worker, _ = make_consumer(app, 1, scheduler=False).worker_threads[0]
    worker.loop()


def events(action: str) -> list[AuditEvent]:
    return list(get_session().scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def assert_plain(text: str) -> None:
    """No repr, no SQL, no exception's name: what a viewer may read of an internal error."""
    for leaked in ("SELECT", "password_hash", "OperationalError", "Error(", "server closed"):
        assert leaked not in text, (leaked, text)


def test_a_capture_whose_workers_keep_dying_fails_after_its_attempts(app: Flask) -> None:
    app.config["CAPTURE_ATTEMPTS"] = 2
    with app.app_context():
        capture = captures.create_capture(
            get_session(), "https://example.org/post/1", incident=None, actor=None
        )
        # Each of its two attempts' workers died: running, its lease run out.
        capture.status, capture.attempts = CaptureStatus.RUNNING, 2
        capture.lease_until = utcnow() - timedelta(seconds=1)
        get_session().commit()
        capture_id = capture.id
    assert requeue_abandoned(app) == 1
    run_worker_once(app)
    with app.app_context():
        failed = get_session().get(Capture, capture_id)
        assert failed is not None and failed.status is CaptureStatus.FAILED
        assert failed.error == "the worker stopped 2 times during this capture"
        assert failed.attempts == 2 and failed.lease_until is None and failed.finished_at
        [event] = events("capture.failed")
        assert event.object_id == str(capture_id) and "stopped 2 times" in event.details["reason"]
    assert requeue_abandoned(app) == 0  # ended: not queued again


def test_an_internal_error_in_a_capture_shows_a_plain_reason(
    app: Flask,
    client: FlaskClient,
    keys: dict,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.config["CAPTURE_ATTEMPTS"] = 1
    monkeypatch.setattr(captures, "capture_page", broken_database)
    asked = client.post(
        "/api/v1/captures", json={"url": "https://example.org/post/2"}, headers=keys["analyst"]
    )
    assert asked.status_code == 202
    with caplog.at_level(logging.ERROR, logger="catalog.jobs"):
        run_worker_once(app)
    assert SQL in caplog.text  # the details are in the worker's log
    shown = client.get(asked.headers["Location"], headers=keys["viewer"]).json
    assert shown["status"] == "failed" and "internal error" in shown["error"]
    assert_plain(str(shown))
    sign_in(client, "viewer")
    for path in (f"/captures/{shown['id']}", "/captures"):
        page = client.get(path).get_data(as_text=True)
        assert "internal error" in page
        assert_plain(page)


def test_an_internal_error_in_an_upload_shows_a_plain_reason(
    jobs_app: Flask,
    client: FlaskClient,
    keys: dict,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs_app.config["UPLOAD_JOB_ATTEMPTS"] = 1
    queued = upload(client, keys["analyst"], LONG, "chair.mp4").json["upload"]
    real, calls = audit.record, []

    def broken_once(*args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == 1:  # the ingest's own record, inside its transaction
            broken_database()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    with jobs_app.app_context(), monkeypatch.context() as patched:
        patched.setattr(audit, "record", broken_once)
        with caplog.at_level(logging.ERROR, logger="catalog.services.media.uploads"):
            failed = run_job(jobs_app, queued["id"])
        assert failed.status is UploadStatus.FAILED
    assert SQL in caplog.text
    shown = client.get(f"/api/v1/uploads/{queued['id']}", headers=keys["viewer"]).json
    assert shown["status"] == "failed" and "internal error" in shown["error"]
    assert_plain(str(shown))
    sign_in(client, "viewer")
    page = client.get(f"/uploads/{queued['id']}").get_data(as_text=True)
    assert "internal error" in page and "The stored file is kept" in page
    assert_plain(page)


def test_an_upload_attempt_past_its_time_is_stopped_and_fails_keeping_the_file(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    jobs_app.config["UPLOAD_JOB_TIMEOUT_SECONDS"] = 1e-6  # over before the first frame is read
    queued = upload(client, keys["analyst"], LONG, "chair.mp4").json["upload"]
    with jobs_app.app_context():
        job = run_job(jobs_app, queued["id"])
        assert job.status is UploadStatus.FAILED and job.attempts == 1
        assert job.error and "longer than the limit of 1e-06 s" in job.error
        assert job.lease_until is None and job.finished_at is not None
        assert get_storage().exists(queued["sha256"])  # evidence is kept, to be tried again
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Media)) == 0
        [event] = events("upload.failed")
        assert "longer than the limit" in event.details["reason"]
    jobs_app.config["UPLOAD_JOB_TIMEOUT_SECONDS"] = 600
    again = client.post(f"/api/v1/uploads/{queued['id']}/retry", headers=keys["analyst"])
    assert again.status_code == 202
    with jobs_app.app_context():
        assert run_job(jobs_app, queued["id"]).status is UploadStatus.DONE


def test_an_upload_heartbeat_renews_only_its_own_attempt(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    queued = upload(client, keys["analyst"], LONG, "chair.mp4").json["upload"]
    with jobs_app.app_context():
        session = get_session()
        settings = uploads.UploadSettings.from_config(jobs_app.config)
        claimed = uploads._claim(session, queued["id"], timedelta(minutes=5), settings)
        assert claimed is not None
        mine = claimed[1]
        keeper = uploads._Keeper(session, queued["id"], mine, timedelta(seconds=4))
        # This worker's lease ran out and another took the job up, with a lease of its own.
        job = uploads.get_upload(session, queued["id"])
        job.attempts, job.progress = mine + 1, 0.25
        job.lease_until = theirs = utcnow() + timedelta(hours=1)
        session.commit()
        keeper._write()  # what each beat of its heartbeat thread writes
        keeper.progress(0.5)
        session.expire_all()
        job = uploads.get_upload(session, queued["id"])
        assert job.lease_until is not None and job.lease_until > utcnow() + timedelta(minutes=30)
        assert job.progress == 0.25, "the old attempt wrote over the new one's progress"
        # The attempt that holds the job renews its lease.
        uploads._Keeper(session, queued["id"], mine + 1, timedelta(seconds=4))._write()
        session.expire_all()
        job = uploads.get_upload(session, queued["id"])
        assert job.lease_until is not None and job.lease_until < theirs - timedelta(minutes=30)
