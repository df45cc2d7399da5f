"""Trusted timestamps over what the catalogue must be able to prove later: each capture's
files, and the audit chain's head.

A token over the head records how many events the chain had and the hash of the last one.
The chain's own hashes show an edited or removed event in the middle, but not a chain cut
short at its end or rewritten whole with fresh hashes; a token does: ``check_tokens`` names a
chain now shorter than, or different from, what a token vouched for. Tokens over the head come
on a schedule whether the chain grew or not, so a gap in their run shows newest tokens removed
with the events they covered, and a chain whose earliest events no token covered in time is
named too (``_check_cadence``). Every token is kept in the store as well before it is recorded
(``copies``): what settles a chain replaced whole with its tokens.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.orm import Session

from ...db import lock_for_write
from ...models import AuditEvent, Capture, CaptureFile, TimestampToken, utcnow
from ...storage import StorageError, Store
from ...tsa import TimestampError, request_token, verify_token
from .copies import keep_copy


def timestamp_authorities(config: Any) -> list[str]:
    """The TIMESTAMP_AUTHORITIES setting: a list of URLs, or one string of them."""
    value = config.get("TIMESTAMP_AUTHORITIES") or []
    urls = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    return [str(url) for url in urls if url]


def head_due(session: Session, hours: float) -> bool:
    """Whether the chain's head should be stamped: the last token over it is older than
    ``hours`` (or there is none). Stamped on schedule even when the chain has not grown: the
    unbroken run of tokens is what shows that none was removed (``check_tokens``)."""
    last = session.scalar(
        sa.select(TimestampToken.created_at)
        .where(TimestampToken.subject == "audit_head")
        .order_by(TimestampToken.id.desc())
        .limit(1)
    )
    _, head = _chain_head(session)
    if head is None:
        return False
    return last is None or utcnow() - last >= timedelta(hours=hours)


@dataclass
class StampReport:
    """Tokens made, and the authorities that gave none."""

    made: list[TimestampToken] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def capture_tokens(session: Session, capture_id: int) -> list[dict[str, Any]]:
    """Return the trusted timestamps over a capture: each token's time (as its authority
    dates it), authority, serial and SHA-256, oldest first."""
    tokens = session.scalars(
        sa.select(TimestampToken)
        .where(TimestampToken.subject == "capture", TimestampToken.subject_id == capture_id)
        .order_by(TimestampToken.id)
    )
    return [
        {
            "gen_time": token.gen_time,
            "authority": token.authority,
            "serial": token.serial,
            "sha256": hashlib.sha256(token.token).hexdigest(),
        }
        for token in tokens
    ]


def capture_statement(capture_id: int, url: str, files: dict[str, str]) -> str:
    """The statement stamped for a capture: its URL and the SHA-256 of each file it kept."""
    kept = " ".join(f"{role}={sha}" for role, sha in sorted(files.items()))
    return f"catalog capture {capture_id} of {url}: {kept}"


def head_statement(count: int, head: str) -> str:
    """The statement stamped for the audit chain: its length and its last hash."""
    return f"catalog audit chain: {count} events, head {head}"


def stamp_capture(
    session: Session,
    store: Store,
    capture_id: int,
    authorities: list[str],
    timeout_s: float = 20.0,
    roots: list[x509.Certificate] | None = None,
) -> StampReport:
    """Have every authority stamp what a finished capture kept."""
    capture = session.get(Capture, capture_id)
    if capture is None or not capture.files:
        return StampReport()
    files = {f.role: f.sha256 for f in capture.files}
    statement = capture_statement(capture.id, capture.url, files)
    return _stamp(
        session, store, "capture", capture.id, statement, None, None, authorities, timeout_s, roots
    )


def stamp_audit_head(
    session: Session,
    store: Store,
    authorities: list[str],
    timeout_s: float = 20.0,
    roots: list[x509.Certificate] | None = None,
) -> StampReport:
    """Have every authority stamp the audit chain's present length and head."""
    count, head = _chain_head(session)
    if head is None:
        return StampReport()
    statement = head_statement(count, head)
    return _stamp(
        session, store, "audit_head", None, statement, count, head, authorities, timeout_s, roots
    )


