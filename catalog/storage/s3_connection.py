"""Reaching an S3-compatible bucket, for ``storage.s3``: its ``s3://bucket/prefix`` URL, the
clients each process makes (the one that presigns URLs with a read-only key of its own when
one is given), the bucket checked and made only when that is allowed, and an object read by
byte ranges.
"""

from __future__ import annotations

import io
import os
import re
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import StorageError

BUCKET_RE = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
# Path-style addressing and SigV4 suit every S3-compatible server (and AWS); a store that does
# not answer is reported within seconds rather than after botocore's minute-long waits.
SIGNED = Config(
    signature_version="s3v4",
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=60,
    retries={"max_attempts": 3, "mode": "standard"},
)


def parse_url(url: str) -> tuple[str, str]:
    """Return (bucket, key prefix) of ``s3://bucket/prefix``; raise ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not BUCKET_RE.match(parts.netloc or ""):
        raise ValueError(f"not an s3://bucket/prefix URL with a valid bucket name: {url!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class Clients:
    """This process's S3 clients: one for the store's reads and writes, one for presigning."""

    def __init__(
        self,
        endpoint_url: str | None,
        presign_endpoint_url: str | None,
        presign_credentials: tuple[str, str] | None,
        given: Any = None,
    ) -> None:
        self.endpoints = (endpoint_url, presign_endpoint_url or endpoint_url)
        self.presign_key = presign_credentials
        self.given = given
        self.made: tuple[int, Any, Any] | None = None

    def pair(self) -> tuple[Any, Any]:
        """Return (the client, the presigning client) of this process, made on first use."""
        # A client's pooled connections must not cross a fork: gunicorn builds the app in its
        # master and forks the workers, which would otherwise share one socket. Each process
        # makes its own. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
        # (boto3's chain). Presigned URLs name the host they were signed for, the one browsers
        # reach, which may differ from the servers' address, and are signed with the read-only
        # key when one is given; signing is offline.
        if self.made is None or self.made[0] != os.getpid():
            client = self.given or boto3.client("s3", endpoint_url=self.endpoints[0], config=SIGNED)
            if self.presign_key is not None:
                access, secret = self.presign_key
                signer = boto3.client(
                    "s3",
                    endpoint_url=self.endpoints[1],
                    aws_access_key_id=access,
                    aws_secret_access_key=secret,
                    config=SIGNED,
                )
            elif self.given is not None or self.endpoints[1] == self.endpoints[0]:
                signer = client
            else:
                signer = boto3.client("s3", endpoint_url=self.endpoints[1], config=SIGNED)
            self.made = (os.getpid(), client, signer)
        return self.made[1], self.made[2]


def ensure_bucket(client: Any, bucket: str, *, create: bool, on_aws: bool) -> None:
    """Raise StorageError unless the bucket answers; make it when missing only if ``create``
    (a mistyped name must stop the app, not hand it a new, empty store)."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if error_code(exc) not in ("404", "NoSuchBucket"):
            raise StorageError(f"bucket {bucket} cannot be reached ({exc})") from None
        if not create:
            raise StorageError(
                f"bucket {bucket} does not exist: make it, or set S3_CREATE_BUCKET to let the"
                " catalogue make it"
            ) from None
        region = client.meta.region_name
        where = (
            {"CreateBucketConfiguration": {"LocationConstraint": region}}
            if region and region != "us-east-1" and on_aws
            else {}
        )
        try:
            client.create_bucket(Bucket=bucket, **where)
        except ClientError as made:
            # Another server may have made it a moment ago.
            if error_code(made) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise StorageError(f"bucket {bucket} cannot be made ({made})") from None
    except BotoCoreError as exc:
        raise StorageError(f"bucket {bucket} cannot be reached ({exc})") from None


class RangeReader(io.RawIOBase):
    """A seekable view of one object that fetches the byte ranges read."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self.client, self.bucket, self.key, self.size, self.position = client, bucket, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.size - self.position)
        if wanted <= 0:
            return 0
        end = self.position + wanted - 1
        try:
            body = self.client.get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{end}"
            )["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            # Not an OSError: a decoder must not take a store that failed for a broken file.
            raise StorageError(f"{self.key} could not be read ({exc})") from None
        buffer[: len(body)] = body
        self.position += len(body)
        return len(body)


def error_code(exc: ClientError) -> str:
    """Return the S3 error code of a failed call ("NoSuchKey", "404", ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))
