"""The deletion re-check: looking again at the URLs where media were seen, and marking the posts
that are gone.

A post that answers 404 or 410, or a platform's "not available" page, is ``deleted``: its
sighting gets ``deleted_at`` (the first time only) and the audit trail keeps what was
answered and when. A timeout, a refused connection or a server error is ``unreachable`` and
changes nothing: a site that is down has not deleted anything. A phrase is weaker evidence
than a status: when a later check finds live a post whose deletion was read from a phrase
alone, the contradiction is recorded and the sighting is no longer kept as deleted. Every
check is made through the capture's address guard (``netguard``), so a sighting's URL cannot
be used to reach an internal address either.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...db import lock_for_write
from ...models import AuditEvent, Incident, Media, Sighting, utcnow
from ...netguard import BROWSER_USER_AGENT, AddressPolicy, Limits, Refused, fetch
from ..evidence import audit

LIVE, DELETED, UNREACHABLE = "live", "deleted", "unreachable"
GONE_STATUSES = {404, 410}
# What platforms answer, with 200, in place of a post that was removed.
GONE_PHRASES = (
    b"this post is not available",
    b"this content isn't available",
    b"this tweet has been deleted",
    b"this post was deleted",
    b"post not found",
    b"video unavailable",
    b"this video has been removed",
)
CHECK_LIMITS = Limits(max_bytes=5 * 1024 * 1024, timeout_s=15.0, max_redirects=5)


@dataclass(frozen=True)
class Check:
    """What one re-check found."""

    sighting_id: int
    url: str
    state: str
    status: int | None
    reason: str


def recheck_sightings(
    session: Session,
    policy: AddressPolicy,
    *,
    incident: str | None = None,
    older_than: timedelta | None = None,
    ids: Collection[int] | None = None,
    limits: Limits = CHECK_LIMITS,
) -> Iterator[Check]:
    """Re-check the sightings with a URL (of one incident's media, those not checked for
    ``older_than``, or those of ``ids``), mark the deleted ones, and yield each check as it
    is made."""
    query = sa.select(Sighting.id, Sighting.url).where(Sighting.url.is_not(None))
    if ids is not None:
        query = query.where(Sighting.id.in_(list(ids)))
    if incident is not None:
        query = (
            query.join(Media, Sighting.media_id == Media.id)
            .join(Incident, Media.incident_id == Incident.id)
            .where(Incident.title == incident)
        )
    if ids is None:  # the schedule and an incident's re-check pass withdrawn media by
        withdrawn = sa.select(Media.id).where(Media.withdrawn_at.is_not(None))
        query = query.where(Sighting.media_id.not_in(withdrawn))
    if older_than is not None:
        cutoff = utcnow() - older_than
        query = query.where(sa.or_(Sighting.checked_at.is_(None), Sighting.checked_at < cutoff))
    wanted = list(session.execute(query.order_by(Sighting.id)))
    session.rollback()  # no transaction held open across the network
    for sighting_id, url in wanted:
        check = check_url_state(sighting_id, url or "", policy, limits)
        _record(session, check)
        yield check


def check_url_state(sighting_id: int, url: str, policy: AddressPolicy, limits: Limits) -> Check:
    """Fetch a sighting's URL and say whether the post is live, deleted or unreachable."""
    try:
        answer = fetch(url, policy, limits, headers=[("User-Agent", BROWSER_USER_AGENT)])[-1]
    except Refused as exc:
        return Check(sighting_id, url, UNREACHABLE, None, f"{exc.code}: {exc}")
    if answer.status in GONE_STATUSES:
        return Check(sighting_id, url, DELETED, answer.status, f"answered {answer.status}")
    if answer.status >= 400:
        return Check(sighting_id, url, UNREACHABLE, answer.status, f"answered {answer.status}")
    lowered = answer.body[:200_000].lower()
    for phrase in GONE_PHRASES:
        if phrase in lowered:
            return Check(
                sighting_id,
                url,
                DELETED,
                answer.status,
                f"answered {answer.status} with {phrase.decode()!r}",
            )
    return Check(sighting_id, url, LIVE, answer.status, f"answered {answer.status}")


def _record(session: Session, check: Check) -> None:
    """Note the check on the sighting; a first deletion gets ``deleted_at`` and an event, and
    a deletion read from a phrase that the post now contradicts is undone with an event."""
    lock_for_write(session)
    sighting = session.get(Sighting, check.sighting_id)
    if sighting is None:  # deleted from the catalogue meanwhile
        session.rollback()
        return
    now = utcnow()
    sighting.checked_at = now
    sighting.check_state = check.state
    said = {"sighting": sighting.id, "url": check.url, "status": check.status}
    if check.state == DELETED and sighting.deleted_at is None:
        # A post cannot be gone before it was posted (and the table's check says so).
        sighting.deleted_at = max(now, sighting.posted_at) if sighting.posted_at else now
        said.update(evidence=check.reason, checked_at=now.isoformat())
        # The time set, so the audit trail alone says what the row holds (``replay``).
        said["deleted_at"] = sighting.deleted_at.isoformat()
        audit.record(
            session, None, "sighting.deleted", "media", sighting.media_id, said,
            actor_label="deletion watch",  # the name events already recorded carry
        )  # fmt: skip
    elif check.state == LIVE and sighting.deleted_at is not None:
        verdict = _phrase_verdict(session, sighting)
        if verdict is not None:
            said.update(evidence=check.reason, checked_at=now.isoformat())
            said["deleted_at"] = {"from": sighting.deleted_at.isoformat(), "to": None}
            said["verdict"] = {"event": verdict.id, "evidence": verdict.details.get("evidence")}
            sighting.deleted_at = None
            audit.record(
                session, None, "sighting.deletion_contradicted", "media", sighting.media_id,
                said, actor_label="deletion watch",
            )  # fmt: skip
    session.commit()


# The events that set or clear a sighting's deletion time.
_DELETION_EVENTS = (
    "sighting.create",
    "sighting.update",
    "sighting.deleted",
    "sighting.deletion_contradicted",
)


def _phrase_verdict(session: Session, sighting: Sighting) -> AuditEvent | None:
    """The event behind the sighting's deletion time when it is a re-check's verdict read from
    a phrase alone (not a 404 or 410); None when a person set it, or a status did."""
    setter: AuditEvent | None = None
    events = session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.object_type == "media",
            AuditEvent.object_id == str(sighting.media_id),
            AuditEvent.action.in_(_DELETION_EVENTS),
        )
        .order_by(AuditEvent.id)
    )
    for event in events:
        details = event.details or {}
        if details.get("sighting") != sighting.id:
            continue
        if event.action == "sighting.update":
            change = (details.get("changes") or {}).get("deleted_at")
            if isinstance(change, dict):
                setter = event if change.get("to") else None
        elif event.action == "sighting.create":
            setter = event if details.get("deleted_at") else None
        else:
            setter = event if event.action == "sighting.deleted" else None
    if setter is None or setter.action != "sighting.deleted":
        return None
    return setter if setter.details.get("status") not in GONE_STATUSES else None
