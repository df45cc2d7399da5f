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


def test_make_run_serves_health_and_readiness(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALOG_", "MAKE", "MFLAGS"))}
    env["CATALOG_INSTANCE_PATH"] = str(tmp_path / "instance")
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
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}/" in output
    assert "catalog user create" in output
