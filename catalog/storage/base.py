"""What every store shares: the errors, the record of a stored original, digest and name checks,
the hash-while-copying spool, and ``Store``, the promises each backend keeps.

A store holds originals by their SHA-256, never overwritten, and derived files (thumbnails,
posters, waveforms) beside them, which may be replaced. It also keeps records written once
under a name and never rewritten (``keep``: the copies of trusted timestamps, which must
outlive a database someone rewrote). ``storage.local`` keeps them in a folder,
``storage.s3`` in an S3-compatible bucket; services see only ``Store``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1024 * 1024
# \A and \Z, not ^ and $: `$` also matches before a trailing newline.
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
DERIVED_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
# A kept record's name: a folder word, then one to four path parts that cannot be "." or "..".
KEPT_NAME_RE = re.compile(r"\A[a-z0-9_-]+(/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){1,4}\Z")


class StorageError(Exception):
    """A file could not be stored or found."""


class TooLarge(StorageError):
    """The stream was longer than the limit given."""


class DigestMismatch(StorageError):
    """The bytes read were not the ones their digest promised (a damaged source)."""


@dataclass(frozen=True)
class StoredFile:
    """An original in the store; ``created`` is False when the bytes were already held."""

    sha256: str
    size: int
    created: bool


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise ValueError."""
    if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def check_derived_name(name: str) -> str:
    """Return ``name`` if it may name a derived file, else raise ValueError."""
    if not isinstance(name, str) or not DERIVED_NAME_RE.match(name):
        raise ValueError(f"bad derived file name: {name!r}")
    return name


def check_kept_name(name: str) -> str:
    """Return ``name`` if it may name a kept record (``folder/part[/part...]``), else raise
    ValueError."""
    if not isinstance(name, str) or not KEPT_NAME_RE.match(name):
        raise ValueError(f"bad kept record name: {name!r}")
    return name


class AlreadyKept(StorageError):
    """A kept record of that name holds other bytes: it is never rewritten."""


class Store(Protocol):
    """The promises of a content-addressed store, whichever backend keeps the bytes."""

    # A local folder for scratch files (uploads being hashed, captures being made).
    tmp: Path

    def describe(self) -> str:
        """Return where the store is, for messages and logs (no credentials)."""
        ...

    def check(self) -> None:
        """Raise StorageError when the store cannot be reached (readiness)."""
        ...

    def exists(self, sha256: str) -> bool:
        """Return whether the original is held."""
        ...

    def put_stream(
        self, stream: BinaryIO, max_bytes: int | None = None, expected: str | None = None
    ) -> StoredFile:
        """Store the bytes of ``stream``; TooLarge past ``max_bytes``, DigestMismatch when
        they are not ``expected``; either way nothing is left."""
        ...

    def put_bytes(self, data: bytes) -> StoredFile:
        """Store ``data``."""
        ...

    def put_path(self, path: str | os.PathLike[str], max_bytes: int | None = None) -> StoredFile:
        """Store a copy of the file at ``path``."""
        ...

    def touch(self, sha256: str) -> None:
        """Mark a held original as just stored, so ``gc`` leaves it alone for now."""
        ...

    def modified(self, sha256: str) -> float | None:
        """Return when the original was stored or last touched, None if missing."""
        ...

    def open(self, sha256: str) -> BinaryIO:
        """Open the original for reading (seekable); StorageError when missing."""
        ...

    def local_copy(self, sha256: str) -> contextlib.AbstractContextManager[Path]:
        """A context giving a local file that holds the original, digest checked (for work
        that reads it many times over, such as decoding a long video)."""
        ...

    def size(self, sha256: str) -> int | None:
        """Return the original's size in bytes, None if missing."""
        ...

    def discard(self, sha256: str) -> None:
        """Remove an original and its derived files (an undone ingest, an orphan)."""
        ...

    def iter_originals(self) -> Iterator[str]:
        """Yield the digest of every original held."""
        ...

    def hash_file(self, sha256: str) -> str:
        """Return the SHA-256 of the stored bytes, read afresh."""
        ...

    def sweep_temporary(self, older_than_s: float = 3600.0) -> int:
        """Delete scratch left by interrupted work; return how many."""
        ...

    def abort_uploads(self, older_than_s: float = 3600.0) -> int:
        """Abort uploads in parts begun longer ago and never finished; return how many."""
        ...

    def put_derived(self, sha256: str, name: str, data: bytes) -> None:
        """Write (or replace) a derived file."""
        ...

    def read_derived(self, sha256: str, name: str) -> bytes | None:
        """Return a derived file's bytes, None when it was not made."""
        ...

    def derived_names(self, sha256: str) -> Iterator[str]:
        """Yield the names of the derived files held for an original."""
        ...

    def iter_derived(self) -> Iterator[tuple[str, str]]:
        """Yield (digest, name) of every derived file held."""
        ...

    def keep(self, name: str, data: bytes) -> bool:
        """Write a record under ``name`` that is never rewritten; return False when the same
        bytes were kept already, raise AlreadyKept when other bytes were."""
        ...

    def read_kept(self, name: str) -> bytes | None:
        """Return a kept record's bytes, None when there is none of that name."""
        ...

    def kept_names(self, folder: str | None = None) -> Iterator[str]:
        """Yield the name of every record kept (under ``folder``, a name's first part)."""
        ...

    def presign_origin(self) -> str | None:
        """Return the origin presigned URLs point at, None when the store gives none."""
        ...

    def presigned_url(
        self, sha256: str, seconds: int, *, mimetype: str, download_name: str | None
    ) -> str | None:
        """Return a short-lived URL the client may fetch the original from, or None when
        the store cannot give one (a local folder)."""
        ...


@contextlib.contextmanager
def spooled(
    stream: BinaryIO,
    folder: Path,
    max_bytes: int | None,
    *,
    durable: bool = False,
    expected: str | None = None,
) -> Iterator[tuple[Path, str, int]]:
    """Copy ``stream`` to a temporary file in ``folder`` while hashing it; yield (the file, its
    SHA-256, its size) and remove the file afterwards, whatever happens. Raise TooLarge past
    ``max_bytes`` and DigestMismatch when the digest is not ``expected``; ``durable`` fsyncs
    the file before it is yielded."""
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
        if expected is not None and digest.hexdigest() != expected:
            raise DigestMismatch(f"bytes read for {expected} hash to {digest.hexdigest()}")
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
