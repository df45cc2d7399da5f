"""A large upload is never held whole in a worker's memory: a 150 MB video sent to the API,
to be catalogued or only searched for, raises the worker's peak memory by less than 100 MB.
Measured on a real gunicorn worker (its VmHWM, reset before each upload), with the body
streamed from disk by the client."""

from __future__ import annotations

import http.client
import io
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from .media import encode, pattern
from .test_concurrency import ROOT, served_catalogue
from .test_serving import free_port

LIMIT_MB = 100


def big_video(path: Path, frames: int = 84) -> int:
    """Write a Motion-JPEG Matroska of about 150 MB (noise compresses badly); return its size."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    with open(path, "wb") as out, av.open(out, mode="w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=1)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuvj420p"
        stream.time_base = Fraction(1, 1)
        for n in range(frames):
            buffer = io.BytesIO()
            Image.fromarray(np.roll(base, n * 37, axis=1)).save(buffer, "JPEG", quality=100)
            packet = av.Packet(buffer.getvalue())
            packet.stream = stream
            packet.pts = packet.dts = n
            packet.time_base = Fraction(1, 1)
            packet.duration = 1
            container.mux(packet)
    return path.stat().st_size


def memory_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def post_file(port: int, path: str, headers: dict, file: Path) -> tuple[int, str]:
    """POST ``file`` as multipart form data, streamed from disk in pieces."""
    boundary = "b0undary-memory"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mkv"\r\n'
        "Content-Type: video/x-matroska\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.putrequest("POST", path)
    for name, value in {
        **headers,
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + file.stat().st_size + len(tail)),
    }.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(head)
    with open(file, "rb") as body:
        while chunk := body.read(1024 * 1024):
            connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    answer = response.read().decode()
    connection.close()
    return response.status, answer


def get(port: int, path: str, headers: dict | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_150_mb_upload_is_not_held_in_memory(fresh_database_url: str, tmp_path: Path) -> None:
    video = tmp_path / "big.mkv"
    assert big_video(video) > 145_000_000
    env, headers = served_catalogue(fresh_database_url, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "300",
            "--access-logfile", "/dev/null", "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = get(port, "/readyz")
                if ready.status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not become ready"
            time.sleep(0.2)
        worker = int(ready.getheader("X-Served-By").rpartition(":")[2])
        # Warm the worker up (imports, decoders, the index) with a small file first.
        small = tmp_path / "small.png"
        small.write_bytes(encode(pattern(seed=9), "PNG"))
        assert post_file(port, "/api/v1/media", headers, small)[0] == 201
        assert post_file(port, "/api/v1/search", headers, small)[0] == 200
        for path, expected in (("/api/v1/media", 201), ("/api/v1/search", 200)):
            with open(f"/proc/{worker}/clear_refs", "w") as clear:
                clear.write("5")  # the peak starts again from what is resident now
            idle = memory_kb(worker, "VmRSS")
            status, answer = post_file(port, path, headers, video)
            assert status == expected, answer[:500]
            rise_mb = (memory_kb(worker, "VmHWM") - idle) / 1024
            assert rise_mb < LIMIT_MB, f"{path}: peak rose {rise_mb:.0f} MB for a 150 MB file"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
