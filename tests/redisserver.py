"""A throwaway Redis server for the test run: Debian's redis-server on a private Unix socket,
nothing saved to disk, no TCP port; stopped and removed when the run ends."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def find_redis() -> str:
    """Return the path of redis-server, or raise saying how to get it."""
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("redis-server not found; `make test` installs Debian's redis-server")
    return found


class RedisServer:
    """Start, use and stop one private Redis server."""

    def __init__(self) -> None:
        self.binary = find_redis()
        self.base = Path(tempfile.mkdtemp(prefix="catalog-redis-"))
        self.socket = self.base / "redis.sock"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The limits/redis-py URL of the server's socket."""
        return f"redis+unix://{self.socket}"

    def start(self) -> RedisServer:
        """Start the server; wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.base),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self.socket.exists() and self.ping():
                return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 20 s")

    def ping(self) -> bool:
        """Return whether the server answers PING."""
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(2)
                conn.connect(str(self.socket))
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.base, ignore_errors=True)
