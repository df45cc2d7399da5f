"""Capturing a post before it disappears: the page as Chromium loaded it (screenshot, rendered
HTML, every HTTP exchange as WARC), what the page says about the post, and its media files.

``capture_page`` runs the capture (``browser``) in a process of its own and returns what it
kept; the capture service (``catalog.services.collection``) stores the files and ingests the
media. Pure: no Flask, no database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .browser import Job, find_chromium

# Time the capture process gets beyond the page's own limit, to write what it has.
GRACE_S = 15.0
# How often the memory of the capture's processes is measured (seconds).
WATCH_EVERY_S = 0.25


class CaptureFailed(Exception):
    """The capture process could not finish: it overran its time (``abandoned``: the page
    keeps the browser busy, and would again) or it crashed (``crashed``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def capture_page(
    url: str,
    folder: Path,
    *,
    allowed_hosts: list[str],
    max_bytes: int,
    timeout_s: float,
    use_browser: bool = True,
    instances: dict[str, Any] | None = None,
    max_memory_mb: float = 0,
) -> dict[str, Any]:
    """Capture ``url`` into ``folder``; return the capture process's result.

    The process and everything it started (Playwright's driver, Chromium) run in a session of
    their own and are killed together when the capture overruns its time or, together, its
    memory (``max_memory_mb``, 0: no limit): a hostile page ends as a failed capture, never
    as a hung worker or a machine out of memory.
    """
    folder.mkdir(parents=True, exist_ok=True)
    job = Job(
        url=url,
        folder=str(folder),
        allowed_hosts=allowed_hosts,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        chromium=find_chromium() if use_browser else None,
        instances=instances or {},
    )
    deadline = time.monotonic() + timeout_s * 2 + GRACE_S
    with tempfile.TemporaryFile() as errors:  # a file: a pipe not read while we watch could fill
        process = subprocess.Popen(
            [sys.executable, "-m", "catalog.capture.browser", json.dumps(asdict(job))],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        seen: dict[int, str] = {}  # every process the capture started, by id and start time
        try:
            _watch(process, deadline, max_memory_mb, timeout_s * 2 + GRACE_S, seen)
        finally:
            seen.update(_started(family(process.pid)))  # while it lives, its children are its
            _kill_group(process.pid, seen)
            process.wait()
        errors.seek(0)
        last_words = errors.read().decode("utf-8", "replace")
    result_file = folder / "result.json"
    if process.returncode != 0 or not result_file.exists():
        last = last_words.strip().splitlines()[-1:] or ["no message"]
        raise CaptureFailed("crashed", f"the capture process failed: {last[0][:300]}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def _watch(
    process: subprocess.Popen[bytes],
    deadline: float,
    max_memory_mb: float,
    allowed_s: float,
    seen: dict[int, str],
) -> None:
    """Wait for the capture process, noting in ``seen`` every process it started; raise
    CaptureFailed when it overruns its time or its processes' memory together passes
    ``max_memory_mb``."""
    while True:
        try:
            process.wait(timeout=WATCH_EVERY_S)
            return
        except subprocess.TimeoutExpired:
            pass
        seen.update(_started(family(process.pid)))
        if time.monotonic() > deadline:
            raise CaptureFailed(
                "abandoned", f"the page did not finish within {allowed_s:.0f} s and was abandoned"
            )
        if max_memory_mb > 0:
            used = family_memory_mb(process.pid)
            if used > max_memory_mb:
                raise CaptureFailed(
                    "too_much_memory",
                    f"the page used {used:.0f} MB, more than the capture's limit of"
                    f" {max_memory_mb:.0f} MB, and was abandoned",
                )


def family(pid: int) -> list[int]:
    """Return ``pid`` and every process descended from it (Linux; Chromium's browser runs in
    a session of its own, so the process group does not hold it)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def family_memory_mb(pid: int) -> float:
    """Return the memory of ``pid`` and its descendants together, in MB: proportional set
    sizes, so pages Chromium's processes share are counted once among them (0 off Linux)."""
    total_kb = 0
    for member in family(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total_kb += int(line.split()[1])
                break
    return total_kb / 1024


def _started(pids: list[int]) -> dict[int, str]:
    """Each process's start time (the 22nd field of its stat), which tells it from a later
    process given the same id."""
    found = {}
    for pid in pids:
        try:
            found[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            continue
    return found


def _kill_group(pid: int, seen: dict[int, str]) -> None:
    """End whatever the capture process left running: its process group, and every process
    it was seen to start (the browser runs in a session of its own), if still the same."""
    for member, started in seen.items():
        if member == pid or _started([member]).get(member) != started:
            continue  # the capture process itself is reaped by the caller; or long gone
        try:
            os.kill(member, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
