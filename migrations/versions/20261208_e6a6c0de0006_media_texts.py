"""what media say, as searchable text: media_texts (each text read from a media or written in
its records, with its terms), media_text_states (whether a media's text was read), text_terms
(the stems stored, for misspelt queries); and each engine's own index of the terms

SQLite: an FTS5 table over media_texts (external content, kept in step by triggers).
PostgreSQL: a stored tsvector column of the terms with a GIN index, and pg_trgm's trigram
index over the stems. Both engines' parts are named ``text_search_*``: Alembic's comparison
leaves them alone (env.py), since none is a column or an index of the models. A later batch
migration that copies media_texts on SQLite must make the triggers again.

Rows for media already catalogued are made by ``flask catalog text reindex``, and their
pictures and videos are read by the worker's text backlog job; the migration writes none.

Revision ID: e6a6c0de0006
Revises: e4a4c0de0004
Create Date: 2026-12-08 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e6a6c0de0006"
down_revision: str | None = "e4a4c0de0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The expression PostgreSQL's index holds; the search queries the very same expression.
# Frozen here: catalog/services/text/engines.py keeps its own copy, and a test compares them.
PG_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, stems), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, words), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, latin), 'C'))"
)
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE text_search_fts USING fts5("
    "words, stems, latin, content='media_texts', content_rowid='id', "
    'tokenize="unicode61 remove_diacritics 0")'
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER text_search_ai AFTER INSERT ON media_texts BEGIN "
    "INSERT INTO text_search_fts(rowid, words, stems, latin) "
    "VALUES (new.id, new.words, new.stems, new.latin); END",
    "CREATE TRIGGER text_search_ad AFTER DELETE ON media_texts BEGIN "
    "INSERT INTO text_search_fts(text_search_fts, rowid, words, stems, latin) "
    "VALUES ('delete', old.id, old.words, old.stems, old.latin); END",
    "CREATE TRIGGER text_search_au AFTER UPDATE ON media_texts BEGIN "
    "INSERT INTO text_search_fts(text_search_fts, rowid, words, stems, latin) "
    "VALUES ('delete', old.id, old.words, old.stems, old.latin); "
    "INSERT INTO text_search_fts(rowid, words, stems, latin) "
    "VALUES (new.id, new.words, new.stems, new.latin); END",
)


def upgrade() -> None:
    op.create_table(
        "media_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.Double(), nullable=True),
        sa.Column("until", sa.Double(), nullable=True),
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("lang", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("ref_id", sa.Integer(), nullable=True),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("stems", sa.Text(), nullable=False),
        sa.Column("latin", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "until IS NULL OR at IS NULL OR until >= at", name=op.f("ck_media_texts_span_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_media_texts_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_texts")),
    )
    op.create_index("ix_media_texts_media_field", "media_texts", ["media_id", "field"])
    op.create_table(
        "media_text_states",
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name=op.f("fk_media_text_states_media_id_media"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("media_id", name=op.f("pk_media_text_states")),
    )
    op.create_index(
        op.f("ix_media_text_states_state"), "media_text_states", ["state"], unique=False
    )
    op.create_table(
        "text_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_text_terms")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Stored, not an expression index: a match re-checks weights on what is stored, and
        # ranking reads it, rather than working the vector out again for every text.
        op.execute(
            "ALTER TABLE media_texts ADD COLUMN text_search_tsv tsvector "
            f"GENERATED ALWAYS AS {PG_VECTOR} STORED"
        )
        op.execute("CREATE INDEX text_search_vector ON media_texts USING gin (text_search_tsv)")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX text_search_terms_trgm ON text_terms USING gin (term gin_trgm_ops)"
        )
    else:
        op.execute(SQLITE_FTS)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS text_search_terms_trgm")
        op.execute("DROP INDEX IF EXISTS text_search_vector")
    else:
        for name in ("text_search_ai", "text_search_ad", "text_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS text_search_fts")
    op.drop_table("text_terms")
    op.drop_index(op.f("ix_media_text_states_state"), table_name="media_text_states")
    op.drop_table("media_text_states")
    op.drop_index("ix_media_texts_media_field", table_name="media_texts")
    op.drop_table("media_texts")
