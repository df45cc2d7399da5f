"""Content-addressed storage on an S3-compatible object store (boto3), with the promises of the
local store: originals under ``originals/ab/cd/<sha256>`` never overwritten, derived files
apart under ``derived/``, records kept under ``kept/`` written only where none is (a bucket
with versioning or object lock on that prefix also keeps them from a deleting hand), nothing
left by a failed write.

A file is streamed to a local scratch file while its SHA-256 is computed (the key is the
digest, so it is known only at the end), then uploaded from there, in parts past
``multipart_mb`` (s3transfer aborts the upload on failure, so no object is left). An existing
key is not written again: a put of bytes already held is a no-op. Originals are read through a
seekable reader that fetches byte ranges, so a video is decoded without being downloaded whole.

The bucket is made only when the caller allows it (``create_bucket``): a mistyped bucket name
must stop the app, not give it a new empty store. Presigned URLs may be signed with a key of
their own (``presign_credentials``), one that can only read objects. Reaching the bucket (its
URL, the clients, the byte-range reader) is ``s3_connection``'s part.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    CHUNK,
    DERIVED_NAME_RE,
    KEPT_NAME_RE,
    SHA256_RE,
    AlreadyKept,
    StorageError,
    StoredFile,
    check_derived_name,
    check_kept_name,
    check_sha256,
    spooled,
)
from .s3_connection import Clients, RangeReader, ensure_bucket, error_code, parse_url


class ObjectStorage:
    """Originals and derived files in one bucket, under one prefix."""

    def __init__(
        self,
        url: str,
        scratch: str | os.PathLike[str],
        *,
        endpoint_url: str | None = None,
        presign_endpoint_url: str | None = None,
        presign_credentials: tuple[str, str] | None = None,
        create_bucket: bool = False,
        client: Any = None,
        multipart_mb: int = 16,
    ) -> None:
        self.bucket, self.prefix = parse_url(url)
        self.url = f"s3://{self.bucket}/{self.prefix}"
        self.tmp = Path(scratch)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._clients = Clients(endpoint_url, presign_endpoint_url, presign_credentials, client)
        self.transfer = TransferConfig(
            multipart_threshold=multipart_mb * 1024 * 1024,
            multipart_chunksize=multipart_mb * 1024 * 1024,
            use_threads=False,
        )
        ensure_bucket(self.client, self.bucket, create=create_bucket, on_aws=endpoint_url is None)

    @property
    def client(self) -> Any:
        """This process's S3 client."""
        return self._clients.pair()[0]

    @property
    def signer(self) -> Any:
        """This process's client for presigning URLs."""
        return self._clients.pair()[1]

    def describe(self) -> str:
        """Return the bucket and prefix as an s3:// URL."""
        return self.url

    def check(self) -> None:
        """Raise StorageError when the bucket cannot be reached."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"bucket {self.bucket} cannot be reached ({exc})") from None

    # -- originals ---------------------------------------------------------------------

    def key_for(self, sha256: str) -> str:
        """Return the key of the original with this digest (whether or not it exists)."""
        check_sha256(sha256)
        return f"{self.prefix}originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
            return head
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"{key} cannot be read ({exc})") from None
        except BotoCoreError as exc:
            raise StorageError(f"{key} cannot be read ({exc})") from None

    def exists(self, sha256: str) -> bool:
        """Return whether the original is held."""
        return self._head(self.key_for(sha256)) is not None

    def put_stream(
        self, stream: BinaryIO, max_bytes: int | None = None, expected: str | None = None
    ) -> StoredFile:
        """Store the bytes read from ``stream``; raise TooLarge past ``max_bytes`` and
        DigestMismatch when they do not hash to ``expected``."""
        with spooled(stream, self.tmp, max_bytes, expected=expected) as (scratch, sha256, size):
            key = self.key_for(sha256)
            held = self._head(key)
            if held is not None:
                self.touch(sha256)
                return StoredFile(sha256, int(held["ContentLength"]), created=False)
            try:
                if size <= self.transfer.multipart_threshold:
                    # Written only if absent (If-None-Match): of two servers storing the same
                    # bytes at once, one writes and the other is told they are held.
                    with open(scratch, "rb") as body:
                        self.client.put_object(
                            Bucket=self.bucket,
                            Key=key,
                            Body=body,
                            Metadata={"sha256": sha256},
                            IfNoneMatch="*",
                        )
                else:
                    # s3transfer sends no If-None-Match with multipart uploads: at worst the
                    # same bytes are written twice under their digest.
                    self.client.upload_file(
                        str(scratch),
                        self.bucket,
                        key,
                        ExtraArgs={"Metadata": {"sha256": sha256}},
                        Config=self.transfer,
                    )
            except ClientError as exc:
                if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    self.touch(sha256)
                    return StoredFile(sha256, size, created=False)
                raise StorageError(f"{sha256} could not be stored in {self.url} ({exc})") from None
            except (BotoCoreError, S3UploadFailedError) as exc:
                raise StorageError(f"{sha256} could not be stored in {self.url} ({exc})") from None
            return StoredFile(sha256, size, created=True)

    @contextlib.contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """Yield a local file holding the original (downloaded to scratch, its digest
        checked, removed afterwards), for work that reads a file many times over."""
        with self.open(sha256) as stream:
            with spooled(stream, self.tmp, None, expected=sha256) as (path, _, _):
                yield path

    def put_bytes(self, data: bytes) -> StoredFile:
        """Store ``data``."""
        return self.put_stream(io.BytesIO(data))

    def put_path(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> StoredFile:
        """Store a copy of the file at ``path``."""
        with open(path, "rb") as stream:
            return self.put_stream(stream, max_bytes=max_bytes)

    def _touched_key(self, sha256: str) -> str:
        check_sha256(sha256)
        return f"{self.prefix}touched/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def touch(self, sha256: str) -> None:
        """Mark a held original as just stored (``gc`` leaves young objects alone): an empty
        marker object beside it, so the original itself is never written again."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._touched_key(sha256), Body=b"")
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"{sha256} cannot be marked as stored ({exc})") from None

    def modified(self, sha256: str) -> float | None:
        """Return when the original was stored or last touched (seconds), None if missing."""
        head = self._head(self.key_for(sha256))
        if head is None:
            return None
        marker = self._head(self._touched_key(sha256))
        stamps = [head["LastModified"]] + ([marker["LastModified"]] if marker else [])
        return max(stamp.timestamp() for stamp in stamps)

    def size(self, sha256: str) -> int | None:
        """Return the original's size in bytes, None if missing."""
        head = self._head(self.key_for(sha256))
        return None if head is None else int(head["ContentLength"])

    def presign_origin(self) -> str | None:
        """Return the scheme and host presigned URLs point at (for the page's CSP)."""
        parts = urlsplit(self.signer.meta.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"

    def presigned_url(
        self, sha256: str, seconds: int, *, mimetype: str, download_name: str | None
    ) -> str | None:
        """Return a URL that fetches the original for ``seconds``, with the type and (for a
        download) the file name the app would have sent."""
        if self._head(self.key_for(sha256)) is None:
            raise StorageError(f"original {sha256} is missing from storage")
        params = {
            "Bucket": self.bucket,
            "Key": self.key_for(sha256),
            "ResponseContentType": mimetype,
        }
        if download_name is not None:
            quoted = quote(download_name, safe="")
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quoted}"
        else:
            params["ResponseContentDisposition"] = "inline"
        url: str = self.signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=seconds
        )
        return url

    def open(self, sha256: str) -> BinaryIO:
        """Open the original for reading (seekable); raise StorageError when it is missing."""
        key = self.key_for(sha256)
        head = self._head(key)
        if head is None:
            raise StorageError(f"original {sha256} is missing from storage")
        raw = RangeReader(self.client, self.bucket, key, int(head["ContentLength"]))
        return io.BufferedReader(raw, buffer_size=CHUNK)

    def discard(self, sha256: str) -> None:
        """Remove an original and its derived files (an undone ingest, an orphan)."""
        keys = [self.key_for(sha256), self._touched_key(sha256)] + [
            self._derived_key(sha256, n) for n in self.derived_names(sha256)
        ]
        try:
            for key in keys:
                self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"original {sha256} could not be removed ({exc})") from None

    def _keys(self, prefix: str) -> Iterator[str]:
        """Yield every key under ``prefix``, a page of a thousand at a time."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"]
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"{self.url} cannot be listed ({exc})") from None

    def iter_originals(self) -> Iterator[str]:
        """Yield the digest of every original held, in no particular order."""
        for key in self._keys(f"{self.prefix}originals/"):
            name = key.rsplit("/", 1)[-1]
            if SHA256_RE.match(name):
                yield name

    def hash_file(self, sha256: str) -> str:
        """Return the SHA-256 of the stored bytes, read afresh (for integrity checks)."""
        digest = hashlib.sha256()
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key_for(sha256))["Body"]
            for chunk in body.iter_chunks(CHUNK):
                digest.update(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"original {sha256} cannot be read ({exc})") from None
        return digest.hexdigest()

    def sweep_temporary(self, older_than_s: float = 3600.0) -> int:
        """Delete scratch files left by interrupted writes; return how many."""
        cutoff, removed = time.time() - older_than_s, 0
        for path in self.tmp.iterdir():
            if path.stat().st_mtime < cutoff:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
        return removed

    def abort_uploads(self, older_than_s: float = 3600.0) -> int:
        """Abort the multipart uploads under the prefix begun longer ago than ``older_than_s``
        (a process killed mid-upload leaves its parts, unseen and billed); return how many."""
        cutoff, aborted = time.time() - older_than_s, 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() >= cutoff:
                        continue  # perhaps still being sent
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                f"unfinished uploads in {self.url} cannot be aborted ({exc})"
            ) from None
        return aborted

    # -- derived files -----------------------------------------------------------------

    def _derived_key(self, sha256: str, name: str) -> str:
        check_sha256(sha256)
        check_derived_name(name)
        return f"{self.prefix}derived/{sha256[:2]}/{sha256[2:4]}/{sha256}/{name}"

    def put_derived(self, sha256: str, name: str, data: bytes) -> None:
        """Write (or replace) a derived file (a PUT is atomic: readers see old or new)."""
        try:
            key = self._derived_key(sha256, name)
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"derived {name} of {sha256} could not be stored ({exc})") from None

    def read_derived(self, sha256: str, name: str) -> bytes | None:
        """Return a derived file's bytes, or None when it was not made."""
        return self._read_optional(self._derived_key(sha256, name), f"derived {name} of {sha256}")

    def _read_optional(self, key: str, what: str) -> bytes | None:
        """Return an object's bytes, None when there is none under ``key``."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)
            data: bytes = body["Body"].read()
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey"):
                return None
            raise StorageError(f"{what} cannot be read from {self.url} ({exc})") from None
        except BotoCoreError as exc:
            raise StorageError(f"{what} cannot be read from {self.url} ({exc})") from None
        return data

    def derived_names(self, sha256: str) -> Iterator[str]:
        """Yield the names of the derived files held for an original."""
        folder = self._derived_key(sha256, "x")[:-1]
        names = [key[len(folder) :] for key in self._keys(folder)]
        yield from sorted(n for n in names if DERIVED_NAME_RE.match(n))

    def iter_derived(self) -> Iterator[tuple[str, str]]:
        """Yield (digest, name) of every derived file held, from one paged listing."""
        for key in self._keys(f"{self.prefix}derived/"):
            parts = key.rsplit("/", 2)
            if len(parts) == 3 and SHA256_RE.match(parts[1]) and DERIVED_NAME_RE.match(parts[2]):
                yield parts[1], parts[2]

    # -- kept records ------------------------------------------------------------------

    def _kept_key(self, name: str) -> str:
        return f"{self.prefix}kept/{check_kept_name(name)}"

    def keep(self, name: str, data: bytes) -> bool:
        """Write a record that is never rewritten (If-None-Match: of two writers, one writes);
        False when the same bytes were there."""
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._kept_key(name), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            if error_code(exc) not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise StorageError(f"{name} could not be kept in {self.url} ({exc})") from None
            if self.read_kept(name) != data:
                raise AlreadyKept(f"{name} is kept already, with other bytes") from None
            return False
        except BotoCoreError as exc:
            raise StorageError(f"{name} could not be kept in {self.url} ({exc})") from None
        return True

    def read_kept(self, name: str) -> bytes | None:
        """Return a kept record's bytes, None when there is none of that name."""
        return self._read_optional(self._kept_key(name), name)

    def kept_names(self, folder: str | None = None) -> Iterator[str]:
        """Yield the name of every record kept (under ``folder``), from one paged listing."""
        start = f"{self.prefix}kept/"
        under = check_kept_name(f"{folder}/x")[:-1] if folder else ""
        for key in sorted(self._keys(f"{start}{under}")):
            name = key[len(start) :]
            if KEPT_NAME_RE.match(name):
                yield name
