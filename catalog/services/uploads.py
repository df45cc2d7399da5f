"""Uploads that outlast a request: a video longer than ``UPLOAD_JOB_VIDEO_SECONDS`` is stored
as it arrives (content-addressed, like any original) and recorded as an upload job; a worker
samples and hashes it and makes the media through the normal ingest, reporting progress.

What a worker killed mid-job leaves: the stored original and the job's row, nothing else.
The media, its hashes, links and audit event are written in the one ingest transaction, so
a job run again (its lease ran out) makes the media once. A job that fails for good (the file
is not a video we can read after all) removes the original unless something else holds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import lock_for_write
from ..hashing.video import probe_duration
from ..hashing.views import Source, sha256_of, size_of, stream_of
from ..index import Thresholds
from ..models import CaptureFile, Media, UploadJob, UploadStatus, User, utcnow
from ..storage import Storage
from . import fetch
from .ingest import (
    AcknowledgementInput,
    IngestDetails,
    IngestResult,
    SightingInput,
    check_details,
    ingest_bytes,
)
from .matching import IndexHolder
from .records import clean_filename
from .search import Rejected

# Progress is written at most this often (seconds): each write is a transaction of its own.
PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True)
class UploadSettings:
    """The limits an upload is read under, and when it becomes a job."""

    max_pixels: int
    max_video_s: float
    job_after_s: float  # videos longer than this go to a worker (0: never)
    attempts: int
    lease_s: float

    @classmethod
    def from_config(cls, config: Any) -> UploadSettings:
        """Read the settings of uploads."""
        return cls(
            max_pixels=int(config["MAX_IMAGE_PIXELS"]),
            max_video_s=float(config["MAX_VIDEO_SECONDS"]),
            job_after_s=float(config["UPLOAD_JOB_VIDEO_SECONDS"]),
            attempts=int(config["UPLOAD_JOB_ATTEMPTS"]),
            lease_s=float(config["UPLOAD_JOB_LEASE_SECONDS"]),
        )


class RetryLater(Exception):
    """The job failed in a way another attempt may mend."""


def accept_upload(
    session: Session,
    storage: Storage,
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
    placed = storage.put_stream(stream_of(data))
    try:
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
        session.commit()
    except BaseException:
        session.rollback()
        _discard_if_unheld(session, storage, placed.sha256, placed.created)
        raise
    return job


def _ingest(
    session: Session,
    storage: Storage,
    holder: IndexHolder,
    data: Source,
    details: IngestDetails,
    actor: User | None,
    thresholds: Thresholds,
    settings: UploadSettings,
    progress: Any = None,
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
    )


def get_upload(session: Session, job_id: int) -> UploadJob:
    """Return one upload job; raise NotFound."""
    return fetch(session, UploadJob, job_id, "upload")


def run_upload(
    session: Session,
    storage: Storage,
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
    job = _claim(session, job_id, lease)
    if job is None:  # finished, or another worker holds it (a job delivered twice)
        return get_upload(session, job_id)
    details = details_from_json(job.details)
    actor = job.created_by
    report = _Reporter(session, job.id, lease)
    try:
        with storage.open(job.sha256) as original:
            result = _ingest(
                session, storage, holder, original, details, actor, thresholds, settings, report
            )
    except Rejected as exc:  # the file itself is refused: another attempt would be too
        session.rollback()
        return _finish_failed(session, storage, job.id, str(exc))
    except Exception as exc:  # noqa: BLE001 - the job must not stay "running" for ever
        session.rollback()
        return attempt_failed(session, storage, job.id, f"internal error: {exc!r}", settings)
    job = get_upload(session, job_id)
    job.status, job.progress, job.stage = UploadStatus.DONE, 1.0, None
    job.media_id, job.created, job.error = result.media.id, result.created, None
    job.matches = [_match_summary(m.as_dict()) for m in result.near_duplicates]
    job.finished_at, job.lease_until = utcnow(), None
    session.commit()
    return job


def attempt_failed(
    session: Session, storage: Storage, job_id: int, reason: str, settings: UploadSettings
) -> UploadJob:
    """Record a failed attempt: raise RetryLater while attempts are left, else fail the job."""
    job = get_upload(session, job_id)
    if job.attempts < settings.attempts:
        job.status, job.error, job.lease_until = UploadStatus.QUEUED, reason[:2000], None
        job.stage = f"attempt {job.attempts} failed; waiting to try again"
        session.commit()
        raise RetryLater(reason)
    return _finish_failed(session, storage, job_id, reason)


def _finish_failed(session: Session, storage: Storage, job_id: int, reason: str) -> UploadJob:
    """End a job as failed; its original goes unless a media or another job holds it."""
    job = get_upload(session, job_id)
    job.status, job.error, job.stage = UploadStatus.FAILED, reason[:2000], None
    job.finished_at, job.lease_until = utcnow(), None
    session.commit()
    _discard_if_unheld(session, storage, job.sha256, True)
    return job


def _claim(session: Session, job_id: int, lease: timedelta) -> UploadJob | None:
    """Take a queued job, or one whose worker's lease ran out; None when it is finished or
    another worker holds it."""
    lock_for_write(session)
    now = utcnow()
    claimed = session.execute(
        sa.update(UploadJob)
        .where(
            UploadJob.id == job_id,
            sa.or_(
                UploadJob.status == UploadStatus.QUEUED,
                sa.and_(
                    UploadJob.status == UploadStatus.RUNNING,
                    sa.or_(UploadJob.lease_until.is_(None), UploadJob.lease_until < now),
                ),
            ),
        )
        .values(
            status=UploadStatus.RUNNING,
            lease_until=now + lease,
            attempts=UploadJob.attempts + 1,
            started_at=sa.func.coalesce(UploadJob.started_at, now),
            progress=0.0,
            stage="reading the video",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.expire_all()
    return get_upload(session, job_id)


class _Reporter:
    """Writes a job's progress (and renews its lease) in transactions of its own, at most
    once a second, beside the ingest's session."""

    def __init__(self, session: Session, job_id: int, lease: timedelta) -> None:
        self.bind = session.get_bind()
        self.job_id, self.lease = job_id, lease
        self.last = 0.0

    def __call__(self, share: float) -> None:
        now = utcnow()
        if now.timestamp() - self.last < PROGRESS_EVERY_S and share < 1.0:
            return
        self.last = now.timestamp()
        stage = "hashing frames" if share < 1.0 else "matching and saving"
        with Session(self.bind) as own:
            lock_for_write(own)
            own.execute(
                sa.update(UploadJob)
                .where(UploadJob.id == self.job_id, UploadJob.status == UploadStatus.RUNNING)
                .values(progress=round(share, 3), stage=stage, lease_until=now + self.lease)
            )
            own.commit()


