"""Configuration: defaults in code, then a settings file from ``config/``, then ``CATALOG_*``.

The order matters because each layer overrides the one before: the code defaults make a bare
checkout runnable, the settings file describes a deployment, and environment variables let
an operator change one value without editing files. ``create_app(config=...)`` (tests) wins last.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .capture.gallery import instances_from_setting
from .hashing.embedded import set_trust_anchors

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A deployment's secret key: 32 characters (128 bits as hex, more as anything else) at least.
MIN_SECRET_CHARS = 32
MIN_SECRET_DISTINCT = 10
# The longest a presigned URL of the bucket may be valid: it works for whoever holds it, even
# after its user signs out or loses their role.
MAX_PRESIGNED_SECONDS = 3600
SETTINGS_DIR = PROJECT_ROOT / "config"

DEFAULTS: dict[str, Any] = {
    # None means "derive from the instance folder" (see finalise()).
    "DATABASE_URL": None,
    # A deployment (config/production.py sets it): refuse to start without a strong SECRET_KEY.
    "PRODUCTION": False,
    "MEDIA_ROOT": None,
    # Originals and derived files in an S3-compatible bucket ("s3://bucket/prefix"; empty:
    # the folder MEDIA_ROOT, which then keeps only scratch files); the S3 endpoint when it is
    # not AWS; credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Videos and
    # downloads are streamed through the app, or, with S3_PRESIGNED_SECONDS > 0 (an hour at
    # most), answered by a redirect to a URL signed for that long (for S3_PRESIGN_ENDPOINT_URL,
    # the address browsers reach, when it differs from S3_ENDPOINT_URL), with the key
    # S3_PRESIGN_ACCESS_KEY_ID / S3_PRESIGN_SECRET_ACCESS_KEY when given (one that may only read
    # objects). A missing bucket stops the app unless S3_CREATE_BUCKET lets it make one.
    "STORAGE_URL": None,
    "S3_ENDPOINT_URL": None,
    "S3_PRESIGN_ENDPOINT_URL": None,
    "S3_PRESIGNED_SECONDS": 0,
    "S3_PRESIGN_ACCESS_KEY_ID": None,
    "S3_PRESIGN_SECRET_ACCESS_KEY": None,
    "S3_CREATE_BUCKET": False,
    "SECRET_KEY": None,
    "MAX_UPLOAD_MB": 200,
    # SQLite waits this long for a lock before giving up (milliseconds).
    "SQLITE_BUSY_TIMEOUT_MS": 15000,
    "DATABASE_ECHO": False,
    "SESSION_COOKIE_HTTPONLY": True,
    # A browser session ends after this long without a request, and this long after sign-in.
    "SESSION_IDLE_MINUTES": 120,
    "SESSION_MAX_HOURS": 12,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "JSON_SORT_KEYS": False,
    # Images with more pixels are refused before decoding (decompression bombs).
    "MAX_IMAGE_PIXELS": 80_000_000,
    # Match thresholds, chosen by benchmarks/accuracy.py (see benchmarks/RESULTS.md).
    "MATCH_PDQ": 31,
    "MATCH_PDQ_LOOSE": 52,
    "MATCH_PHASH": 2,
    "MATCH_PHASH_LOOSE": 10,
    "MATCH_MIN_INLIERS": 12,
    "MATCH_FRAME_PDQ": 45,
    "MATCH_FRAME_PDQ_ALONG": 72,
    # Proposed links at least this sure (1 - PDQ distance / 64, keypoint matches 0.9) join
    # clusters; confirmed links always do, rejected never.
    "CLUSTER_MIN_CONFIDENCE": 0.45,
    # Security: HTTPS redirect, HSTS and Secure cookies in production (config/production.py);
    # sign-ins per address; failed sign-ins of one account from one address allowed before
    # each further one earns a wait, doubling from the first up to the longest, counted over
    # the window. Counters live in RATE_LIMIT_STORAGE_URI ("redis://..." for several processes).
    "FORCE_HTTPS": False,
    "LOGIN_RATE_LIMIT": "20 per minute",
    "LOGIN_FREE_FAILURES": 3,
    "LOGIN_FIRST_WAIT_SECONDS": 2,
    "LOGIN_MAX_WAIT_SECONDS": 900,
    "LOGIN_FAILURE_WINDOW_SECONDS": 3600,
    "RATE_LIMIT_STORAGE_URI": "memory://",
    # Captures and uploads each user may ask for (pages and API together), in the same
    # notation; over it the request is refused (429) and nothing is stored or queued.
    "CAPTURE_RATE_LIMIT": "60 per hour",
    "UPLOAD_RATE_LIMIT": "300 per hour",
    # A PEM file of the certificates whose signers' Content Credentials are trusted (the C2PA
    # trust list); without it a signed file shows as signed by a signer not on the list.
    "C2PA_TRUST_ANCHORS": None,
    # Proxies in front of the app whose X-Forwarded-For and X-Forwarded-Proto are believed
    # (0: none, the connection's own address is the client's).
    "TRUSTED_PROXIES": 0,
    # Longer videos are refused (seconds).
    "MAX_VIDEO_SECONDS": 3 * 3600,
    # Text in pictures and video frames: Tesseract's languages (each needs its Debian
    # tesseract-ocr-LANG package), and the longest the reading of one picture or one video
    # frame may take (seconds) before it stops with a note that the text was not read.
    "OCR_LANGUAGES": "eng+rus+ukr",
    "OCR_TIME_LIMIT_S": 20,
    # Uploaded videos longer than this (seconds) are stored at once and sampled by a job
    # worker, the upload answering 202 with the job (0: every upload is read in its request);
    # attempts before such a job fails for good; how long a worker holds one without a word
    # of progress before another may take it up (seconds).
    "UPLOAD_JOB_VIDEO_SECONDS": 120,
    "UPLOAD_JOB_ATTEMPTS": 3,
    "UPLOAD_JOB_LEASE_SECONDS": 600,
    # The longest one attempt at such a job may read its video (seconds; 0: no limit): past
    # it the attempt stops and the job fails with the reason, its stored file kept.
    "UPLOAD_JOB_TIMEOUT_SECONDS": 3600,
    "SEARCH_LIMIT": 50,
    # Each process re-reads new hashes from the database at most this often (seconds).
    "INDEX_REFRESH_SECONDS": 1.0,
    # "flat" (exact scan) or "multihash" (exact within radius, faster past a few million) for
    # the hashes added since the snapshot; the snapshot's own are scanned flat where mapped.
    "INDEX_KIND": "flat",
    # Threads per process for index searches; web workers and import already use every core.
    "INDEX_THREADS": 1,
    # Where this server keeps its index snapshot, mapped by every worker (default: under the
    # instance folder). Local disk of each server; never a folder servers share.
    "INDEX_DIR": None,
    # A new snapshot is written (in the background, by one process) once this many pictures
    # have been added past the current one; until then each worker holds them in memory.
    "INDEX_SNAPSHOT_PICTURES": 20_000,
    # Background jobs (captures): the queue's storage, "sqlite:///path" (default: a file in
    # the instance folder) or "redis://host:port/db"; the worker threads of `catalog worker`;
    # whether gunicorn's master starts a worker beside the app (the embedded default; a
    # deployment runs `catalog worker` as a service of its own and turns this off).
    "QUEUE_URL": None,
    "QUEUE_WORKERS": 2,
    "QUEUE_EMBEDDED_WORKER": True,
    # Captures: hosts (names or addresses) a capture may reach although they are private or
    # loopback; the most a capture downloads (page, its requests and media together); the
    # time a page gets to load; attempts before a capture fails for good (the wait doubles
    # from CAPTURE_RETRY_SECONDS); whether Chromium is used (off: no screenshot); the
    # self-hosted servers of kinds gallery-dl reads, as kind=URL ("mastodon=https://host").
    "CAPTURE_ALLOWED_HOSTS": [],
    "CAPTURE_INSTANCES": [],
    "CAPTURE_MAX_MB": 200,
    # The most memory a capture's processes (the browser's included) may use together (MB).
    "CAPTURE_MAX_MEMORY_MB": 2048,
    "CAPTURE_TIMEOUT_SECONDS": 30,
    "CAPTURE_ATTEMPTS": 3,
    "CAPTURE_RETRY_SECONDS": 30,
    "CAPTURE_BROWSER": True,
    # The unprivileged user a root worker runs each capture process as (`make run` and
    # `make test` create it); captures never run as root, nor with the worker's environment.
    "CAPTURE_USER": "catalog-capture",
    # Chromium keeps its sandbox; where it cannot start, captures are refused with the
    # reason. Setting this runs a hostile page's renderer WITHOUT a sandbox: only where the
    # whole worker is itself a disposable sandbox (docs/deploy.md).
    "CAPTURE_UNSAFE_NO_SANDBOX": False,
    # The languages whose subtitles and automatic captions yt-dlp is asked for when a post is
    # captured (besides the post's own), comma-separated; empty: none.
    "CAPTURE_SUBTITLE_LANGUAGES": "en,ru,uk",
    # The deletion re-check: each sighting's URL is re-checked once this many hours have passed
    # since its last check (0: never on a schedule), at most RECHECK_BATCH every ten minutes.
    "RECHECK_HOURS": 24,
    # A media withdrawn (catalogued by mistake) keeps its original this many days; then
    # `catalog gc` removes the file, the record and its audit events staying.
    "WITHDRAWN_RETENTION_DAYS": 30,
    "RECHECK_BATCH": 500,
    # Trusted timestamps (RFC 3161): the URLs of the time-stamp authorities asked to stamp
    # each capture and the audit chain's head (none: no tokens); a PEM file of their root
    # certificates, to check the tokens; how often the chain's head is stamped (hours).
    "TIMESTAMP_AUTHORITIES": [],
    "TIMESTAMP_ROOTS": None,
    "TIMESTAMP_HEAD_HOURS": 24,
    # Name the answering process (host:pid) in an X-Served-By header on every response, to
    # tell app servers and workers apart behind a balancer. Off: it tells clients about hosts.
    "SERVED_BY_HEADER": False,
}


def load(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the settings file, the environment and overrides."""
    app.config.update(DEFAULTS)
    settings = _settings_file()
    if settings is not None:
        app.config.from_pyfile(str(settings))
    app.config.from_prefixed_env(prefix="CATALOG")
    if overrides:
        app.config.update(overrides)
    finalise(app)


