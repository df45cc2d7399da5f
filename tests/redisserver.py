"""A throwaway Redis server for the test run: Debian's redis-server on a private Unix socket,
nothing saved to disk, no TCP port; stopped and removed when the run ends. Given a password it
asks every client for it; given a certificate and its key it also listens for TLS on a
loopback port (``rediss://``)."""

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

    def __init__(
        self,
        password: str | None = None,
        tls: tuple[Path, Path] | None = None,
        tls_port: int | None = None,
    ) -> None:
        self.binary = find_redis()
        self.base = Path(tempfile.mkdtemp(prefix="catalog-redis-"))
        self.socket = self.base / "redis.sock"
        self.password, self.tls, self.tls_port = password, tls, tls_port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def _auth(self) -> str:
        return f":{self.password}@" if self.password else ""

    @property
    def url(self) -> str:
        """The limits/redis-py URL of the server's socket."""
        return f"redis+unix://{self._auth}{self.socket}"

    @property
    def queue_url(self) -> str:
        """The QUEUE_URL (redis-py's own scheme) of the server's socket."""
        return f"unix://{self._auth}{self.socket}"

    def tls_url(self, ca_file: Path, db: int = 0) -> str:
        """The rediss:// URL of the TLS port, trusting ``ca_file``."""
        return f"rediss://{self._auth}127.0.0.1:{self.tls_port}/{db}?ssl_ca_certs={ca_file}"

    def start(self) -> RedisServer:
        """Start the server; wait until it answers PING."""
        command = [
            self.binary,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.base),
        ]  # fmt: skip
        if self.password:
            # Given in a file, not on the command line where `ps` shows it.
            conf = self.base / "auth.conf"
            conf.write_text(f"requirepass {self.password}\n")
            command.insert(1, str(conf))
        if self.tls is not None:
            cert, key = self.tls
            command += [
                "--bind", "127.0.0.1",
                "--tls-port", str(self.tls_port),
                "--tls-cert-file", str(cert),
                "--tls-key-file", str(key),
                "--tls-auth-clients", "no",
            ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
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
                if self.password:
                    conn.sendall(f"AUTH {self.password}\r\n".encode())
                    if not conn.recv(16).startswith(b"+OK"):
                        return False
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
