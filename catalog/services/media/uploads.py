"""Uploads that outlast a request: a video longer than ``UPLOAD_JOB_VIDEO_SECONDS`` is stored
as it arrives (content-addressed, like any original) and recorded as an upload job; a worker
samples and hashes it and makes the media through the normal ingest, reporting progress.

The job's outcome (done, the media, its near-duplicates) is written in the ingest's own
transaction, so a worker killed at any point leaves either no media and a job to run again,
or the media and a finished job: never a media whose job runs a second time. A worker holds a
job by a lease it renews while it works; a job whose lease ran out is taken up by the next
worker, and every write checks that the writer still holds it. A worker that dies reading
the same video again and again fails the job after ``UPLOAD_JOB_ATTEMPTS``, and an attempt
still reading the video after ``UPLOAD_JOB_TIMEOUT_SECONDS`` is stopped and fails the job.

Evidence accepted is not thrown away lightly: the original is removed only when the file
itself is refused (truncated, not a video after all); a job that failed for any other reason
keeps it, and can be tried again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ...db import hold_lock, lock_for_write
from ...hashing.video import probe_duration
from ...hashing.views import Source, sha256_of, size_of, stream_of
from ...index import Thresholds
from ...models import CaptureFile, Media, UploadJob, UploadStatus, User, utcnow
from ...storage import Store
from ...text.spans import TextReading, TextSpan
from .. import INTERNAL_ERROR, Conflict, fetch
from ..evidence import audit
from ..records import (
    AcknowledgementInput,
    IngestDetails,
    SightingInput,
    check_details,
    clean_filename,
)
from .commit import INGEST_LOCK, IngestResult
from .ingest import ingest_bytes
from .matching import IndexHolder
from .search import Rejected, SearchMatch

log = logging.getLogger(__name__)
# Progress is written at most this often (seconds): each write is a transaction of its own.
PROGRESS_EVERY_S = 1.0
HOLDING = (UploadStatus.QUEUED, UploadStatus.RUNNING, UploadStatus.FAILED)


@dataclass(frozen=True)
class UploadSettings:
    """The limits an upload is read under, and when it becomes a job."""

    max_pixels: int
    max_video_s: float
    job_after_s: float  # videos longer than this go to a worker (0: never)
    attempts: int
    lease_s: float
    timeout_s: float = 0  # the longest an attempt may read the video (0: no limit)

    @classmethod
    def from_config(cls, config: Any) -> UploadSettings:
        """Read the settings of uploads."""
        return cls(
            max_pixels=int(config["MAX_IMAGE_PIXELS"]),
            max_video_s=float(config["MAX_VIDEO_SECONDS"]),
            job_after_s=float(config["UPLOAD_JOB_VIDEO_SECONDS"]),
            attempts=int(config["UPLOAD_JOB_ATTEMPTS"]),
            lease_s=float(config["UPLOAD_JOB_LEASE_SECONDS"]),
            timeout_s=float(config["UPLOAD_JOB_TIMEOUT_SECONDS"]),
        )


class RetryLater(Exception):
    """The job failed in a way another attempt may mend."""


class _Superseded(Exception):
    """Another worker finished the job, or holds it now: this attempt's work is dropped."""


class _TimedOut(Exception):
    """The attempt ran past ``UPLOAD_JOB_TIMEOUT_SECONDS``: stopped, its work dropped."""


