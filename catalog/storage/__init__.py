"""Content-addressed file storage: immutable originals by SHA-256, and derived files beside them.

Originals live at ``originals/ab/cd/<sha256>``. A file is streamed into ``tmp/`` while its
hash is computed, fsynced, then linked into place; ``link()`` fails rather than replacing, so an
original is never overwritten, and a crash leaves at most a stray temporary file (swept by
``sweep_temporary``), never a partial original. Originals are made read-only once in place.
Derived files (thumbnails, contact sheets) can be regenerated, so they may be replaced.
``storage.s3`` keeps the same promises in an S3-compatible bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app

CHUNK = 1024 * 1024
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
DERIVED_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StorageError(Exception):
    """A file could not be stored or found."""


class TooLarge(StorageError):
    """The stream was longer than the limit given."""


@dataclass(frozen=True)
class StoredFile:
    """An original in the store; ``created`` is False when the bytes were already held."""

    sha256: str
    size: int
    path: Path
    created: bool


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise ValueError."""
    if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


class Storage:
    """Originals and derived files under one root folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.originals = self.root / "originals"
        self.derived = self.root / "derived"
        self.tmp = self.root / "tmp"
        for folder in (self.originals, self.derived, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    # -- originals ---------------------------------------------------------------------

    def path_for(self, sha256: str) -> Path:
        """Return where the original with this digest lives (whether or not it exists)."""
        check_sha256(sha256)
        return self.originals / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        """Return whether the original is held."""
        return self.path_for(sha256).is_file()

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredFile:
        """Store the bytes read from ``stream``; raise TooLarge past ``max_bytes``."""
        with spooled(stream, self.tmp, max_bytes, durable=True) as (tmp, sha256, size):
            return self._place(tmp, sha256, size)

    def put_bytes(self, data: bytes) -> StoredFile:
        """Store ``data``."""
        return self.put_stream(io.BytesIO(data))

    def put_path(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> StoredFile:
        """Store a copy of the file at ``path``."""
        with open(path, "rb") as stream:
            return self.put_stream(stream, max_bytes=max_bytes)

    def _place(self, tmp: Path, sha256: str, size: int) -> StoredFile:
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, target)
        except FileExistsError:
            self.touch(sha256)
            return StoredFile(sha256, target.stat().st_size, target, created=False)
        os.chmod(target, 0o444)
        fsync_dir(target.parent)
        return StoredFile(sha256, size, target, created=True)

    def touch(self, sha256: str) -> None:
        """Mark a held original as just stored: ``gc`` leaves young files alone, and an
        ingest about to record this one must not lose it to a sweep of old orphans."""
        try:
            os.utime(self.path_for(sha256))
        except FileNotFoundError:
            pass

    def modified(self, sha256: str) -> float | None:
        """Return when the original was stored or last touched (seconds), None if missing."""
        try:
            return self.path_for(sha256).stat().st_mtime
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> BinaryIO:
        """Open the original for reading; raise StorageError when it is missing."""
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StorageError(f"original {sha256} is missing from storage") from None

    def discard(self, sha256: str) -> None:
        """Remove an original this process just created and whose record was not committed.

        Only for undoing a failed ingest and for removing orphans; never for catalogued media.
        """
        path = self.path_for(sha256)
        path.unlink(missing_ok=True)
        for name in list(self.derived_names(sha256)):
            (self._derived_dir(sha256) / name).unlink(missing_ok=True)

    def iter_originals(self) -> Iterator[str]:
        """Yield the digest of every original held, in no particular order."""
        for path in self.originals.glob("??/??/*"):
            if path.is_file() and SHA256_RE.match(path.name):
                yield path.name

    def hash_file(self, sha256: str) -> str:
        """Return the SHA-256 of the stored bytes, read afresh (for integrity checks)."""
        digest = hashlib.sha256()
        with self.open(sha256) as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def sweep_temporary(self, older_than_s: float = 3600.0) -> int:
        """Delete temporary files left by interrupted writes, and the folders of captures
        whose worker died; return how many."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.tmp.iterdir():
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
            elif path.is_dir() and path.name.startswith("capture-"):
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    # -- derived files -----------------------------------------------------------------

    def _derived_dir(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.derived / sha256[:2] / sha256[2:4] / sha256

    def derived_path(self, sha256: str, name: str) -> Path:
        """Return where the derived file ``name`` of an original lives."""
        if not DERIVED_NAME_RE.match(name):
            raise ValueError(f"bad derived file name: {name!r}")
        return self._derived_dir(sha256) / name

    def put_derived(self, sha256: str, name: str, data: bytes) -> Path:
        """Write (or replace) a derived file atomically."""
        target = self.derived_path(sha256, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"derived-{secrets.token_hex(8)}"
        try:
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def derived_names(self, sha256: str) -> Iterator[str]:
        """Yield the names of the derived files held for an original."""
        folder = self._derived_dir(sha256)
        if folder.is_dir():
            yield from sorted(p.name for p in folder.iterdir() if p.is_file())


@contextlib.contextmanager
def spooled(
    stream: BinaryIO, folder: Path, max_bytes: int | None, *, durable: bool = False
) -> Iterator[tuple[Path, str, int]]:
    """Copy ``stream`` to a temporary file in ``folder`` while hashing it; yield (the file, its
    SHA-256, its size) and remove the file afterwards, whatever happens. Raise TooLarge past
    ``max_bytes``; ``durable`` fsyncs the file before it is yielded."""
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(dir=folder, prefix="put-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"file is larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        yield tmp, digest.hexdigest(), size
    finally:
        tmp.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (the file's own fsync does not cover its name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def init_app(app: Flask) -> None:
    """Open the app's store under MEDIA_ROOT."""
    app.extensions["catalog.storage"] = Storage(app.config["MEDIA_ROOT"])


def get_storage(app: Flask | None = None) -> Storage:
    """Return the app's Storage."""
    return (app or current_app).extensions["catalog.storage"]
