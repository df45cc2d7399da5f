"""Uploads of long videos run as jobs: stored at once and answered 202, read by a worker with
progress, the media made once even when a worker dies mid-job, a bad file failed with its
reason and nothing left behind; through the API, the web form and a real `catalog worker`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from catalog import schema
from catalog.db import get_session, make_engine
from catalog.models import Media, Sighting, UploadJob, UploadStatus, utcnow
from catalog.services import INTERNAL_ERROR
from catalog.services.custody import integrity
from catalog.services.evidence import audit
from catalog.services.media import get_index, thresholds_from, uploads
from catalog.services.people import accounts
from catalog.storage import get_storage

from .api_tools import PASSWORD, keys
from .test_web import sign_in, token
from .video_tools import clip

__all__ = ["keys"]  # a fixture, used by name

ROOT = Path(__file__).resolve().parent.parent
LONG = clip("chair-orig-22-sd-bar.mp4")  # longer than the tests' threshold of 2 s
SHORT_LIMIT = {"UPLOAD_JOB_VIDEO_SECONDS": 2, "UPLOAD_JOB_ATTEMPTS": 2}
METADATA = {
    "title": "Chair, long cut",
    "incident": "Dome fire",
    "sighting": {
        "url": "https://t.me/channel/77",
        "platform": "telegram",
        "posted_at": "2026-05-03T21:40:00+00:00",
    },
}


def upload(
    client: FlaskClient, headers: dict, data: bytes, name: str, metadata: dict | None = None
):
    """Post a file to the API, the body encoded in memory: for bodies over 500 KB the test
    client spools to a temporary file it never closes."""
    fields: dict = {"file": FileStorage(io.BytesIO(data), filename=name)}
    if metadata is not None:
        fields["metadata"] = json.dumps(metadata)
    boundary, body = encode_multipart(fields)
    return client.post(
        "/api/v1/media",
        headers=headers,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


@pytest.fixture
def jobs_app(app: Flask) -> Flask:
    app.config.update(SHORT_LIMIT)
    return app


def run_job(app: Flask, job_id: int) -> UploadJob:
    """Run one attempt of the job as a worker would."""
    settings = uploads.UploadSettings.from_config(app.config)
    return uploads.run_upload(
        get_session(), get_storage(), get_index(), job_id, settings, thresholds_from(app.config)
    )


def media_count() -> int:
    return int(get_session().scalar(sa.select(sa.func.count()).select_from(Media)) or 0)


def test_a_long_video_is_stored_at_once_and_made_into_media_by_the_job(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    answer = upload(client, keys["analyst"], LONG, "chair.mp4", METADATA)
    assert answer.status_code == 202, answer.json
    queued = answer.json["upload"]
    assert queued["status"] == "queued" and queued["media_id"] is None
    assert queued["duration_s"] > 2 and queued["original_filename"] == "chair.mp4"
    assert answer.headers["Location"] == f"/api/v1/uploads/{queued['id']}"
    with jobs_app.app_context():
        storage = get_storage()
        assert storage.exists(queued["sha256"]) and media_count() == 0
        # Waiting for its worker, the original is neither an orphan nor garbage.
        assert not integrity.verify(get_session(), storage).orphans
        assert integrity.collect_garbage(get_session(), storage, older_than_s=0).orphans == []
        seen: list[float] = []
        real = uploads._Keeper.progress

        def spy(self: uploads._Keeper, share: float) -> None:
            seen.append(share)
            real(self, share)

        uploads._Keeper.progress = spy  # type: ignore[method-assign]
        try:
            job = run_job(jobs_app, queued["id"])
        finally:
            uploads._Keeper.progress = real  # type: ignore[method-assign]
        assert job.status is UploadStatus.DONE and job.created is True
        assert seen and seen == sorted(seen)  # progress told as the video was read
        media = get_session().get(Media, job.media_id)
        assert (
            media is not None and media.sha256 == queued["sha256"] and media.kind.value == "video"
        )
        assert media.title == "Chair, long cut" and media.incident.title == "Dome fire"
        [sighting] = get_session().scalars(sa.select(Sighting).where(Sighting.media_id == media.id))
        assert sighting.posted_at.isoformat() == "2026-05-03T21:40:00+00:00"
        media_id = media.id
        again = run_job(jobs_app, queued["id"])  # delivered twice: nothing more happens
        assert again.status is UploadStatus.DONE and media_count() == 1
    done = client.get(answer.headers["Location"], headers=keys["viewer"]).json
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["media_id"] == media_id and done["created"] is True
    assert done["near_duplicates"] == []
    # The same bytes again are held: answered at once, no job.
    known = upload(client, keys["analyst"], LONG, "again.mp4")
    assert known.status_code == 200 and known.json["media"]["id"] == media_id
    assert client.get("/api/v1/uploads/999999", headers=keys["viewer"]).status_code == 404
    assert client.get(answer.headers["Location"]).status_code == 401


def test_a_worker_dying_mid_job_leaves_no_media_and_the_job_runs_again(
    jobs_app: Flask, client: FlaskClient, keys: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    queued = upload(client, keys["analyst"], LONG, "chair.mp4", METADATA).json["upload"]
    with jobs_app.app_context():
        # The worker breaks inside the ingest's transaction, after the media row was written.
        def broken(*_args: object, **_kwargs: object) -> None:
            raise OSError("the worker's disk went away")

        with monkeypatch.context() as patched:
            patched.setattr(audit, "record", broken)
            with pytest.raises(uploads.RetryLater):
                run_job(jobs_app, queued["id"])
        job = uploads.get_upload(get_session(), queued["id"])
        # Viewers read a plain reason; the exception itself goes to the worker's log.
        assert job.status is UploadStatus.QUEUED and job.error == INTERNAL_ERROR
        assert media_count() == 0 and get_storage().exists(queued["sha256"])
        # A worker killed outright leaves the job running under a lease that runs out.
        job.status, job.lease_until = UploadStatus.RUNNING, utcnow() - timedelta(seconds=1)
        get_session().commit()
        done = run_job(jobs_app, queued["id"])
        assert done.status is UploadStatus.DONE and done.attempts == 2 and media_count() == 1
        assert not integrity.verify(get_session(), get_storage()).orphans


def test_a_held_job_is_left_to_its_worker(jobs_app: Flask, client: FlaskClient, keys: dict) -> None:
    queued = upload(client, keys["analyst"], LONG, "chair.mp4").json["upload"]
    with jobs_app.app_context():
        job = uploads.get_upload(get_session(), queued["id"])
        job.status, job.attempts = UploadStatus.RUNNING, 1
        job.lease_until = utcnow() + timedelta(minutes=5)
        get_session().commit()
        left = run_job(jobs_app, queued["id"])
        assert left.status is UploadStatus.RUNNING and left.attempts == 1 and media_count() == 0


def test_a_worker_that_lost_the_job_keeps_nothing_of_its_work(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    queued = upload(client, keys["analyst"], LONG, "chair.mp4", METADATA).json["upload"]
    with jobs_app.app_context():
        session = get_session()
        settings = uploads.UploadSettings.from_config(jobs_app.config)
        claimed = uploads._claim(session, queued["id"], timedelta(minutes=5), settings)
        assert claimed is not None and claimed[1] == 1
        # Its lease ran out while it worked, and another worker took the job up.
        job = uploads.get_upload(session, queued["id"])
        job.attempts = 2
        session.commit()
        with get_storage().open(queued["sha256"]) as original, pytest.raises(uploads._Superseded):
            uploads._ingest(
                session,
                get_storage(),
                get_index(),
                original,
                uploads.details_from_json(job.details),
                None,
                thresholds_from(jobs_app.config),
                settings,
                on_commit=lambda media, created, matches: uploads._finish(
                    session, queued["id"], 1, media, created, matches
                ),
            )
        assert (
            media_count() == 0
            and get_session().scalar(sa.select(sa.func.count()).select_from(Sighting)) == 0
        )


def test_a_video_that_keeps_killing_workers_fails_and_can_be_tried_again(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    queued = upload(client, keys["analyst"], LONG, "chair.mp4").json["upload"]
    with jobs_app.app_context():
        job = uploads.get_upload(get_session(), queued["id"])
        job.status, job.attempts = UploadStatus.RUNNING, 2  # UPLOAD_JOB_ATTEMPTS, each died
        job.lease_until = utcnow() - timedelta(seconds=1)
        get_session().commit()
        failed = run_job(jobs_app, queued["id"])
        assert failed.status is UploadStatus.FAILED and "stopped 2 times" in (failed.error or "")
        assert get_storage().exists(queued["sha256"])  # the evidence is kept
        assert not integrity.verify(get_session(), get_storage()).orphans
    page = client.get(f"/api/v1/uploads/{queued['id']}", headers=keys["viewer"]).json
    assert page["status"] == "failed"
    assert (
        client.post(f"/api/v1/uploads/{queued['id']}/retry", headers=keys["viewer"]).status_code
        == 403
    )
    again = client.post(f"/api/v1/uploads/{queued['id']}/retry", headers=keys["analyst"])
    assert again.status_code == 202 and again.json["status"] == "queued"
    assert (
        client.post(f"/api/v1/uploads/{queued['id']}/retry", headers=keys["analyst"]).status_code
        == 409
    )
    with jobs_app.app_context():
        done = run_job(jobs_app, queued["id"])
        assert done.status is UploadStatus.DONE and media_count() == 1


def test_a_bad_long_video_fails_with_its_reason_and_leaves_nothing(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    cut = LONG[: 2 * len(LONG) // 3]  # its header still says how long it should be
    answer = upload(client, keys["analyst"], cut, "cut.mp4")
    assert answer.status_code == 202, answer.json
    queued = answer.json["upload"]
    with jobs_app.app_context():
        job = run_job(jobs_app, queued["id"])
        assert job.status is UploadStatus.FAILED and "truncated" in (job.error or "")
        assert not get_storage().exists(queued["sha256"]) and media_count() == 0
    failed = client.get(answer.headers["Location"], headers=keys["viewer"]).json
    assert failed["status"] == "failed" and "truncated" in failed["error"]
    # A refused file is not kept, so there is nothing to try again.
    retry = client.post(f"{answer.headers['Location']}/retry", headers=keys["analyst"])
    assert retry.status_code == 409


def test_what_was_typed_is_refused_before_anything_is_stored(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    bad = {"sighting": {"posted_at": "2026-02-30T10:00:00Z"}}
    answer = upload(client, keys["analyst"], LONG, "chair.mp4", bad)
    assert answer.status_code == 422
    jobs_app.config["MAX_VIDEO_SECONDS"] = 3
    too_long = upload(client, keys["analyst"], LONG, "chair.mp4")
    assert too_long.status_code == 422 and "more than the limit" in too_long.json["detail"]
    with jobs_app.app_context():
        assert list(get_storage().iter_originals()) == []
        assert get_session().scalar(sa.select(sa.func.count()).select_from(UploadJob)) == 0


def test_the_web_form_follows_the_job_to_the_media_page(
    jobs_app: Flask, client: FlaskClient
) -> None:
    with jobs_app.app_context():
        accounts.create_user(get_session(), "analyst", PASSWORD, "analyst")
    sign_in(client, "analyst")
    boundary, body = encode_multipart(
        {"csrf_token": token(client), "file": FileStorage(io.BytesIO(LONG), "c.mp4")}
    )
    sent = client.post(
        "/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/uploads/")
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and 'id="upload-progress"' in page
    job_id = int(sent.headers["Location"].rsplit("/", 1)[1])
    with jobs_app.app_context():
        media_id = run_job(jobs_app, job_id).media_id
    landed = client.get(sent.headers["Location"])
    assert landed.status_code == 302
    assert landed.headers["Location"] == f"/media/{media_id}?upload=new"


def test_a_long_recording_waits_for_a_worker_too(
    jobs_app: Flask, client: FlaskClient, keys: dict
) -> None:
    from .audio_tools import encode, recording

    answer = upload(client, keys["analyst"], encode(recording(6, seed=8), "flac"), "call.flac")
    assert answer.status_code == 202, answer.json
    with jobs_app.app_context():
        job = run_job(jobs_app, answer.json["upload"]["id"])
        assert job.status is UploadStatus.DONE
        assert get_session().get(Media, job.media_id).kind.value == "audio"


def test_a_real_worker_reads_the_queued_upload(
    fresh_database_url: str, app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    engine.dispose()
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    app = app_factory(fresh_database_url, QUEUE_URL=queue_url, **SHORT_LIMIT)
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
        _, secret = accounts.create_api_key(get_session(), "ana")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    answer = upload(client, headers, LONG, "chair.mp4", METADATA)
    assert answer.status_code == 202, answer.json
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": fresh_database_url,
        "CATALOG_MEDIA_ROOT": app.config["MEDIA_ROOT"],
        "CATALOG_INDEX_DIR": app.config["INDEX_DIR"],
        "CATALOG_QUEUE_URL": queue_url,
        "CATALOG_UPLOAD_JOB_VIDEO_SECONDS": "2",
        "CATALOG_SECRET_KEY": "worker-test",
        "CATALOG_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 120
            while (job := client.get(answer.headers["Location"], headers=headers).json)[
                "status"
            ] not in ("done", "failed"):
                assert time.monotonic() < deadline, (job, (tmp_path / "worker.log").read_text())
                time.sleep(0.3)
        finally:
            worker.terminate()
            worker.wait(30)
    assert job["status"] == "done" and job["created"] is True, job
    media = client.get(f"/api/v1/media/{job['media_id']}", headers=headers).json
    assert media["sha256"] == job["sha256"] and media["title"] == "Chair, long cut"
    assert json.loads(json.dumps(job["near_duplicates"])) == []