def accept_upload(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    details: IngestDetails,
    *,
    actor: User | None,
    thresholds: Thresholds,
    settings: UploadSettings,
) -> IngestResult | UploadJob:
    """Ingest a file now, or, for a long video not yet held, store it and return the queued
    job (the caller queues it once this returns)."""
    duration = probe_duration(data) if settings.job_after_s > 0 else None
    if duration is None or duration <= settings.job_after_s:
        return _ingest(session, storage, holder, data, details, actor, thresholds, settings)
    if session.scalar(sa.select(Media.id).where(Media.sha256 == sha256_of(data))) is not None:
        return _ingest(session, storage, holder, data, details, actor, thresholds, settings)
    check_details(details)  # what was typed is refused now, not after the wait
    if duration > settings.max_video_s:
        raise Rejected(
            "too_long",
            f"the video lasts {duration:.0f} s,"
            f" more than the limit of {settings.max_video_s:.0f} s",
        )
    session.rollback()  # end the reads: the copy below may take minutes
    placed = storage.put_stream(stream_of(data))
    try:
        lock_for_write(session)
        hold_lock(session, INGEST_LOCK)  # against a discard of the same bytes meanwhile
        storage.touch(placed.sha256)
        job = UploadJob(
            sha256=placed.sha256,
            size_bytes=size_of(data),
            original_filename=clean_filename(details.original_filename),
            duration_s=round(duration, 3),
            details=details_to_json(details),
            stage="waiting for a worker",
            created_by=actor,
        )
        session.add(job)
        session.flush()
        audit.record(
            session,
            actor,
            "upload.accept",
            "upload",
            job.id,
            {"sha256": job.sha256, "size": job.size_bytes, "filename": job.original_filename},
        )
        session.commit()
    except BaseException:
        session.rollback()
        _discard_if_unheld(session, storage, placed.sha256, placed.created, None)
        raise
    return job


def _ingest(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    data: Source,
    details: IngestDetails,
    actor: User | None,
    thresholds: Thresholds,
    settings: UploadSettings,
    progress: Any = None,
    on_commit: Any = None,
) -> IngestResult:
    return ingest_bytes(
        session,
        storage,
        holder,
        data,
        details,
        actor=actor,
        thresholds=thresholds,
        max_pixels=settings.max_pixels,
        max_video_s=settings.max_video_s,
        progress=progress,
        on_commit=on_commit,
    )


def get_upload(session: Session, job_id: int) -> UploadJob:
    """Return one upload job; raise NotFound."""
    return fetch(session, UploadJob, job_id, "upload")


def run_upload(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    job_id: int,
    settings: UploadSettings,
    thresholds: Thresholds,
) -> UploadJob:
    """Run one attempt of an upload job: read the stored video, make the media.

    Raise RetryLater when the attempt broke in a way a later one may mend and attempts are
    left; otherwise the job ends done or failed, with the reason.
    """
    lease = timedelta(seconds=settings.lease_s)
    claimed = _claim(session, job_id, lease, settings)
    if claimed is None:  # finished, or another worker holds it (a job delivered twice)
        return get_upload(session, job_id)
    job, mine = claimed
    details, actor = details_from_json(job.details), job.created_by
    keeper = _Keeper(session, job_id, mine, lease, settings.timeout_s)
    keeper.start()
    try:
        # Decoded from a local copy: a video is read back and forth, and a store that fails
        # mid-read must end in another attempt, never in the file being judged broken.
        with storage.local_copy(job.sha256) as path, open(path, "rb") as original:
            _ingest(
                session,
                storage,
                holder,
                original,
                details,
                actor,
                thresholds,
                settings,
                progress=keeper.progress,
                on_commit=lambda media, created, matches: _finish(
                    session, job_id, mine, media, created, matches
                ),
            )
    except _Superseded:
        session.rollback()
    except _TimedOut as exc:  # another attempt would take as long: failed, the file kept
        session.rollback()
        _end_failed(session, storage, job_id, mine, str(exc), discard=False)
    except Rejected as exc:  # the file itself is refused: another attempt would be too
        session.rollback()
        _end_failed(session, storage, job_id, mine, str(exc), discard=True)
    except Exception:  # noqa: BLE001 - the job must not stay "running" for ever
        log.exception("upload %s: attempt %s broke", job_id, mine)
        session.rollback()
        attempt_failed(session, job_id, mine, INTERNAL_ERROR, settings)
    finally:
        keeper.stop()
    session.expire_all()
    return get_upload(session, job_id)


