"""Schema migrations through Alembic, run against the app's own engine.

``flask catalog db ...`` and the plain ``alembic`` command share ``migrations/``; this module
lets the app (and the tests) run them without an ``alembic.ini`` lookup or a second URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from .config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


@contextmanager
def alembic_config(engine: Engine) -> Iterator[Config]:
    """Yield an Alembic config whose env.py will use a connection of ``engine``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        yield config


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
