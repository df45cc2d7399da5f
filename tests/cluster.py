"""A deployment on one machine, as docs/deploy.md draws it: PostgreSQL, an S3 bucket, Redis for
the job queue and the sign-in counters, app servers (gunicorn, each with its own instance folder
and index snapshot) and a job worker, all started as separate processes with the shared
settings, bound to loopback addresses and a Unix socket only. Used by the several-servers test
and by ``benchmarks.servers``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "cluster-password-long"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> tuple[int, dict, dict[str, str]]:
    """Send one request; return (status, JSON body or {}, headers)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body or None, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            raw, status, got = answer.read(), answer.status, dict(answer.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
        exc.close()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    return status, parsed, got


def multipart(data: bytes, name: str) -> tuple[bytes, str]:
    """Return (body, content type) of a form with one file."""
    boundary = "cluster-b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Process:
    """One long-running process of the deployment, in a session of its own, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        """Start it (again, after a kill: the same settings, port and folders)."""
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self) -> None:
        """End it at once, as a crash or an out-of-memory kill would."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, grace: float = 15.0) -> None:
        """Ask it to stop; kill it after ``grace`` seconds."""
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class AppServer(Process):
    """gunicorn serving the app on a loopback port, with its own instance folder and index."""

    def __init__(self, name: str, env: dict[str, str], folder: Path, workers: int = 2) -> None:
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        own = {
            **env,
            "CATALOG_INSTANCE_PATH": str(folder / "instance"),
            "CATALOG_INDEX_DIR": str(folder / "index"),
            "CATALOG_MEDIA_ROOT": str(folder / "scratch"),
        }
        argv = [
            sys.executable, "-m", "gunicorn",
            "--config", "config/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers),
            "--access-logfile", "/dev/null",
            "wsgi:app",
        ]  # fmt: skip
        super().__init__(name, argv, own, folder / f"{name}.log")

    def wait_ready(self, timeout: float = 120.0) -> dict:
        """Wait until /readyz answers 200; return its answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()}")
            try:
                status, body, _ = call(self.port, "GET", "/readyz")
                if status == 200:
                    return body
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout} s:\n{self.output()}")


def flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app wsgi catalog ...`` with ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def worker(env: dict[str, str], folder: Path) -> Process:
    """The job worker (captures, the deletion re-check, timestamps), a process of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    own = {
        **env,
        "CATALOG_INSTANCE_PATH": str(folder / "instance"),
        "CATALOG_MEDIA_ROOT": str(folder / "scratch"),
    }
    argv = [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", "worker", "--workers", "2"]
    return Process("worker", argv, own, folder / "worker.log")


def shared_settings(
    database_url: str,
    bucket_url: str,
    s3_endpoint: str,
    access: tuple[str, str],
    redis_socket: Path,
    **more: str,
) -> dict[str, str]:
    """The settings every app server and worker must share (docs/deploy.md lists them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CATALOG_", "AWS_"))}
    env.update(
        {
            "CATALOG_DATABASE_URL": database_url,
            "CATALOG_STORAGE_URL": bucket_url,
            "CATALOG_S3_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": access[0],
            "AWS_SECRET_ACCESS_KEY": access[1],
            "AWS_DEFAULT_REGION": "us-east-1",
            "CATALOG_SECRET_KEY": "cluster-secret-key-0123456789abcdef",
            "CATALOG_QUEUE_URL": f"unix://{redis_socket}",
            "CATALOG_QUEUE_EMBEDDED_WORKER": "false",
            "CATALOG_RATE_LIMIT_STORAGE_URI": f"redis+unix://{redis_socket}",
            "CATALOG_SERVED_BY_HEADER": "true",
            **more,
        }
    )
    return env


def analyst_key(env: dict[str, str]) -> dict[str, str]:
    """Make an analyst and an API key through the command line; return the bearer header."""
    made = flask(env, "user", "create", "ana", "--role", "analyst", "--password", PASSWORD)
    if made.returncode != 0:
        raise RuntimeError(made.stderr)
    key = flask(env, "apikey", "create", "ana")
    if key.returncode != 0:
        raise RuntimeError(key.stderr)
    return {"Authorization": f"Bearer {key.stdout.split()[-1]}"}
