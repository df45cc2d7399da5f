"""Index snapshots on disk: where they live, which is current, and publishing a new one.

A server keeps its similarity index as a snapshot folder under ``INDEX_DIR``: files that
every worker maps (so the pages are shared), plus the database watermarks they cover. A
``current`` file names the newest complete snapshot; a new one is written under a temporary
name, flushed, renamed, and only then named current, so a reader never sees half a snapshot.
Workers still mapping an older snapshot keep reading it (its files stay valid until unmapped).
Each server builds its own from the database, which stays the single source of truth.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from ...storage.base import fsync_dir

CURRENT = "current"
PREFIX = "snapshot-"
KEEP = 2  # the current snapshot and the one before (a worker may still be opening it)


def current(folder: Path) -> Path | None:
    """Return the current snapshot folder, or None when there is none yet."""
    try:
        name = (folder / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    path = folder / name
    return path if name.startswith(PREFIX) and path.is_dir() else None


@contextlib.contextmanager
def writer_lock(folder: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the folder's writer lock (one snapshot writer per server); yield whether held."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(folder: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Write a snapshot with ``write(path)``, then make it current; hold ``writer_lock``."""
    final = folder / f"{PREFIX}{name}"
    if final.is_dir():
        shutil.rmtree(final)
    partial = folder / f".partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        write(partial)
        os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pointer = folder / f".{CURRENT}-{os.getpid()}"
    with open(pointer, "w") as handle:
        handle.write(final.name)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, folder / CURRENT)
    fsync_dir(folder)
    prune(folder)
    return final


def prune(folder: Path) -> None:
    """Remove all but the newest ``KEEP`` snapshots and any partial ones left by a crash."""
    keep = current(folder)
    snapshots = sorted(
        (p for p in folder.glob(f"{PREFIX}*") if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    for old in snapshots[:-KEEP]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    for partial in folder.glob(".partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
