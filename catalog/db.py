"""Engine and sessions: one engine per app, one session per request (or CLI command).

SQLite gets the pragmas a small multi-process service needs (WAL so readers never block the
writer, foreign keys, a busy timeout) and takes over ``BEGIN`` from the driver so that
services can ask for a write lock up front (``lock_for_write``) instead of failing on a lock
upgrade when two writers meet.

On PostgreSQL, where each query is a round trip to the server, connections are pinged only
after sitting idle in the pool, and reads need no transaction: a connection starts each
checkout in autocommit and opens a transaction (psycopg's BEGIN) just before the first
statement that writes or locks. Under READ COMMITTED, PostgreSQL's default, each statement
sees a fresh snapshot whether or not a transaction is open, so this changes nothing a request
can observe; a request that only reads saves the BEGIN and the COMMIT. A transaction that did
only read ends with COMMIT rather than ROLLBACK: psycopg forgets its prepared statements on
every rollback, and PostgreSQL would then parse and plan each of a request's queries afresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

_BEGIN_OPTION = "catalog_sqlite_begin"
# Per SQLite connection: how the open transaction began, or "WRITE" once it has written.
_TXN_STATE = "catalog_sqlite_txn"
_READ_ONLY_PREFIXES = ("SELECT", "PRAGMA", "WITH", "EXPLAIN")
# Per PostgreSQL connection: whether the open transaction has sent anything but reads.
_WROTE = "catalog_pg_wrote"
# Reads that take locks, which hold only inside a transaction.
_LOCKING = ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE", "PG_ADVISORY")
# Per pooled PostgreSQL connection: when it was last handed back to the pool.
_IDLE_SINCE = "catalog_pg_idle_since"
# A connection idle longer than this is pinged before use (the server may have restarted or
# a firewall dropped it); one in steady use is not, which saves a round trip per request.
PING_AFTER_IDLE_S = 10.0


@dataclass
class Database:
    """What the app holds: its engine and the factory for its sessions."""

    engine: Engine
    sessions: sessionmaker[Session]


def make_engine(url: str, *, busy_timeout_ms: int = 15000, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with the settings this service relies on."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    engine = sa.create_engine(url, echo=echo)
    if engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Install the pragmas and the explicit BEGIN on every new SQLite connection."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing BEGIN itself; the "begin" hook below does it, so that
        # SAVEPOINT works and a write transaction can start with BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
        conn.info[_TXN_STATE] = mode

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        # A deferred transaction that has written already holds the write lock.
        if conn.info.get(_TXN_STATE) == "DEFERRED" and not statement.lstrip()[
            :7
        ].upper().startswith(_READ_ONLY_PREFIXES):
            conn.info[_TXN_STATE] = "WRITE"


def _configure_postgresql(engine: Engine) -> None:
    """Ping connections that sat idle, and note which transactions wrote anything."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # The pool handed it back rolled back, so no transaction is open and the mode can
        # change; the ping below then opens none either.
        dbapi_connection.autocommit = True
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError("the idle connection is gone") from exc

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.info[_WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: Connection, cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip()[:7].upper().startswith(_READ_ONLY_PREFIXES):
            conn.info[_WROTE] = True
        raw = conn.connection.dbapi_connection
        if raw is not None and raw.autocommit and not _plain_read(statement, cursor):
            # psycopg sends BEGIN before this statement; the transaction lasts until the
            # session commits or rolls back.
            raw.autocommit = False


def _plain_read(statement: str, cursor: Any) -> bool:
    """Whether a statement only reads and takes no lock, so needs no transaction."""
    if getattr(cursor, "name", None):  # a server-side cursor is declared in a transaction
        return False
    head = statement.lstrip()[:7].upper()
    return head.startswith("SELECT") and not any(word in statement.upper() for word in _LOCKING)


def _only_read(session: Session) -> bool:
    """Whether the session's open PostgreSQL transaction has read and nothing else."""
    if session.new or session.dirty or session.deleted:
        return False
    transaction = session.get_transaction()
    if transaction is None or not transaction.is_active:
        return False
    connection = session.connection()
    return connection.dialect.name == "postgresql" and connection.info.get(_WROTE) is False


def lock_for_write(session: Session) -> None:
    """Start the session's transaction holding the database write lock where that matters.

    On SQLite a transaction that reads and later writes fails at once if another writer
    committed in between; taking the lock first makes writers queue (busy timeout) instead.
    PostgreSQL has row locks and needs nothing here.
    """
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            return
        if session.connection().info.get(_TXN_STATE) in ("IMMEDIATE", "WRITE"):
            return
        # Only reads so far: end that snapshot so the write transaction sees the latest data.
        session.rollback()
    session.connection(execution_options={_BEGIN_OPTION: "IMMEDIATE"})


def hold_lock(session: Session, key: int) -> None:
    """Hold an advisory lock until the session's transaction ends (PostgreSQL; re-entrant).

    On SQLite the write transaction (BEGIN IMMEDIATE) already admits one writer at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def write_if_free(session: Session, statement: sa.Executable) -> None:
    """Run a write that only notes something (a key's last use, a session's last activity) in
    a transaction of its own; when the database is busy, skip it rather than hold up the
    request that noticed it."""
    try:
        lock_for_write(session)
        session.execute(statement)
        session.commit()
    except OperationalError:
        session.rollback()


def init_app(app: Flask) -> None:
    """Create the app's engine and session factory and close each request's session."""
    engine = make_engine(
        app.config["DATABASE_URL"],
        busy_timeout_ms=int(app.config["SQLITE_BUSY_TIMEOUT_MS"]),
        echo=bool(app.config["DATABASE_ECHO"]),
    )
    app.extensions["catalog.db"] = Database(
        engine=engine, sessions=sessionmaker(bind=engine, expire_on_commit=False)
    )
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    """Return the app's Database."""
    return (app or current_app).extensions["catalog.db"]


def get_session() -> Session:
    """Return this request's (or command's) session, opening it on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    return g.db_session


def _close_session(exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        try:
            if exc is None and _only_read(session):
                # Same outcome as a rollback, but psycopg keeps its prepared statements.
                session.commit()
        except SQLAlchemyError:
            pass  # nothing was written: the rollback in close() ends it just as well
        # Closing rolls back whatever a failed request left uncommitted.
        session.close()
