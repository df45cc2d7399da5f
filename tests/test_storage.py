"""Content-addressed storage: atomic, idempotent, never overwriting, leaving nothing on failure;
kept records written once and never rewritten."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from catalog.storage import AlreadyKept, DigestMismatch, Storage, StorageError, TooLarge


@pytest.fixture
def store(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "media")


def leftovers(store: Storage) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file()]


def test_put_stores_under_its_digest_read_only(store: Storage) -> None:
    data = b"evidence bytes"
    sha = hashlib.sha256(data).hexdigest()
    stored = store.put_bytes(data)
    assert stored.created and stored.sha256 == sha and stored.size == len(data)
    path = store.path_for(sha)
    assert path == store.root / "originals" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == data
    assert not stat.S_IMODE(path.stat().st_mode) & 0o222
    with store.open(sha) as handle:
        assert handle.read() == data
    assert list(store.iter_originals()) == [sha]
    assert store.hash_file(sha) == sha
    assert list(store.tmp.iterdir()) == []


def test_same_bytes_again_do_not_rewrite(store: Storage) -> None:
    first = store.put_bytes(b"x" * 1000)
    before = store.path_for(first.sha256).stat()
    second = store.put_bytes(b"x" * 1000)
    assert not second.created
    assert second.sha256 == first.sha256
    after = store.path_for(second.sha256).stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)  # not rewritten
    # But marked as just stored: gc sweeps only old orphans, and this one is about to be named.
    assert after.st_mtime_ns >= before.st_mtime_ns
    assert len(leftovers(store)) == 1


def test_an_existing_original_is_never_overwritten(store: Storage) -> None:
    stored = store.put_bytes(b"original")
    # Even if the bytes on disk were damaged, a new put of the true bytes does not repair
    # (or hide) the damage: integrity checks must see it.
    path = store.path_for(stored.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    again = store.put_bytes(b"original")
    assert not again.created
    assert path.read_bytes() == b"tampered"
    assert store.hash_file(stored.sha256) != stored.sha256


class FailingStream(io.RawIOBase):
    """Gives some bytes, then fails like a dropped upload."""

    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError("connection reset")
        return b"y" * 4096


def test_failed_write_leaves_nothing(store: Storage) -> None:
    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(FailingStream())
    assert leftovers(store) == []


def test_oversized_stream_is_refused_and_leaves_nothing(store: Storage) -> None:
    with pytest.raises(TooLarge):
        store.put_stream(io.BytesIO(b"z" * 5000), max_bytes=4096)
    assert leftovers(store) == []
    assert store.put_stream(io.BytesIO(b"z" * 4096), max_bytes=4096).created


@pytest.mark.parametrize(
    "bad",
    ["../../etc/passwd", "A" * 64, "a" * 63, "g" * 64, "", "a" * 64 + "/x", "a" * 64 + "\n"],
)
def test_paths_only_from_real_digests(store: Storage, bad: str) -> None:
    with pytest.raises(ValueError):
        store.path_for(bad)


def test_missing_original_is_a_clear_error(store: Storage) -> None:
    with pytest.raises(StorageError, match="missing"):
        store.open("0" * 64)


def test_derived_files_are_separate_and_replaceable(store: Storage) -> None:
    stored = store.put_bytes(b"video")
    store.put_derived(stored.sha256, "poster.jpg", b"one")
    store.put_derived(stored.sha256, "poster.jpg", b"two")
    path = store.derived_path(stored.sha256, "poster.jpg")
    assert path.read_bytes() == b"two" == store.read_derived(stored.sha256, "poster.jpg")
    assert path.is_relative_to(store.root / "derived")
    assert list(store.derived_names(stored.sha256)) == ["poster.jpg"]
    assert list(store.iter_derived()) == [(stored.sha256, "poster.jpg")]
    assert store.read_derived(stored.sha256, "thumb.jpg") is None
    with pytest.raises(ValueError):
        store.derived_path(stored.sha256, "../poster.jpg")
    with pytest.raises(ValueError):  # `$` would let a trailing newline through
        store.derived_path(stored.sha256, "poster.jpg\n")


def test_bytes_that_are_not_the_digest_promised_are_refused(store: Storage) -> None:
    # A copy between stores names the digest it expects: damaged bytes must not be stored
    # under another key as if they were new evidence.
    with pytest.raises(DigestMismatch):
        store.put_stream(io.BytesIO(b"damaged"), expected=hashlib.sha256(b"true").hexdigest())
    assert leftovers(store) == []
    kept = store.put_stream(io.BytesIO(b"true"), expected=hashlib.sha256(b"true").hexdigest())
    assert kept.created and store.size(kept.sha256) == 4


def test_discard_removes_original_and_derived(store: Storage) -> None:
    stored = store.put_bytes(b"rejected later")
    store.put_derived(stored.sha256, "thumb.jpg", b"t")
    store.discard(stored.sha256)
    assert not store.exists(stored.sha256)
    assert list(store.derived_names(stored.sha256)) == []


def test_sweep_removes_only_old_temporary_files(store: Storage) -> None:
    old = store.tmp / "put-old"
    old.write_bytes(b"partial")
    os.utime(old, (1, 1))
    fresh = store.tmp / "put-fresh"
    fresh.write_bytes(b"in progress")
    assert store.sweep_temporary(older_than_s=60) == 1
    assert not old.exists() and fresh.exists()


def test_modified_says_when_an_original_was_stored_or_touched(store: Storage) -> None:
    placed = store.put_bytes(b"aged")
    assert store.modified("0" * 64) is None
    os.utime(store.path_for(placed.sha256), (1_000_000, 1_000_000))
    assert store.modified(placed.sha256) == 1_000_000
    store.touch(placed.sha256)
    stamp = store.modified(placed.sha256)
    assert stamp is not None and stamp > 1_000_000


NAME = "timestamps/audit_head/abc.json"


def test_kept_records_are_written_once_read_only_and_never_rewritten(store: Storage) -> None:
    assert store.keep(NAME, b"token one") is True
    assert store.keep(NAME, b"token one") is False  # the same bytes again: nothing to do
    with pytest.raises(AlreadyKept):
        store.keep(NAME, b"token two")
    path = store.root / "kept" / NAME
    assert store.read_kept(NAME) == b"token one" == path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.read_kept("timestamps/capture/none.json") is None
    store.keep("timestamps/capture/def.json", b"token three")
    assert list(store.kept_names("timestamps")) == ["timestamps/audit_head/abc.json",
                                                    "timestamps/capture/def.json"]  # fmt: skip
    assert list(store.kept_names()) == list(store.kept_names("timestamps"))
    assert list(store.kept_names("other")) == []
    # Kept records are not originals, and neither a sweep nor a discard goes near them.
    assert list(store.iter_originals()) == [] and leftovers(store) == [
        path,
        store.root / "kept" / "timestamps/capture/def.json",
    ]
    store.sweep_temporary(older_than_s=0)
    assert store.read_kept(NAME) == b"token one"
    for bad in ("../x", "timestamps/../x", "timestamps", "Timestamps/x", "timestamps/.x"):
        with pytest.raises(ValueError):
            store.keep(bad, b"")
    with pytest.raises(ValueError):
        list(store.kept_names("../originals"))
