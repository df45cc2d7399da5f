"""Where the capture process runs: as an unprivileged user of its own, with an environment that
holds no secret, and with Chromium's sandbox on.

A captured page is hostile until shown otherwise. If it broke Chromium's renderer without a
sandbox it would own the process that started the browser; so the capture process never runs
as root (the worker switches to ``CAPTURE_USER`` for it), never inherits the worker's
environment (database password, secret key, S3 keys), and Chromium keeps its own sandbox
(user namespaces on Linux). Where that sandbox cannot start, captures are refused with the
reason, unless the operator sets ``CAPTURE_UNSAFE_NO_SANDBOX`` knowing what it costs.

Pure: no Flask, no database.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "catalog-capture"
# What the capture process may see of the environment: where programs are, and a language.
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
CREATE_USER = (
    "useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin {name}"
)
PROBE_TIMEOUT_S = 60.0


class SandboxUnavailable(Exception):
    """Captures cannot run safely here; the message says why and what to do."""


@dataclass(frozen=True)
class Identity:
    """The user a capture process runs as (None fields: the worker's own user)."""

    name: str
    uid: int | None = None
    gid: int | None = None

    @property
    def switches(self) -> bool:
        """Whether starting the capture process changes user."""
        return self.uid is not None


def capture_identity(name: str | None) -> Identity:
    """Return who runs captures: ``name`` (default ``catalog-capture``) when the worker is
    root, else the worker's own unprivileged user; raise SandboxUnavailable if it is missing."""
    if os.geteuid() != 0:
        return Identity(pwd.getpwuid(os.geteuid()).pw_name)
    wanted = (name or DEFAULT_USER).strip()
    try:
        entry = pwd.getpwnam(wanted)
    except KeyError:
        raise SandboxUnavailable(
            f"the capture user {wanted!r} does not exist, and captures never run as root: create"
            f" it (`{CREATE_USER.format(name=wanted)}`; `make run` and `make test` do) or name"
            " another unprivileged user in CAPTURE_USER"
        ) from None
    if entry.pw_uid == 0:
        raise SandboxUnavailable(f"CAPTURE_USER {wanted!r} is root: name an unprivileged user")
    return Identity(wanted, entry.pw_uid, entry.pw_gid)


def private_folder(identity: Identity) -> Path:
    """Make a folder only the capture process (and the worker) may use, and return it."""
    folder = Path(tempfile.mkdtemp(prefix="catalog-capture-"))
    if identity.switches:
        os.chown(folder, identity.uid or 0, identity.gid or 0)
    os.chmod(folder, 0o700)
    (folder / "home").mkdir()
    if identity.switches:
        os.chown(folder / "home", identity.uid or 0, identity.gid or 0)
    return folder


def clean_environment(home: Path) -> dict[str, str]:
    """The whole environment of a capture process: no variable of the worker's is passed on
    (its database URL, secret key and S3 keys among them)."""
    return {
        "PATH": SAFE_PATH,
        "HOME": str(home),
        "TMPDIR": str(home),
        "XDG_CONFIG_HOME": str(home),
        "XDG_CACHE_HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def start(
    arguments: list[str], identity: Identity, home: Path, stdout: int, stderr: int
) -> subprocess.Popen[bytes]:
    """Start ``python -m ...arguments`` as the capture user, in a session of its own, with the
    clean environment, run from the folder that holds the ``catalog`` package."""
    extra: dict[str, object] = {}
    if identity.switches:
        extra = {"user": identity.uid, "group": identity.gid, "extra_groups": []}
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, *arguments],
        cwd=Path(__file__).resolve().parents[2],
        env=clean_environment(home),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        **extra,
    )


_verdicts: dict[tuple[str, str, bool], str | None] = {}
_verdicts_lock = threading.Lock()


def check(chromium: str | None, user: str | None, unsafe: bool) -> str | None:
    """Return why captures cannot run safely here, or None when they can: the capture user
    exists and Chromium starts with its sandbox as that user (or, with ``unsafe``, without
    it). Probed once per process and kept."""
    key = (chromium or "", user or "", unsafe)
    with _verdicts_lock:
        if key not in _verdicts:
            _verdicts[key] = _probe(chromium, user, unsafe)
        return _verdicts[key]


_probing: set[tuple[str, str, bool]] = set()


def check_soon(chromium: str | None, user: str | None, unsafe: bool) -> tuple[bool, str | None]:
    """Return (known, reason) without waiting: the verdict of ``check`` when it is known, else
    (False, None) with the probe started in the background (a readiness probe answers at
    once; it names a refusal from its next answer on)."""
    key = (chromium or "", user or "", unsafe)
    with _verdicts_lock:
        if key in _verdicts:
            return True, _verdicts[key]
        if key not in _probing:
            _probing.add(key)
            threading.Thread(target=check, args=(chromium, user, unsafe), daemon=True).start()
    return False, None


def _probe(chromium: str | None, user: str | None, unsafe: bool) -> str | None:
    """Start the capture process in probe mode: it launches Chromium as a capture would."""
    try:
        identity = capture_identity(user)
    except SandboxUnavailable as exc:
        return str(exc)
    if chromium is None:
        return None  # captures run without a browser (and say the screenshot is missing)
    folder = private_folder(identity)
    try:
        try:
            process = start(
                ["-m", "catalog.capture.browser", "--probe", json.dumps([chromium, unsafe])],
                identity,
                folder / "home",
                subprocess.PIPE,
                subprocess.PIPE,
            )
        except OSError as exc:
            return (
                f"the capture user {identity.name} cannot start this Python ({exc}); `make run`"
                " lets it pass through the folders that hold the interpreter"
            )
        try:
            out, err = process.communicate(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return "Chromium did not start within a minute as the capture user"
        said_how = out.strip().decode("ascii", "replace")
        if process.returncode == 0 and (
            said_how == "sandboxed" or (unsafe and said_how == "unsandboxed")
        ):
            return None
        said = (err or out).decode("utf-8", "replace").strip().splitlines()
        return (
            f"Chromium cannot start with its sandbox as {identity.name}"
            f" ({said[-1][:300] if said else 'no message'}); captures are refused rather than"
            " run unsandboxed. Allow user namespaces for that user (kernel.unprivileged_userns"
            "_clone, or a container run with a seccomp profile that permits them), or, knowing"
            " the risk, set CAPTURE_UNSAFE_NO_SANDBOX"
        )
    finally:
        _remove(folder)


def _remove(folder: Path) -> None:
    """Remove a capture folder, whoever owns what is in it."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
