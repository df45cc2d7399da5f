"""Migrations build the schema from nothing, undo it, and match the models exactly."""

from __future__ import annotations

import sqlalchemy as sa

from catalog import schema
from catalog.db import make_engine
from catalog.models import Base


def table_names(engine: sa.Engine) -> set[str]:
    """The tables of the models: the text search engine's own (``text_search_*``) apart."""
    names = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    return {n for n in names if not n.startswith("text_search_")}


def engine_tables(engine: sa.Engine) -> set[str]:
    return {n for n in sa.inspect(engine).get_table_names() if n.startswith("text_search_")}


def test_upgrade_downgrade_upgrade_and_no_drift(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        assert schema.current_revision(engine) is None
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert table_names(engine) == set(Base.metadata.tables)
        schema.check(engine)  # raises on any drift between models and migrations
        if engine.dialect.name == "sqlite":
            assert "text_search_fts" in engine_tables(engine)

        schema.downgrade(engine, "base")
        assert schema.current_revision(engine) is None
        assert table_names(engine) == set()
        assert engine_tables(engine) == set()

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


def test_rebuilding_the_media_table_keeps_what_refers_to_it(fresh_database_url: str) -> None:
    """SQLite alters ``media`` by copying it; with foreign keys on, dropping the old copy would
    cascade into every table that refers to it."""
    engine = make_engine(fresh_database_url)
    try:
        schema.upgrade(engine, "7d2e4b9a1c36")  # before media.kind gained "audio"
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO media (id, sha256, kind, mime_type, size_bytes, extracted,"
                    " created_at, updated_at, verification) VALUES (1, :sha, 'image',"
                    " 'image/png', 5, '{}', '2026-01-01', '2026-01-01', 'unverified')"
                ),
                {"sha": "a" * 64},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO media_hashes (media_id, algorithm, variant, bits, bit_length)"
                    " VALUES (1, 'pdq', 'full', :bits, 256)"
                ),
                {"bits": b"\x00" * 32},
            )
        schema.upgrade(engine)
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM media_hashes")) == 1
            kinds = connection.scalar(sa.text("SELECT kind FROM media"))
            assert kinds == "image"
            if engine.dialect.name == "sqlite":  # and foreign keys are on again afterwards
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_old_party_kinds_and_stances_map_to_the_new_vocabulary(fresh_database_url: str) -> None:
    """Revision e4a4c0de0004 rewrites the party kinds it drops, keeps the stances and the
    acknowledgements of rebuilt tables, and a downgrade maps the new words back."""
    engine = make_engine(fresh_database_url)
    try:
        schema.upgrade(engine, "c4a9e2d7f310")
        with engine.begin() as connection:
            for i, kind in enumerate(
                ("armed_force", "armed_group", "political", "organisation", "government"), 1
            ):
                connection.execute(
                    sa.text(
                        "INSERT INTO parties (id, name, kind, created_at)"
                        " VALUES (:id, :name, :kind, '2026-01-01')"
                    ),
                    {"id": i, "name": f"party {i}", "kind": kind},
                )
            connection.execute(
                sa.text(
                    "INSERT INTO incidents (id, title, created_at) VALUES (1, 'x', '2026-01-01')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO acknowledgements (party_id, incident_id, status, created_at)"
                    " VALUES (1, 1, 'denied', '2026-01-01')"
                )
            )
        schema.upgrade(engine)
        with engine.begin() as connection:
            kinds = dict(connection.execute(sa.text("SELECT id, kind FROM parties")).all())
            assert kinds == {1: "agency", 2: "group", 3: "group", 4: "group", 5: "government"}
            assert connection.scalar(sa.text("SELECT status FROM acknowledgements")) == "denied"
            connection.execute(
                sa.text(
                    "INSERT INTO acknowledgements (party_id, incident_id, status, created_at)"
                    " VALUES (2, 1, 'denied_involvement', '2026-01-01')"
                )
            )
            connection.execute(sa.text("UPDATE parties SET kind = 'person' WHERE id = 5"))
        schema.downgrade(engine, "c4a9e2d7f310")
        with engine.connect() as connection:
            statuses = connection.scalars(sa.text("SELECT status FROM acknowledgements")).all()
            assert sorted(statuses) == ["denied", "denied"]
            assert connection.scalar(sa.text("SELECT kind FROM parties WHERE id = 5")) == "other"
    finally:
        engine.dispose()


def test_canonical_urls_are_filled_for_the_rows_there_before(fresh_database_url: str) -> None:
    """Migration e5a5c0de0005 gives existing sightings and captures their canonical URL, so
    look-ups find what was recorded before it."""
    engine = make_engine(fresh_database_url)
    try:
        schema.upgrade(engine, "c4a9e2d7f310")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO media (id, sha256, kind, mime_type, size_bytes, extracted,"
                    " created_at, updated_at, verification) VALUES (1, :sha, 'image',"
                    " 'image/png', 5, '{}', '2026-01-01', '2026-01-01', 'unverified')"
                ),
                {"sha": "a" * 64},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO sightings (id, media_id, url, created_at) VALUES"
                    " (1, 1, 'https://twitter.com/user/status/1?s=20', '2026-01-01'),"
                    " (2, 1, NULL, '2026-01-01')"
                )
            )
            connection.execute(
                sa.text(
                    "INSERT INTO captures (id, url, status, attempts, created_at) VALUES"
                    " (1, 'https://t.me/s/Chan/5', 'done', 1, '2026-01-01')"
                )
            )
        schema.upgrade(engine)
        with engine.connect() as connection:
            sightings = connection.execute(
                sa.text("SELECT id, url, url_canonical FROM sightings ORDER BY id")
            ).all()
            assert [tuple(r) for r in sightings] == [
                (1, "https://twitter.com/user/status/1?s=20", "https://x.com/i/status/1"),
                (2, None, None),
            ]
            captures = connection.execute(sa.text("SELECT url, url_canonical FROM captures")).all()
            assert [tuple(r) for r in captures] == [
                ("https://t.me/s/Chan/5", "https://t.me/chan/5")
            ]
            connection.execute(
                sa.text(
                    "INSERT INTO sighting_annotations (sighting_id, text, created_at)"
                    " VALUES (1, 'kept', '2026-01-01')"
                )
            )
            connection.commit()
        # Undone, the columns go and nothing that refers to a sighting goes with them.
        schema.downgrade(engine, "c4a9e2d7f310")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("sightings")}
        assert "url_canonical" not in columns and "url" in columns
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM sighting_annotations")) == 1
            assert connection.scalar(sa.text("SELECT count(*) FROM sightings")) == 2
    finally:
        engine.dispose()
