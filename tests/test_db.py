"""Engine settings and write serialisation on real connections (not the rolled-back fixture)."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from catalog import schema
from catalog.db import lock_for_write, make_engine
from catalog.models import AuditEvent, User
from catalog.services import accounts, audit


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