def _match_summary(match: dict[str, Any]) -> dict[str, Any]:
    """What a job keeps of a near-duplicate: the upload answer's fields, without provenance
    (read fresh from the media)."""
    return {k: v for k, v in match.items() if k != "provenance"}


def _discard_if_unheld(session: Session, storage: Storage, sha256: str, created: bool) -> None:
    """Remove an original no media, no capture and no waiting or running job refers to."""
    if not created:
        return
    held = (
        session.scalar(sa.select(Media.id).where(Media.sha256 == sha256)) is not None
        or session.scalar(sa.select(CaptureFile.id).where(CaptureFile.sha256 == sha256)) is not None
        or bool(pending_originals(session, [sha256]))
    )
    session.rollback()  # end the read before the file goes
    if not held:
        storage.discard(sha256)


def pending_originals(session: Session, shas: list[str]) -> set[str]:
    """Which of ``shas`` waiting or running upload jobs hold (``gc`` must leave them)."""
    return set(
        session.scalars(
            sa.select(UploadJob.sha256).where(
                UploadJob.sha256.in_(shas),
                UploadJob.status.in_([UploadStatus.QUEUED, UploadStatus.RUNNING]),
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

    data = dict(data)
    sighting = times(data.pop("sighting", None), ("posted_at", "observed_at", "deleted_at"))
    ack = times(data.pop("acknowledgement", None), ("stated_at",))
    return IngestDetails(
        **data,
        sighting=SightingInput(**sighting) if sighting else None,
        acknowledgement=AcknowledgementInput(**ack) if ack else None,
    )
