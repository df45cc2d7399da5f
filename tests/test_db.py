"""Engine settings and write serialisation on real connections (not the rolled-back fixture)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from catalog import db, schema
from catalog.db import database, get_session, lock_for_write, make_engine
from catalog.models import AuditEvent, User
from catalog.services.evidence import audit
from catalog.services.people import accounts

from .api_tools import PASSWORD, upload


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout_ms=1234)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    engine.dispose()


def test_lock_for_write_after_reads_sees_other_writers(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with Session(engine) as reader, Session(engine) as writer:
        assert reader.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
        writer.execute(sa.text("INSERT INTO t VALUES (1)"))
        writer.commit()
        # Without lock_for_write this insert would fail: the reader's snapshot is stale.
        lock_for_write(reader)
        reader.execute(sa.text("INSERT INTO t VALUES (2)"))
        reader.commit()
        assert reader.execute(sa.text("SELECT count(*) FROM t")).scalar() == 2
    engine.dispose()


def test_concurrent_writers_keep_one_unbroken_chain(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(n: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                start.wait()
                user = accounts.create_user(session, f"user{n}", "correct horse battery")
                for i in range(5):
                    audit.record(session, user, "note", "user", user.id, {"i": i})
                    session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 8
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 48
        report = audit.verify_chain(session)
        assert report.ok, report.faults
    engine.dispose()


def test_idle_postgresql_connections_are_pinged_and_replaced(
    backend: str, fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("pinging idle connections is PostgreSQL's")
    engine = make_engine(fresh_database_url)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == pid
    assert pings == []  # in steady use: no round trip spent on a ping

    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    killer = sa.create_engine(fresh_database_url)
    with killer.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    killer.dispose()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    assert len(pings) == 1
    engine.dispose()


def test_postgresql_reads_end_with_commit_and_keep_prepared_statements(
    backend: str, fresh_database_url: str, app_factory
) -> None:
    if backend != "postgresql":
        pytest.skip("psycopg's prepared statements are PostgreSQL's")
    app = app_factory(fresh_database_url)
    engine = database(app).engine
    schema.upgrade(engine)
    with app.app_context():
        accounts.create_user(get_session(), "analyst", PASSWORD, "analyst")
        _, secret = accounts.create_api_key(get_session(), "analyst")
    headers = {"Authorization": f"Bearer {secret}"}
    client = app.test_client()
    media = upload(client, headers).json["media"]  # also notes the key's use

    ends: list[str] = []
    event.listen(engine, "commit", lambda _conn: ends.append("commit"))
    event.listen(engine, "rollback", lambda _conn: ends.append("rollback"))
    for _ in range(8):
        found = client.get(f"/api/v1/lookup/sha256/{media['sha256']}", headers=headers)
        assert found.status_code == 200 and found.json["id"] == media["id"]
    # A rollback would make psycopg drop its prepared statements, and PostgreSQL would parse
    # and plan every query of every look-up afresh.
    assert ends == ["commit"] * 8
    with app.app_context():
        prepared = get_session().execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared.scalar() > 0

    ends.clear()
    assert client.get("/api/v1/lookup/sha256/" + "0" * 64, headers=headers).status_code == 404
    assert ends == ["commit"]  # an answered error is no failure: it only read


def test_postgresql_reads_open_no_transaction_and_writes_do(
    backend: str, fresh_database_url: str
) -> None:
    if backend != "postgresql":
        pytest.skip("psycopg's autocommit is PostgreSQL's")
    from psycopg.pq import TransactionStatus

    engine = make_engine(fresh_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")

    def status(session: Session) -> TransactionStatus:
        return session.connection().connection.dbapi_connection.info.transaction_status

    with Session(engine) as session:
        assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
        assert status(session) is TransactionStatus.IDLE  # no BEGIN was sent for a read
        session.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert status(session) is TransactionStatus.INTRANS
        session.rollback()  # the write was inside a transaction: it is undone
    with Session(engine) as session:
        assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
        session.execute(sa.text("SELECT x FROM t FOR UPDATE"))
        assert status(session) is TransactionStatus.INTRANS  # a lock is held to the end
        session.commit()
        db.hold_lock(session, 77)
        assert status(session) is TransactionStatus.INTRANS
        session.execute(sa.text("INSERT INTO t VALUES (2)"))
        session.commit()
        # The next checkout reads outside a transaction again.
        assert session.execute(sa.text("SELECT count(*) FROM t")).scalar() == 1
        assert status(session) is TransactionStatus.IDLE
    engine.dispose()
