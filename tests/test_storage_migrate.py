"""``catalog storage migrate --to URL``: a catalogue's originals and derived files copied from
its folder into a bucket and back, each verified by SHA-256; a second run resumes, re-hashing
what the target holds and replacing bytes that are not what their key promises; damaged bytes
are refused, never stored under another digest; a copy that reads back wrong is removed; the
catalogue, pointed at the copy, verifies clean and serves its pictures. Against the SeaweedFS
server the suite starts."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from catalog import schema
from catalog.db import database, get_session, make_engine
from catalog.services.people import accounts
from catalog.storage import Storage, StoredFile, get_storage
from catalog.storage.s3 import ObjectStorage
from catalog.storage.transfer import copy_store, plan

from .api_tools import PASSWORD, post_media
from .conftest import make_test_app
from .media import encode, pattern
from .s3server import SeaweedServer
from .video_tools import clip


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def apps(database_url: str, tmp_path: Path) -> Iterator[list[Flask]]:
    made: list[Flask] = []
    yield made
    for application in made:
        database(application).engine.dispose()


def catalogue_app(apps: list[Flask], database_url: str, folder: Path, **extra: object) -> Flask:
    application = make_test_app(database_url, folder, **extra)
    apps.append(application)
    return application


def filled(application: Flask) -> tuple[list[str], dict[str, str], int]:
    """Upload two pictures and a video through the API; return their digests, the API key's
    headers and the video's id."""
    with application.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
        _, secret = accounts.create_api_key(get_session(), "ana")
    client, headers = application.test_client(), {"Authorization": f"Bearer {secret}"}
    digests, video = [], 0
    for data, name in (
        (encode(pattern(seed=1), "PNG"), "a.png"),
        (encode(pattern(seed=2), "PNG"), "b.png"),
        (clip("chair-20-sd-bar.mp4"), "chair.mp4"),
    ):
        made = post_media(client, headers, data, name)
        assert made.status_code == 201, made.get_data(as_text=True)
        digests.append(made.json["media"]["sha256"])
        video = made.json["media"]["id"]
    return digests, headers, video


@pytest.fixture
def local(apps: list[Flask], database_url: str, tmp_path: Path):  # noqa: ANN201
    """A catalogue in a folder holding two pictures and a video: (app, store, digests,
    API headers, the video's id)."""
    # Allowed to make the bucket it is told to copy into.
    application = catalogue_app(apps, database_url, tmp_path / "a", S3_CREATE_BUCKET=True)
    digests, headers, video = filled(application)
    source = get_storage(application)
    assert isinstance(source, Storage)
    return application, source, digests, headers, video


