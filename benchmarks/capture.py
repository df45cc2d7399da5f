"""Captures per minute: post pages of a local stand-in for social-media sites captured by a
job worker with 2 threads (Chromium, web archive, yt-dlp's and gallery-dl's extractors,
media ingested), from a fresh catalogue.

    python -m benchmarks.capture [--captures 24]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from catalog import create_app, schema
from catalog.db import database, get_session, make_engine
from catalog.jobs import enqueue_capture
from catalog.models import Capture, CaptureStatus
from catalog.services.collection import captures
from tests.postsite import PostSite

from .speed import ROOT, table

PAGES = ("/post/image", "/post/video", "/post/gallery", "/post/sneaky", "/@newsdesk/109300")


def run(count: int, workers: int) -> list[tuple[str, str]]:
    """Capture ``count`` pages with a worker of ``workers`` threads; return the table's rows."""
    work = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    worker = None
    site = PostSite().__enter__()
    try:
        config = {
            "DATABASE_URL": f"sqlite:///{work / 'catalog.db'}",
            "MEDIA_ROOT": str(work / "media"),
            "INDEX_DIR": str(work / "index"),
            "QUEUE_URL": f"sqlite:///{work / 'queue.db'}",
            "SECRET_KEY": "bench",
            "CAPTURE_ALLOWED_HOSTS": ["127.0.0.1"],
            # The stand-in's Mastodon API, read by gallery-dl's extractor.
            "CAPTURE_INSTANCES": [f"mastodon={site.url('')}"],
        }
        engine = make_engine(str(config["DATABASE_URL"]))
        schema.upgrade(engine)
        engine.dispose()
        app = create_app(config)
        env = {
            **os.environ,
            **{
                f"CATALOG_{k}": json.dumps(v) if isinstance(v, list) else str(v)
                for k, v in config.items()
            },
            "CATALOG_INSTANCE_PATH": str(work / "instance"),
        }
        with app.app_context():
            session = get_session()
            for n in range(count):
                made = captures.create_capture(
                    session, site.url(PAGES[n % len(PAGES)]), incident="Bench", actor=None
                )
                enqueue_capture(made.id)
            started = time.perf_counter()
            worker = subprocess.Popen(
                [*_flask(), "worker", "--workers", str(workers)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while True:
                session.rollback()
                left = session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Capture)
                    .where(Capture.status.in_([CaptureStatus.QUEUED, CaptureStatus.RUNNING]))
                )
                if not left:
                    break
                time.sleep(0.2)
            took = time.perf_counter() - started
            done = session.scalar(
                sa.select(sa.func.count())
                .select_from(Capture)
                .where(Capture.status == CaptureStatus.DONE)
            )
            media = session.scalar(sa.text("SELECT count(*) FROM capture_media"))
        database(app).engine.dispose()
        return [
            ("captures", f"{count} ({', '.join(PAGES)} in turn), {done} done"),
            ("worker", f"`catalog worker --workers {workers}` (start-up included)"),
            ("time", f"{took:.1f} s"),
            ("captures per minute", f"{count / took * 60:.1f}"),
            ("media found (new or known)", str(media)),
        ]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        site.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


def _flask() -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", "catalog"]


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print(table(("measure", "value"), run(args.captures, args.workers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
