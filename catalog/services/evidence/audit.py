"""The audit trail: every change appends an event in the same transaction as the change.

Each event stores the SHA-256 of its own canonical content and of the event before it, so
editing, removing or reordering a stored event breaks the chain at that point and
``verify_chain`` names it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...db import hold_lock, lock_for_write
from ...models import GENESIS_HASH, AuditEvent, MediaLink, User, utcnow

SYSTEM_ACTOR = "system"
# Any constant works; it only has to be the same in every process.
_PG_CHAIN_LOCK = 0x6361745F61756474


def canonical_json(value: Any) -> str:
    """Serialise ``value`` the one way the chain hashes it (sorted keys, no spaces, UTF-8)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"audit details cannot hold {type(value).__name__}")


def event_hash(
    *,
    prev_hash: str,
    occurred_at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | None,
    details: dict[str, Any],
) -> str:
    """Return the hash that chains an event with this content after ``prev_hash``."""
    content = canonical_json(
        {
            "prev": prev_hash,
            "at": occurred_at.isoformat(timespec="microseconds"),
            "actor_id": actor_id,
            "actor": actor,
            "action": action,
            "type": object_type,
            "id": object_id,
            "details": details,
        }
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# Incidents, sources, parties and tags made on the way (an upload naming a new party, ...)
# wait here until the service records its own event, and are recorded first, by the same actor.
_PENDING_CREATES = "catalog.audit.pending_creates"


def note_created(session: Session, record_: Any) -> None:
    """Have the next event of this transaction be preceded by the creation of ``record_``."""
    session.info.setdefault(_PENDING_CREATES, []).append(record_)


def _record_pending_creates(session: Session, actor: User | None, actor_label: str | None) -> None:
    pending = session.info.pop(_PENDING_CREATES, [])
    for made in pending:
        state = sa.inspect(made)
        if not state.persistent:  # rolled back with its transaction
            continue
        noun = type(made).__name__.lower()
        name = made.title if noun == "incident" else made.name
        record(session, actor, f"{noun}.create", noun, made.id, {"name": name},
               actor_label=actor_label)  # fmt: skip


def media_history(session: Session, media_id: int, limit: int = 500) -> list[AuditEvent]:
    """Return everything that touched a media, oldest first: its own events and the reviews
    of its links to other media."""
    links = sa.select(sa.cast(MediaLink.id, sa.String)).where(
        sa.or_(MediaLink.source_media_id == media_id, MediaLink.target_media_id == media_id)
    )
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(
                sa.or_(
                    sa.and_(
                        AuditEvent.object_type == "media", AuditEvent.object_id == str(media_id)
                    ),
                    sa.and_(AuditEvent.object_type == "link", AuditEvent.object_id.in_(links)),
                )
            )
            .order_by(AuditEvent.id)
            .limit(limit)
        )
    )


def record(
    session: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int | str | None,
    details: dict[str, Any] | None = None,
    *,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append an event to the session's transaction; the caller's commit makes it stand."""
    lock_for_write(session)
    _record_pending_creates(session, actor, actor_label)
    # Appends queue here so that each one sees the head the previous one wrote.
    hold_lock(session, _PG_CHAIN_LOCK)
    # Round-trip so what is stored is exactly what was hashed (tuples become lists, ...).
    clean_details = json.loads(canonical_json(details or {}))
    prev = session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        occurred_at=utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor=actor.username if actor is not None else (actor_label or SYSTEM_ACTOR),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=clean_details,
        prev_hash=prev or GENESIS_HASH,
    )
    event.hash = hash_of(event)
    session.add(event)
    session.flush()
    return event


_CHAINED_COLUMNS = (
    AuditEvent.id,
    AuditEvent.hash,
    AuditEvent.prev_hash,
    AuditEvent.occurred_at,
    AuditEvent.actor_id,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.object_type,
    AuditEvent.object_id,
    AuditEvent.details,
)


def hash_of(event: Any) -> str:
    """Return the hash an event (a row or any object with its fields) chains with."""
    return event_hash(
        prev_hash=event.prev_hash,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor=event.actor,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        details=event.details,
    )


@dataclass
class ChainReport:
    """The outcome of checking the whole chain."""

    events: int = 0
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether no fault was found."""
        return not self.faults


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Re-hash every event in order and report each one that does not fit the chain."""
    report = ChainReport()
    expected_prev = GENESIS_HASH
    last_id = 0
    while True:
        # Plain rows, not entities: a long chain should not fill the identity map.
        events = session.execute(
            sa.select(*_CHAINED_COLUMNS)
            .where(AuditEvent.id > last_id)
            .order_by(AuditEvent.id)
            .limit(batch)
        ).all()
        if not events:
            break
        for event in events:
            report.events += 1
            if event.prev_hash != expected_prev:
                report.faults.append(
                    f"event {event.id}: does not follow the event before it "
                    "(an event was removed or inserted)"
                )
            if hash_of(event) != event.hash:
                report.faults.append(f"event {event.id}: content does not match its hash (edited)")
            expected_prev = event.hash
            last_id = event.id
    return report


def history(
    session: Session, object_type: str, object_id: int | str, limit: int = 500
) -> list[AuditEvent]:
    """Return the events about one object, oldest first."""
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
            .order_by(AuditEvent.id)
            .limit(limit)
        )
    )
