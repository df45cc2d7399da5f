"""Collection's word on sightings it recorded: who told a captured sighting's posted time
(the capture keeps it in its post), and the deletion re-check run at once, on an analyst's
asking, for one sighting or for every sighting of a capture."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import Capture, Sighting, User
from ...netguard import AddressPolicy, Limits
from .. import Invalid, NotFound
from ..evidence import audit
from .recheck import CHECK_LIMITS, Check, recheck_sightings


def posted_sources(session: Session, capture_ids: Iterable[int | None]) -> dict[int, str]:
    """Return, for each capture, who told the posted time it recorded (``posted_from``)."""
    wanted = {i for i in capture_ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(sa.select(Capture.id, Capture.post).where(Capture.id.in_(wanted)))
    return {
        capture_id: str(post["posted_from"])
        for capture_id, post in rows
        if isinstance(post, dict) and post.get("posted_from")
    }


def sighting_media(session: Session, sighting_id: int) -> int:
    """Return the media a sighting belongs to (NotFound without the sighting)."""
    media_id = session.scalar(sa.select(Sighting.media_id).where(Sighting.id == sighting_id))
    if media_id is None:
        raise NotFound(f"sighting {sighting_id} not found")
    return int(media_id)


def check_sighting_now(
    session: Session,
    policy: AddressPolicy,
    sighting_id: int,
    actor: User | None,
    limits: Limits = CHECK_LIMITS,
) -> Check:
    """Re-check one sighting's URL now (marking it deleted if it is gone); audited."""
    sighting = session.get(Sighting, sighting_id)
    if sighting is None:
        raise NotFound(f"sighting {sighting_id} not found")
    if not sighting.url:
        raise Invalid("this sighting has no URL to check")
    session.rollback()
    return _checked(session, policy, [sighting_id], actor, limits)[0]


def check_capture_now(
    session: Session,
    policy: AddressPolicy,
    capture_id: int,
    actor: User | None,
    limits: Limits = CHECK_LIMITS,
) -> list[Check]:
    """Re-check now every sighting a capture recorded (marking the gone ones); audited."""
    if session.get(Capture, capture_id) is None:
        raise NotFound(f"capture {capture_id} not found")
    ids = list(session.scalars(sa.select(Sighting.id).where(Sighting.capture_id == capture_id)))
    session.rollback()
    if not ids:
        raise Invalid("this capture recorded no sightings to check")
    return _checked(session, policy, ids, actor, limits)


def _checked(
    session: Session,
    policy: AddressPolicy,
    ids: list[int],
    actor: User | None,
    limits: Limits,
) -> list[Check]:
    """Run the re-check of ``ids`` and record, for each, who asked for it and what it found:
    the re-check records a deletion on its own; the asking is the analyst's act."""
    checks = list(recheck_sightings(session, policy, ids=ids, limits=limits))
    for check in checks:
        sighting = session.get(Sighting, check.sighting_id)
        if sighting is None:  # removed while it was being checked
            continue
        audit.record(
            session,
            actor,
            "sighting.check_requested",
            "media",
            sighting.media_id,
            {
                "sighting": sighting.id,
                "url": check.url,
                "state": check.state,
                "status": check.status,
                "reason": check.reason,
                "checked_at": sighting.checked_at.isoformat() if sighting.checked_at else None,
            },
        )
    session.commit()
    return checks
