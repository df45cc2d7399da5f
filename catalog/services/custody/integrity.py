"""Can we prove what we hold? Re-hash every stored original against the SHA-256 it is
catalogued under, verify the audit chain end to end and every trusted timestamp (against the
copies kept outside the database too), replay the chain against the rows that carry
evidence, find files without records and records without files; and collect the orphans an
interrupted ingest left, and the originals of media withdrawn longer than the retention
period."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...db import lock_for_write
from ...models import CaptureFile, Media, utcnow
from ...storage import StorageError, Store
from ..evidence import audit, check_copies, check_tokens, verify_chain
from ..media import pending_originals
from .replay import check_rows

# How old an original no record names must be before it is an orphan: younger, it may be a
# searched file kept for cataloguing or an ingest not yet committed (gc's default age too).
YOUNG_S = 3600.0


@dataclass
class IntegrityReport:
    """What ``verify`` found: counts, and every fault in words."""

    originals_checked: int = 0
    records: int = 0
    audit_events: int = 0
    altered: list[str] = field(default_factory=list)  # stored bytes no longer match their SHA-256
    missing: list[str] = field(default_factory=list)  # a record whose original is gone
    orphans: list[str] = field(default_factory=list)  # an original no record names
    # Originals no record names yet, younger than gc's age (YOUNG_S): not faults.
    unrecorded_young: int = 0
    audit_faults: list[str] = field(default_factory=list)
    tokens_checked: int = 0
    timestamp_faults: list[str] = field(default_factory=list)  # a token that does not hold
    # Stretches with no token over the chain's head: for people to account for, not faults.
    timestamp_gaps: list[str] = field(default_factory=list)
    # Rows that differ from what the audit trail says they hold (``replay``).
    row_faults: list[str] = field(default_factory=list)
    # Whether any time-stamp authority is configured: without one nothing is stamped, and
    # "0 timestamps checked" must not read as a clean bill for the audit chain.
    authorities_configured: bool = True

    @property
    def stamping(self) -> str:
        """Return, in words, whether the audit chain is stamped at all."""
        if self.authorities_configured:
            return f"{self.tokens_checked} timestamps checked"
        if self.tokens_checked:
            return (
                f"no time-stamp authority configured: no new tokens are made"
                f" ({self.tokens_checked} earlier timestamps checked)"
            )
        return "no time-stamp authority configured: audit chain not stamped"

    @property
    def ok(self) -> bool:
        """Return whether nothing is wrong."""
        return not (
            self.altered
            or self.missing
            or self.orphans
            or self.audit_faults
            or self.timestamp_faults
            or self.row_faults
        )

    def as_dict(self) -> dict:
        """Return the report as JSON-ready data."""
        return {
            "ok": self.ok,
            "originals_checked": self.originals_checked,
            "records": self.records,
            "audit_events": self.audit_events,
            "altered": self.altered,
            "missing": self.missing,
            "orphans": self.orphans,
            "unrecorded_young": self.unrecorded_young,
            "audit_faults": self.audit_faults,
            "tokens_checked": self.tokens_checked,
            "timestamp_faults": self.timestamp_faults,
            "timestamp_gaps": self.timestamp_gaps,
            "row_faults": self.row_faults,
            "authorities_configured": self.authorities_configured,
            "stamping": self.stamping,
        }


def verify(
    session: Session,
    storage: Store,
    roots: list[Any] | None = None,
    head_hours: float = 0,
    exported: list[dict[str, Any]] | None = None,
    authorities_configured: bool = True,
) -> IntegrityReport:
    """Check every original, every record, the audit chain, every trusted timestamp (against
    the authorities' ``roots``, the copies the store keeps and an ``exported`` set; with
    ``head_hours``, tokens over the chain's head are due that often, unbroken) and every
    evidence row against the chain; return what is wrong (and, without
    ``authorities_configured``, that nothing is being stamped)."""
    report = IntegrityReport(authorities_configured=authorities_configured)
    held = set(storage.iter_originals())
    last_id = 0
    while True:
        # In batches, as plain rows: a million records must not fill the identity map.
        rows = session.execute(
            sa.select(Media.id, Media.sha256, Media.original_removed_at)
            .where(Media.id > last_id)
            .order_by(Media.id)
            .limit(2000)
        ).all()
        if not rows:
            break
        for media_id, sha256, removed in rows:
            report.records += 1
            if removed is not None:  # withdrawn, and its original removed by gc on purpose
                held.discard(sha256)
                continue
            if sha256 not in held:
                report.missing.append(
                    f"media #{media_id}: original {sha256} is missing from storage"
                )
                continue
            held.discard(sha256)
            try:
                actual = storage.hash_file(sha256)
            except (StorageError, OSError) as exc:
                report.missing.append(
                    f"media #{media_id}: original {sha256} cannot be read ({exc})"
                )
                continue
            report.originals_checked += 1
            if actual != sha256:
                report.altered.append(
                    f"media #{media_id}: stored bytes now hash to {actual}, not {sha256}"
                )
        last_id = rows[-1][0]
    _verify_capture_files(session, storage, held, report)
    waiting = sorted(held)
    for start in range(0, len(waiting), 1000):  # a long video a job worker has yet to read
        held -= pending_originals(session, waiting[start : start + 1000])
    # A file younger than gc's age is not yet an orphan: a searched file kept an hour so it can
    # be catalogued from its results, or an ingest whose transaction has not committed. gc
    # leaves those too; counting them as faults would raise a false alarm after every search.
    young_after = time.time() - YOUNG_S
    for sha256 in sorted(held):
        modified = storage.modified(sha256)
        if modified is not None and modified > young_after:
            report.unrecorded_young += 1
        elif modified is not None:
            report.orphans.append(f"original {sha256} has no record")
    chain = verify_chain(session)
    report.audit_events = chain.events
    report.audit_faults = list(chain.faults)
    report.tokens_checked, report.timestamp_faults, report.timestamp_gaps = check_tokens(
        session, roots or [], head_hours
    )
    report.timestamp_faults.extend(check_copies(session, storage, roots or [], exported))
    report.row_faults = check_rows(session)
    return report


def _verify_capture_files(
    session: Session, storage: Store, held: set[str], report: IntegrityReport
) -> None:
    """Re-hash the files captures kept (screenshots, pages, web archives): originals too."""
    last_id = 0
    while True:
        rows = session.execute(
            sa.select(CaptureFile.id, CaptureFile.capture_id, CaptureFile.role, CaptureFile.sha256)
            .where(CaptureFile.id > last_id)
            .order_by(CaptureFile.id)
            .limit(2000)
        ).all()
        if not rows:
            return
        for _, capture_id, role, sha256 in rows:
            report.records += 1
            name = f"capture #{capture_id} {role}"
            if sha256 not in held and not storage.exists(sha256):
                report.missing.append(f"{name}: file {sha256} is missing from storage")
                continue
            held.discard(sha256)
            try:
                actual = storage.hash_file(sha256)
            except (StorageError, OSError) as exc:
                report.missing.append(f"{name}: file {sha256} cannot be read ({exc})")
                continue
            report.originals_checked += 1
            if actual != sha256:
                report.altered.append(f"{name}: stored bytes now hash to {actual}, not {sha256}")
        last_id = rows[-1][0]


@dataclass
class CollectReport:
    """What ``gc`` removed (or, on a dry run, would remove)."""

    orphans: list[str] = field(default_factory=list)
    temporary: int = 0
    uploads: int = 0  # multipart uploads a killed process left unfinished in the bucket
    kept_young: int = 0
    # Media withdrawn longer than the retention period whose originals went (ids), and the
    # withdrawn ones still within it.
    withdrawn_removed: list[int] = field(default_factory=list)
    withdrawn_kept: int = 0


def collect_garbage(
    session: Session,
    storage: Store,
    *,
    older_than_s: float = YOUNG_S,
    dry_run: bool = False,
    withdrawn_retention_days: float = 30.0,
) -> CollectReport:
    """Remove originals no record names (left by a crash), stale temporary files, stale
    unfinished uploads in parts, and the originals of media withdrawn over
    ``withdrawn_retention_days`` ago.

    Only what is older than ``older_than_s`` goes: a younger file may belong to an ingest whose
    transaction has not committed yet, a younger upload may still be under way.
    """
    report = CollectReport()
    _remove_withdrawn(session, storage, withdrawn_retention_days, dry_run, report)
    cutoff = time.time() - older_than_s
    held = sorted(storage.iter_originals())
    recorded: set[str] = set()
    for start in range(0, len(held), 1000):  # one query per thousand files, not one per file
        batch = held[start : start + 1000]
        recorded.update(session.scalars(sa.select(Media.sha256).where(Media.sha256.in_(batch))))
        recorded.update(
            session.scalars(sa.select(CaptureFile.sha256).where(CaptureFile.sha256.in_(batch)))
        )
        recorded.update(pending_originals(session, batch))
    for sha256 in held:
        if sha256 in recorded:
            continue
        modified = storage.modified(sha256)
        if modified is None:  # removed meanwhile
            continue
        if modified > cutoff:
            report.kept_young += 1
            continue
        report.orphans.append(sha256)
        if not dry_run:
            storage.discard(sha256)
    if not dry_run:
        report.temporary = storage.sweep_temporary(older_than_s)
        report.uploads = storage.abort_uploads(older_than_s)
    return report


def _remove_withdrawn(
    session: Session, storage: Store, retention_days: float, dry_run: bool, report: CollectReport
) -> None:
    """Remove the originals of media withdrawn before the retention period; the rows, their
    hashes (out of matching while withdrawn) and the audit events stay, and
    ``original_removed_at`` tells the page why the file is gone."""
    cutoff = utcnow() - timedelta(days=retention_days)
    rows = session.execute(
        sa.select(Media.id, Media.sha256, Media.withdrawn_at, Media.original_removed_at)
        .where(Media.withdrawn_at.is_not(None))
        .order_by(Media.id)
    ).all()
    session.rollback()  # end the read: the removals below each take the write lock
    for media_id, sha256, withdrawn_at, removed_at in rows:
        if withdrawn_at is None or withdrawn_at > cutoff:
            report.withdrawn_kept += 1
            continue
        # A file uploaded again after the removal (refused, but stored first) goes too.
        if removed_at is not None and not storage.exists(sha256):
            continue
        report.withdrawn_removed.append(media_id)
        if dry_run:
            continue
        lock_for_write(session)
        media = session.get(Media, media_id)
        if media is None or media.withdrawn_at is None:  # restored meanwhile
            session.rollback()
            report.withdrawn_removed.pop()
            continue
        # A capture may hold the same bytes as a file of its own: those stay.
        shared = session.scalar(sa.select(CaptureFile.id).where(CaptureFile.sha256 == sha256))
        if media.original_removed_at is None:
            media.original_removed_at = utcnow()
            audit.record(
                session,
                None,
                "media.original_remove",
                "media",
                media_id,
                {
                    "sha256": sha256,
                    "withdrawn_at": withdrawn_at.isoformat(),
                    "days": retention_days,
                },
                actor_label="gc",
            )
        session.commit()
        if shared is None:
            storage.discard(sha256)
