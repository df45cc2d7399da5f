"""Background jobs: captures, and uploads of long videos, run outside the request that asked
for them, on Huey.

Why Huey: one small library with both stores this catalogue needs. On the embedded default
the queue is a SQLite file in the instance folder and no other server is needed; at scale
``QUEUE_URL=redis://...`` puts it on Redis, shared by every app server and worker machine.
It runs jobs in threads of a long-lived consumer (``flask catalog worker``), retries a job
at a delay it chooses (``RetryTask``: the wait doubles per attempt here), and has periodic
jobs (the deletion re-check, the audit chain's timestamps, an hourly gc). RQ and Dramatiq need
Redis or RabbitMQ even for one machine; Celery is far larger.

Each job only carries a capture's or an upload's id; what the job has done is in the
database (status, progress, attempts, files), so a job delivered twice, or run again after
its worker was killed, finishes the same capture or upload rather than starting another
(``captures.run_capture``, ``uploads.run_upload``). A worker takes one by a lease, so a job
delivered twice runs once; a worker starting up queues again those whose worker's lease ran
out: that worker died with them.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.exceptions import RetryTask

from .db import database
from .models import Capture, CaptureStatus, UploadJob, UploadStatus, utcnow
from .queue_format import JsonSerializer

log = logging.getLogger(__name__)


def _make_huey(url: str) -> Huey:
    """Return the Huey instance for a QUEUE_URL, its messages in plain JSON (never pickle)."""
    if url.startswith("sqlite:///"):
        return SqliteHuey(
            "catalog",
            filename=url.removeprefix("sqlite:///"),
            utc=True,
            serializer=JsonSerializer(),
        )
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("catalog", url=url, utc=True, serializer=JsonSerializer())
    raise RuntimeError(
        "QUEUE_URL must be sqlite:///path, redis://:password@host:port/db, rediss://... or"
        " unix://:password@/path/to/socket"
    )


def init_app(app: Flask) -> None:
    """Give the app its queue, made on first use (a command that queues nothing opens none)."""
    app.extensions["catalog.jobs"] = _Jobs(app)


class _Jobs:
    """The app's Huey instance and its registered jobs."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._huey: Huey | None = None
        self.capture: Any = None
        self.upload: Any = None
        self.text: Any = None

    @property
    def huey(self) -> Huey:
        with self._lock:
            if self._huey is None:
                huey = _make_huey(self.app.config["QUEUE_URL"])
                app = self.app

                @huey.task(name="capture")
                def capture_job(capture_id: int) -> str:
                    with app.app_context():
                        return _run_capture(capture_id)

                @huey.task(name="upload")
                def upload_job(job_id: int) -> str:
                    with app.app_context():
                        return _run_upload(job_id)

                @huey.task(name="text")
                def text_job(media_id: int) -> str:
                    with app.app_context():
                        return _read_text(media_id)

                @huey.periodic_task(crontab(minute="*"), name="text-waiting")
                def text_waiting_job() -> int:
                    with app.app_context():
                        return _read_waiting_text()

                @huey.periodic_task(crontab(minute="*/10"), name="recheck")
                def recheck_job() -> int:
                    with app.app_context():
                        return _recheck_due()

                @huey.periodic_task(crontab(minute="*/10"), name="stamp-head")
                def stamp_head_job() -> int:
                    with app.app_context():
                        return _stamp_head_due()

                @huey.periodic_task(crontab(minute="7"), name="gc")
                def collect_job() -> int:
                    with app.app_context():
                        return _collect_due()

                self.capture, self.upload, self.text = capture_job, upload_job, text_job
                self._huey = huey
            return self._huey


def queue(app: Flask | None = None) -> Huey:
    """Return the app's Huey instance."""
    jobs: _Jobs = (app or current_app).extensions["catalog.jobs"]
    return jobs.huey


def enqueue_capture(capture_id: int, delay: float | None = None, app: Flask | None = None) -> None:
    """Queue a capture to run on a worker (after ``delay`` seconds)."""
    _enqueue("capture", capture_id, delay, app)


