"""The catalogue with its originals in an S3 bucket (``STORAGE_URL``): uploads land in the
bucket and nowhere else, pages and the API serve pictures, stills and videos (with range
requests) from it, presigned redirects where asked (signed with a key that can only read),
``verify`` re-hashes objects and catches an altered or missing one, ``gc`` removes orphaned
objects and aborts stale unfinished uploads, readiness names an unreachable bucket, a missing
bucket stops the app unless it may make one. Against a real SeaweedFS server the suite starts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from catalog import schema
from catalog.db import get_session, make_engine
from catalog.models import Media
from catalog.replies import send_stored
from catalog.services.people import accounts
from catalog.storage import get_storage
from catalog.storage.s3 import ObjectStorage
from catalog.storage.s3_connection import SIGNED

from .api_tools import ASTRONAUT, upload
from .conftest import make_test_app, rolled_back
from .media import encode, pattern
from .s3server import READ_ACCESS_KEY, READ_SECRET_KEY, SeaweedServer
from .test_web import sign_in, uploaded
from .video_tools import clip

PASSWORD = "correct horse battery"
# Presigned redirects, signed with the key the test server lets only read.
PRESIGNED = {
    "S3_PRESIGNED_SECONDS": 120,
    "S3_PRESIGN_ACCESS_KEY_ID": READ_ACCESS_KEY,
    "S3_PRESIGN_SECRET_ACCESS_KEY": READ_SECRET_KEY,
}


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    # The store, not the database, is under test here: one SQLite catalogue for the module.
    url = f"sqlite:///{tmp_path_factory.mktemp('s3db') / 'catalog.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


def bucket_for(request: pytest.FixtureRequest) -> str:
    return "app-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:16]


@pytest.fixture
def app(
    migrated_sqlite: str,
    tmp_path: Path,
    s3_server: SeaweedServer,
    s3_credentials: None,
    request: pytest.FixtureRequest,
) -> Iterator[Flask]:
    """The app with its store in a bucket of its own, every database change rolled back."""
    extra = getattr(request, "param", {})
    application = make_test_app(
        migrated_sqlite,
        tmp_path,
        STORAGE_URL=f"s3://{bucket_for(request)}/catalogue",
        S3_ENDPOINT_URL=s3_server.endpoint_url,
        S3_CREATE_BUCKET=True,
        **extra,
    )
    yield from rolled_back(application)


@pytest.fixture
def keys(app: Flask) -> dict[str, dict[str, str]]:
    """Bearer headers for a viewer and an analyst."""
    headers = {}
    with app.app_context():
        for role in ("viewer", "analyst"):
            accounts.create_user(get_session(), f"{role}-key", PASSWORD, role)
            _, secret = accounts.create_api_key(get_session(), f"{role}-key")
            headers[role] = {"Authorization": f"Bearer {secret}"}
    return headers


@pytest.fixture
def analyst(app: Flask, client: FlaskClient) -> FlaskClient:
    with app.app_context():
        accounts.create_user(get_session(), "analyst", PASSWORD, "analyst")
    sign_in(client, "analyst")
    return client


def objects(app: Flask) -> list[str]:
    store = get_storage(app)
    assert isinstance(store, ObjectStorage)
    found = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    return sorted(item["Key"] for item in found)


def test_the_setting_picks_the_bucket_and_uploads_live_only_there(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    store = get_storage(app)
    assert isinstance(store, ObjectStorage) and store.describe().endswith("/catalogue/")
    made = upload(client, keys["analyst"], ASTRONAUT, "astronaut.jpg")
    assert made.status_code == 201, made.get_data(as_text=True)
    sha = made.json["media"]["sha256"]
    assert f"catalogue/originals/{sha[:2]}/{sha[2:4]}/{sha}" in objects(app)
    # The local folder keeps scratch only, and none is left.
    assert not list(Path(app.config["MEDIA_ROOT"]).glob("originals/**/*"))
    assert list(store.tmp.iterdir()) == []
    media_id = made.json["media"]["id"]
    with client.get(f"/api/v1/media/{media_id}/original", headers=keys["viewer"]) as got:
        assert got.status_code == 200 and got.data == ASTRONAUT
        assert "attachment" in got.headers["Content-Disposition"]
        assert "private" in got.headers["Cache-Control"]
    again = upload(client, keys["analyst"], ASTRONAUT, "again.jpg")
    assert again.status_code == 200 and again.json["media"]["id"] == media_id, again.json
    assert objects(app).count(f"catalogue/originals/{sha[:2]}/{sha[2:4]}/{sha}") == 1


def test_pages_show_thumbnails_stills_and_play_video_from_the_bucket(
    app: Flask, analyst: FlaskClient
) -> None:
    media_id = uploaded(analyst, clip("chair-20-sd-bar.mp4"), name="chair.mp4")
    html = analyst.get(f"/media/{media_id}").get_data(as_text=True)
    millis = re.findall(rf"/media/{media_id}/frames/(\d+)\.jpg", html)
    assert len(millis) >= 5
    with analyst.get(f"/media/{media_id}/frames/{millis[2]}.jpg") as still:
        assert still.status_code == 200 and still.data[:3] == b"\xff\xd8\xff"
    with analyst.get(f"/media/{media_id}/thumb.jpg") as thumb:
        assert thumb.status_code == 200 and thumb.data[:3] == b"\xff\xd8\xff"
        tag = thumb.headers["ETag"]
    assert (
        analyst.get(f"/media/{media_id}/thumb.jpg", headers={"If-None-Match": tag}).status_code
        == 304
    )
    with analyst.get(f"/media/{media_id}/contact-sheet.jpg") as sheet:
        assert sheet.status_code == 200
    data = clip("chair-20-sd-bar.mp4")
    with analyst.get(f"/media/{media_id}/play", headers={"Range": "bytes=100-1099"}) as part:
        assert part.status_code == 206 and part.data == data[100:1100]
        assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
        assert part.headers["Content-Disposition"] == "inline"
    with analyst.get(
        f"/media/{media_id}/play", headers={"Range": f"bytes={len(data) - 10}-"}
    ) as end:
        assert end.status_code == 206 and end.data == data[-10:]
    with analyst.get(f"/media/{media_id}/play") as whole:
        assert whole.status_code == 200 and whole.data == data
    assert (
        analyst.get(
            f"/media/{media_id}/play", headers={"Range": f"bytes={len(data) + 5}-"}
        ).status_code
        == 416
    )
    sha = hashlib.sha256(data).hexdigest()
    derived = [k.rsplit("/", 1)[-1] for k in objects(app) if f"derived/{sha[:2]}" in k]
    assert {"poster.jpg", "contact-sheet.jpg", "thumb.jpg"} <= set(derived)
    assert any(name.startswith("frame-") for name in derived)


@pytest.mark.parametrize("app", [PRESIGNED], indirect=True)
def test_with_presigned_urls_videos_and_downloads_redirect_to_the_bucket(
    app: Flask, analyst: FlaskClient, s3_server: SeaweedServer
) -> None:
    data = clip("chair-20-sd-bar.mp4")
    media_id = uploaded(analyst, data, name="chair.mp4")
    played = analyst.get(f"/media/{media_id}/play")
    assert played.status_code == 302 and played.headers["Cache-Control"] == "private, no-store"
    target = played.headers["Location"]
    assert target.startswith(s3_server.endpoint_url) and "Expires=120" in target
    assert f"X-Amz-Credential={READ_ACCESS_KEY}" in target
    request = urllib.request.Request(target, headers={"Range": "bytes=0-99"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 206 and answer.read() == data[:100]
        assert answer.headers["Content-Type"] == "video/mp4"
    # The player may fetch from the bucket's origin, and from nowhere else.
    policy = analyst.get(f"/media/{media_id}").headers["Content-Security-Policy"]
    assert f"media-src 'self' {s3_server.endpoint_url}" in policy
    download = analyst.get(f"/media/{media_id}/original")
    assert download.status_code == 302
    # The API streams: its clients may carry their key across a redirect to the bucket.
    with app.app_context():
        accounts.create_user(get_session(), "api-user", PASSWORD, "viewer")
        _, secret = accounts.create_api_key(get_session(), "api-user")
    streamed = analyst.get(
        f"/api/v1/media/{media_id}/original", headers={"Authorization": f"Bearer {secret}"}
    )
    assert streamed.status_code == 200 and streamed.data == data
    with urllib.request.urlopen(download.headers["Location"], timeout=10) as answer:
        assert answer.read() == data
        assert answer.headers["Content-Disposition"] == "attachment; filename*=UTF-8''chair.mp4"
    # Signing in is still required: the redirect is given to signed-in users only.
    analyst.post("/logout", data={})
    anonymous = analyst.application.test_client().get(f"/media/{media_id}/play")
    assert anonymous.status_code in (302, 401) and "X-Amz" not in anonymous.headers.get(
        "Location", ""
    )


def test_verify_rehashes_objects_and_gc_clears_orphans_in_the_bucket(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, keys: dict
) -> None:
    first = upload(client, keys["analyst"], encode(pattern(seed=1), "PNG"), "a.png").json
    second = upload(client, keys["analyst"], encode(pattern(seed=2), "PNG"), "b.png").json
    clean = runner.invoke(args=["catalog", "verify"])
    assert clean.exit_code == 0 and "2 originals re-hashed" in clean.output, clean.output
    store = get_storage(app)
    assert isinstance(store, ObjectStorage)
    altered, gone = first["media"]["sha256"], second["media"]["sha256"]
    raw = boto3.client("s3", endpoint_url=store.client.meta.endpoint_url, config=SIGNED)
    raw.put_object(Bucket=store.bucket, Key=store.key_for(altered), Body=b"not the evidence")
    kept = raw.get_object(Bucket=store.bucket, Key=store.key_for(gone))["Body"].read()
    raw.delete_object(Bucket=store.bucket, Key=store.key_for(gone))
    orphan = store.put_bytes(encode(pattern(seed=9), "PNG"))
    found = runner.invoke(args=["catalog", "verify", "--json"])
    assert found.exit_code == 1
    report = json.loads(found.output)
    assert len(report["altered"]) == 1 and altered in report["altered"][0]
    assert len(report["missing"]) == 1 and gone in report["missing"][0]
    # The unrecorded object is younger than an hour (a searched file kept for cataloguing, or
    # an ingest under way): counted apart, no orphan yet; gc leaves it too.
    assert report["orphans"] == [] and report["unrecorded_young"] == 1
    # An upload in parts that a killed process left unfinished.
    left = store.client.create_multipart_upload(Bucket=store.bucket, Key=store.key_for("0" * 64))
    young = runner.invoke(args=["catalog", "gc"])
    assert "kept 1 younger" in young.output and store.exists(orphan.sha256)
    assert "0 unfinished uploads" in young.output
    time.sleep(1.1)  # S3 keeps times to the second
    done = runner.invoke(args=["catalog", "gc", "--older-than", "0"])
    assert f"removed orphan {orphan.sha256}" in done.output and not store.exists(orphan.sha256)
    assert "1 unfinished uploads" in done.output, done.output
    unfinished = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert left["UploadId"] not in [u["UploadId"] for u in unfinished]
    # The true bytes put back under their keys: verify is clean again.
    raw.put_object(Bucket=store.bucket, Key=store.key_for(gone), Body=kept)
    raw.delete_object(Bucket=store.bucket, Key=store.key_for(altered))
    store.put_bytes(encode(pattern(seed=1), "PNG"))
    assert runner.invoke(args=["catalog", "verify"]).exit_code == 0


def test_readiness_says_when_the_bucket_cannot_be_reached(app: Flask, client: FlaskClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["storage"] == "ok", ready.json
    store = get_storage(app)
    assert isinstance(store, ObjectStorage)
    store.client.delete_bucket(Bucket=store.bucket)  # empty: nothing was stored
    gone = client.get("/readyz")
    assert gone.status_code == 503 and gone.json["storage"] == "unreachable"


def test_a_missing_bucket_stops_the_app_unless_it_may_make_one(
    tmp_path: Path, s3_server: SeaweedServer, s3_credentials: None
) -> None:
    where = {"STORAGE_URL": "s3://not-made-yet/x", "S3_ENDPOINT_URL": s3_server.endpoint_url}
    with pytest.raises(RuntimeError, match="STORAGE_URL: bucket not-made-yet does not exist"):
        make_test_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "a", **where)
    made = make_test_app(
        f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "b", **where, S3_CREATE_BUCKET=True
    )
    get_storage(made).check()


def test_a_storage_url_of_another_kind_stops_the_app_at_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="STORAGE_URL"):
        make_test_app(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, STORAGE_URL="ftp://host/x")


@pytest.mark.parametrize("app", [PRESIGNED], indirect=True)
def test_a_missing_original_is_said_not_signed(app: Flask, analyst: FlaskClient) -> None:
    media_id = uploaded(analyst, encode(pattern(seed=4), "JPEG"), name="p.jpg")
    store = get_storage(app)
    assert isinstance(store, ObjectStorage)
    with app.app_context():
        sha = get_session().get(Media, media_id).sha256
    store.client.delete_object(Bucket=store.bucket, Key=store.key_for(sha))
    missing = analyst.get(f"/media/{media_id}/original")
    assert missing.status_code == 404 and "catalog verify" in missing.get_data(as_text=True)


def test_ranges_are_reached_by_seeking_under_a_server_whose_file_wrapper_cannot_seek(
    app: Flask,
) -> None:
    # gunicorn's wsgi.file_wrapper has no seek: a range must still start where it is asked,
    # not after everything before it has been read from the bucket.
    from gunicorn.http.wsgi import FileWrapper as GunicornWrapper

    store = get_storage(app)
    data = os.urandom(3 * 1024 * 1024)
    placed = store.put_bytes(data)
    reads: list[int] = []
    opened = store.open

    def counted(sha256: str):  # noqa: ANN202 - the store's own handle, its reads counted
        handle = opened(sha256)
        raw = handle.raw
        original = raw.readinto

        def readinto(buffer):  # noqa: ANN001, ANN202
            reads.append(raw.tell())
            return original(buffer)

        raw.readinto = readinto
        return handle

    environ = {"wsgi.file_wrapper": GunicornWrapper, "HTTP_RANGE": "bytes=3000000-3000099"}
    with app.test_request_context(environ_overrides=environ):
        store.open = counted  # type: ignore[method-assign]
        try:
            response = send_stored(store, placed.sha256, "video/mp4")
            body = b"".join(response.response)
        finally:
            del store.open
    assert response.status_code == 206 and body == data[3_000_000:3_000_100]
    assert reads and min(reads) >= 3_000_000, reads  # nothing before the range was fetched
