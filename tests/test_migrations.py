"""Migrations build the schema from nothing, undo it, and match the models exactly."""

from __future__ import annotations

import sqlalchemy as sa

from catalog import schema
from catalog.db import make_engine
from catalog.models import Base


def table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade_and_no_drift(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        assert schema.current_revision(engine) is None
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert table_names(engine) == set(Base.metadata.tables)
        schema.check(engine)  # raises on any drift between models and migrations

        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        assert table_names(engine) == set()

        schema.upgrade(engine)
        schema.check(engine)
    finally:
        engine.dispose()


def test_constraints_carry_conventional_names(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        schema.upgrade(engine)
        inspector = sa.inspect(engine)
        uniques = {c["name"] for c in inspector.get_unique_constraints("media")}
        assert "uq_media_sha256" in uniques
        fks = {c["name"] for c in inspector.get_foreign_keys("sightings")}
        assert "fk_sightings_media_id_media" in fks
        checks = {c["name"] for c in inspector.get_check_constraints("acknowledgements")}
        assert {"ck_acknowledgements_ack_status", "ck_acknowledgements_has_subject"} <= checks
    finally:
        engine.dispose()


def test_single_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS_DIR))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1
