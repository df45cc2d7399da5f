"""Alembic environment: the models' metadata is the target; the app's config gives the URL."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context

from catalog.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    # Only the plain `alembic` command configures logging; the app keeps its own.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types as plain SQLAlchemy types so revisions never import the app."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_name(name: str | None, type_: str, _parents: dict[str, Any]) -> bool:
    """Leave out what each engine's text search keeps outside the models (``text_search_*``:
    SQLite's FTS5 table and its shadow tables, PostgreSQL's GIN and trigram indexes)."""
    return not (name or "").startswith("text_search_")


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only alter tables by copying them
        compare_type=True,
        render_item=render_item,
        include_name=include_name,
    )


def run_online() -> None:
    """Migrate over the connection the app handed in, or one made from the app's config."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from catalog import create_app
    from catalog.db import make_engine
    from catalog.schema import foreign_keys_deferred

    app = create_app()
    engine = make_engine(app.config["DATABASE_URL"])
    with engine.connect() as connection, foreign_keys_deferred(connection) as check:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
            check()
    engine.dispose()


def run_offline() -> None:
    """Print the SQL for a URL instead of running it (``alembic upgrade --sql``)."""
    from catalog import create_app

    context.configure(
        url=create_app().config["DATABASE_URL"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
