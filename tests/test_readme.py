"""The README's API session, run as written (curl and the command line) against a served
catalogue that already holds a media of someone else's: it works, it runs twice in a row, and
it never touches media it did not create."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .cluster import AppServer, call, flask, multipart
from .media import encode, pattern
from .video_tools import clip

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def session_script(port: int) -> str:
    """The README's curl session, pointed at ``port``, stopping at the first failure."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"```sh\n(KEY=\$\(.*?)```", text, re.S)
    assert found, "the README's API session is missing"
    script = found.group(1)
    script = script.replace(".venv/bin/flask", str(Path(sys.executable).parent / "flask"))
    script = script.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
    # As written, but failing on an HTTP error instead of printing it and going on.
    script = script.replace("curl -s ", "curl -sSf ")
    return "set -euo pipefail\n" + script


def test_the_readme_api_session_runs_twice_and_touches_only_what_it_made(
    tmp_path: Path,
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env.update(
        CATALOG_DATABASE_URL=f"sqlite:///{tmp_path / 'catalog.db'}",
        CATALOG_INSTANCE_PATH=str(tmp_path / "operator"),
        CATALOG_SECRET_KEY="readme-session-secret-key-0123456789",
        CATALOG_QUEUE_EMBEDDED_WORKER="false",
        PYTHONPATH=str(ROOT),
    )
    assert flask(env, "db", "upgrade").returncode == 0
    for user in ("alice", "bob"):
        made = flask(env, "user", "create", user, "--role", "analyst", "--password", "a-long-pass")
        assert made.returncode == 0, made.stderr
    bob = {"Authorization": f"Bearer {flask(env, 'apikey', 'create', 'bob').stdout.split()[-1]}"}
    server = AppServer("readme", env, tmp_path / "server", workers=1).start()
    try:
        server.wait_ready()
        # Someone else's media comes first, so it holds id 1.
        body, kind = multipart(encode(pattern(seed=77), "PNG"), "theirs.png")
        status, theirs, _ = call(
            server.port, "POST", "/api/v1/media", {**bob, "Content-Type": kind}, body
        )
        assert status == 201 and theirs["media"]["id"] == 1
        _, _, before = call(server.port, "GET", "/api/v1/media/1", bob)
        _, trail_before, _ = call(server.port, "GET", "/api/v1/media/1/audit", bob)
        script = session_script(server.port)
        for run in (1, 2):
            folder = tmp_path / f"run-{run}"
            folder.mkdir()
            (folder / "clip.mp4").write_bytes(clip("chair-20-sd-bar.mp4"))
            (folder / "repost.jpg").write_bytes(encode(pattern(seed=78), "JPEG"))
            ran = subprocess.run(
                ["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                timeout=300,
            )  # fmt: skip
            assert ran.returncode == 0, f"run {run}:\n{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}"
            # The original it downloaded is the file it sent, under its digest.
            (downloaded,) = (folder / "originals").iterdir()
            assert downloaded.read_bytes() == (folder / "clip.mp4").read_bytes()
        _, _, after = call(server.port, "GET", "/api/v1/media/1", bob)
        _, trail_after, _ = call(server.port, "GET", "/api/v1/media/1/audit", bob)
        assert after["ETag"] == before["ETag"]
        assert trail_after == trail_before
        status, listed, _ = call(server.port, "GET", "/api/v1/media", bob)
        assert status == 200 and len(listed["items"]) == 2  # theirs, and the session's clip
    finally:
        server.stop()


def test_the_readme_says_how_the_first_user_gets_a_password() -> None:
    # `user create` asks for one at the prompt; a script passes --password instead.
    text = (ROOT / "README.md").read_text()
    first = text[: text.index("## The web interface")]
    assert "asks for a password" in first and "--password" in first
    ran = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", "user", "create", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "--password" in ran.stdout


def test_the_readme_says_how_to_choose_the_address_and_port_of_make_run() -> None:
    text = (ROOT / "README.md").read_text()
    first = text[: text.index("## The web interface")]
    command = re.search(r"^make run (HOST=\S+) (PORT=\S+) (WORKERS=\S+)$", first, re.M)
    assert command, "the README does not show make run with HOST and PORT"
    # The variables are the Makefile's: a dry run binds gunicorn where the README says.
    ran = subprocess.run(
        ["make", "-n", "run", *command.groups()], cwd=ROOT, capture_output=True, text=True
    )
    assert "--bind 0.0.0.0:8080 --workers 4" in ran.stdout, ran.stdout[-2000:]