def _chain_head(session: Session) -> tuple[int, str | None]:
    count = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
    head = session.scalar(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return count, head


def _stamp(
    session: Session,
    store: Store,
    subject: str,
    subject_id: int | None,
    statement: str,
    count: int | None,
    head: str | None,
    authorities: list[str],
    timeout_s: float,
    roots: list[x509.Certificate] | None,
) -> StampReport:
    report = StampReport()
    session.rollback()  # no transaction held open while the authorities answer
    tokens = []
    for url in authorities:
        try:
            tokens.append((url, request_token(url, statement.encode(), timeout_s, roots)))
        except TimestampError as exc:
            report.failures.append(str(exc))
    if not tokens:
        return report
    made = [
        TimestampToken(
            subject=subject,
            subject_id=subject_id,
            statement=statement,
            chain_count=count,
            chain_head=head,
            authority=url[:2048],
            token=token.der,
            gen_time=token.gen_time,
            serial=str(token.serial)[:64],
        )
        for url, token in tokens
    ]
    # Copies first: a token the database holds always has its copy. (A crash before the
    # commit leaves a copy the database lacks, which ``verify`` names, as it should a removal.)
    for row in made:
        try:
            keep_copy(store, row)
        except StorageError as exc:
            report.failures.append(f"{row.authority}: its token could not be kept ({exc})")
            continue
        report.made.append(row)
    if report.made:
        lock_for_write(session)
        session.add_all(report.made)
        session.commit()
    return report


def check_tokens(
    session: Session, roots: list[x509.Certificate], head_hours: float = 0
) -> tuple[int, list[str], list[str]]:
    """Check every token against the records as they are now; return how many were checked,
    what does not hold, and (with ``head_hours``, how often the head is stamped, and roots to
    read the tokens' times by) the stretches with no token over the chain's head."""
    faults: list[str] = []
    heads: list[datetime] = []
    checked = 0
    events: dict[int, str] = {}
    count_now, _ = _chain_head(session)
    for token in session.scalars(sa.select(TimestampToken).order_by(TimestampToken.id)):
        checked += 1
        name = f"token {token.id} ({token.authority}, {token.gen_time:%Y-%m-%d %H:%M:%S} UTC)"
        try:
            vouched = verify_token(token.token, token.statement.encode(), roots)
        except TimestampError as exc:
            faults.append(f"{name}: {exc}")
            continue
        if token.subject == "audit_head":
            head_faults = _check_head(session, token, name, count_now, events)
            faults.extend(head_faults)
            if not head_faults:
                # The time the token itself vouches for, not a column anyone could edit.
                heads.append(vouched if vouched.tzinfo else vouched.replace(tzinfo=UTC))
        elif token.subject != "capture":
            faults.append(f"{name}: a token over an unknown subject {token.subject!r}")
        else:
            files = {
                role: sha
                for role, sha in session.execute(
                    sa.select(CaptureFile.role, CaptureFile.sha256).where(
                        CaptureFile.capture_id == token.subject_id
                    )
                )
            }
            url = session.scalar(sa.select(Capture.url).where(Capture.id == token.subject_id))
            if url is None or capture_statement(token.subject_id or 0, url, files) != (
                token.statement
            ):
                faults.append(
                    f"{name}: capture {token.subject_id} no longer holds the files it vouched for"
                )
    gaps = _check_cadence(session, heads, head_hours) if head_hours > 0 and roots else []
    return checked, faults, gaps


def _check_cadence(session: Session, heads: list[datetime], hours: float) -> list[str]:
    """Name each stretch longer than twice the schedule with no token over the chain's head.

    Someone able to edit the database could remove the newest events together with the
    tokens that vouched for them, and the tokens left would still hold. Tokens come every
    ``hours``, whether the chain grew or not, and an authority dates a token only at the
    time it is asked: a gap in their run is where such a removal would show. A gap is also
    what a stopped worker or an unreachable authority leaves, so it is reported as a stretch
    the chain cannot vouch for, for people to account for, not as a fault.
    """
    grace = timedelta(hours=2 * hours)
    now = utcnow()
    first_event = session.scalar(sa.select(sa.func.min(AuditEvent.occurred_at)))
    if first_event is None:
        return []
    if not heads:
        if now - first_event > grace:
            return [
                f"the audit chain's head has never been stamped, though its first event is from "
                f"{first_event:%Y-%m-%d %H:%M} UTC and a token is due every {hours:g} h"
            ]
        return []
    times = sorted(heads)
    faults = _uncovered_start(session, times[0], grace, hours)
    for start, end in zip(times, [*times[1:], now], strict=True):
        if end - start > grace:
            until = "now" if end is now else f"{end:%Y-%m-%d %H:%M} UTC"
            faults.append(
                f"no token over the audit chain's head from {start:%Y-%m-%d %H:%M} UTC until "
                f"{until} (one is due every {hours:g} h): the worker or the authorities were "
                "stopped, or tokens were removed with the events they vouched for"
            )
    return faults


def _uncovered_start(
    session: Session, first: datetime, grace: timedelta, hours: float
) -> list[str]:
    """Name the chain's earliest events when the first token over its head came more than
    twice the schedule after them.

    A head token vouches for every event before it, but only from the time it was made: events
    no token covered in time could have been written afterwards, as a forger replacing the
    whole chain would, backdated. Authorities configured after the chain began leave the same
    mark, so this too is a stretch for people to account for; the copies of the tokens kept
    in the store (``copies``) are what tell the forgery apart.
    """
    count, start, end = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.min(AuditEvent.occurred_at),
            sa.func.max(AuditEvent.occurred_at),
        ).where(AuditEvent.occurred_at < first - grace)
    ).one()
    if not count:
        return []
    return [
        f"events 1-{count} of the audit chain (from {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} UTC) were never covered by a token within twice the schedule "
        f"({2 * hours:g} h): the first token over the head is from {first:%Y-%m-%d %H:%M} UTC; "
        "authorities were configured late, or the chain was replaced whole and stamped afresh"
    ]


def _check_head(
    session: Session, token: TimestampToken, name: str, count_now: int, events: dict[int, str]
) -> list[str]:
    """Compare the chain now with the length and head a token vouched for."""
    count, head = token.chain_count or 0, token.chain_head
    if token.statement != head_statement(count, head or ""):
        return [f"{name}: its statement does not match its recorded head"]
    if count_now < count:
        return [
            f"{name}: the audit chain has {count_now} events, fewer than the {count} "
            "this token vouched for (events were removed from its end)"
        ]
    if count not in events:
        row = session.scalar(
            sa.select(AuditEvent.hash).order_by(AuditEvent.id).offset(count - 1).limit(1)
        )
        events[count] = row or ""
    if events[count] != head:
        return [
            f"{name}: event {count} of the audit chain is not the one this token vouched for "
            "(the chain was rewritten)"
        ]
    return []
