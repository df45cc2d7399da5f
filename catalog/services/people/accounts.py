"""Users, roles and API keys: creating them, checking credentials, revoking keys."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import zoneinfo
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ...db import lock_for_write, write_if_free
from ...models import ApiKey, Role, User, utcnow
from .. import Conflict, Invalid, NotFound, fetch
from ..evidence import audit
from . import sessions

# \Z, not $: `$` also matches before a trailing newline.
USERNAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")
MIN_PASSWORD_LENGTH = 10
KEY_PREFIX = "cat_"


@functools.cache
def _dummy_hash() -> str:
    """A hash checked against when the user does not exist, so a wrong name costs as long as
    a wrong password. Made on first use: a scrypt hash takes 0.2 s of every start-up else."""
    return generate_password_hash("not-a-real-password")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise Invalid("password must be at most 1024 characters")


def parse_role(value: str | Role) -> Role:
    """Return the Role named by ``value`` or raise Invalid listing the choices."""
    try:
        return Role(value)
    except ValueError:
        raise Invalid(
            f"unknown role {value!r}; choose one of {', '.join(r.value for r in Role)}"
        ) from None


def get_user(session: Session, username: str) -> User:
    """Return the user called ``username`` or raise NotFound."""
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user called {username!r}")
    return user


def user_by_id(session: Session, user_id: int) -> User:
    """Return the user with this id or raise NotFound."""
    return fetch(session, User, user_id, "user")


def _keep_an_admin(session: Session, user: User, role: Role, active: bool) -> None:
    """Refuse a change that would leave no active admin to manage users and keys."""
    if user.role is not Role.ADMIN or not user.active or (role is Role.ADMIN and active):
        return
    others = session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise Conflict(f"{user.username!r} is the last active admin; make another admin first")


def update_user(session: Session, user_id: int, values: dict, *, actor: User | None = None) -> User:
    """Change a user's role, active flag, display name or password; audited field by field."""
    unknown = set(values) - {"role", "active", "display_name", "password", "restore_keys"}
    if unknown:
        raise Invalid(f"a user has no field {sorted(unknown)[0]!r} that can be changed")
    if "password" in values:
        _check_password(values["password"])
    role = parse_role(values["role"]) if values.get("role") is not None else None
    lock_for_write(session)
    user = user_by_id(session, user_id)
    active = values.get("active", user.active)
    _keep_an_admin(session, user, role or user.role, bool(active))
    changes: dict = {}
    if role is not None and role is not user.role:
        changes["role"] = {"from": user.role.value, "to": role.value}
        user.role = role
    if values.get("restore_keys") and not (active and not user.active):
        raise Invalid("restore_keys goes only with re-enabling a disabled user")
    if "active" in values and bool(active) != user.active:
        changes["active"] = {"from": user.active, "to": bool(active)}
        user.active = bool(active)
        changes.update(_suspend_or_restore_keys(session, user, bool(values.get("restore_keys"))))
    if "display_name" in values:
        name = (values["display_name"] or "").strip() or None
        if name is not None and len(name) > 200:
            raise Invalid("display name must be at most 200 characters")
        if name != user.display_name:
            changes["display_name"] = {"from": user.display_name, "to": name}
            user.display_name = name
    if "password" in values:
        user.password_hash = generate_password_hash(values["password"])
        changes["password"] = "changed"  # never the password itself
    if not changes:
        session.rollback()
        return user
    if "password" in changes or changes.get("active", {}).get("to") is False:
        # Whoever held the old password, or the account, is signed out everywhere.
        changes["sessions_ended"] = sessions.drop_sessions(session, user.id)
    audit.record(
        session,
        actor,
        "user.update",
        "user",
        user.id,
        {"username": user.username, "changes": changes},
    )
    session.commit()
    return user


def _suspend_or_restore_keys(session: Session, user: User, restore: bool) -> dict[str, Any]:
    """Disabling suspends a user's live keys; re-enabling revokes them unless asked to restore
    them, so keys never come back to life without someone deciding it."""
    now = utcnow()
    keys = [k for k in user.api_keys if k.revoked_at is None]
    if not user.active:
        for key in keys:
            if key.suspended_at is None:
                key.suspended_at = now
        return {"keys_suspended": [k.prefix for k in keys]}
    suspended = [k for k in keys if k.suspended_at is not None]
    for key in suspended:
        key.suspended_at = None
        if not restore:
            key.revoked_at = now
    return {("keys_restored" if restore else "keys_revoked"): [k.prefix for k in suspended]}


def list_users(session: Session) -> list[User]:
    """Return every user, by name."""
    return list(session.scalars(sa.select(User).order_by(User.username)))


def create_user(
    session: Session,
    username: str,
    password: str,
    role: Role | str = Role.VIEWER,
    *,
    display_name: str | None = None,
    actor: User | None = None,
) -> User:
    """Create a user with a hashed password and record it in the audit trail."""
    if not USERNAME_RE.match(username or ""):
        raise Invalid(
            "username must be 1 to 64 letters, digits or . _ @ - and start with a letter or digit"
        )
    _check_password(password)
    role = parse_role(role)
    lock_for_write(session)
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name,
        password_hash=generate_password_hash(password),
        role=role,
    )
    session.add(user)
    session.flush()
    audit.record(
        session, actor, "user.create", "user", user.id, {"username": username, "role": role}
    )
    session.commit()
    return user