def _settings_file() -> Path | None:
    """Pick the settings file: ``CATALOG_SETTINGS`` if given, else ``config/<CATALOG_ENV>.py``."""
    explicit = os.environ.get("CATALOG_SETTINGS")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise RuntimeError(f"CATALOG_SETTINGS points to {path}, which is not a file")
        return path
    env = os.environ.get("CATALOG_ENV", "development")
    path = SETTINGS_DIR / f"{env}.py"
    if path.is_file():
        return path
    if env != "development":
        # A named environment without its file is a deployment mistake, not a default.
        raise RuntimeError(
            f"CATALOG_ENV={env} but {path} does not exist; copy config/{env}.example.py"
        )
    return None


def finalise(app: Flask) -> None:
    """Derive the values left empty and check the ones given."""
    instance = Path(app.instance_path)
    cfg = app.config
    if not cfg.get("DATABASE_URL"):
        instance.mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'catalog.db'}"
    if not cfg.get("MEDIA_ROOT"):
        cfg["MEDIA_ROOT"] = str(instance / "media")
    cfg["MEDIA_ROOT"] = str(Path(cfg["MEDIA_ROOT"]).expanduser().resolve())
    if not cfg.get("INDEX_DIR"):
        cfg["INDEX_DIR"] = str(instance / "index")
    cfg["INDEX_DIR"] = str(Path(cfg["INDEX_DIR"]).expanduser().resolve())
    if not cfg.get("QUEUE_URL"):
        instance.mkdir(parents=True, exist_ok=True)
        cfg["QUEUE_URL"] = f"sqlite:///{instance / 'queue.db'}"
    if cfg.get("PRODUCTION"):
        _check_production_secret(cfg.get("SECRET_KEY"))
    elif not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(instance / "secret_key")
    try:
        max_mb = float(cfg["MAX_UPLOAD_MB"])
    except (TypeError, ValueError):
        raise RuntimeError(
            f"MAX_UPLOAD_MB must be a number, not {cfg['MAX_UPLOAD_MB']!r}"
        ) from None
    if max_mb <= 0:
        raise RuntimeError("MAX_UPLOAD_MB must be positive")
    cfg["MAX_UPLOAD_MB"] = max_mb
    _check_s3(cfg)
    try:
        instances_from_setting(cfg.get("CAPTURE_INSTANCES"))
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    cfg["C2PA_TRUST_PEM"] = _trust_anchors(cfg.get("C2PA_TRUST_ANCHORS"))
    set_trust_anchors(cfg["C2PA_TRUST_PEM"])
    # Flask (Werkzeug) refuses larger request bodies with 413 before any view runs.
    cfg["MAX_CONTENT_LENGTH"] = int(max_mb * 1024 * 1024)