def enqueue_upload(job_id: int, delay: float | None = None, app: Flask | None = None) -> None:
    """Queue an upload job (a long video or recording stored, to be read) on a worker."""
    _enqueue("upload", job_id, delay, app)


def enqueue_text(media_id: int, app: Flask | None = None) -> None:
    """Queue the reading of a media's text (OCR, subtitles) on a worker."""
    _enqueue("text", media_id, None, app)


def _enqueue(task: str, row_id: int, delay: float | None, app: Flask | None) -> None:
    jobs: _Jobs = (app or current_app).extensions["catalog.jobs"]
    jobs.huey  # noqa: B018 - made on first use, with its jobs
    job = getattr(jobs, task)
    if delay:
        job.schedule((row_id,), delay=delay)
    else:
        job(row_id)


def _run_upload(job_id: int) -> str:
    """The job: one attempt at an upload; ask Huey to retry later when worth it."""
    from .db import get_session
    from .services.media import get_index, thresholds_from, uploads
    from .storage import get_storage

    config = current_app.config
    session, storage = get_session(), get_storage()
    settings = uploads.UploadSettings.from_config(config)
    try:
        job = uploads.run_upload(
            session, storage, get_index(), job_id, settings, thresholds_from(config)
        )
    except uploads.RetryLater:
        return _retry(session, UploadJob, job_id)
    return job.status.value


def _run_capture(capture_id: int) -> str:
    """The job: one attempt at a capture; ask Huey to retry later when worth it."""
    from .db import get_session
    from .services import INTERNAL_ERROR
    from .services.collection import CaptureSettings, RetryLater, attempt_failed, run_capture
    from .services.media import get_index, thresholds_from
    from .storage import get_storage

    config = current_app.config
    session = get_session()
    settings = CaptureSettings.from_config(config)
    try:
        capture = run_capture(
            session, get_storage(), get_index(), capture_id, settings, thresholds_from(config)
        )
    except RetryLater:
        return _retry(session, Capture, capture_id)
    except Exception:  # noqa: BLE001 - the capture must not stay "running" for ever
        # The details (a repr, SQL) go to the worker's log; viewers read a plain reason.
        log.exception("capture %s broke", capture_id)
        session.rollback()
        try:
            capture = attempt_failed(session, capture_id, INTERNAL_ERROR, settings)
        except RetryLater:
            return _retry(session, Capture, capture_id)
    return capture.status.value


def _retry(session: Any, model: Any, row_id: int) -> str:
    """Ask Huey to run the capture or upload again, the wait doubling with each attempt."""
    attempts = session.scalar(sa.select(model.attempts).where(model.id == row_id))
    delay = float(current_app.config["CAPTURE_RETRY_SECONDS"]) * 2 ** max(0, (attempts or 1) - 1)
    raise RetryTask(f"{model.__tablename__} {row_id} will be tried again", delay=delay)


def _read_text(media_id: int) -> str:
    """The job: read the text in one media, unless it was read meanwhile."""
    from .db import get_session
    from .services.text import READ, read_media, text_state
    from .storage import get_storage

    session = get_session()
    if text_state(session, media_id) in (READ, None):
        return "nothing to read"
    return read_media(session, get_storage(), media_id, current_app.config).state


def _read_waiting_text() -> int:
    """The sweep, each minute: read the media whose text still waits (a job lost with a
    worker, media catalogued before text was read), a batch at a time, one sweep at once."""
    from .db import get_session
    from .services.text import read_media, waiting
    from .storage import get_storage

    with queue().lock_task("text-waiting"):
        session = get_session()
        ids = waiting(session, older_than_s=60.0, limit=20)
        for media_id in ids:
            read_media(session, get_storage(), media_id, current_app.config)
        return len(ids)