def migrate(application: Flask, *args: str) -> tuple[int, str]:
    """Run the command; return its exit status and what it printed (the report alone with
    --json, the progress bar going to standard error)."""
    result = application.test_cli_runner().invoke(args=["catalog", "storage", "migrate", *args])
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_originals_go_to_the_bucket_verified_resumable_and_come_back(
    apps: list[Flask],
    database_url: str,
    tmp_path: Path,
    s3_server: SeaweedServer,
    s3_credentials: None,
    local: tuple,
) -> None:
    local, source, digests, headers, video = local
    derived_before = sorted(source.iter_derived())
    assert any(name == "contact-sheet.jpg" for _, name in derived_before)
    url = "s3://migrated/catalogue"
    endpoint = ["--endpoint-url", s3_server.endpoint_url]

    code, output = migrate(local, "--to", url, *endpoint, "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["ok"] and report["copied"] == report["originals"] == 3
    assert report["already_there"] == 0 and report["derived_copied"] == len(derived_before)
    assert report["bytes_copied"] == sum(os.path.getsize(source.path_for(d)) for d in digests)

    # Pointed at the bucket, the same catalogue verifies clean and serves its pictures.
    remote = catalogue_app(
        apps, database_url, tmp_path / "b", STORAGE_URL=url, S3_ENDPOINT_URL=s3_server.endpoint_url
    )
    bucket = get_storage(remote)
    assert isinstance(bucket, ObjectStorage)
    assert sorted(bucket.iter_originals()) == sorted(digests)
    assert sorted(bucket.iter_derived()) == derived_before
    verified = remote.test_cli_runner().invoke(args=["catalog", "verify"])
    assert verified.exit_code == 0 and "3 originals re-hashed" in verified.output, verified.output
    served = remote.test_client().get(
        f"/api/v1/media/{video}/files/contact-sheet.jpg", headers=headers
    )
    assert served.status_code == 200 and served.data[:3] == b"\xff\xd8\xff"
    with remote.test_client().get(f"/api/v1/media/{video}/original", headers=headers) as got:
        assert hashlib.sha256(got.data).hexdigest() == digests[2]

    # A second run resumes: what is there is skipped; an object lost meanwhile is copied again.
    bucket.client.delete_object(Bucket=bucket.bucket, Key=bucket.key_for(digests[0]))
    code, output = migrate(local, "--to", url, *endpoint)
    assert code == 0, output
    assert "1 originals copied" in output and "2 already there" in output
    assert "verified by SHA-256" in output

    # And back, from the bucket to a new folder.
    back = tmp_path / "back"
    code, output = migrate(remote, "--to", f"file://{back}", "--json")
    assert code == 0 and json.loads(output)["copied"] == 3, output
    returned = catalogue_app(apps, database_url, tmp_path / "c", MEDIA_ROOT=str(back))
    verified = returned.test_cli_runner().invoke(args=["catalog", "verify"])
    assert verified.exit_code == 0, verified.output
    back_store = get_storage(returned)
    assert isinstance(back_store, Storage)
    for digest in digests:
        assert hashlib.sha256(back_store.path_for(digest).read_bytes()).hexdigest() == digest


def test_damaged_bytes_are_refused_and_named_never_stored_under_another_digest(
    tmp_path: Path, s3_server: SeaweedServer, s3_credentials: None, local: tuple
) -> None:
    local, source, digests, _, _ = local
    damaged = source.path_for(digests[1])
    os.chmod(damaged, 0o644)
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\x00")
    url = "s3://damaged/x"
    code, output = migrate(local, "--to", url, "--endpoint-url", s3_server.endpoint_url)
    assert code == 1
    assert f"FAILED original {digests[1]}" in output and "2 originals copied" in output
    bucket = ObjectStorage(url, tmp_path / "scratch", endpoint_url=s3_server.endpoint_url)
    assert sorted(bucket.iter_originals()) == sorted([digests[0], digests[2]])


def test_the_store_itself_and_bad_urls_are_refused(
    apps: list[Flask], database_url: str, tmp_path: Path
) -> None:
    local = catalogue_app(apps, database_url, tmp_path / "a")
    code, output = migrate(local, "--to", str(tmp_path / "a" / "media"))
    assert code == 1 and "is the store being copied" in output
    code, output = migrate(local, "--to", "ftp://example.org/x")
    assert code == 1 and "s3://bucket/prefix or a folder" in output


def test_what_the_target_holds_under_a_key_is_hashed_and_replaced_when_wrong(
    tmp_path: Path, local: tuple
) -> None:
    local, source, digests, _, _ = local
    copy = tmp_path / "copy"
    code, output = migrate(local, "--to", f"file://{copy}")
    assert code == 0, output
    target = Storage(copy)
    # Other bytes under a digest's key (a tampered or damaged copy) are no copy of it.
    planted = target.path_for(digests[1])
    os.chmod(planted, 0o644)
    planted.write_bytes(b"not the evidence")
    code, output = migrate(local, "--to", f"file://{copy}", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["copied"], report["already_there"]) == (1, 2), report
    wrong = hashlib.sha256(b"not the evidence").hexdigest()
    assert report["replaced"] == [
        f"original {digests[1]}: the target held bytes hashing to {wrong} under its key; replaced"
    ]
    assert target.hash_file(digests[1]) == digests[1]
    code, output = migrate(local, "--to", f"file://{copy}")
    assert code == 0 and "0 originals copied" in output and "3 already there" in output


class CorruptingFolder(Storage):
    """A folder on a disk that damages what it writes: the last byte of each original it
    stores comes back flipped (a faulty disk or controller; a real folder otherwise)."""

    def put_stream(self, stream, max_bytes=None, expected=None) -> StoredFile:  # noqa: ANN001
        placed = super().put_stream(stream, max_bytes, expected)
        path = self.path_for(placed.sha256)
        os.chmod(path, 0o644)
        data = path.read_bytes()
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        return placed


def test_a_copy_is_read_back_from_the_target_not_taken_on_trust(tmp_path: Path) -> None:
    # The store's write says it stored the bytes it was given; only reading them back shows
    # that the disk kept others.
    source = Storage(tmp_path / "source")
    digests = sorted(source.put_bytes(os.urandom(5000 + n)).sha256 for n in range(3))
    target = CorruptingFolder(tmp_path / "target")
    report = copy_store(source, target, plan(source), jobs=2)
    assert report.copied == 0 and len(report.failed) == 3, report
    assert all("the copy read back hashes to" in failure for failure in report.failed)
    assert sorted(f.split()[1].rstrip(":") for f in report.failed) == digests
    assert list(target.iter_originals()) == []  # each bad copy removed, so a run retries it
