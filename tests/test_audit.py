"""The audit chain: appended with each change, and any edit, removal or insertion is caught."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from catalog.models import GENESIS_HASH, AuditEvent
from catalog.services.evidence import audit
from catalog.services.people import accounts


def make_events(session: Session, count: int = 4) -> list[AuditEvent]:
    admin = accounts.create_user(session, "admin", "correct horse battery", "admin")
    for n in range(count - 1):
        audit.record(
            session, admin, "media.update", "media", n, {"field": "title", "n": n, "text": "ü"}
        )
    session.commit()
    return session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()


def test_chain_links_each_event_to_the_one_before(session: Session) -> None:
    events = make_events(session)
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    assert events[0].actor == "system" and events[1].actor == "admin"
    report = audit.verify_chain(session)
    assert report.ok and report.events == 4


def test_edited_event_is_detected(session: Session) -> None:
    events = make_events(session)
    target = events[2]
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == target.id).values(details={"field": "credit"})
    )
    report = audit.verify_chain(session)
    assert not report.ok
    assert report.faults == [f"event {target.id}: content does not match its hash (edited)"]


def test_edited_actor_or_time_is_detected(session: Session) -> None:
    events = make_events(session)
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == events[1].id).values(actor="someone")
    )
    assert [f.split(":")[0] for f in audit.verify_chain(session).faults] == [
        f"event {events[1].id}"
    ]


def test_removed_event_is_detected(session: Session) -> None:
    events = make_events(session)
    session.execute(sa.delete(AuditEvent).where(AuditEvent.id == events[1].id))
    faults = audit.verify_chain(session).faults
    assert faults == [
        f"event {events[2].id}: does not follow the event before it"
        " (an event was removed or inserted)"
    ]


def test_rewritten_event_with_fresh_hash_still_breaks_the_next_link(session: Session) -> None:
    events = make_events(session)
    forged = events[1]
    new_hash = audit.event_hash(
        prev_hash=forged.prev_hash,
        occurred_at=forged.occurred_at,
        actor_id=forged.actor_id,
        actor=forged.actor,
        action="media.delete",
        object_type=forged.object_type,
        object_id=forged.object_id,
        details=forged.details,
    )
    session.execute(
        sa.update(AuditEvent)
        .where(AuditEvent.id == forged.id)
        .values(action="media.delete", hash=new_hash)
    )
    faults = audit.verify_chain(session).faults
    assert len(faults) == 1 and faults[0].startswith(f"event {events[2].id}: does not follow")


def test_history_of_one_object(session: Session) -> None:
    make_events(session)
    assert [e.details["n"] for e in audit.history(session, "media", 1)] == [1]
