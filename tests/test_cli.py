"""`flask catalog user|apikey|audit|db` commands as an operator types them."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import ApiKey, AuditEvent, User
from catalog.services.people import accounts

PASSWORD = "correct horse battery"


def test_user_create_and_list(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(
        args=["catalog", "user", "create", "ana", "--role", "admin", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "created user ana (admin)" in result.output
    result = runner.invoke(args=["catalog", "user", "list"])
    assert "ana" in result.output and "admin" in result.output


def test_user_create_prompts_for_password(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(
        args=["catalog", "user", "create", "ana"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert accounts.authenticate(session, "ana", PASSWORD) is not None


def test_user_create_errors_are_clear(runner: FlaskCliRunner, session: Session) -> None:
    runner.invoke(args=["catalog", "user", "create", "ana", "--password", PASSWORD])
    duplicate = runner.invoke(args=["catalog", "user", "create", "ana", "--password", PASSWORD])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    weak = runner.invoke(args=["catalog", "user", "create", "bob", "--password", "123"])
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output
    bad_role = runner.invoke(
        args=["catalog", "user", "create", "bob", "--role", "god", "--password", PASSWORD]
    )
    assert bad_role.exit_code == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_user_role_password_and_disable(runner: FlaskCliRunner, session: Session) -> None:
    runner.invoke(args=["catalog", "user", "create", "ana", "--password", PASSWORD])
    assert runner.invoke(args=["catalog", "user", "set-role", "ana", "viewer"]).exit_code == 0
    new_password = "another long password"
    assert (
        runner.invoke(
            args=["catalog", "user", "set-password", "ana", "--password", new_password]
        ).exit_code
        == 0
    )
    assert runner.invoke(args=["catalog", "user", "disable", "ana"]).exit_code == 0
    assert "(disabled)" in runner.invoke(args=["catalog", "user", "list"]).output
    assert runner.invoke(args=["catalog", "user", "enable", "ana"]).exit_code == 0
    session.expire_all()
    user = accounts.authenticate(session, "ana", new_password)
    assert user is not None and user.role.value == "viewer"
    missing = runner.invoke(args=["catalog", "user", "disable", "ghost"])
    assert missing.exit_code == 1 and "no user called 'ghost'" in missing.output


def test_apikey_create_prints_key_once_and_keeps_only_its_hash(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=["catalog", "user", "create", "bot", "--password", PASSWORD])
    result = runner.invoke(args=["catalog", "apikey", "create", "bot", "--name", "ingest script"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("cat_")
    assert "only its hash is kept" in result.stderr
    assert accounts.user_for_api_key(session, secret).username == "bot"

    listing = runner.invoke(args=["catalog", "apikey", "list"]).output
    assert "ingest script" in listing and secret not in listing and secret[:12] in listing
    # The secret appears nowhere in the database, the audit trail included.
    dumped = " ".join(str(row) for row in session.execute(sa.select(ApiKey.__table__)).all())
    dumped += " ".join(str(row) for row in session.execute(sa.select(AuditEvent.__table__)).all())
    assert secret not in dumped

    key_id = session.scalar(sa.select(ApiKey.id))
    revoked = runner.invoke(args=["catalog", "apikey", "revoke", str(key_id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert accounts.user_for_api_key(session, secret) is None
    assert "revoked" in runner.invoke(args=["catalog", "apikey", "list", "--user", "bot"]).output


def test_apikey_for_unknown_user(runner: FlaskCliRunner, session: Session) -> None:
    result = runner.invoke(args=["catalog", "apikey", "create", "ghost"])
    assert result.exit_code == 1 and "no user called" in result.output


def test_audit_verify_passes_then_catches_tampering(
    runner: FlaskCliRunner, session: Session
) -> None:
    runner.invoke(args=["catalog", "user", "create", "ana", "--password", PASSWORD])
    runner.invoke(args=["catalog", "user", "set-role", "ana", "admin"])
    ok = runner.invoke(args=["catalog", "audit", "verify"])
    assert ok.exit_code == 0 and "2 events, 0 faults" in ok.output
    session.execute(sa.update(AuditEvent).values(actor="mallory"))
    bad = runner.invoke(args=["catalog", "audit", "verify"])
    assert bad.exit_code == 1 and "FAULT event" in bad.output


def test_db_current(runner: FlaskCliRunner) -> None:
    from catalog import schema

    output = runner.invoke(args=["catalog", "db", "current"]).output
    assert f"current: {schema.head_revision()}" in output
