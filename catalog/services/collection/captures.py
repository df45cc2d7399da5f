"""Captures of post pages: asking for one, running it (a background job, or the command line
waiting for it), and what it kept.

Running a capture (``run_capture``) is safe to repeat: a job killed midway and run again
finds the files and media it stored before (content-addressed originals, one file per role,
one sighting per media and capture) and adds nothing twice.

The subtitles yt-dlp offers for a post's video are kept as the capture's files
(``subtitles-LANG``) and with the video's text, searchable with their times (``captions``).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ...capture import GRACE_S, CaptureFailed, capture_page
from ...capture.browser import find_chromium
from ...capture.gallery import instances_from_setting
from ...capture.page import platform_of
from ...capture.sandbox import SandboxUnavailable
from ...capture.sandbox import check as sandbox_check
from ...capture.sandbox import check_soon as sandbox_check_soon
from ...db import lock_for_write
from ...index import Thresholds
from ...models import (
    Capture,
    CaptureFile,
    CaptureMedia,
    CaptureStatus,
    Media,
    Sighting,
    User,
    utcnow,
)
from ...netguard import Refused, check_url
from ...storage import Store
from ...tsa import load_roots
from ...urls import canonical_url
from .. import INTERNAL_ERROR, Conflict, Invalid, NotFound
from ..evidence import audit, stamp_capture, timestamp_authorities
from ..media import IndexHolder, Rejected, ingest_bytes
from ..records import IngestDetails, SightingInput, clean_text, incident_named
from .captions import caption_files, keep_captions, read_captions_of
from .post import clean_post

log = logging.getLogger(__name__)

# Failures worth another attempt: the site may answer later. A page that answered 404, a
# forbidden address or an oversized answer will not change by waiting.
RETRYABLE = {"unreachable", "timeout", "crashed"}
CONTENT_TYPES = {
    "screenshot": "image/png",
    "html": "text/html",
    "warc": "application/warc",
    "wacz": "application/wacz",
}


@dataclass(frozen=True)
class CaptureSettings:
    """The limits and permissions of captures (from the app's settings)."""

    allowed_hosts: list[str]
    max_bytes: int
    timeout_s: float
    attempts: int
    use_browser: bool
    max_pixels: int
    max_video_s: float
    authorities: list[str] = field(default_factory=list)
    roots_pem: str | None = None  # the authorities' roots, to check each token as it comes
    instances: dict[str, Any] = field(default_factory=dict)  # gallery-dl's self-hosted servers
    max_memory_mb: float = 0  # the capture's processes together (0: no limit)
    user: str | None = None  # who a root worker runs the capture process as
    unsafe_no_sandbox: bool = False  # Chromium without its sandbox (an operator's choice)
    subtitle_languages: tuple[str, ...] = ()  # asked of yt-dlp, with the post's own

    @classmethod
    def from_config(cls, config: Any) -> CaptureSettings:
        """Read the CAPTURE_* settings."""
        from ...netguard import AddressPolicy

        hosts = AddressPolicy.from_setting(config.get("CAPTURE_ALLOWED_HOSTS")).allowed_hosts
        return cls(
            allowed_hosts=sorted(hosts),
            max_bytes=int(config["CAPTURE_MAX_MB"]) * 1024 * 1024,
            timeout_s=float(config["CAPTURE_TIMEOUT_SECONDS"]),
            attempts=int(config["CAPTURE_ATTEMPTS"]),
            use_browser=bool(config["CAPTURE_BROWSER"]),
            max_pixels=int(config["MAX_IMAGE_PIXELS"]),
            max_video_s=float(config["MAX_VIDEO_SECONDS"]),
            authorities=timestamp_authorities(config),
            roots_pem=config.get("TIMESTAMP_ROOTS"),
            instances=instances_from_setting(config.get("CAPTURE_INSTANCES")),
            max_memory_mb=float(config["CAPTURE_MAX_MEMORY_MB"]),
            user=config.get("CAPTURE_USER"),
            unsafe_no_sandbox=bool(config.get("CAPTURE_UNSAFE_NO_SANDBOX")),
            subtitle_languages=languages_from_setting(config.get("CAPTURE_SUBTITLE_LANGUAGES")),
        )


def languages_from_setting(value: Any) -> tuple[str, ...]:
    """The languages of CAPTURE_SUBTITLE_LANGUAGES: a list, or names separated by commas."""
    names = value if isinstance(value, list | tuple) else str(value or "").split(",")
    return tuple(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))


