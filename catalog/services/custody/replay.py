"""Replaying the audit trail against the tables that carry evidence.

The chain's hashes and its timestamps prove the events were not changed; they say nothing of
a row edited in its table without an event (a sighting's deletion time, a party's stance, a
link's review, a user's role, a capture's archive). ``check_rows`` folds the events, in
order, into what each row should hold (creations with their fields, changes field by field,
removals, renames of the sources, parties, incidents and tags rows name) and compares that
with the rows: it names every row that differs, every row the events record that is gone, and
every row no event records.

What the events did not carry is not compared: the fields an event of an older shape lacks
are unknown, and a recheck's deletion recorded before its events carried ``deleted_at`` is
worked out as that code set it (the later of the check's time and the posting time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...models import AuditEvent
from .tables import ROW_READERS

UNKNOWN = object()  # what the events do not establish; never compared
TIMES = {"posted_at", "observed_at", "deleted_at", "stated_at", "claimed_captured_at"}
# The fields each kind's events carry, as ``records.details`` and ``records.editing`` name them.
SIGHTING_FIELDS = tuple(
    "url platform source account posted_at observed_at deleted_at caption archive_url".split()
)
ACK_FIELDS = ("party", "status", "statement", "source", "statement_url", "stated_at")
MEDIA_FIELDS = tuple(
    "title description credit verification incident claimed_captured_at claimed_place tags".split()
)


@dataclass
class Expected:
    """What the events say one row should hold: each field with the event that set it."""

    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)
    born: int | None = None  # the event that recorded its creation
    gone: int | None = None  # the event that recorded its removal

    def set(self, name: str, value: Any, event_id: int) -> None:
        """Note what an event says a field holds."""
        self.fields[name] = (value, event_id)


Fold = Callable[[dict[int, Expected], Any], None]


def check_rows(session: Session) -> list[str]:
    """Name every evidence row that differs from what the audit trail says it holds, is gone
    though the trail records it, or stands with no event."""
    faults: list[str] = []
    for noun, actions, fold, default in KINDS:
        expected: dict[int, Expected] = {}
        for event in _events(session, actions):
            fold(expected, event)
        faults.extend(_compare(noun, expected, ROW_READERS[noun](session), default))
    return faults


def _events(session: Session, actions: Iterable[str], batch: int = 5000) -> Iterator[Any]:
    """Yield the events of these actions in the chain's order, as plain rows."""
    wanted, last_id = list(actions), 0
    while True:
        rows = session.execute(
            sa.select(
                AuditEvent.id,
                AuditEvent.action,
                AuditEvent.object_type,
                AuditEvent.object_id,
                AuditEvent.details,
            )
            .where(AuditEvent.id > last_id, AuditEvent.action.in_(wanted))
            .order_by(AuditEvent.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _changes(event: Any) -> dict[str, Any]:
    changes = (event.details or {}).get("changes")
    return {k: v for k, v in changes.items() if isinstance(v, dict)} if changes else {}


def _rename(expected: dict[int, Expected], names: tuple[str, ...], event: Any, key: str) -> None:
    """Carry a source's, party's, incident's or tag's new name into the rows that name it."""
    change = _changes(event).get(key)
    if not change:
        return
    old, new = change.get("from"), change.get("to")
    for row in expected.values():
        for name in names:
            value, at = row.fields.get(name, (UNKNOWN, 0))
            if value == old:
                row.set(name, new, at)
            elif isinstance(value, list) and old in value:
                row.set(name, sorted(new if v == old else v for v in value), at)


def _merge(expected: dict[int, Expected], name: str, event: Any) -> None:
    """Carry a merge of a source or party into the rows that named the one merged."""
    details = event.details or {}
    old = (details.get("merged") or {}).get("name")
    new = (details.get("into") or {}).get("name")
    for row in expected.values():
        value, at = row.fields.get(name, (UNKNOWN, 0))
        if old is not None and value == old:
            row.set(name, new, at)


def _fold_sighting(expected: dict[int, Expected], event: Any) -> None:
    details = event.details or {}
    if event.action == "source.update":
        return _rename(expected, ("source",), event, "name")
    if event.action == "source.merge":
        return _merge(expected, "source", event)
    sighting_id = _int(details.get("sighting"))
    if sighting_id is None:
        return None
    row = expected.setdefault(sighting_id, Expected())
    if event.action == "sighting.create":
        row.born = event.id
        row.set("media", _int(event.object_id), event.id)
        for name in SIGHTING_FIELDS:
            row.set(name, details.get(name, UNKNOWN), event.id)
    elif event.action == "sighting.update":
        for name, change in _changes(event).items():
            if name in SIGHTING_FIELDS:
                row.set(name, change.get("to"), event.id)
    elif event.action == "sighting.delete":
        row.gone = event.id
    elif event.action == "sighting.deleted":
        row.set("deleted_at", _recheck_deleted_at(row, details), event.id)
    elif event.action == "sighting.deletion_contradicted":
        row.set("deleted_at", None, event.id)
    return None


def _recheck_deleted_at(row: Expected, details: dict[str, Any]) -> Any:
    """The deletion time a recheck set; events from before it said so carry only the check's
    time, and the code then set the later of that and the posting time."""
    if "deleted_at" in details:
        return details["deleted_at"]
    checked = _instant(details.get("checked_at"))
    posted = row.fields.get("posted_at", (UNKNOWN, 0))[0]
    if checked is None or posted is UNKNOWN:
        return UNKNOWN
    posted = _instant(posted)
    return max(checked, posted) if posted is not None else checked


def _fold_acknowledgement(expected: dict[int, Expected], event: Any) -> None:
    details = event.details or {}
    if event.action in ("party.update", "source.update"):
        return _rename(expected, (event.action.split(".")[0],), event, "name")
    if event.action in ("party.merge", "source.merge"):
        return _merge(expected, event.action.split(".")[0], event)
    ack_id = _int(details.get("acknowledgement"))
    if ack_id is None:
        return None
    row = expected.setdefault(ack_id, Expected())
    if event.action == "acknowledgement.create":
        row.born = event.id
        about = event.object_type if event.object_type in ("media", "incident") else None
        row.set("media", _int(event.object_id) if about == "media" else None, event.id)
        row.set("incident", _int(event.object_id) if about == "incident" else None, event.id)
        created = {**details, "statement_url": details.get("url", UNKNOWN)}
        for name in ACK_FIELDS:
            row.set(name, created.get(name, UNKNOWN), event.id)
    elif event.action == "acknowledgement.update":
        for name, change in _changes(event).items():
            if name in ACK_FIELDS:
                row.set(name, change.get("to"), event.id)
    elif event.action == "acknowledgement.delete":
        row.gone = event.id
    return None


def _fold_link(expected: dict[int, Expected], event: Any) -> None:
    link_id = _int(event.object_id)
    if link_id is None:
        return
    row = expected.setdefault(link_id, _unreviewed())
    details = event.details or {}
    row.set("review", event.action.split(".", 1)[1], event.id)
    row.set("note", details.get("note"), event.id)
    for end in ("source", "target"):
        if _int(details.get(end)) is not None:
            row.set(end, _int(details.get(end)), event.id)


def _unreviewed() -> Expected:
    """A link as the matcher made it: proposed, with no note (links have no event of their
    own before a review)."""
    made = Expected(born=0)
    made.set("review", "proposed", 0)
    made.set("note", None, 0)
    return made


def _fold_user(expected: dict[int, Expected], event: Any) -> None:
    user_id = _int(event.object_id)
    if user_id is None:
        return
    row = expected.setdefault(user_id, Expected())
    details = event.details or {}
    if event.action == "user.create":
        row.born = event.id
        row.set("username", details.get("username", UNKNOWN), event.id)
        row.set("role", details.get("role", UNKNOWN), event.id)
        row.set("active", True, event.id)
    else:
        for name, change in _changes(event).items():
            if name in ("role", "active"):
                row.set(name, change.get("to"), event.id)


def _fold_capture(expected: dict[int, Expected], event: Any) -> None:
    capture_id = _int(event.object_id)
    if capture_id is None:
        return
    row = expected.setdefault(capture_id, Expected())
    details = event.details or {}
    if event.action == "capture.create":
        row.born = event.id
        row.set("url", details.get("url", UNKNOWN), event.id)
        row.set("status", "queued or running", event.id)
        return
    row.set("status", event.action.split(".", 1)[1], event.id)
    # A failure recorded before its events carried the files kept leaves them unknown.
    row.set("files", details.get("files", UNKNOWN), event.id)


def _fold_media(expected: dict[int, Expected], event: Any) -> None:
    details = event.details or {}
    if event.action == "incident.update":
        return _rename(expected, ("incident",), event, "title")
    if event.action == "tag.update":
        return _rename(expected, ("tags",), event, "name")
    media_id = _int(event.object_id)
    if media_id is None:
        return None
    row = expected.setdefault(media_id, Expected())
    if event.action == "media.create":
        row.born = event.id
        row.set("sha256", details.get("sha256", UNKNOWN), event.id)
        for name in ("title", "description", "credit", "incident"):
            row.set(name, details.get(name, UNKNOWN), event.id)
        tags = details.get("tags", UNKNOWN)
        row.set("tags", sorted(tags) if isinstance(tags, list) else UNKNOWN, event.id)
        # What an ingest never sets: a new media is unverified and claims nothing.
        row.set("verification", "unverified", event.id)
        row.set("claimed_captured_at", None, event.id)
        row.set("claimed_place", None, event.id)
    elif event.action == "media.add_details":
        if details.get("incident") is not None:
            row.set("incident", details["incident"], event.id)
        _retag(row, event.id, add=[str(t).strip() for t in details.get("tags") or []])
    elif event.action == "media.untag":
        _retag(row, event.id, remove=[details.get("tag")])
    else:  # media.update
        for name, change in _changes(event).items():
            to = change.get("to")
            if name in MEDIA_FIELDS:
                row.set(name, sorted(to) if isinstance(to, list) else to, event.id)
    return None


def _retag(
    row: Expected, event_id: int, add: Iterable[str] = (), remove: Iterable[Any] = ()
) -> None:
    tags = row.fields.get("tags", (UNKNOWN, 0))[0]
    if tags is UNKNOWN:
        return
    row.set("tags", sorted((set(tags) | {t for t in add if t}) - set(remove)), event_id)


# Each kind of row: its noun, the events that say what it holds, how they fold, and what a
# row no event names should hold (None: every such row is named).
KINDS: list[tuple[str, tuple[str, ...], Fold, Callable[[], Expected] | None]] = [
    (
        "sighting",
        tuple(
            "sighting.create sighting.update sighting.delete sighting.deleted "
            "sighting.deletion_contradicted source.update source.merge".split()
        ),
        _fold_sighting,
        None,
    ),
    (
        "acknowledgement",
        tuple(
            "acknowledgement.create acknowledgement.update acknowledgement.delete "
            "party.update source.update party.merge source.merge".split()
        ),
        _fold_acknowledgement,
        None,
    ),
    ("link", ("link.confirmed", "link.rejected"), _fold_link, _unreviewed),
    ("user", ("user.create", "user.update"), _fold_user, None),
    (
        "capture",
        ("capture.create", "capture.done", "capture.partial", "capture.failed"),
        _fold_capture,
        None,
    ),
    (
        "media",
        tuple(
            "media.create media.add_details media.update media.untag incident.update "
            "tag.update".split()
        ),
        _fold_media,
        None,
    ),
]


def _compare(
    noun: str,
    expected: dict[int, Expected],
    rows: Iterable[tuple[int, str, dict[str, Any]]],
    default: Callable[[], Expected] | None,
) -> list[str]:
    """Name each row that differs from what the events say, and each the events miss."""
    faults = []
    for row_id, label, held in rows:
        name = f"{noun} #{row_id}{label}"
        want = expected.pop(row_id, None) or (default() if default else None)
        if want is None:
            faults.append(f"{name}: no audit event records it (written into the table directly)")
            continue
        if want.gone is not None:
            faults.append(f"{name}: still in the table, though event {want.gone} removed it")
            continue
        if want.born is None:
            faults.append(f"{name}: no audit event records its creation")
        for field_name, (value, event_id) in want.fields.items():
            if value is UNKNOWN or field_name not in held:
                continue
            if _shown(field_name, held[field_name]) != _shown(field_name, value):
                faults.append(
                    f"{name}: {field_name} is {_said(field_name, held[field_name])} in the table, "
                    f"but the audit trail says {_said(field_name, value)} (event {event_id})"
                )
    for row_id, want in sorted(expected.items()):
        if want.gone is None and want.born is not None:
            faults.append(
                f"{noun} #{row_id}: the audit trail records it (event {want.born}) but the "
                "table has no such row (removed without an event)"
            )
    return faults


def _instant(value: Any) -> datetime | None:
    """A time from a row or an event, in UTC (events keep ISO 8601 text, any offset)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _shown(name: str, value: Any) -> Any:
    """One form of a value for comparing a row's with an event's."""
    if name in TIMES:
        return _instant(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return sorted(value.items())
    return value


def _said(name: str, value: Any) -> str:
    shown = _shown(name, value)
    if isinstance(shown, datetime):
        return shown.isoformat()
    return repr(dict(shown)) if isinstance(value, dict) else repr(shown)
