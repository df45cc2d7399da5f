"""Capturing a post before it disappears: the page as Chromium loaded it (screenshot, rendered
HTML, every HTTP exchange as WARC), what the page says about the post, and its media files.

``capture_page`` runs the capture (``browser``) in a process of its own, as the capture user
with a clean environment and Chromium's sandbox (``sandbox``), in a private folder; it copies
out only the regular files the process names, and returns what it kept. The capture service
(``catalog.services.collection``) stores the files and ingests the media. Pure: no Flask, no
database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import sandbox
from .browser import Job, find_chromium
from .cage import MemoryCage

# Time the capture process gets beyond the page's own limit, to write what it has.
GRACE_S = 15.0
# How often the memory of the capture's processes is measured (seconds).
WATCH_EVERY_S = 0.25


# The only names the capture process may give its files: anything else it names is refused.
FILE_NAMES = re.compile(
    r"(archive\.warc\.gz|archive\.wacz|screenshot\.png|page\.html|media-\d{1,4}|subtitles-\d{1,4})"
)
# What is kept of a capture process that had to be stopped: files written whole before the end.
SALVAGED = {"archive.warc.gz": "warc", "screenshot.png": "screenshot", "page.html": "html"}


class CaptureFailed(Exception):
    """The capture process could not finish: it overran its time (``abandoned``: the page
    keeps the browser busy, and would again) or it crashed (``crashed``); ``partial`` holds
    what it had kept by then (files copied out, as a result's ``files``)."""

    def __init__(self, code: str, message: str, partial: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.partial = partial


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
    user: str | None = None,
    unsafe_no_sandbox: bool = False,
    subtitle_languages: list[str] | None = None,
) -> dict[str, Any]:
    """Capture ``url`` into ``folder``; return the capture process's result.

    The process runs as the capture user (``user``) with an environment of its own and
    Chromium's sandbox, in a private folder; only the regular files it names are copied into
    ``folder``. It and everything it started (Playwright's driver, Chromium) run in a session
    of their own and are killed together when the capture overruns its time or, together, its
    memory (``max_memory_mb``, 0: no limit): a hostile page ends as a failed capture, never as
    a hung worker or a machine out of memory. Raise SandboxUnavailable when Chromium cannot be
    sandboxed here (and ``unsafe_no_sandbox`` is not set).
    """
    folder.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium() if use_browser else None
    refused = sandbox.check(chromium, user, unsafe_no_sandbox)
    if refused:
        raise sandbox.SandboxUnavailable(refused)
    identity = sandbox.capture_identity(user)
    private = sandbox.private_folder(identity)
    job = Job(
        url=url,
        folder=str(private / "files"),
        allowed_hosts=allowed_hosts,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        chromium=chromium,
        instances=instances or {},
        sandbox=not unsafe_no_sandbox,
        subtitle_languages=list(subtitle_languages or []),
    )
    (private / "files").mkdir()
    if identity.switches:
        os.chown(private / "files", identity.uid or 0, identity.gid or 0)
    deadline = time.monotonic() + timeout_s * 2 + GRACE_S
    try:
        # A file: a pipe not read while we watch could fill.
        with tempfile.TemporaryFile() as errors:
            process = sandbox.start(
                ["-m", "catalog.capture.browser", json.dumps(asdict(job))],
                identity,
                private / "home",
                subprocess.DEVNULL,
                errors.fileno(),
            )
            # Made and joined before the process has started anything of its own.
            cage = MemoryCage.enclose(process.pid, max_memory_mb)
            seen: dict[int, str] = {}  # every process the capture started, by id and start time
            try:
                _watch(process, deadline, max_memory_mb, timeout_s * 2 + GRACE_S, seen)
                if cage is not None and cage.exceeded():
                    raise CaptureFailed(
                        "too_much_memory",
                        f"the page used more than the capture's limit of {max_memory_mb:.0f} MB"
                        " and was stopped",
                    )
            except CaptureFailed as exc:
                exc.partial = _salvage(private / "files", folder)
                raise
            finally:
                seen.update(_started(family(process.pid)))  # while it lives, its children are its
                _kill_group(process.pid, seen)
                process.wait()
                if cage is not None:
                    cage.remove()
            errors.seek(0)
            last_words = errors.read().decode("utf-8", "replace")
        raw = _read_regular(private / "files", "result.json", 16 * 1024 * 1024)
        if process.returncode != 0 or raw is None:
            last = last_words.strip().splitlines()[-1:] or ["no message"]
            raise CaptureFailed(
                "crashed",
                f"the capture process failed: {last[0][:300]}",
                _salvage(private / "files", folder),
            )
        result: dict[str, Any] = json.loads(raw)
        if cage is None and max_memory_mb > 0:
            result.setdefault("notes", []).append(
                "the memory limit was watched, not enforced: no memory cgroup could be made here"
            )
        return _collect(private / "files", folder, result)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _read_regular(folder: Path, name: str, limit: int) -> bytes | None:
    """Read a regular file directly inside ``folder``, never through a link; None if it is
    missing, not a regular file, or larger than ``limit``."""
    try:
        fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        return stream.read(limit + 1)[:limit]


def _copy_out(source: Path, target: Path, name: str) -> bool:
    """Copy one file the capture process made into the worker's folder: only a regular file
    under one of its known names, directly in its folder, never through a link."""
    if not FILE_NAMES.fullmatch(name):
        return False
    try:
        fd = os.open(source / name, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return False
        with open(target / name, "wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
    return True


def _collect(source: Path, target: Path, result: dict[str, Any]) -> dict[str, Any]:
    """Copy out the files the result names; drop (with a note) any name that is not one of
    its own files: the result was written by a process that loaded a hostile page."""
    notes = [str(n) for n in result.get("notes", []) if isinstance(n, str)]
    for key in ("files", "media", "subtitles"):
        kept = []
        for item in result.get(key) or []:
            name = item.get("file") if isinstance(item, dict) else None
            if isinstance(name, str) and _copy_out(source, target, name):
                kept.append(item)
            else:
                notes.append(f"a file the capture named was refused: {str(name)[:100]!r}")
        result[key] = kept
    result["notes"] = notes
    return result


def _salvage(source: Path, target: Path) -> dict[str, Any] | None:
    """Copy out what a stopped capture process had written (its archive, screenshot and
    rendered page), as a result's ``files``; None when there is nothing."""
    files = [
        {"role": role, "file": name}
        for name, role in SALVAGED.items()
        if (source / name).is_file() and _copy_out(source, target, name)
    ]
    return {"files": files} if files else None


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
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(entry.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        children.setdefault(parent, []).append(int(entry.parent.name))
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