def set_password(
    session: Session, username: str, password: str, *, actor: User | None = None
) -> User:
    """Replace a user's password."""
    return update_user(session, get_user(session, username).id, {"password": password}, actor=actor)


def timezones() -> list[str]:
    """Return the IANA timezone names a user may choose, sorted."""
    return sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})


def set_timezone(session: Session, user: User, name: str | None) -> User:
    """Set where ``user`` reads local time beside UTC (None or "": UTC only); audited."""
    wanted = (name or "").strip() or None
    if wanted is not None and wanted not in zoneinfo.available_timezones():
        raise Invalid(f"{wanted!r} is not a timezone name (such as Europe/Kyiv)")
    lock_for_write(session)
    held = user_by_id(session, user.id)
    if held.timezone != wanted:
        audit.record(
            session,
            user,
            "user.update",
            "user",
            held.id,
            {
                "username": held.username,
                "changes": {"timezone": {"from": held.timezone, "to": wanted}},
            },
        )
        held.timezone = wanted
    session.commit()
    return held


def set_role(
    session: Session, username: str, role: Role | str, *, actor: User | None = None
) -> User:
    """Change a user's role."""
    return update_user(session, get_user(session, username).id, {"role": role}, actor=actor)


def set_active(
    session: Session,
    username: str,
    active: bool,
    *,
    restore_keys: bool = False,
    actor: User | None = None,
) -> User:
    """Enable or disable a user; a disabled user cannot log in and their keys are suspended
    (re-enabled with ``restore_keys`` they work again, otherwise they are revoked)."""
    values: dict[str, Any] = {"active": active}
    if restore_keys:
        values["restore_keys"] = True
    return update_user(session, get_user(session, username).id, values, actor=actor)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """Return the active user with these credentials, or None."""
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user


def log_in(session: Session, username: str, password: str) -> User | None:
    """Return the active user with these credentials and note the time, or None."""
    user = authenticate(session, username, password)
    if user is not None:
        user.last_login_at = utcnow()
        session.commit()
    return user


def _key_digest(secret: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is as safe as a slow one here and
    # lets every API request be checked with one indexed lookup.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session, username: str, name: str = "default", *, actor: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key for a user; return the row and the secret, which is never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise Invalid("key name must be 1 to 100 characters")
    lock_for_write(session)
    user = get_user(session, username)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(user=user, name=name, prefix=secret[:12], key_hash=_key_digest(secret))
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor,
        "apikey.create",
        "api_key",
        key.id,
        {"user": user.username, "name": name, "prefix": key.prefix},
    )
    session.commit()
    return key, secret


def list_api_keys(session: Session, username: str | None = None) -> list[ApiKey]:
    """Return the keys of one user, or of everyone."""
    query = sa.select(ApiKey).join(ApiKey.user).order_by(User.username, ApiKey.id)
    if username is not None:
        query = query.where(User.username == username)
    return list(session.scalars(query))


def key_by_id(session: Session, key_id: int) -> ApiKey:
    """Return the API key with this id or raise NotFound."""
    return fetch(session, ApiKey, key_id, "API key")


def revoke_api_key(session: Session, key_id: int, *, actor: User | None = None) -> ApiKey:
    """Revoke a key at once; revoking twice is harmless."""
    lock_for_write(session)
    key = key_by_id(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            "apikey.revoke",
            "api_key",
            key.id,
            {"user": key.user.username, "prefix": key.prefix},
        )
        session.commit()
    return key


# Built once: it runs before every API call, as one indexed query.
_USER_FOR_KEY = (
    sa.select(User, ApiKey.id, ApiKey.last_used_at)
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(
        ApiKey.key_hash == sa.bindparam("digest"),
        ApiKey.revoked_at.is_(None),
        ApiKey.suspended_at.is_(None),
        User.active.is_(True),
    )
)
# A key's last use is written at most this often (each write takes the database's write lock).
KEY_USE_EVERY = timedelta(minutes=1)


def user_for_api_key(session: Session, secret: str) -> User | None:
    """Return the active user owning this live key, or None; note when the key was used."""
    if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    found = session.execute(_USER_FOR_KEY, {"digest": _key_digest(secret)}).first()
    if found is None:
        return None
    user, key_id, last_used = found
    if last_used is None or utcnow() - last_used > KEY_USE_EVERY:
        _note_key_use(session, key_id)
    return user


def _note_key_use(session: Session, key_id: int) -> None:
    """Note a key's last use (skipped when the database is busy)."""
    now = utcnow()
    write_if_free(
        session,
        sa.update(ApiKey)
        .where(
            ApiKey.id == key_id,
            sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - KEY_USE_EVERY),
        )
        .values(last_used_at=now),
    )
