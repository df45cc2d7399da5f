"""Schema migrations through Alembic, run against the app's own engine.

``flask catalog db ...`` and the plain ``alembic`` command share ``migrations/``; this module
lets the app (and the tests) run them without an ``alembic.ini`` lookup or a second URL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from .config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


@contextmanager
def alembic_config(engine: Engine) -> Iterator[Config]:
    """Yield an Alembic config whose env.py will use a connection of ``engine``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection, foreign_keys_deferred(connection) as check:
        with connection.begin():
            config.attributes["connection"] = connection
            yield config
            check()  # inside the transaction: a migration that broke a reference rolls back


@contextmanager
def foreign_keys_deferred(connection: Connection) -> Iterator[Callable[[], None]]:
    """On SQLite, turn foreign keys off while migrations run, and check them after.

    SQLite alters a table by copying it and dropping the old one; with foreign keys on, that
    drop deletes every row that refers to the table (ON DELETE CASCADE): a migration that
    altered ``media`` would empty ``media_hashes``. The pragma only counts outside a
    transaction, so it is set on the driver's connection before the migration's begins.
    """
    if connection.dialect.name != "sqlite":
        yield lambda: None
        return
    driver = connection.connection.driver_connection
    assert driver is not None

    def check() -> None:
        """Raise if a row refers to nothing (call it before the migration commits)."""
        broken = driver.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left rows that refer to nothing: {broken[:5]}")

    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield check
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    with alembic_config(engine) as config:
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` empties the schema)."""
    with alembic_config(engine) as config:
        command.downgrade(config, revision)


def check(engine: Engine) -> None:
    """Raise if the models and the migrated database differ (``alembic check``)."""
    with alembic_config(engine) as config:
        command.check(config)


def head_revision() -> str | None:
    """Return the newest revision in ``migrations/``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None for an unmigrated database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
