"""Browser sessions kept on the server. Signing in makes a session row; the cookie carries
its id and a secret (only the secret's SHA-256 is stored), so a session ends for good when its
row goes: at sign-out, when the user signs out everywhere, when an admin ends the user's
sessions, when the password changes or the user is disabled, and when it has been idle or
alive too long (``SESSION_IDLE_MINUTES``, ``SESSION_MAX_HOURS``). A copied cookie is worth
nothing once its row is gone."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ...db import lock_for_write, write_if_free
from ...models import User, UserSession, utcnow
from ..evidence import audit

# How often a session's last activity is written (not on every request: each write locks).
TOUCH_EVERY = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start(session: Session, user: User, *, address: str | None, user_agent: str | None) -> str:
    """Open a session for ``user`` and return the key its cookie carries."""
    secret = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        secret_hash=_digest(secret),
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    )
    session.add(row)
    session.flush()
    key = f"{row.id}:{secret}"
    session.commit()
    return key


def _row_for(session: Session, key: str) -> UserSession | None:
    row_id, _, secret = (key or "").partition(":")
    if not row_id.isdigit() or int(row_id) > 2**31 - 1 or not secret:
        return None
    row = session.get(UserSession, int(row_id))
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    return row


def resume(session: Session, key: str, *, idle: timedelta, lifetime: timedelta) -> User | None:
    """Return the active user of a live session, or None (an expired session is removed)."""
    row = _row_for(session, key)
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > idle or now - row.created_at > lifetime or not row.user.active:
        _drop(session, row.id)
        return None
    user = row.user
    if now - row.last_seen_at > TOUCH_EVERY:
        _touch(session, row.id, now)
    return user


def _touch(session: Session, row_id: int, now: datetime) -> None:
    """Note a session's activity (skipped when the database is busy)."""
    write_if_free(
        session,
        sa.update(UserSession)
        .where(UserSession.id == row_id, UserSession.last_seen_at < now - TOUCH_EVERY)
        .values(last_seen_at=now),
    )


def end(session: Session, key: str) -> bool:
    """End the session ``key`` names (sign-out); return whether there was one."""
    row = _row_for(session, key)
    if row is None:
        return False
    _drop(session, row.id)
    return True


def _drop(session: Session, row_id: int) -> None:
    lock_for_write(session)
    session.execute(sa.delete(UserSession).where(UserSession.id == row_id))
    session.commit()


def end_all(session: Session, user: User, *, actor: User | None, keep: str | None = None) -> int:
    """End every session of ``user`` (but ``keep``, if given); audited; return how many."""
    kept = _row_for(session, keep) if keep else None
    lock_for_write(session)
    ended = drop_sessions(session, user.id, except_id=kept.id if kept else None)
    audit.record(
        session,
        actor,
        "user.sessions_end",
        "user",
        user.id,
        {"username": user.username, "ended": ended, "kept_current": kept is not None},
    )
    session.commit()
    return ended


def end_one(session: Session, user: User, row_id: int) -> bool:
    """End one of ``user``'s own sessions (another browser, a lost phone); audited; return
    whether it was theirs and still open. Nobody ends another user's session this way."""
    lock_for_write(session)
    ended = _deleted(
        session.execute(
            sa.delete(UserSession).where(UserSession.id == row_id, UserSession.user_id == user.id)
        )
    )
    if ended:
        audit.record(
            session,
            user,
            "user.session_end",
            "user",
            user.id,
            {"username": user.username, "session": row_id},
        )
    session.commit()
    return bool(ended)


def drop_sessions(session: Session, user_id: int, *, except_id: int | None = None) -> int:
    """Delete a user's session rows in the caller's transaction; return how many."""
    query = sa.delete(UserSession).where(UserSession.user_id == user_id)
    if except_id is not None:
        query = query.where(UserSession.id != except_id)
    return _deleted(session.execute(query))


def list_sessions(session: Session, user_id: int) -> list[UserSession]:
    """Return a user's sessions, the most recently used first."""
    return list(
        session.scalars(
            sa.select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def session_id_of(key: str | None) -> int | None:
    """Return the row id a cookie's key names (to mark the current one in a list)."""
    row_id = (key or "").partition(":")[0]
    return int(row_id) if row_id.isdigit() else None


def purge_expired(session: Session, *, idle: timedelta, lifetime: timedelta) -> int:
    """Delete every session past its idle or absolute limit; return how many."""
    now: datetime = utcnow()
    lock_for_write(session)
    result = session.execute(
        sa.delete(UserSession).where(
            (UserSession.last_seen_at < now - idle) | (UserSession.created_at < now - lifetime)
        )
    )
    session.commit()
    return _deleted(result)


def _deleted(result: sa.Result[Any]) -> int:
    # A DELETE answers a CursorResult, which knows how many rows it touched.
    return int(cast("sa.CursorResult[Any]", result).rowcount or 0)
