"""Content-addressed storage on an S3-compatible server (SeaweedFS, started here): the local
store's promises, kept in a bucket; the bucket made only when allowed; presigned URLs signed
with a key that can only read; unfinished uploads in parts aborted once stale."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import multiprocessing
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from catalog.storage import AlreadyKept, DigestMismatch, Storage, StorageError, TooLarge
from catalog.storage.s3 import ObjectStorage, parse_url
from catalog.storage.transfer import copy_store

from .s3server import READ_ACCESS_KEY, READ_SECRET_KEY, SeaweedServer


@pytest.fixture
def server(s3_server: SeaweedServer, s3_credentials: None) -> SeaweedServer:
    return s3_server


@pytest.fixture
def client(server: SeaweedServer):  # noqa: ANN201
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
        create_bucket=True,
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
    original = store.key_for(first.sha256)
    stamp = store.client.head_object(Bucket=store.bucket, Key=original)["LastModified"]
    time.sleep(1.1)  # S3 keeps times to the second
    again = store.put_bytes(b"one file")
    assert first.created and not again.created and again.size == first.size
    after = store.client.head_object(Bucket=store.bucket, Key=original)["LastModified"]
    assert after == stamp  # the original was not written again, only marked as stored
    assert keys(store) == sorted([original, original.replace("/originals/", "/touched/")])


def test_of_servers_storing_the_same_bytes_at_once_one_writes(store: ObjectStorage) -> None:
    # Both may find the key free; the write itself is conditional (If-None-Match), so only
    # one is told it created the original.
    data = os.urandom(200_000)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        placed = list(pool.map(lambda _: store.put_bytes(data), range(8)))
    assert sum(p.created for p in placed) == 1
    assert store.hash_file(placed[0].sha256) == placed[0].sha256


def test_a_local_copy_is_checked_and_removed_afterwards(store: ObjectStorage) -> None:
    placed = store.put_bytes(b"a long video, say")
    with store.local_copy(placed.sha256) as path:
        assert path.read_bytes() == b"a long video, say" and path.parent == store.tmp
    assert not path.exists()
    # Bytes in the bucket that are not what their key promises are not handed on.
    store.client.put_object(Bucket=store.bucket, Key=store.key_for(placed.sha256), Body=b"x")
    with pytest.raises(DigestMismatch):
        with store.local_copy(placed.sha256):
            pass
    assert list(store.tmp.iterdir()) == []


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
    assert sorted(store.iter_derived()) == [
        (placed.sha256, "contact-sheet.jpg"),
        (placed.sha256, "poster.jpg"),
    ]
    assert list(store.iter_originals()) == [placed.sha256]  # derived files are not originals
    with pytest.raises(ValueError):
        store.put_derived(placed.sha256, "../escape", b"")
    store.discard(placed.sha256)
    assert keys(store) == []


def test_touch_makes_an_original_young_again(store: ObjectStorage) -> None:
    placed = store.put_bytes(b"kept")
    before = store.modified(placed.sha256)
    time.sleep(1.1)  # S3 keeps times to the second
    store.touch(placed.sha256)
    after = store.modified(placed.sha256)
    assert before is not None and after is not None and after >= before + 1
    assert store.hash_file(placed.sha256) == placed.sha256  # the bytes are untouched
    store.discard(placed.sha256)
    assert keys(store) == [] and store.modified(placed.sha256) is None  # the mark goes too


@pytest.mark.parametrize("url", ["s3://", "file:///tmp", "s3://Bad_Bucket/x", "s3://ab"])
def test_only_s3_urls_with_a_valid_bucket_are_taken(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)
    assert parse_url("s3://media-bucket/some/prefix/") == ("media-bucket", "some/prefix/")


def test_bytes_that_are_not_the_digest_promised_are_refused(store: ObjectStorage) -> None:
    with pytest.raises(DigestMismatch):
        store.put_stream(io.BytesIO(b"damaged"), expected=hashlib.sha256(b"true").hexdigest())
    assert keys(store) == [] and list(store.tmp.iterdir()) == []
    kept = store.put_stream(io.BytesIO(b"true"), expected=hashlib.sha256(b"true").hexdigest())
    assert kept.created and store.size(kept.sha256) == 4
    assert store.size("0" * 64) is None


def test_a_presigned_url_serves_the_original_for_a_while(store: ObjectStorage) -> None:
    placed = store.put_bytes(b"signed bytes")
    url = store.presigned_url(placed.sha256, 60, mimetype="video/mp4", download_name="clip é.mp4")
    assert url is not None and url.startswith(store.client.meta.endpoint_url)
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"signed bytes"
        assert answer.headers["Content-Type"] == "video/mp4"
        assert "attachment" in answer.headers["Content-Disposition"]
    # Tampering with what was signed is refused.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url.replace("video%2Fmp4", "text%2Fhtml"), timeout=10)
    assert refused.value.code == 403
    refused.value.close()


def test_each_process_makes_its_own_client(store: ObjectStorage) -> None:
    # gunicorn builds the app, and so the store, before it forks: a child must not reuse the
    # parent's pooled connection.
    placed = store.put_bytes(b"before the fork")
    parent_client = store.client
    _PARENT_CLIENTS[id(store)] = parent_client
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    # Under the fork start method a child's arguments are inherited, not pickled.
    children = [
        context.Process(target=_child_reads, args=(store, placed.sha256, answers)) for _ in range(3)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    assert [child.exitcode for child in children] == [0, 0, 0]
    assert [answers.get(timeout=5) for _ in children] == [True] * 3
    assert store.client is parent_client
    answers.close()


_PARENT_CLIENTS: dict[int, object] = {}


def _child_reads(store: ObjectStorage, sha256: str, answers) -> None:  # noqa: ANN001
    with store.open(sha256) as handle:
        read = handle.read() == b"before the fork"
    answers.put(read and store.client is not _PARENT_CLIENTS.get(id(store)))


def test_an_unreachable_store_is_a_clear_error_within_seconds(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StorageError, match="cannot be reached"):
        ObjectStorage("s3://nowhere/x", tmp_path, endpoint_url=f"http://127.0.0.1:{port}")


def test_a_missing_bucket_is_made_only_when_allowed(
    server: SeaweedServer,
    client,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    # A mistyped bucket name must stop the app, not hand it a new, empty store.
    with pytest.raises(StorageError, match="does not exist.*S3_CREATE_BUCKET"):
        ObjectStorage("s3://never-made/x", tmp_path, endpoint_url=server.endpoint_url)
    assert "never-made" not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    ObjectStorage("s3://made-now/x", tmp_path, endpoint_url=server.endpoint_url, create_bucket=True)
    assert "made-now" in [b["Name"] for b in client.list_buckets()["Buckets"]]
    # Once it exists, a store that may not make buckets opens it.
    ObjectStorage("s3://made-now/x", tmp_path, endpoint_url=server.endpoint_url).check()


def test_presigned_urls_are_signed_with_a_key_that_reads_and_cannot_write(
    server: SeaweedServer, store: ObjectStorage, tmp_path: Path
) -> None:
    reading = ObjectStorage(
        store.url,
        tmp_path / "reading",
        endpoint_url=server.endpoint_url,
        presign_credentials=(READ_ACCESS_KEY, READ_SECRET_KEY),
    )
    placed = store.put_bytes(b"read, never written")
    url = reading.presigned_url(placed.sha256, 60, mimetype="image/png", download_name=None)
    assert url is not None and f"X-Amz-Credential={READ_ACCESS_KEY}" in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"read, never written"
    # The same key may not write: neither directly nor through a URL it signs.
    reader = boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=READ_ACCESS_KEY,
        aws_secret_access_key=READ_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    key = store.key_for(hashlib.sha256(b"planted").hexdigest())
    with pytest.raises(ClientError) as refused:
        reader.put_object(Bucket=store.bucket, Key=key, Body=b"planted")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    put_url = reader.generate_presigned_url(
        "put_object", Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=60
    )
    planted = urllib.request.Request(put_url, data=b"planted", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(planted, timeout=10)
    assert denied.value.code == 403
    denied.value.close()
    assert keys(store) == [store.key_for(placed.sha256)]
    # The servers' own reads and writes keep the full key.
    assert reading.put_bytes(b"written by the app").created


def test_gc_aborts_stale_unfinished_uploads_and_leaves_young_ones(store: ObjectStorage) -> None:
    # A process killed mid-upload leaves its parts: unseen by listings, and billed.
    begun = []
    for n in range(2):
        key = store.key_for(hashlib.sha256(b"%d" % n).hexdigest())
        upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=key)
        store.client.upload_part(
            Bucket=store.bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"x" * 1024,
        )
        begun.append(upload["UploadId"])

    def unfinished() -> list[str]:
        listed = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
        return sorted(u["UploadId"] for u in listed.get("Uploads", []))

    assert unfinished() == sorted(begun)
    assert store.abort_uploads(older_than_s=3600) == 0  # perhaps still being sent
    assert unfinished() == sorted(begun)
    time.sleep(1.1)  # S3 keeps times to the second
    assert store.abort_uploads(older_than_s=1) == 2
    assert unfinished() == [] and keys(store) == []


def test_kept_records_are_written_once_and_go_across_with_a_migration(
    store: ObjectStorage, tmp_path: Path
) -> None:
    name = "timestamps/audit_head/abc.json"
    assert store.keep(name, b"token one") is True
    assert store.keep(name, b"token one") is False
    with pytest.raises(AlreadyKept):
        store.keep(name, b"token two")
    assert store.read_kept(name) == b"token one"
    assert store.read_kept("timestamps/capture/none.json") is None
    assert list(store.kept_names("timestamps")) == [name] == list(store.kept_names())
    assert list(store.iter_originals()) == []  # kept records are not originals
    assert keys(store) == [f"{store.prefix}kept/{name}"]
    with pytest.raises(ValueError):
        store.keep("timestamps/../originals/x", b"")

    # A migration carries kept records across, never replacing one the target holds.
    folder = Storage(tmp_path / "folder")
    folder.keep(name, b"token one")
    folder.keep("timestamps/capture/def.json", b"token three")
    report = copy_store(folder, store, [])
    assert report.kept_copied == 1 and report.failed == []
    assert store.read_kept("timestamps/capture/def.json") == b"token three"
    back = Storage(tmp_path / "back")
    back.keep(name, b"something else")
    report = copy_store(store, back, [])
    assert report.kept_copied == 1 and report.failed == [
        f"kept {name}: {name} is kept already, with other bytes"
    ]
    assert back.read_kept(name) == b"something else"
