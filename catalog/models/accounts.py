"""People and programs that use the catalogue: users with roles, their signed-in browser
sessions, and their API keys."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Role, UTCDateTime, utcnow, vocabulary


class User(Base):
    """A person with a login and a role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(vocabulary(Role, "user_role"), default=Role.VIEWER)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the user reads local time beside UTC (an IANA name); None: UTC only.
    timezone: Mapped[str | None] = mapped_column(sa.String(64))

    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    sessions: Mapped[list[UserSession]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role.value})>"

    # The user protocol Flask-Login expects, written out so models need not import Flask.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """Return the key of the server-side session this user was signed in or loaded with."""
        key = self.__dict__.get("_session_key")
        if not key:
            raise RuntimeError(f"{self!r} was not loaded for a browser session")
        return str(key)

    def bind_session(self, key: str) -> None:
        """Tie this loaded user to one browser session (what ``get_id`` answers)."""
        # Kept beside the mapped state, not in it: it belongs to the request, not the row.
        self.__dict__["_session_key"] = key


class UserSession(Base):
    """A signed-in browser. The cookie holds this row's id and a secret whose SHA-256 is kept
    here, so signing out, a password change, disabling the user or an admin ends it on the
    server, whatever copy of the cookie survives."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Shown to the user in their list of sessions; never used to decide anything.
    address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))

    user: Mapped[User] = relationship(back_populates="sessions")


class ApiKey(Base):
    """A bearer key for the API; only a hash of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # The first characters of the key, shown in listings so a person can tell keys apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written when the key is used, at most once a minute.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when its user was disabled; cleared only if the user is re-enabled with their keys.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="api_keys")

    @property
    def active(self) -> bool:
        """Return whether the key may still be used."""
        return self.revoked_at is None and self.suspended_at is None and self.user.active