class RetryLater(Exception):
    """The capture failed in a way another attempt may mend."""


def capture_refusal(settings: CaptureSettings, *, wait: bool = True) -> str | None:
    """Return why captures are refused on this machine (no capture user, or no sandbox for
    Chromium), or None when they can run; probed once per process. Without ``wait``, None
    also while the probe still runs (it is started then, and answers the next call)."""
    chromium = find_chromium() if settings.use_browser else None
    if wait:
        return sandbox_check(chromium, settings.user, settings.unsafe_no_sandbox)
    return sandbox_check_soon(chromium, settings.user, settings.unsafe_no_sandbox)[1]


def create_capture(
    session: Session, url: str, *, incident: str | None, actor: User | None
) -> Capture:
    """Record a capture of ``url``, queued; raise Invalid for a URL that cannot be captured."""
    url = clean_text(url, "URL", 2048) or ""
    try:
        check_url(url)
    except Refused as exc:
        raise Invalid(str(exc)) from None
    lock_for_write(session)
    capture = Capture(url=url, status=CaptureStatus.QUEUED, progress="waiting for a worker")
    if incident and incident.strip():
        capture.incident = incident_named(session, incident)
    capture.created_by = actor
    session.add(capture)
    session.flush()
    audit.record(
        session,
        actor,
        "capture.create",
        "capture",
        capture.id,
        {"url": url, "incident": capture.incident.title if capture.incident else None},
    )
    session.commit()
    return capture


def get_capture(session: Session, capture_id: int) -> Capture:
    """Return a capture with its files and media, or raise NotFound."""
    capture = session.scalar(
        sa.select(Capture)
        .where(Capture.id == capture_id)
        .options(selectinload(Capture.files), selectinload(Capture.found))
    )
    if capture is None:
        raise NotFound(f"no capture with id {capture_id}")
    return capture


