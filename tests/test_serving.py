"""The README's first command: `make run` migrates and serves the app with gunicorn."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .postsite import PostSite

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_make_run_serves_health_and_readiness_and_runs_jobs(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALOG_", "MAKE", "MFLAGS"))}
    env["CATALOG_INSTANCE_PATH"] = str(tmp_path / "instance")
    env["CATALOG_CAPTURE_ALLOWED_HOSTS"] = "127.0.0.1"
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    output = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"make run did not serve:\n{output}")
                time.sleep(0.3)
        assert (status, body) == (200, {"status": "ok"})
        # Ready once each worker has loaded the similarity index (503 until then).
        while True:
            status, body = get_json(f"http://127.0.0.1:{port}/readyz")
            if status == 200 or time.monotonic() > deadline:
                break
            assert body.get("index") == "loading", body
            time.sleep(0.2)
        assert status == 200 and body["database"] == "ok" and body["index"] == "loaded"
        assert (tmp_path / "instance" / "catalog.db").is_file()
        assert (tmp_path / "instance" / "secret_key").is_file()
        # The job worker that `make run` starts beside the app takes a capture asked for
        # through the API, with no other server.
        cli = [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "catalog"]
        subprocess.run(
            [*cli, "user", "create", "ana", "--role", "analyst", "--password", "a-long-password"],
            cwd=ROOT, env=env, check=True, capture_output=True,
        )  # fmt: skip
        key = (
            subprocess.run(
                [*cli, "apikey", "create", "ana"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            .stdout.decode()
            .split()[-1]
        )
        with PostSite() as site:
            asked = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/captures",
                data=json.dumps({"url": site.url("/post/image")}).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(asked, timeout=10) as response:
                assert response.status == 202
                location = response.headers["Location"]
            while True:
                followed = urllib.request.Request(
                    f"http://127.0.0.1:{port}{location}" if location.startswith("/") else location,
                    headers={"Authorization": f"Bearer {key}"},
                )
                with urllib.request.urlopen(followed, timeout=10) as response:
                    capture = json.load(response)
                if capture["status"] in ("done", "failed") or time.monotonic() > deadline + 60:
                    break
                time.sleep(0.3)
        assert capture["status"] == "done" and len(capture["media"]) == 1, capture
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}/" in output
    assert "catalog user create" in output
