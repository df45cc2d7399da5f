"""Text search in a catalogue of 100,000 or 1,000,000 media with realistic text, on SQLite
(FTS5) and PostgreSQL (a tsvector's GIN index): p50 and p99 of ``find`` through the API.

    python -m benchmarks.text_search [--sizes 100000,1000000] [--db sqlite,postgresql]
        [--queries 40]

Each media has about five texts (``benchmarks.text_corpus``): a title, one or two captions,
often a credit and a chyron read by OCR, and for half the videos subtitle cues with their
times, in Russian, Ukrainian or English. They are written in bulk, with the terms
``catalog.text.terms.analyse`` gives and the vocabulary of stems that misspelt queries are
corrected against, as ``catalog.services.text.entries`` writes them one media at a time.
On SQLite the migration's triggers fill the FTS5 table as rows go in; on PostgreSQL the GIN
and trigram indexes are dropped for the load and made again after it, then ANALYZE runs (as
autovacuum would soon after a load).

Queries go through ``GET /api/v1/search/text`` on the Flask test client with an API key: the
whole request (key check, query parsing, the engine, snippets, JSON), without an HTTP
server's share. Each kind of query is asked ``--queries`` times, all kinds shuffled together,
after a few warm-up requests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import sqlalchemy as sa
from flask import Flask

from catalog import create_app, schema
from catalog.db import database, get_session, make_engine
from catalog.models import Media, MediaText, TextTerm
from catalog.services.people import accounts
from catalog.text.terms import Terms, analyse

from .api import percentile
from .speed import table
from .text_corpus import Corpus

BATCH = 5_000
VIDEO_SHARE = 0.2
LIMIT = 20
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PG_INDEXES = {
    "text_search_vector": (
        "CREATE INDEX text_search_vector ON media_texts USING gin (text_search_tsv)"
    ),
    "text_search_terms_trgm": (
        "CREATE INDEX text_search_terms_trgm ON text_terms USING gin (term gin_trgm_ops)"
    ),
}


@cache
def _token_terms(token: str) -> Terms:
    return analyse(token)


def terms_of(text: str) -> tuple[str, str, str]:
    """``analyse(text).joined()``, a word at a time with each word's terms remembered.

    No word spans a space, so the terms of a text are its space-separated pieces' terms in
    turn; analysing each distinct piece once makes a million media's load minutes shorter.
    """
    parts = [_token_terms(token) for token in text.split()]
    return (
        " ".join(w for p in parts for w in p.words),
        " ".join(s for p in parts for s in p.stems),
        " ".join(latin for p in parts for latin in p.latin),
    )


def fill(url: str, size: int, corpus: Corpus) -> tuple[dict[str, float], list[str]]:
    """Write ``size`` media and their texts in bulk; return the times taken and sample texts."""
    engine = make_engine(url)
    schema.upgrade(engine)
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        with engine.begin() as conn:
            for name in PG_INDEXES:
                conn.execute(sa.text(f"DROP INDEX {name}"))
    started = time.perf_counter()
    text_id, samples, vocabulary = 0, [], set()
    for start in range(0, size, BATCH):
        media_rows: list[dict[str, Any]] = []
        text_rows: list[dict[str, Any]] = []
        for media_id in range(start + 1, min(size, start + BATCH) + 1):
            video = corpus.fast.random() < VIDEO_SHARE
            texts = corpus.media_texts(video)
            credit = next((t.text for t in texts if t.field == "credit"), None)
            media_rows.append(
                {
                    "id": media_id,
                    "sha256": f"{media_id:064x}",
                    "kind": "video" if video else "image",
                    "mime_type": "video/mp4" if video else "image/jpeg",
                    "size_bytes": 1,
                    "duration_s": 60.0 if video else None,
                    "title": texts[0].text[:500],
                    "credit": credit,
                    "verification": "unverified",
                    "extracted": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            for one in texts:
                words, stems, latin = terms_of(one.text)
                text_id += 1
                text_rows.append(
                    {
                        "id": text_id,
                        "media_id": media_id,
                        "field": one.field,
                        "text": one.text,
                        "at": one.at,
                        "until": one.until,
                        "lang": one.lang,
                        "source": "bench",
                        "words": words,
                        "stems": stems,
                        "latin": latin,
                        "created_at": NOW,
                    }
                )
                # As add_entries keeps them: stems and Latin forms, 3 to 64 letters.
                vocabulary.update(t for t in (*stems.split(), *latin.split()) if 2 < len(t) <= 64)
                if text_id % 97 == 0:
                    samples.append(one.text)
        with engine.begin() as conn:
            conn.execute(sa.insert(Media.__table__), media_rows)
            conn.execute(sa.insert(MediaText.__table__), text_rows)
    terms = sorted(vocabulary)
    with engine.begin() as conn:
        for start in range(0, len(terms), 50_000):
            conn.execute(
                sa.insert(TextTerm.__table__), [{"term": t} for t in terms[start : start + 50_000]]
            )
    times = {"load": time.perf_counter() - started, "texts": float(text_id)}
    if postgres:
        started = time.perf_counter()
        with engine.begin() as conn:
            for table_name in ("media", "media_texts"):  # rows went in with their ids
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'),"
                        f" (SELECT max(id) FROM {table_name}))"
                    )
                )
            conn.execute(sa.text("SET maintenance_work_mem = '256MB'"))
            for create in PG_INDEXES.values():
                conn.execute(sa.text(create))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
        times["index"] = time.perf_counter() - started
    engine.dispose()
    return times, samples


def database_mb(url: str, work: Path) -> float:
    """The database's size on disk, in MB (SQLite: after folding the WAL in)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                found = conn.scalar(sa.text("SELECT pg_database_size(current_database())"))
                return int(found) / 1e6
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    finally:
        engine.dispose()
    return sum(p.stat().st_size for p in work.glob("catalog.db*")) / 1e6


