"""Content-addressed storage on an S3-compatible server (SeaweedFS, started here): the local
store's promises, kept in a bucket."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from catalog.storage import StorageError, TooLarge
from catalog.storage.s3 import ObjectStorage, parse_url

from .s3server import ACCESS_KEY, SECRET_KEY, SeaweedServer


@pytest.fixture(scope="module")
def server() -> Iterator[SeaweedServer]:
    started = SeaweedServer().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def client(server: SeaweedServer, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture
def store(server: SeaweedServer, client, tmp_path: Path, request) -> ObjectStorage:  # noqa: ANN001
    bucket = "t-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:20]
    return ObjectStorage(
        f"s3://{bucket}/catalog",
        tmp_path / "scratch",
        endpoint_url=server.endpoint_url,
        multipart_mb=5,
    )


def keys(store: ObjectStorage) -> list[str]:
    found = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    return sorted(item["Key"] for item in found)


def test_the_bucket_is_made_and_originals_live_under_their_digest(store: ObjectStorage) -> None:
    data = b"evidence " * 1000
    placed = store.put_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    assert (placed.sha256, placed.size, placed.created) == (sha, len(data), True)
    assert keys(store) == [f"catalog/originals/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert store.exists(sha) and store.hash_file(sha) == sha
    assert list(store.iter_originals()) == [sha]
    assert list(store.tmp.iterdir()) == []  # the scratch copy is gone


def test_the_same_bytes_again_are_not_written_again(store: ObjectStorage) -> None:
    first = store.put_bytes(b"one file")
    again = store.put_bytes(b"one file")
    assert first.created and not again.created and again.size == first.size
    assert len(keys(store)) == 1


def test_a_large_file_goes_up_in_parts_and_reads_back_by_ranges(store: ObjectStorage) -> None:
    data = os.urandom(12 * 1024 * 1024)  # past the 5 MB part size
    placed = store.put_stream(io.BytesIO(data))
    assert placed.created and store.hash_file(placed.sha256) == placed.sha256
    with store.open(placed.sha256) as stream:
        stream.seek(7_000_000)
        assert stream.read(100) == data[7_000_000:7_000_100]
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == data[-10:]


def test_a_failed_write_leaves_no_object_and_no_scratch_file(store: ObjectStorage) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.sent += 1
            if self.sent > 3:
                raise OSError("connection reset")
            return b"x" * 1024 * 1024

    with pytest.raises(OSError):
        store.put_stream(Broken())  # type: ignore[arg-type]
    with pytest.raises(TooLarge):
        store.put_stream(io.BytesIO(b"y" * 2000), max_bytes=1000)
    assert keys(store) == [] and list(store.tmp.iterdir()) == []


def test_missing_and_malformed_digests_are_clear_errors(store: ObjectStorage) -> None:
    with pytest.raises(StorageError, match="missing"):
        store.open("0" * 64)
    assert not store.exists("0" * 64) and store.modified("0" * 64) is None
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(ValueError):
            store.key_for(bad)


def test_derived_files_are_apart_replaceable_and_go_with_their_original(
    store: ObjectStorage,
) -> None:
    placed = store.put_bytes(b"a video")
    store.put_derived(placed.sha256, "poster.jpg", b"first")
    store.put_derived(placed.sha256, "poster.jpg", b"second")
    store.put_derived(placed.sha256, "contact-sheet.jpg", b"sheet")
    assert store.read_derived(placed.sha256, "poster.jpg") == b"second"
    assert list(store.derived_names(placed.sha256)) == ["contact-sheet.jpg", "poster.jpg"]
    assert store.read_derived(placed.sha256, "waveform.png") is None
    assert list(store.iter_originals()) == [placed.sha256]  # derived files are not originals
    with pytest.raises(ValueError):
        store.put_derived(placed.sha256, "../escape", b"")
    store.discard(placed.sha256)
    assert keys(store) == []


def test_touch_makes_an_original_young_again(store: ObjectStorage) -> None:
    placed = store.put_bytes(b"kept")
    before = store.modified(placed.sha256)
    store.touch(placed.sha256)
    after = store.modified(placed.sha256)
    assert before is not None and after is not None and after >= before
    assert store.hash_file(placed.sha256) == placed.sha256  # the bytes are untouched


@pytest.mark.parametrize("url", ["s3://", "file:///tmp", "s3://Bad_Bucket/x", "s3://ab"])
def test_only_s3_urls_with_a_valid_bucket_are_taken(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)
    assert parse_url("s3://media-bucket/some/prefix/") == ("media-bucket", "some/prefix/")
