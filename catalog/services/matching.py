"""The per-process similarity index, fed from the database and kept fresh by watermark.

Every process (gunicorn worker, CLI command) holds its own ``CatalogIndex``; before each
search it reads the hash and keypoint rows added since its watermark, at most once per
``INDEX_REFRESH_SECONDS``, so media added through any worker are found through every other
within about a second.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import numpy as np
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from ..db import database
from ..hashing.features import Features
from ..index import CatalogIndex, Thresholds, set_threads
from ..models import MediaFeatures, MediaHash

BATCH = 50_000


class IndexHolder:
    """One process's index, its refresh schedule and whether the first load has finished."""

    def __init__(self, kind: str, refresh_seconds: float) -> None:
        self.index = CatalogIndex(kind)
        self.refresh_seconds = refresh_seconds
        self.last_refresh = 0.0
        self.loaded = threading.Event()
        self.lock = threading.Lock()
        self.load_seconds: float | None = None
        self.preloading = False

    def refresh(self, session: Session, *, force: bool = False) -> int:
        """Read rows newer than the watermarks if the interval has passed; return rows added."""
        now = time.monotonic()
        if not force and self.loaded.is_set() and now - self.last_refresh < self.refresh_seconds:
            return 0
        with self.lock:
            if (
                not force
                and self.loaded.is_set()
                and time.monotonic() - self.last_refresh < self.refresh_seconds
            ):
                return 0
            started = time.monotonic()
            added = load_hashes(session, self.index) + load_features(session, self.index)
            self.last_refresh = time.monotonic()
            if not self.loaded.is_set():
                self.load_seconds = self.last_refresh - started
                self.loaded.set()
            return added


def load_hashes(session: Session, index: CatalogIndex) -> int:
    """Add hash rows above the index's watermark; return how many."""
    total = 0
    while True:
        rows = session.execute(
            sa.select(
                MediaHash.id,
                MediaHash.media_id,
                MediaHash.algorithm,
                MediaHash.frame_time_s,
                MediaHash.bits,
            )
            .where(MediaHash.id > index.hash_watermark)
            .order_by(MediaHash.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return total
        by_algorithm: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_algorithm[row.algorithm].append(row)
        for algorithm, group in by_algorithm.items():
            index.add_hashes(
                algorithm,
                np.fromiter((r.id for r in group), np.int64, len(group)),
                np.fromiter((r.media_id for r in group), np.int64, len(group)),
                np.fromiter(
                    (np.nan if r.frame_time_s is None else r.frame_time_s for r in group),
                    np.float64,
                    len(group),
                ),
                np.frombuffer(b"".join(r.bits for r in group), dtype=np.uint8),
            )
        # Rows of algorithms the index does not know still move the watermark.
        index.hash_watermark = max(index.hash_watermark, rows[-1].id)
        total += len(rows)


def load_features(session: Session, index: CatalogIndex) -> int:
    """Add keypoint rows above the index's watermark; return how many."""
    total = 0
    while True:
        rows = session.execute(
            sa.select(
                MediaFeatures.id,
                MediaFeatures.media_id,
                MediaFeatures.frame_time_s,
                MediaFeatures.width,
                MediaFeatures.height,
                MediaFeatures.descriptors,
                MediaFeatures.positions,
            )
            .where(MediaFeatures.id > index.feature_watermark)
            .order_by(MediaFeatures.id)
            .limit(BATCH // 10)
        ).all()
        if not rows:
            return total
        for row in rows:
            features = Features.unpack(row.descriptors, row.positions, row.width, row.height)
            index.add_features(row.id, row.media_id, row.frame_time_s, features)
        total += len(rows)


def init_app(app: Flask) -> None:
    """Give the app its index, empty until first used or preloaded."""
    app.extensions["catalog.index"] = IndexHolder(
        app.config["INDEX_KIND"], float(app.config["INDEX_REFRESH_SECONDS"])
    )
    set_threads(int(app.config["INDEX_THREADS"]))


def start_preload(app: Flask) -> threading.Thread:
    """Load the index in a background thread (gunicorn calls this in each new worker)."""
    holder = get_index(app)
    holder.preloading = True
    thread = threading.Thread(
        target=_preload, args=(app, holder), name="index-preload", daemon=True
    )
    thread.start()
    return thread


def _preload(app: Flask, holder: IndexHolder) -> None:
    with database(app).sessions() as session:
        try:
            holder.refresh(session, force=True)
        except Exception:  # noqa: BLE001 - a missing schema is reported by /readyz
            app.logger.exception("could not load the similarity index at start-up")


def get_index(app: Flask | None = None) -> IndexHolder:
    """Return the app's index holder."""
    return (app or current_app).extensions["catalog.index"]


def thresholds_from(config: Any) -> Thresholds:
    """Build the match thresholds from the app's settings."""
    return Thresholds(
        pdq=int(config["MATCH_PDQ"]),
        pdq_loose=int(config["MATCH_PDQ_LOOSE"]),
        phash=int(config["MATCH_PHASH"]),
        phash_loose=int(config["MATCH_PHASH_LOOSE"]),
        min_inliers=int(config["MATCH_MIN_INLIERS"]),
        frame_pdq=int(config["MATCH_FRAME_PDQ"]),
        cluster_confidence=float(config["CLUSTER_MIN_CONFIDENCE"]),
    )