def make_app(url: str, work: Path) -> tuple[Flask, str]:
    """The app on the filled database, and an analyst's API key."""
    app = create_app(
        {
            "DATABASE_URL": url,
            "MEDIA_ROOT": str(work / "media"),
            "INDEX_DIR": str(work / "index"),
            "QUEUE_URL": f"sqlite:///{work / 'queue.db'}",
            "QUEUE_EMBEDDED_WORKER": False,
            "SECRET_KEY": "bench",
        }
    )
    with app.app_context():
        accounts.create_user(get_session(), "bench", "bench-password-1", "analyst")
        _, key = accounts.create_api_key(get_session(), "bench")
    return app, key


def ask(app: Flask, key: str, queries: dict[str, list[str]], seed: int) -> list[tuple[str, ...]]:
    """Time every query through the API; return a row per kind and one for all."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    asked = [(kind, q) for kind, some in queries.items() for q in some]
    order = np.random.default_rng(seed).permutation(len(asked))
    for _kind, q in asked[:5]:  # warm-up: connections, caches, first imports
        client.get("/api/v1/search/text?" + urlencode({"q": q, "limit": LIMIT}), headers=headers)
    times: dict[str, list[float]] = {kind: [] for kind in queries}
    answered: dict[str, list[int]] = {kind: [] for kind in queries}
    for n in order:
        kind, q = asked[n]
        started = time.perf_counter()
        response = client.get(
            "/api/v1/search/text?" + urlencode({"q": q, "limit": LIMIT}), headers=headers
        )
        took = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{q!r}: {response.status_code} {response.get_data(True)[:300]}")
        times[kind].append(took)
        answered[kind].append(len(response.get_json()["results"]))
    rows = []
    for kind in queries:
        some = times[kind]
        rows.append(
            (
                kind,
                f"`{queries[kind][0]}`",
                f"{percentile(some, 0.5):.1f} ms",
                f"{percentile(some, 0.99):.1f} ms",
                f"{sum(1 for a in answered[kind] if a)}/{len(some)}",
                f"{np.median(answered[kind]):.0f}",
            )
        )
    every = [t for some in times.values() for t in some]
    rows.append(
        (
            "**all**",
            "",
            f"**{percentile(every, 0.5):.1f} ms**",
            f"**{percentile(every, 0.99):.1f} ms**",
            f"{sum(1 for some in answered.values() for a in some if a)}/{len(every)}",
            "",
        )
    )
    return rows


def bench(db: str, size: int, per_kind: int, seed: int = 29) -> tuple[str, list[tuple[str, ...]]]:
    """Fill one database with ``size`` media, ask the queries; return a title and the rows."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-text-{db}-"))
    postgres = app = None
    try:
        if db == "postgresql":
            # The suite's private server (fsync off, as in the tests): a stand-in for a real one.
            from tests.pgserver import PostgresServer

            postgres = PostgresServer().start()
            url = postgres.create_database("bench")
        else:
            url = f"sqlite:///{work / 'catalog.db'}"
        corpus = Corpus(seed)
        times, samples = fill(url, size, corpus)
        size_mb = database_mb(url, work)
        app, key = make_app(url, work)
        rows = ask(app, key, corpus.queries(samples, per_kind), seed)
        index = f", indexes made and ANALYZE {times['index']:.0f} s" if "index" in times else ""
        title = (
            f"{'SQLite' if db == 'sqlite' else 'PostgreSQL'}, {size:,} media,"
            f" {int(times['texts']):,} texts: bulk load {times['load']:.0f} s{index};"
            f" database {size_mb:,.0f} MB"
        )
        return title, rows
    finally:
        if app is not None:
            database(app).engine.dispose()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark at each size on each database and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_TEXT_SIZES", "100000"),
        help="catalogue sizes, e.g. 100000,1000000 (default: $BENCH_TEXT_SIZES or 100000)",
    )
    parser.add_argument("--db", default="sqlite,postgresql", help="databases to run on")
    parser.add_argument("--queries", type=int, default=40, help="queries of each kind")
    args = parser.parse_args(argv)
    print(f"Text search through GET /api/v1/search/text (limit {LIMIT}), Flask test client\n")
    header = ("query", "e.g.", "p50", "p99", "queries answered", "median results")
    for size in (int(s) for s in args.sizes.split(",") if s):
        for db in args.db.split(","):
            title, rows = bench(db, size, args.queries)
            print(title + "\n")
            print(table(header, rows))
            print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