def _check_s3(cfg: Any) -> None:
    """Refuse S3 settings out of range: a presigned URL valid past an hour, half a key, a
    bucket permission that is not true or false."""
    presigned = cfg.get("S3_PRESIGNED_SECONDS") or 0
    whole = isinstance(presigned, int) and not isinstance(presigned, bool)
    if not whole or not 0 <= presigned <= MAX_PRESIGNED_SECONDS:
        raise RuntimeError(
            f"S3_PRESIGNED_SECONDS must be a whole number of seconds from 0 (off) to"
            f" {MAX_PRESIGNED_SECONDS} (an hour), not {presigned!r}"
        )
    cfg["S3_PRESIGNED_SECONDS"] = presigned
    key = (cfg.get("S3_PRESIGN_ACCESS_KEY_ID"), cfg.get("S3_PRESIGN_SECRET_ACCESS_KEY"))
    if bool(key[0]) != bool(key[1]):
        raise RuntimeError(
            "S3_PRESIGN_ACCESS_KEY_ID and S3_PRESIGN_SECRET_ACCESS_KEY are given together:"
            " the key, able only to read objects, that presigned URLs are signed with"
        )
    if not isinstance(cfg.get("S3_CREATE_BUCKET"), bool):
        raise RuntimeError(
            f"S3_CREATE_BUCKET must be true or false, not {cfg.get('S3_CREATE_BUCKET')!r}"
        )


