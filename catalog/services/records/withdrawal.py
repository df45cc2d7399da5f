"""Withdrawing a media catalogued by mistake, and restoring it.

A withdrawn media leaves every list, match and report (each filters on ``Media.withdrawn_at``,
the index keeps its hashes and search drops them when it reads the rows) but keeps its row and
its audit events; its page says who withdrew it, when and why. Restoring clears the marks.
Both are audited with the reason. Once the retention period has passed, ``catalog gc`` removes
the original file (``custody.collect_garbage``), and a restore brings the record back without it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ...db import lock_for_write
from ...models import Media, User, utcnow
from .. import Conflict, Invalid, fetch
from ..evidence import audit
from .fields import clean_text

REASON_LIMIT = 2000


def withdraw_media(
    session: Session, media_id: int, reason: str | None, actor: User | None
) -> Media:
    """Withdraw a media with the reason given (required); Conflict if already withdrawn."""
    said = clean_text(reason, "reason", REASON_LIMIT)
    if said is None:
        raise Invalid("a withdrawal needs a reason")
    lock_for_write(session)
    media = fetch(session, Media, media_id, "media")
    if media.withdrawn_at is not None:
        raise Conflict(f"media #{media_id} is already withdrawn")
    media.withdrawn_at = utcnow()
    media.withdrawn_by_id = actor.id if actor is not None else None
    media.withdrawn_reason = said
    audit.record(session, actor, "media.withdraw", "media", media.id, {"reason": said})
    session.commit()
    return media


def restore_media(session: Session, media_id: int, actor: User | None) -> Media:
    """Bring a withdrawn media back into lists, matches and reports; Conflict if not withdrawn."""
    lock_for_write(session)
    media = fetch(session, Media, media_id, "media")
    if media.withdrawn_at is None:
        raise Conflict(f"media #{media_id} is not withdrawn")
    details = {
        "withdrawn_at": media.withdrawn_at.isoformat(),
        "reason": media.withdrawn_reason,
        "original_removed": media.original_removed_at is not None,
    }
    media.withdrawn_at = None
    media.withdrawn_by_id = None
    media.withdrawn_reason = None
    audit.record(session, actor, "media.restore", "media", media.id, details)
    session.commit()
    return media