def list_captures(
    session: Session,
    *,
    status: str | None = None,
    url: str | None = None,
    incident: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[Capture]:
    """Return captures, newest first, narrowed by status, URL, incident; ``before`` pages."""
    url, incident = clean_text(url, "url", 2048), clean_text(incident, "incident", 300)
    query = sa.select(Capture).order_by(Capture.id.desc()).limit(limit)
    if status:
        try:
            query = query.where(Capture.status == CaptureStatus(status))
        except ValueError:
            raise Invalid(f"unknown capture status {status!r}") from None
    if url:
        query = query.where(Capture.url_canonical == canonical_url(url))
    if incident:
        from ...models import Incident

        query = query.join(Incident, Capture.incident_id == Incident.id).where(
            Incident.title == incident
        )
    if before:
        query = query.where(Capture.id < before)
    return list(session.scalars(query.options(selectinload(Capture.files))))


def run_capture(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    capture_id: int,
    settings: CaptureSettings,
    thresholds: Thresholds,
) -> Capture:
    """Run one attempt of a capture: load the page, keep its files, ingest its media.

    Raise RetryLater when the attempt failed in a way a later one may mend and attempts are
    left; otherwise the capture ends done or failed, with the reason.
    """
    lease = _lease(settings)
    capture = _claim(session, capture_id, lease, settings)
    if capture is None:  # finished, or another worker holds it (a job delivered twice)
        return get_capture(session, capture_id)
    try:
        return _attempt(session, storage, holder, capture, settings, thresholds, lease)
    except RetryLater:
        raise
    except Exception:
        # Something unforeseen: the capture must not stay "running" with nobody running it.
        # The viewer is told plainly; the details go to the log.
        log.exception("capture %s broke", capture_id)
        session.rollback()
        return _failed(
            session,
            get_capture(session, capture_id),
            "crashed",
            INTERNAL_ERROR,
            settings,
        )


def keep_loaded(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    capture_id: int,
    folder: Path,
    result: dict[str, Any],
    settings: CaptureSettings,
    thresholds: Thresholds,
) -> Capture:
    """Keep a page load made without the capture process (its files in ``folder`` and its
    ``result`` as ``capture_page`` gives them): the same steps and audit as a run's."""
    # For pages that are at hand rather than fetched (the worked example's stand-in post).
    lease = _lease(settings)
    capture = _claim(session, capture_id, lease, settings)
    if capture is None:
        return get_capture(session, capture_id)
    _keep_files(session, storage, capture, folder, result, lease)
    _ingest_media(session, storage, holder, capture, folder, result, settings, thresholds, lease)
    return _done(session, capture)


def _attempt(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    capture: Capture,
    settings: CaptureSettings,
    thresholds: Thresholds,
    lease: timedelta,
) -> Capture:
    """One attempt of a claimed capture: the page loaded, its files kept, its media ingested."""
    with tempfile.TemporaryDirectory(prefix="capture-", dir=storage.tmp) as folder:
        try:
            result = capture_page(
                capture.url,
                Path(folder),
                allowed_hosts=settings.allowed_hosts,
                max_bytes=settings.max_bytes,
                timeout_s=settings.timeout_s,
                use_browser=settings.use_browser,
                instances=settings.instances,
                max_memory_mb=settings.max_memory_mb,
                user=settings.user,
                unsafe_no_sandbox=settings.unsafe_no_sandbox,
                subtitle_languages=list(settings.subtitle_languages),
            )
        except SandboxUnavailable as exc:
            return _failed(session, capture, "no_sandbox", f"captures are refused: {exc}", settings)
        except CaptureFailed as exc:
            # What the load fetched before the process was stopped is evidence too: kept, and
            # the capture is partial rather than failed.
            if exc.partial:
                result = {**exc.partial, "notes": [str(exc)]}
                _keep_files(session, storage, capture, Path(folder), result, lease)
                return _partial(session, capture, str(exc), settings)
            return _failed(session, capture, exc.code, str(exc), settings)
        error = result.get("error")
        if error and error.get("code") == "out_of_time":
            # Its time ran out before the page itself came: what it fetched is still kept.
            _keep_files(session, storage, capture, Path(folder), result, lease)
            return _partial(session, capture, str(error.get("message")), settings)
        if error and error["code"] in RETRYABLE:
            return _failed(session, capture, error["code"], error["message"], settings)
        _keep_files(session, storage, capture, Path(folder), result, lease)
        if error:
            return _failed(session, capture, error["code"], error["message"], settings)
        _ingest_media(
            session, storage, holder, capture, Path(folder), result, settings, thresholds, lease
        )
    if settings.authorities:
        _stamp(session, storage, capture.id, settings.authorities, load_roots(settings.roots_pem))
    if result.get("partial"):
        ran_out = "its time ran out before everything was fetched"
        return _partial(session, capture, ran_out, settings)
    return _done(session, capture)


def _lease(settings: CaptureSettings) -> timedelta:
    """How long a worker holds a capture before another may take it up: the page's time,
    the capture process's grace, and room for the media, renewed with each step."""
    return timedelta(seconds=settings.timeout_s * 2 + GRACE_S + 600)


def _claim(
    session: Session, capture_id: int, lease: timedelta, settings: CaptureSettings
) -> Capture | None:
    """Take a queued capture, or one whose worker's lease ran out, for this attempt; return
    it, or None when it is finished or another worker holds it. A capture whose workers died
    ``settings.attempts`` times is failed instead: its page is taking workers down."""
    lock_for_write(session)
    now = utcnow()
    abandoned = session.scalar(
        sa.select(Capture)
        .where(
            Capture.id == capture_id,
            Capture.status == CaptureStatus.RUNNING,
            sa.or_(Capture.lease_until.is_(None), Capture.lease_until < now),
            Capture.attempts >= settings.attempts,
        )
        .with_for_update()
    )
    if abandoned is not None:
        _give_up(
            session, abandoned, f"the worker stopped {abandoned.attempts} times during this capture"
        )
        return None
    claimed = session.execute(
        sa.update(Capture)
        .where(
            Capture.id == capture_id,
            sa.or_(
                Capture.status == CaptureStatus.QUEUED,
                sa.and_(
                    Capture.status == CaptureStatus.RUNNING,
                    sa.or_(Capture.lease_until.is_(None), Capture.lease_until < now),
                ),
            ),
        )
        .values(
            status=CaptureStatus.RUNNING,
            lease_until=now + lease,
            attempts=Capture.attempts + 1,
            started_at=sa.func.coalesce(Capture.started_at, now),
            progress="loading the page",
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.expire_all()
    return get_capture(session, capture_id)


def _renew(capture: Capture, lease: timedelta, progress: str) -> None:
    capture.progress = progress
    capture.lease_until = utcnow() + lease


def _keep_files(
    session: Session,
    storage: Store,
    capture: Capture,
    folder: Path,
    result: dict[str, Any],
    lease: timedelta,
) -> None:
    """Store the capture's own files (archive, screenshot, HTML) as originals."""
    # Stored first, outside the write lock: copying and hashing an archive takes a while, and
    # an original no row names yet is what `catalog gc` clears if this worker dies now.
    given = [*result.get("files", []), *caption_files(result)]
    stored = {item["role"]: storage.put_path(folder / item["file"]) for item in given}
    types = {item["role"]: item.get("content_type") for item in given}
    lock_for_write(session)
    capture = get_capture(session, capture.id)
    _renew(capture, lease, "storing the archive and the screenshot")
    held = {f.role for f in capture.files}
    for role, kept in stored.items():
        if role in held:
            continue  # kept by an earlier attempt
        capture.files.append(
            CaptureFile(
                role=role,
                sha256=kept.sha256,
                size_bytes=kept.size,
                content_type=CONTENT_TYPES.get(role)
                or types.get(role)
                or "application/octet-stream",
            )
        )
    notes = [str(n)[:2000] for n in result.get("notes", []) if isinstance(n, str)]
    post = clean_post(result.get("post"), notes)
    status = result.get("status")
    capture.http_status = status if isinstance(status, int) else None
    final_url = result.get("final_url")
    capture.final_url = final_url[:2048] if isinstance(final_url, str) and final_url else None
    if post:
        capture.post = {**post, "posted_at": _iso(post.get("posted_at"))}
    capture.notes = notes[:100]
    session.commit()


def _ingest_media(
    session: Session,
    storage: Store,
    holder: IndexHolder,
    capture: Capture,
    folder: Path,
    result: dict[str, Any],
    settings: CaptureSettings,
    thresholds: Thresholds,
    lease: timedelta,
) -> None:
    """Ingest every media file of the post through the normal path, with a sighting each.

    The same bytes at two URLs of the post, or an attempt that died between the sighting's
    commit and the capture's note of the media, add nothing twice: media already seen by this
    capture (by SHA-256) are only noted."""
    notes = list(capture.notes or [])
    post = clean_post(capture.post, notes)
    found = result.get("media", [])
    observed = capture.started_at or utcnow()
    for n, item in enumerate(found, start=1):
        lock_for_write(session)
        capture = get_capture(session, capture.id)
        _renew(capture, lease, f"ingesting {n} of {len(found)} files")
        session.commit()
        subtitles = read_captions_of(folder, result, item, notes)
        details = IngestDetails(
            incident=capture.incident.title if capture.incident else None,
            original_filename=_filename(item),
            sighting=SightingInput(
                url=capture.url,
                platform=post.get("platform") or platform_of(capture.url),
                account=post.get("account"),
                posted_at=post.get("posted_at"),
                observed_at=observed,
                caption=post.get("caption"),
                capture_id=capture.id,
            ),
            # Only with a file served as video or sound: subtitles with a picture are refused.
            sidecar=subtitles if _plays(item) else None,
        )
        if _seen_by_capture(session, capture.id, folder / item["file"], item["url"]):
            continue
        try:
            with open(folder / item["file"], "rb") as data:
                outcome = ingest_bytes(
                    session,
                    storage,
                    holder,
                    data,
                    details,
                    actor=capture.created_by,
                    thresholds=thresholds,
                    max_pixels=settings.max_pixels,
                    max_video_s=settings.max_video_s,
                )
        except (Rejected, Conflict) as exc:  # Conflict: the file is a withdrawn media
            session.rollback()
            notes.append(f"media not kept: {item['url'][:200]} ({exc})")
            continue
        lock_for_write(session)
        if subtitles is not None and (details.sidecar is None or not outcome.created):
            keep_captions(session, outcome.media, subtitles, notes)
        session.add(
            CaptureMedia(
                capture_id=capture.id,
                media_id=outcome.media.id,
                url=item["url"][:2048],
                created=outcome.created,
            )
        )
        session.commit()
    lock_for_write(session)
    capture = get_capture(session, capture.id)
    capture.notes = notes[:100]
    session.commit()


def _stamp(
    session: Session, storage: Store, capture_id: int, authorities: list[str], roots: list[Any]
) -> None:
    """Have the authorities stamp what the capture kept; note those that gave no token."""
    stamped = stamp_capture(session, storage, capture_id, authorities, roots=roots)
    if stamped.failures:
        lock_for_write(session)
        capture = get_capture(session, capture_id)
        capture.notes = [*(capture.notes or []), *(f"no timestamp: {f}" for f in stamped.failures)]
        session.commit()


def _seen_by_capture(session: Session, capture_id: int, path: Path, url: str) -> bool:
    """Whether this capture has the file's media already; note it if only its sighting is."""
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1024 * 1024):
            digest.update(chunk)
    media_id = session.scalar(sa.select(Media.id).where(Media.sha256 == digest.hexdigest()))
    if media_id is None:
        return False
    noted = sa.select(CaptureMedia.id).where(
        CaptureMedia.capture_id == capture_id, CaptureMedia.media_id == media_id
    )
    if session.scalar(noted) is not None:
        return True
    sighted = sa.select(Sighting.id).where(
        Sighting.capture_id == capture_id, Sighting.media_id == media_id
    )
    if session.scalar(sighted) is None:
        return False
    # The sighting stands but the note of it does not: an attempt died in between.
    lock_for_write(session)
    session.add(CaptureMedia(capture_id=capture_id, media_id=media_id, url=url[:2048]))
    session.commit()
    return True


def _done(session: Session, capture: Capture) -> Capture:
    return _finish(session, capture, CaptureStatus.DONE, None)


def _partial(session: Session, capture: Capture, reason: str, settings: CaptureSettings) -> Capture:
    """End an attempt that kept only part of the post: another attempt while attempts remain
    (RetryLater; what was kept stays), else the capture ends partial, with the reason."""
    lock_for_write(session)
    capture = get_capture(session, capture.id)
    if capture.status is not CaptureStatus.RUNNING:  # ended meanwhile by another worker
        session.rollback()
        return capture
    if capture.attempts < settings.attempts:
        _again(session, capture, f"kept part of the post ({reason[:200]})", reason)
    session.rollback()
    return _finish(session, capture, CaptureStatus.PARTIAL, reason)


def _again(session: Session, capture: Capture, outcome: str, reason: str) -> None:
    """Queue the capture for another attempt, saying how this one went; raise RetryLater."""
    capture.lease_until = None
    capture.status = CaptureStatus.QUEUED
    capture.progress = f"attempt {capture.attempts} {outcome}; will retry"
    session.commit()
    raise RetryLater(reason)


def _finish(
    session: Session, capture: Capture, status: CaptureStatus, reason: str | None
) -> Capture:
    """End a capture that kept something: done, or partial with the reason."""
    lock_for_write(session)
    capture = get_capture(session, capture.id)
    if capture.status is not CaptureStatus.RUNNING:  # ended meanwhile by another worker
        session.rollback()
        return capture
    capture.lease_until = None
    capture.status = status
    capture.finished_at = utcnow()
    capture.progress = None
    capture.error = reason[:2000] if reason else None
    details: dict[str, Any] = {
        "url": capture.url,
        "files": {f.role: f.sha256 for f in capture.files},
        "media": [m.media_id for m in capture.found],
        "notes": capture.notes or [],
    }
    if reason:
        details["reason"] = capture.error
    action = f"capture.{status.value}"
    audit.record(session, capture.created_by, action, "capture", capture.id, details)
    session.commit()
    return capture


def attempt_failed(
    session: Session, capture_id: int, message: str, settings: CaptureSettings
) -> Capture:
    """End an attempt that broke on something unforeseen: another attempt if any remain
    (RetryLater), else the capture fails with the reason."""
    return _failed(session, get_capture(session, capture_id), "crashed", message, settings)


def _failed(
    session: Session, capture: Capture, code: str, message: str, settings: CaptureSettings
) -> Capture:
    """End the attempt: raise RetryLater when worth it and attempts remain, else fail."""
    session.rollback()
    lock_for_write(session)
    capture = get_capture(session, capture.id)
    if capture.status is not CaptureStatus.RUNNING:  # ended meanwhile by another worker
        session.rollback()
        return capture
    capture.lease_until = None
    if code in RETRYABLE and capture.attempts < settings.attempts:
        _again(session, capture, f"failed ({message[:200]})", message)
    return _give_up(session, capture, message)


def _give_up(session: Session, capture: Capture, reason: str) -> Capture:
    """Fail the capture for good with ``reason``, in the caller's write transaction."""
    capture.status = CaptureStatus.FAILED
    capture.finished_at, capture.lease_until = utcnow(), None
    capture.progress = None
    capture.error = reason[:2000]
    audit.record(
        session,
        capture.created_by,
        "capture.failed",
        "capture",
        capture.id,
        {
            "url": capture.url,
            "reason": capture.error,
            "attempts": capture.attempts,
            # What a failed load kept (a partial archive) is evidence too, and replayed.
            "files": {f.role: f.sha256 for f in capture.files},
        },
    )
    session.commit()
    return capture


def _plays(item: dict[str, Any]) -> bool:
    kind = str(item.get("content_type") or "")
    return kind.startswith(("video/", "audio/"))


def _filename(item: dict[str, Any]) -> str:
    name = item["url"].rstrip("/").rsplit("/", 1)[-1].split("?")[0][:200]
    if "." not in name and item.get("content_type"):
        name += mimetypes.guess_extension(item["content_type"]) or ""
    return name or "capture"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def capture_media(session: Session, capture: Capture) -> list[tuple[CaptureMedia, Media]]:
    """Return what a capture found, with each media row."""
    rows = session.execute(
        sa.select(CaptureMedia, Media)
        .join(Media, CaptureMedia.media_id == Media.id)
        .where(CaptureMedia.capture_id == capture.id)
        .order_by(CaptureMedia.id)
    )
    return [(found, media) for found, media in rows]


def sightings_of(session: Session, capture: Capture) -> list[Sighting]:
    """Return the sightings a capture recorded."""
    return list(
        session.scalars(
            sa.select(Sighting).where(Sighting.capture_id == capture.id).order_by(Sighting.id)
        )
    )
