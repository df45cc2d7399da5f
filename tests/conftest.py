"""Fixtures shared by the suite: the database backends, a migrated database, the app.

Every test that takes ``backend`` (directly or through ``app``) runs once per database named
with ``--db`` (``make test`` passes both); a plain ``pytest`` runs both too when a private
PostgreSQL server can be started here, and says loudly when it cannot. Tests share one
migrated database per backend and each runs inside a transaction that is rolled back, so
they neither see nor leave data.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from catalog import create_app, schema
from catalog.db import database, make_engine

from .pgserver import PostgresServer, find_bindir
from .s3server import ACCESS_KEY, SECRET_KEY, SeaweedServer

BACKENDS = ("sqlite", "postgresql")
BACKENDS_KEY = pytest.StashKey[list[str]]()
PG_MISSING_KEY = pytest.StashKey["str | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        action="append",
        choices=BACKENDS,
        help="database backend to run database tests on (repeatable; default: both when a "
        "PostgreSQL server can be started here, else SQLite with a warning)",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("db")
    missing = None
    if not chosen:
        missing = postgres_missing()
        chosen = ["sqlite"] if missing else list(BACKENDS)
    config.stash[BACKENDS_KEY] = chosen
    config.stash[PG_MISSING_KEY] = missing


def postgres_missing() -> str | None:
    """Why no private PostgreSQL server can be started here, or None when one can."""
    try:
        bindir = find_bindir()
    except RuntimeError as exc:
        return str(exc)
    if not (bindir / "initdb").is_file():
        return f"no initdb in {bindir}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"databases: {', '.join(config.stash[BACKENDS_KEY])}"]
    if config.stash[PG_MISSING_KEY]:
        lines.append(f"!!! PostgreSQL NOT TESTED: {config.stash[PG_MISSING_KEY]} !!!")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    missing = terminalreporter.config.stash[PG_MISSING_KEY]
    if missing:
        terminalreporter.section("PostgreSQL NOT TESTED", sep="!", red=True, bold=True)
        terminalreporter.line(
            f"{missing}. The PostgreSQL-only code (advisory locks, id limits) did not run; "
            "`make test` installs PostgreSQL and runs both databases.",
            red=True,
            bold=True,
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = metafunc.config.stash[BACKENDS_KEY]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """An S3-compatible server (SeaweedFS) on loopback ports, for the whole run."""
    server = SeaweedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server's key in the variables boto3 reads (names fixed by the settings)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def fresh_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """An empty database of its own, for tests that migrate or commit for real."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database("fresh")
    yield url
    server.drop_database(url)


@pytest.fixture(scope="session")
def migrated_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """One database per backend, migrated to head once for the whole run."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'catalog.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database("suite")
    engine = make_engine(url)
    schema.upgrade(engine)
    engine.dispose()
    return url


def make_test_app(database_url: str, tmp_path: Path, **extra: object) -> Flask:
    """Create an app on ``database_url`` with its media under ``tmp_path``.

    The caller disposes of its engine (``database(app).engine.dispose()``); the
    ``app_factory`` fixture does it for you.
    """
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(tmp_path / "media"),
            "INDEX_DIR": str(tmp_path / "index"),
            "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
            "SECRET_KEY": "test-secret-key",
            **extra,
        }
    )


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Make apps on other databases (fresh, unreachable); their pools are closed afterwards."""
    made: list[Flask] = []

    def make(database_url: str, **extra: object) -> Flask:
        application = make_test_app(database_url, tmp_path, **extra)
        made.append(application)
        return application

    yield make
    for application in made:
        database(application).engine.dispose()


def rolled_back(application: Flask) -> Iterator[Flask]:
    """Yield ``application`` with every database change it makes rolled back afterwards."""
    db = database(application)
    connection = db.engine.connect()
    outer = connection.begin()
    # Services commit as usual; with this mode their commits release savepoints instead.
    db.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    yield application
    outer.rollback()
    connection.close()
    db.engine.dispose()


@pytest.fixture
def app(migrated_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app on the shared migrated database, every change rolled back after the test."""
    yield from rolled_back(make_test_app(migrated_url, tmp_path))


@pytest.fixture
def session(app: Flask) -> Iterator[sa.orm.Session]:
    """A session of the app inside an app context."""
    from catalog.db import get_session

    with app.app_context():
        yield get_session()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def client(app: Flask):
    return app.test_client()
