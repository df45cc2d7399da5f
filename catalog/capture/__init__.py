"""Capturing a post before it disappears: the page as Chromium loaded it (screenshot, rendered
HTML, every HTTP exchange as WARC), what the page says about the post, and its media files.

``capture_page`` runs the capture (``browser``) in a process of its own and returns what it
kept; the capture service (``catalog.services.captures``) stores the files and ingests the
media. Pure: no Flask, no database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .browser import Job, find_chromium

# Time the capture process gets beyond the page's own limit, to write what it has.
GRACE_S = 15.0


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
) -> dict[str, Any]:
    """Capture ``url`` into ``folder``; return the capture process's result.

    The process and everything it started (Playwright's driver, Chromium) run in a session of
    their own and are killed together when the capture overruns: a hostile page ends as a
    failed capture, never as a hung worker.
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
    process = subprocess.Popen(
        [sys.executable, "-m", "catalog.capture.browser", json.dumps(asdict(job))],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, errors = process.communicate(timeout=timeout_s * 2 + GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()  # reaps it and closes its pipe
        raise CaptureFailed(
            "abandoned",
            f"the page did not finish within {timeout_s * 2 + GRACE_S:.0f} s and was abandoned",
        ) from None
    finally:
        _kill_group(process.pid)
    result_file = folder / "result.json"
    if process.returncode != 0 or not result_file.exists():
        last = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise CaptureFailed("crashed", f"the capture process failed: {last[0][:300]}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def _kill_group(pid: int) -> None:
    """End whatever the capture process left running (a browser it could not close)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