def _recheck_due() -> int:
    """The scheduled deletion re-check: re-check the sightings not checked for RECHECK_HOURS,
    at most RECHECK_BATCH a run (every ten minutes), so sites are not hammered."""
    from itertools import islice

    from .db import get_session
    from .netguard import AddressPolicy
    from .services.collection import recheck_sightings

    config = current_app.config
    hours = float(config["RECHECK_HOURS"])
    if hours <= 0:
        return 0
    policy = AddressPolicy.from_setting(config.get("CAPTURE_ALLOWED_HOSTS"))
    # One run at a time, across every worker: a run that is slow (sites that answer late)
    # must not be joined by the next, on the same sightings.
    with queue().lock_task("recheck"):
        checks = recheck_sightings(get_session(), policy, older_than=timedelta(hours=hours))
        return sum(1 for _ in islice(checks, int(config["RECHECK_BATCH"])))


def _stamp_head_due() -> int:
    """The scheduled anchor of the audit chain: a token over its head every
    TIMESTAMP_HEAD_HOURS, grown or not, and at the first run once the chain has events and no
    token (so its earliest events are covered within minutes)."""
    from .db import get_session
    from .services.evidence import head_due, stamp_audit_head, timestamp_authorities
    from .storage import get_storage
    from .tsa import load_roots

    config = current_app.config
    authorities = timestamp_authorities(config)
    session = get_session()
    if not authorities or not head_due(session, float(config["TIMESTAMP_HEAD_HOURS"])):
        return 0
    stamped = stamp_audit_head(
        session, get_storage(), authorities, roots=load_roots(config.get("TIMESTAMP_ROOTS"))
    )
    for failure in stamped.failures:
        log.warning("no timestamp over the audit chain's head: %s", failure)
    return len(stamped.made)


def _collect_due() -> int:
    """The scheduled gc, hourly: searched files kept an hour and never catalogued, originals a
    crash left, stale temporary files, and the originals of media withdrawn longer than
    WITHDRAWN_RETENTION_DAYS; return how many originals went."""
    from .db import get_session
    from .services.custody import collect_garbage
    from .storage import get_storage

    with queue().lock_task("gc"):  # one run at a time across every worker
        report = collect_garbage(
            get_session(),
            get_storage(),
            withdrawn_retention_days=float(current_app.config["WITHDRAWN_RETENTION_DAYS"]),
        )
    return len(report.orphans) + len(report.withdrawn_removed)


def requeue_abandoned(app: Flask) -> int:
    """Queue again the captures and uploads whose worker died (left queued or running too
    long)."""
    # Running past its worker's lease: that worker died. Queued for a day: its job was lost
    # with the queue (a queue that still has it delivers it too; each is claimed once, so the
    # second delivery does nothing).
    now = utcnow()
    found: dict[str, list[int]] = {}
    with app.app_context():
        with database(app).sessions() as session:
            for name, model, status in (
                ("capture", Capture, CaptureStatus),
                ("upload", UploadJob, UploadStatus),
            ):
                found[name] = list(
                    session.scalars(
                        sa.select(model.id).where(
                            sa.or_(
                                sa.and_(
                                    model.status == status.RUNNING,
                                    sa.or_(model.lease_until.is_(None), model.lease_until < now),
                                ),
                                sa.and_(
                                    model.status == status.QUEUED,
                                    model.created_at < now - timedelta(days=1),
                                ),
                            )
                        )
                    )
                )
        for capture_id in found["capture"]:
            enqueue_capture(capture_id, app=app)
        for job_id in found["upload"]:
            enqueue_upload(job_id, app=app)
    return sum(len(ids) for ids in found.values())


def make_consumer(app: Flask, workers: int, *, scheduler: bool = True) -> Any:
    """Return the queue's consumer: ``workers`` threads; with ``scheduler``, it also queues the
    periodic jobs (one consumer per deployment should, or each queues them)."""
    return queue(app).create_consumer(workers=workers, worker_type="thread", periodic=scheduler)


def run_worker(app: Flask, workers: int, *, scheduler: bool = True) -> None:
    """Run the consumer until stopped (SIGTERM or SIGINT)."""
    requeued = requeue_abandoned(app)
    if requeued:
        log.warning("queued %d abandoned captures and uploads again", requeued)
    make_consumer(app, workers, scheduler=scheduler).run()