def _trust_anchors(path: object) -> str | None:
    """Return the PEM text of the trust list file, or None; refuse a file that holds none."""
    if not path:
        return None
    try:
        text = Path(str(path)).expanduser().read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeError(f"C2PA_TRUST_ANCHORS: cannot read {path} ({exc})") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise RuntimeError(f"C2PA_TRUST_ANCHORS: {path} holds no PEM certificate")
    return text


def _check_production_secret(key: object) -> None:
    """Refuse to start a deployment without a strong secret key given by its operator.

    A key generated on the spot would differ from server to server (each would reject the
    others' sessions and CSRF tokens), and a short or repetitive one can be guessed.
    """
    how = "e.g. CATALOG_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
    if not key:
        raise RuntimeError(f"PRODUCTION needs a SECRET_KEY set by the operator ({how})")
    text = str(key)
    if len(text) < MIN_SECRET_CHARS or len(set(text)) < MIN_SECRET_DISTINCT:
        raise RuntimeError(
            f"SECRET_KEY is too weak for PRODUCTION: at least {MIN_SECRET_CHARS} characters with"
            f" at least {MIN_SECRET_DISTINCT} different ones are needed ({how})"
        )


def _instance_secret(path: Path) -> str:
    """Return the key kept in ``path``, creating it once; safe when workers start together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Write aside and link into place: link() never replaces, so two workers starting
        # at once agree on whichever key landed first, and no one reads a half-written file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret key")
    return key
