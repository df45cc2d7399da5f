"""``flask catalog db|user|apikey|audit``: commands for operators."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from .. import schema
from ..db import database, get_session
from ..models import Role
from ..services import ServiceError
from ..services.evidence import audit
from ..services.people import accounts, sessions


def _fail(exc: ServiceError) -> None:
    raise click.ClickException(str(exc))


# -- database -------------------------------------------------------------------------


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Create and migrate the database schema."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    schema.upgrade(database().engine, revision)
    click.echo(f"database at {schema.current_revision(database().engine)}")


@db_group.command("downgrade")
@click.argument("revision")
@click.confirmation_option(prompt="Downgrading can drop data. Continue?")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes every table)."""
    schema.downgrade(database().engine, revision)
    click.echo(f"database at {schema.current_revision(database().engine)}")


@db_group.command("current")
def db_current() -> None:
    """Print the revision the database is at and the newest one available."""
    click.echo(f"current: {schema.current_revision(database().engine)}")
    click.echo(f"head:    {schema.head_revision()}")


# -- users ------------------------------------------------------------------------------


@click.group("user", cls=AppGroup)
def user_group() -> None:
    """Create and manage people who log in."""


@user_group.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.ANALYST.value,
    show_default=True,
    help="What the user may do.",
)
@click.option("--display-name", help="Name shown in the interface and the audit trail.")
@click.password_option(help="Password (asked for when not given).")
def user_create(username: str, role: str, display_name: str | None, password: str) -> None:
    """Create the user USERNAME."""
    try:
        user = accounts.create_user(
            get_session(), username, password, role, display_name=display_name
        )
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"created user {user.username} ({user.role.value})")


@user_group.command("list")
def user_list() -> None:
    """List users with their roles."""
    for user in accounts.list_users(get_session()):
        state = "" if user.active else "  (disabled)"
        click.echo(f"{user.username:<24} {user.role.value:<8}{state}")


@user_group.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def user_set_role(username: str, role: str) -> None:
    """Give USERNAME the role ROLE."""
    try:
        accounts.set_role(get_session(), username, role)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"{username} is now {role}")


@user_group.command("set-password")
@click.argument("username")
@click.password_option(help="New password (asked for when not given).")
def user_set_password(username: str, password: str) -> None:
    """Set a new password for USERNAME."""
    try:
        accounts.set_password(get_session(), username, password)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"password of {username} changed")


@user_group.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Stop USERNAME logging in or using their API keys."""
    try:
        accounts.set_active(get_session(), username, False)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"{username} disabled")


@user_group.command("end-sessions")
@click.argument("username")
def user_end_sessions(username: str) -> None:
    """Sign USERNAME out of every browser at once (their API keys keep working)."""
    try:
        user = accounts.get_user(get_session(), username)
        ended = sessions.end_all(get_session(), user, actor=None)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"{ended} sessions of {username} ended")


@user_group.command("enable")
@click.argument("username")
@click.option(
    "--restore-keys",
    is_flag=True,
    help="Let the API keys suspended when the user was disabled work again (else revoked).",
)
def user_enable(username: str, restore_keys: bool) -> None:
    """Let a disabled USERNAME back in; their old API keys stay dead unless --restore-keys."""
    try:
        user = accounts.set_active(get_session(), username, True, restore_keys=restore_keys)
    except ServiceError as exc:
        _fail(exc)
    live = sum(1 for key in user.api_keys if key.active)
    click.echo(f"{username} enabled; {live} API keys live")


# -- API keys -----------------------------------------------------------------------------


@click.group("apikey", cls=AppGroup)
def apikey_group() -> None:
    """Create, list and revoke API keys."""


@apikey_group.command("create")
@click.argument("username")
@click.option("--name", default="default", show_default=True, help="What the key is for.")
def apikey_create(username: str, name: str) -> None:
    """Create an API key for USERNAME and print it (it cannot be shown again)."""
    try:
        key, secret = accounts.create_api_key(get_session(), username, name)
    except ServiceError as exc:
        _fail(exc)
    click.echo(secret)
    click.echo(
        f"key {key.id} ({key.prefix}...) for {username}: store it now, only its hash is kept",
        err=True,
    )


@apikey_group.command("list")
@click.option("--user", "username", help="Only this user's keys.")
def apikey_list(username: str | None) -> None:
    """List API keys (never the secrets)."""
    for key in accounts.list_api_keys(get_session(), username):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        click.echo(f"{key.id:>5}  {key.prefix}...  {key.user.username:<20} {key.name:<20} {state}")


@apikey_group.command("revoke")
@click.argument("key_id", type=int)
def apikey_revoke(key_id: int) -> None:
    """Revoke the key KEY_ID at once."""
    try:
        key = accounts.revoke_api_key(get_session(), key_id)
    except ServiceError as exc:
        _fail(exc)
    click.echo(f"key {key.id} ({key.prefix}...) revoked")


# -- audit --------------------------------------------------------------------------------


@click.group("audit", cls=AppGroup)
def audit_group() -> None:
    """Inspect the audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the whole audit trail; exit 1 on any fault."""
    report = audit.verify_chain(get_session())
    for fault in report.faults:
        click.echo(f"FAULT {fault}", err=True)
    click.echo(f"{report.events} events, {len(report.faults)} faults")
    if not report.ok:
        sys.exit(1)


COMMANDS = [db_group, user_group, apikey_group, audit_group]
