"""Originals and derived files in a local folder (the embedded default, ``MEDIA_ROOT``).

Originals live at ``originals/ab/cd/<sha256>``. A file is streamed into ``tmp/`` while its
hash is computed, fsynced, then linked into place; ``link()`` fails rather than replacing, so an
original is never overwritten, and a crash leaves at most a stray temporary file (swept by
``sweep_temporary``), never a partial original. Originals are made read-only once in place.
Derived files sit under ``derived/`` and are replaced atomically. Kept records sit under
``kept/``, linked into place like originals (never replaced) and read-only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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
    fsync_dir,
    spooled,
)


class Storage:
    """Originals and derived files under one root folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.originals = self.root / "originals"
        self.derived = self.root / "derived"
        self.tmp = self.root / "tmp"
        for folder in (self.originals, self.derived, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def describe(self) -> str:
        """Return the folder's path."""
        return str(self.root)

    def check(self) -> None:
        """Raise StorageError when the folder cannot be written."""
        if not os.access(self.tmp, os.W_OK):
            raise StorageError(f"{self.tmp} cannot be written")

    # -- originals ---------------------------------------------------------------------

    def path_for(self, sha256: str) -> Path:
        """Return where the original with this digest lives (whether or not it exists)."""
        check_sha256(sha256)
        return self.originals / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        """Return whether the original is held."""
        return self.path_for(sha256).is_file()

    def put_stream(
        self, stream: BinaryIO, max_bytes: int | None = None, expected: str | None = None
    ) -> StoredFile:
        """Store the bytes read from ``stream``; raise TooLarge past ``max_bytes`` and
        DigestMismatch when they do not hash to ``expected``."""
        with spooled(stream, self.tmp, max_bytes, durable=True, expected=expected) as spool:
            return self._place(*spool)

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
            return StoredFile(sha256, target.stat().st_size, created=False)
        os.chmod(target, 0o444)
        fsync_dir(target.parent)
        return StoredFile(sha256, size, created=True)

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

    def size(self, sha256: str) -> int | None:
        """Return the original's size in bytes, None if missing."""
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, sha256: str) -> BinaryIO:
        """Open the original for reading; raise StorageError when it is missing."""
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StorageError(f"original {sha256} is missing from storage") from None

    @contextlib.contextmanager
    def local_copy(self, sha256: str) -> Iterator[Path]:
        """Yield the original's own path (it is a local file already)."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise StorageError(f"original {sha256} is missing from storage")
        yield path

    def discard(self, sha256: str) -> None:
        """Remove an original this process just created and whose record was not committed.

        Only for undoing a failed ingest and for removing orphans; never for catalogued media.
        """
        self.path_for(sha256).unlink(missing_ok=True)
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

    def abort_uploads(self, older_than_s: float = 3600.0) -> int:
        """A folder has no uploads in parts: an unfinished write is a temporary file."""
        return 0

    def presign_origin(self) -> str | None:
        """A folder is served by the app itself."""
        return None

    def presigned_url(
        self, sha256: str, seconds: int, *, mimetype: str, download_name: str | None
    ) -> str | None:
        """A folder has no URLs of its own: the app serves its files."""
        return None

    # -- derived files -----------------------------------------------------------------

    def _derived_dir(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.derived / sha256[:2] / sha256[2:4] / sha256

    def derived_path(self, sha256: str, name: str) -> Path:
        """Return where the derived file ``name`` of an original lives."""
        return self._derived_dir(sha256) / check_derived_name(name)

    def put_derived(self, sha256: str, name: str, data: bytes) -> None:
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

    def read_derived(self, sha256: str, name: str) -> bytes | None:
        """Return a derived file's bytes, or None when it was not made."""
        try:
            return self.derived_path(sha256, name).read_bytes()
        except FileNotFoundError:
            return None

    def derived_names(self, sha256: str) -> Iterator[str]:
        """Yield the names of the derived files held for an original."""
        folder = self._derived_dir(sha256)
        if folder.is_dir():
            yield from sorted(p.name for p in folder.iterdir() if p.is_file())

    def iter_derived(self) -> Iterator[tuple[str, str]]:
        """Yield (digest, name) of every derived file held."""
        for path in self.derived.glob("??/??/*/*"):
            sha256 = path.parent.name
            if path.is_file() and SHA256_RE.match(sha256) and DERIVED_NAME_RE.match(path.name):
                yield sha256, path.name

    # -- kept records ------------------------------------------------------------------

    def _kept_path(self, name: str) -> Path:
        return self.root / "kept" / check_kept_name(name)

    def keep(self, name: str, data: bytes) -> bool:
        """Write a record that is never rewritten: fsynced, then linked into place (``link``
        refuses an existing name) and made read-only; False when the same bytes were there."""
        target = self._kept_path(name)
        tmp = self.tmp / f"kept-{secrets.token_hex(8)}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError:
                if target.read_bytes() != data:
                    raise AlreadyKept(f"{name} is kept already, with other bytes") from None
                return False
            os.chmod(target, 0o444)
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"{name} could not be kept in {self.root} ({exc})") from None
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def read_kept(self, name: str) -> bytes | None:
        """Return a kept record's bytes, None when there is none of that name."""
        try:
            return self._kept_path(name).read_bytes()
        except FileNotFoundError:
            return None

    def kept_names(self, folder: str | None = None) -> Iterator[str]:
        """Yield the name of every record kept (under ``folder``)."""
        base = self.root / "kept"
        under = base / check_kept_name(f"{folder}/x")[:-2] if folder else base
        for path in sorted(under.rglob("*")) if under.is_dir() else []:
            name = path.relative_to(base).as_posix()
            if path.is_file() and KEPT_NAME_RE.match(name):
                yield name
