"""Content-addressed file storage: immutable originals by SHA-256, and derived files beside them,
in a local folder (``MEDIA_ROOT``, the embedded default) or an S3-compatible bucket
(``STORAGE_URL=s3://bucket/prefix``).

``base`` holds what every store promises (``Store``), ``local`` the folder, ``s3`` the bucket;
this module picks one from the settings and hands it to the rest of the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app

from .base import (
    CHUNK,
    DERIVED_NAME_RE,
    SHA256_RE,
    AlreadyKept,
    DigestMismatch,
    StorageError,
    Store,
    StoredFile,
    TooLarge,
    check_sha256,
    spooled,
)
from .local import Storage

__all__ = [
    "CHUNK",
    "DERIVED_NAME_RE",
    "SHA256_RE",
    "AlreadyKept",
    "DigestMismatch",
    "Storage",
    "StorageError",
    "Store",
    "StoredFile",
    "TooLarge",
    "check_sha256",
    "get_storage",
    "init_app",
    "open_store",
    "spooled",
]


def open_store(
    url: str | None,
    media_root: str | Path,
    *,
    endpoint_url: str | None = None,
    presign_endpoint_url: str | None = None,
    presign_credentials: tuple[str, str] | None = None,
    create_bucket: bool = False,
) -> Store:
    """Open the store a URL names: ``s3://bucket/prefix`` (scratch under ``media_root``; the
    bucket made only with ``create_bucket``), a folder (``file:///path`` or a plain path), or,
    with no URL, the folder ``media_root``."""
    if url and url.startswith("s3://"):
        # Imported here: boto3 takes a moment to load, and the embedded default never needs it.
        from .s3 import ObjectStorage

        return ObjectStorage(
            url,
            Path(media_root) / "tmp",
            endpoint_url=endpoint_url or None,
            presign_endpoint_url=presign_endpoint_url or None,
            presign_credentials=presign_credentials,
            create_bucket=create_bucket,
        )
    if url and "://" in url and not url.startswith("file://"):
        raise ValueError(f"a storage URL is s3://bucket/prefix or a folder, not {url!r}")
    folder = url.removeprefix("file://") if url else media_root
    return Storage(Path(folder).expanduser().resolve())


def init_app(app: Flask) -> None:
    """Open the app's store: the bucket of STORAGE_URL, else the folder MEDIA_ROOT."""
    config: dict[str, Any] = app.config
    access, secret = (
        config.get("S3_PRESIGN_ACCESS_KEY_ID"),
        config.get("S3_PRESIGN_SECRET_ACCESS_KEY"),
    )
    try:
        store = open_store(
            config.get("STORAGE_URL"),
            config["MEDIA_ROOT"],
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            presign_endpoint_url=config.get("S3_PRESIGN_ENDPOINT_URL"),
            presign_credentials=(str(access), str(secret)) if access and secret else None,
            create_bucket=bool(config.get("S3_CREATE_BUCKET")),
        )
    except (ValueError, StorageError) as exc:
        raise RuntimeError(f"STORAGE_URL: {exc}") from None
    app.extensions["catalog.storage"] = store


def get_storage(app: Flask | None = None) -> Store:
    """Return the app's store."""
    store: Store = (app or current_app).extensions["catalog.storage"]
    return store
