"""A memory limit the kernel enforces on a capture process and everything it starts: a memory
cgroup of its own (cgroup v2's ``memory.max``, or v1's ``memory.limit_in_bytes``) made under
the worker's own cgroup. Sampling the processes' memory every quarter second
(``capture._watch``) ends a page that grows; the cgroup keeps one that grows faster than that
from taking the machine. Where no cgroup can be made (no write access to the worker's own),
sampling alone stands, and the capture's notes say so.

Pure: no Flask, no database.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


class MemoryCage:
    """One memory cgroup holding a capture's processes."""

    def __init__(self, folder: Path, limit_file: str, events: tuple[str, str]) -> None:
        self.folder = folder
        self.limit_file = limit_file
        self.events = events  # (file, key): the count of processes the kernel killed at the limit

    @classmethod
    def make(cls, name: str, limit_mb: float) -> MemoryCage | None:
        """Make a cgroup limited to ``limit_mb`` under the worker's own; None where it cannot."""
        if limit_mb <= 0:
            return None
        for parent, limit_file, events in _candidates():
            folder = parent / name
            try:
                folder.mkdir()
            except OSError:
                continue
            cage = cls(folder, limit_file, events)
            try:
                (folder / limit_file).write_text(str(int(limit_mb * 1024 * 1024)))
            except OSError:
                cage.remove()
                continue
            return cage
        return None

    @classmethod
    def enclose(cls, pid: int, limit_mb: float) -> MemoryCage | None:
        """Put a process (and so everything it starts from now on) in a cgroup of its own
        limited to ``limit_mb``; None where that cannot be done."""
        cage = cls.make(f"catalog-capture-{pid}", limit_mb)
        if cage is None:
            return None
        try:
            (cage.folder / "cgroup.procs").write_text(str(pid))
        except OSError:
            cage.remove()
            return None
        return cage

    def exceeded(self) -> bool:
        """Whether the kernel killed one of the processes for passing the limit."""
        name, key = self.events
        try:
            for line in (self.folder / name).read_text().splitlines():
                field, _, count = line.partition(" ")
                if field == key and int(count or 0) > 0:
                    return True
        except (OSError, ValueError):
            return False
        return False

    def remove(self) -> None:
        """Remove the cgroup once its processes are gone (they were killed by the caller)."""
        for _ in range(50):
            try:
                self.folder.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)  # the last process is still being reaped


def _candidates() -> list[tuple[Path, str, tuple[str, str]]]:
    """Where a child cgroup may be made: this process's own memory cgroup (v1), or its own
    unified one (v2), each with the files that set and report the limit."""
    found = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            found.append(
                (
                    ROOT / "memory" / path.lstrip("/"),
                    "memory.limit_in_bytes",
                    ("memory.oom_control", "oom_kill"),
                )
            )
        elif controllers == "" and (ROOT / "cgroup.controllers").exists():
            found.append((ROOT / path.lstrip("/"), "memory.max", ("memory.events", "oom_kill")))
    return [c for c in found if c[0].is_dir() and os.access(c[0], os.W_OK)]