def _finish(
    session: Session,
    job_id: int,
    mine: int,
    media: Media,
    created: bool,
    matches: list[SearchMatch],
) -> None:
    """Record the job's outcome in the ingest's transaction; refuse to when this worker no
    longer holds the job (the ingest then rolls back: its work is another worker's)."""
    job = session.get(UploadJob, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status is not UploadStatus.RUNNING or job.attempts != mine:
        raise _Superseded(f"upload {job_id} is no longer this worker's")
    job.status, job.progress, job.stage, job.error = UploadStatus.DONE, 1.0, None, None
    job.media_id, job.created = media.id, created
    job.matches = [_match_summary(m.as_dict()) for m in matches]
    job.finished_at, job.lease_until = utcnow(), None


def attempt_failed(
    session: Session, job_id: int, mine: int, reason: str, settings: UploadSettings
) -> None:
    """Record a failed attempt: raise RetryLater while attempts are left, else fail the job
    (keeping the original: the file was not found wanting)."""
    lock_for_write(session)
    job = session.get(UploadJob, job_id, populate_existing=True)
    if job is None or job.status is not UploadStatus.RUNNING or job.attempts != mine:
        session.rollback()
        return
    if job.attempts < settings.attempts:
        job.status, job.error, job.lease_until = UploadStatus.QUEUED, reason[:2000], None
        job.stage = f"attempt {job.attempts} failed; waiting to try again"
        session.commit()
        raise RetryLater(reason)
    session.rollback()
    _end_failed(session, None, job_id, mine, reason, discard=False)


def _end_failed(
    session: Session,
    storage: Store | None,
    job_id: int,
    mine: int | None,
    reason: str,
    *,
    discard: bool,
) -> None:
    """End a job as failed; with ``discard``, its original goes unless a media, a capture or
    another job holds it."""
    lock_for_write(session)
    job = session.get(UploadJob, job_id, populate_existing=True)
    taken = mine is not None and (job is None or job.attempts != mine)
    if job is None or taken or job.status is not UploadStatus.RUNNING:
        session.rollback()
        return
    job.status, job.error, job.stage = UploadStatus.FAILED, reason[:2000], None
    if not discard:
        job.stage = "the stored file is kept: it can be tried again"
    job.finished_at, job.lease_until = utcnow(), None
    audit.record(session, job.created_by, "upload.failed", "upload", job.id, {"reason": job.error})
    session.commit()
    if discard and storage is not None:
        _discard_if_unheld(session, storage, job.sha256, True, job.id)


def retry_upload(session: Session, storage: Store, job_id: int, actor: User | None) -> UploadJob:
    """Queue again a failed job whose original was kept (the caller queues it); raise
    Conflict otherwise."""
    lock_for_write(session)
    job = get_upload(session, job_id)
    if job.status is not UploadStatus.FAILED or not storage.exists(job.sha256):
        session.rollback()
        raise Conflict("only a failed upload whose file was kept can be tried again")
    job.status, job.attempts, job.stage = UploadStatus.QUEUED, 0, "waiting for a worker"
    job.finished_at = None
    audit.record(session, actor, "upload.retry", "upload", job.id, {"error": job.error})
    session.commit()
    return job


def _claim(
    session: Session, job_id: int, lease: timedelta, settings: UploadSettings
) -> tuple[UploadJob, int] | None:
    """Take a queued job, or one whose worker's lease ran out; return it and this attempt's
    number, or None when it is finished or another worker holds it. A job whose workers died
    ``settings.attempts`` times is failed instead: its video is taking workers down."""
    lock_for_write(session)
    now = utcnow()
    job = session.get(UploadJob, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status in (UploadStatus.DONE, UploadStatus.FAILED):
        session.rollback()
        return None
    if job.status is UploadStatus.RUNNING:
        if job.lease_until is not None and job.lease_until > now:
            session.rollback()
            return None
        if job.attempts >= settings.attempts:
            reason = f"the worker stopped {job.attempts} times while reading this video"
            mine = job.attempts
            session.rollback()
            _end_failed(session, None, job_id, mine, reason, discard=False)
            return None
    job.status, job.lease_until = UploadStatus.RUNNING, now + lease
    job.attempts += 1
    job.started_at = job.started_at or now
    job.progress, job.stage = 0.0, "reading the video"
    mine = job.attempts
    session.commit()
    return job, mine


class _Keeper:
    """Keeps a running job's lease (a heartbeat thread, whatever step the ingest is in) and
    writes its progress, each in a short transaction of its own, only while this worker holds
    the job."""

    def __init__(
        self, session: Session, job_id: int, mine: int, lease: timedelta, timeout_s: float = 0
    ) -> None:
        self.bind = session.get_bind()
        self.job_id, self.mine, self.lease = job_id, mine, lease
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
        self.last = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"upload-{job_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(max(1.0, self.lease.total_seconds() / 4)):
            self._write()

    def progress(self, share: float) -> None:
        """Note the share of the video read (at most once a second); stop the attempt, from
        inside the reading, once it has run past its time."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _TimedOut(
                f"reading the video took longer than the limit of {self.timeout_s:g} s"
                f" (stopped at {share:.0%})"
            )
        now = utcnow().timestamp()
        if now - self.last < PROGRESS_EVERY_S and share < 1.0:
            return
        self.last = now
        self._write(round(share, 3), "hashing frames" if share < 1.0 else "matching and saving")

    def _write(self, share: float | None = None, stage: str | None = None) -> None:
        values: dict[str, Any] = {"lease_until": utcnow() + self.lease}
        if share is not None:
            values.update(progress=share, stage=stage)
        try:
            with Session(self.bind) as own:
                lock_for_write(own)
                own.execute(
                    sa.update(UploadJob)
                    .where(
                        UploadJob.id == self.job_id,
                        UploadJob.status == UploadStatus.RUNNING,
                        UploadJob.attempts == self.mine,
                    )
                    .values(**values)
                )
                own.commit()
        except SQLAlchemyError:
            # The ingest holds the write lock a while (SQLite): the next beat renews it.
            log.warning("upload %s: its lease or progress could not be written", self.job_id)


def _match_summary(match: dict[str, Any]) -> dict[str, Any]:
    """What a job keeps of a near-duplicate: the upload answer's fields, without provenance
    (read fresh from the media)."""
    return {k: v for k, v in match.items() if k != "provenance"}


def _discard_if_unheld(
    session: Session, storage: Store, sha256: str, created: bool, job_id: int | None
) -> None:
    """Remove an original no media, no capture and no other job refers to, under the lock
    every writer of such references takes, so none can take it up meanwhile."""
    if not created:
        return
    lock_for_write(session)
    hold_lock(session, INGEST_LOCK)
    others = sa.select(UploadJob.id).where(
        UploadJob.sha256 == sha256, UploadJob.status.in_(HOLDING)
    )
    if job_id is not None:
        others = others.where(UploadJob.id != job_id)
    held = (
        session.scalar(sa.select(Media.id).where(Media.sha256 == sha256)) is not None
        or session.scalar(sa.select(CaptureFile.id).where(CaptureFile.sha256 == sha256)) is not None
        or session.scalar(others.limit(1)) is not None
    )
    if not held:
        storage.discard(sha256)
        if job_id is not None:
            audit.record(session, None, "upload.discard", "upload", job_id, {"sha256": sha256})
    session.commit()  # the lock is held until the file is gone


def pending_originals(session: Session, shas: list[str]) -> set[str]:
    """Which of ``shas`` upload jobs not done hold (``gc`` and ``verify`` leave them)."""
    return set(
        session.scalars(
            sa.select(UploadJob.sha256).where(
                UploadJob.sha256.in_(shas), UploadJob.status.in_(HOLDING)
            )
        )
    )


def details_to_json(details: IngestDetails) -> dict[str, Any]:
    """What was said about an upload, as JSON (times in ISO 8601)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(asdict(details))


def details_from_json(data: dict[str, Any]) -> IngestDetails:
    """Read back what ``details_to_json`` wrote."""

    def times(fields: dict[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any] | None:
        if fields is None:
            return None
        return {
            k: datetime.fromisoformat(v) if k in names and isinstance(v, str) else v
            for k, v in fields.items()
        }

    raw, data = data, dict(data)
    sighting = times(data.pop("sighting", None), ("posted_at", "observed_at", "deleted_at"))
    ack = times(data.pop("acknowledgement", None), ("stated_at",))
    data.pop("read_text", None), data.pop("sidecar", None)  # read below, from ``raw``
    return IngestDetails(
        **data,
        sighting=SightingInput(**sighting) if sighting else None,
        acknowledgement=AcknowledgementInput(**ack) if ack else None,
        read_text=_reading(raw.get("read_text")),
        sidecar=_reading(raw.get("sidecar")),
    )


def _reading(data: dict[str, Any] | None) -> TextReading | None:
    """A text reading (a sidecar's cues) as ``details_to_json`` wrote it, or None."""
    if not data:
        return None
    spans = [
        TextSpan(**{**span, "box": tuple(span["box"]) if span.get("box") else None})
        for span in data.get("spans", [])
    ]
    return TextReading(spans, list(data.get("notes", [])))
