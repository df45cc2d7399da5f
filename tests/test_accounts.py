"""Users, passwords and API keys through the accounts service."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from catalog.models import ApiKey, AuditEvent, Role, User, utcnow
from catalog.services import Conflict, Invalid, NotFound
from catalog.services.people import accounts

PASSWORD = "correct horse battery"


def test_create_user_hashes_password_and_audits(session: Session) -> None:
    user = accounts.create_user(session, "ana", PASSWORD, "analyst", display_name="Ana")
    assert user.role is Role.ANALYST
    assert PASSWORD not in user.password_hash
    event = session.scalar(sa.select(AuditEvent).order_by(AuditEvent.id.desc()))
    assert (event.action, event.object_id, event.details) == (
        "user.create",
        str(user.id),
        {"username": "ana", "role": "analyst"},
    )


@pytest.mark.parametrize(
    ("username", "password", "role", "error"),
    [
        ("", PASSWORD, "viewer", Invalid),
        ("bad name", PASSWORD, "viewer", Invalid),
        ("ok\n", PASSWORD, "viewer", Invalid),
        ("x" * 65, PASSWORD, "viewer", Invalid),
        ("ok", "short", "viewer", Invalid),
        ("ok", PASSWORD, "superuser", Invalid),
    ],
)
def test_create_user_validates(
    session: Session, username: str, password: str, role: str, error: type
) -> None:
    with pytest.raises(error):
        accounts.create_user(session, username, password, role)
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_duplicate_username_is_a_conflict(session: Session) -> None:
    accounts.create_user(session, "ana", PASSWORD)
    with pytest.raises(Conflict):
        accounts.create_user(session, "ana", PASSWORD)


def test_authenticate(session: Session) -> None:
    accounts.create_user(session, "ana", PASSWORD)
    assert accounts.authenticate(session, "ana", PASSWORD).username == "ana"
    assert accounts.authenticate(session, "ana", PASSWORD + "x") is None
    assert accounts.authenticate(session, "nobody", PASSWORD) is None
    accounts.set_active(session, "ana", False)
    assert accounts.authenticate(session, "ana", PASSWORD) is None


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.ANALYST) and Role.ANALYST.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.ANALYST) and not Role.ANALYST.allows(Role.ADMIN)


def test_api_key_is_stored_only_as_hash_and_revocable(session: Session) -> None:
    accounts.create_user(session, "bot", PASSWORD, "analyst")
    key, secret = accounts.create_api_key(session, "bot", "newsroom script")
    assert secret.startswith("cat_") and len(secret) > 40
    stored = session.get(ApiKey, key.id)
    assert secret not in (stored.key_hash, stored.prefix) and secret.startswith(stored.prefix)
    assert accounts.user_for_api_key(session, secret).username == "bot"
    assert accounts.user_for_api_key(session, secret + "x") is None
    assert accounts.user_for_api_key(session, "") is None

    accounts.revoke_api_key(session, key.id)
    assert accounts.user_for_api_key(session, secret) is None
    accounts.revoke_api_key(session, key.id)  # twice is harmless


def test_disabled_user_keys_stop_working(session: Session) -> None:
    accounts.create_user(session, "bot", PASSWORD)
    _, secret = accounts.create_api_key(session, "bot")
    accounts.set_active(session, "bot", False)
    assert accounts.user_for_api_key(session, secret) is None


def test_re_enabling_revives_keys_only_when_asked(session: Session) -> None:
    accounts.create_user(session, "bot", PASSWORD)
    kept, kept_secret = accounts.create_api_key(session, "bot", "kept")
    old, old_secret = accounts.create_api_key(session, "bot", "old")
    accounts.revoke_api_key(session, old.id)
    # Disabled and re-enabled without a word about keys: they stay dead, now revoked.
    accounts.set_active(session, "bot", False)
    assert session.get(ApiKey, kept.id).suspended_at is not None
    accounts.set_active(session, "bot", True)
    assert accounts.user_for_api_key(session, kept_secret) is None
    assert session.get(ApiKey, kept.id).revoked_at is not None
    # Disabled and re-enabled with its keys: the suspended ones work again, revoked stay so.
    fresh, fresh_secret = accounts.create_api_key(session, "bot", "fresh")
    accounts.set_active(session, "bot", False)
    accounts.set_active(session, "bot", True, restore_keys=True)
    assert accounts.user_for_api_key(session, fresh_secret).username == "bot"
    assert accounts.user_for_api_key(session, old_secret) is None
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "user.update").order_by(AuditEvent.id)
    ).all()
    changes = [e.details["changes"] for e in events]
    assert changes[-4]["keys_suspended"] == [kept.prefix]
    assert changes[-3]["keys_revoked"] == [kept.prefix]
    assert changes[-1]["keys_restored"] == [fresh.prefix]
    with pytest.raises(Invalid, match="restore_keys"):
        accounts.update_user(session, session.get(ApiKey, fresh.id).user_id, {"restore_keys": True})


def test_a_keys_use_is_noted_at_most_once_a_minute(session: Session) -> None:
    accounts.create_user(session, "bot", PASSWORD)
    key, secret = accounts.create_api_key(session, "bot")
    assert key.last_used_at is None
    accounts.user_for_api_key(session, secret)
    session.expire_all()  # the update went around the loaded row
    first = session.get(ApiKey, key.id).last_used_at
    assert first is not None and (utcnow() - first).total_seconds() < 60
    accounts.user_for_api_key(session, secret)
    session.expire_all()
    assert session.get(ApiKey, key.id).last_used_at == first
    session.execute(
        sa.update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=first - timedelta(hours=1))
    )
    session.commit()
    accounts.user_for_api_key(session, secret)
    session.expire_all()
    assert session.get(ApiKey, key.id).last_used_at > first - timedelta(minutes=1)


def test_unknown_user_or_key(session: Session) -> None:
    with pytest.raises(NotFound):
        accounts.create_api_key(session, "ghost")
    with pytest.raises(NotFound):
        accounts.revoke_api_key(session, 999)
    with pytest.raises(NotFound):
        accounts.set_role(session, "ghost", "admin")
