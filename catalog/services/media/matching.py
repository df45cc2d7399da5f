"""The similarity index of a process, fed from the database and kept fresh by watermark.

Every process (gunicorn worker, CLI command) opens the server's current snapshot
(``services.snapshots``: files every worker maps, so they share one copy) and then, before
each search, reads the hash and keypoint rows added since the watermarks, at most once per
``INDEX_REFRESH_SECONDS``, so media added through any worker are found through every other
within about a second. Row ids follow commit order (ingest takes the audit chain's lock
before it writes them), so reading ``id > watermark`` never passes over a row committed late.

Once ``INDEX_SNAPSHOT_PICTURES`` pictures sit in memory past the snapshot, one process writes
a new snapshot (the old one plus the rows past it) and every worker moves to it at its next
refresh. The keypoints of candidate pictures are read from the database for the geometric
check, so memory holds only the compact candidate stage.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from ...db import database, make_engine
from ...hashing.audio import AudioPrint
from ...hashing.features import DESCRIPTOR_BYTES, Features
from ...index import CatalogIndex, LoadFeatures, Thresholds, read_snapshot_meta, set_threads
from ...index.audio import AudioIndex
from ...models import MediaAudio, MediaFeatures, MediaHash
from . import snapshots

BATCH = 50_000
AUDIO_BATCH = 2_000  # a row holds a whole recording's values


class IndexHolder:
    """One process's index, its refresh schedule and whether the first load has finished."""

    def __init__(
        self,
        kind: str,
        refresh_seconds: float,
        folder: Path | None = None,
        snapshot_pictures: int = 0,
        database_url: str | None = None,
    ) -> None:
        self.kind = kind
        self.index = CatalogIndex(kind)
        self.refresh_seconds = refresh_seconds
        self.folder = folder
        self.snapshot_pictures = snapshot_pictures
        self.database_url = database_url
        self.last_refresh = 0.0
        self.loaded = threading.Event()
        self.lock = threading.Lock()
        self.load_seconds: float | None = None
        self.preloading = False
        self._writer: Any = None  # the process writing a new snapshot, if any

    @property
    def audio(self) -> AudioIndex:
        """The sound index of the index in use (mapped from its snapshot, plus what is newer)."""
        return self.index.audio

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
            added = 0
            newer = self._newer_snapshot(session)
            if newer is not None:
                # Fill the new index before it replaces the old: searches meanwhile use the old.
                added += load_hashes(session, newer) + load_features(session, newer)
                added += load_audio(session, newer.audio)
                self.index = newer
            added += load_hashes(session, self.index) + load_features(session, self.index)
            added += load_audio(session, self.index.audio)
            self.last_refresh = time.monotonic()
            if not self.loaded.is_set():
                self.load_seconds = self.last_refresh - started
                self.loaded.set()
            self._snapshot_if_due()
            return added

    def _newer_snapshot(self, session: Session) -> CatalogIndex | None:
        """Open the server's current snapshot if it is not the one this index came from."""
        if self.folder is None:
            return None
        path = snapshots.current(self.folder)
        if path is None or path.name == self.index.snapshot:
            return None
        try:
            opened = CatalogIndex.open(path, self.kind)
        except (OSError, ValueError):
            return None  # another vocabulary or format: the next snapshot written replaces it
        if not _same_database(session, opened):
            return None
        return opened

    def _snapshot_if_due(self) -> None:
        """Start writing a new snapshot in a process of its own when enough is held past it."""
        if not self.snapshot_pictures or self.folder is None or self.database_url is None:
            return
        if self._writer is not None and self._writer.is_alive():
            return
        # A recording's postings weigh about as much as ten pictures' keypoints.
        held = self.index.keypoints.pictures_in_memory
        if held + 10 * self.index.audio.recordings_in_memory < self.snapshot_pictures:
            return
        # A process of its own: writing a million pictures' snapshot takes CPU a worker
        # serving searches should not give up, and one lock file keeps it to one at a time.
        context = multiprocessing.get_context("spawn")
        self._writer = context.Process(
            target=write_snapshot_process,
            args=(self.database_url, str(self.folder), self.kind),
            name="index-snapshot",
            daemon=True,
        )
        self._writer.start()

    def feature_loader(self, session: Session) -> LoadFeatures:
        """Return a loader of stored keypoints by row id, for the geometric check."""
        return lambda rows: features_by_row(session, rows)


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


def load_audio(session: Session, index: AudioIndex) -> int:
    """Add sound fingerprint rows above the index's watermark; return how many."""
    total = 0
    while True:
        rows = session.execute(
            sa.select(
                MediaAudio.id,
                MediaAudio.media_id,
                MediaAudio.fingerprint,
                MediaAudio.informative,
                MediaAudio.duration_s,
            )
            .where(MediaAudio.id > index.watermark)
            .order_by(MediaAudio.id)
            .limit(AUDIO_BATCH)
        ).all()
        if not rows:
            index.settle()  # once, after a load of many: not a re-sort per row
            return total
        for row in rows:
            index.add(
                row.media_id,
                AudioPrint.from_bytes(row.fingerprint, row.informative, row.duration_s),
                defer=True,
            )
        index.watermark = rows[-1].id
        total += len(rows)


def load_features(session: Session, index: CatalogIndex, *, merge: bool = True) -> int:
    """Add keypoint rows above the index's watermark; return how many.

    Only descriptors are read: the index keeps the candidate stage, and the geometric check
    reads a candidate's positions from the database (``features_by_row``). A snapshot being
    written passes ``merge=False`` and merges every segment once when it saves.
    """
    total = 0
    while True:
        rows = session.execute(
            sa.select(
                MediaFeatures.id,
                MediaFeatures.media_id,
                MediaFeatures.frame_time_s,
                MediaFeatures.descriptors,
            )
            .where(MediaFeatures.id > index.feature_watermark)
            .order_by(MediaFeatures.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return total
        index.add_features_many(
            ((r.id, r.media_id, r.frame_time_s, _descriptors_only(r.descriptors)) for r in rows),
            merge=merge,
        )
        total += len(rows)


def _descriptors_only(descriptors: bytes) -> Features:
    codes = np.frombuffer(descriptors, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES)
    return Features(np.zeros((len(codes), 2), np.float32), codes, 1, 1)


def features_by_row(session: Session, row_ids: list[int]) -> dict[int, Features]:
    """Read stored keypoints by row id (the candidates of a search)."""
    rows = session.execute(
        sa.select(
            MediaFeatures.id,
            MediaFeatures.width,
            MediaFeatures.height,
            MediaFeatures.descriptors,
            MediaFeatures.positions,
        ).where(MediaFeatures.id.in_(row_ids))
    ).all()
    return {
        row.id: Features.unpack(row.descriptors, row.positions, row.width, row.height)
        for row in rows
    }


def write_snapshot(session: Session, folder: Path, kind: str, *, rebuild: bool = False) -> Path:
    """Write a snapshot: the current one (unless ``rebuild``) plus every row past it."""
    with snapshots.writer_lock(folder):
        path = None if rebuild else snapshots.current(folder)
        index = None
        if path is not None:
            try:
                index = CatalogIndex.open(path, kind)
            except (OSError, ValueError):
                index = None
            if index is not None and not _same_database(session, index):
                index = None
        if index is None:
            index, path = CatalogIndex(kind), None
        added = load_hashes(session, index) + load_audio(session, index.audio)
        load_features(session, index, merge=False)
        if path is not None and not added and not index.keypoints.pictures_in_memory:
            return path  # nothing new since the current snapshot
        index.check = _check_of(session, index.hash_watermark)
        name = f"{index.hash_watermark}-{index.feature_watermark}-{int(time.time())}"
        return snapshots.publish(folder, name, index.save)


def write_snapshot_process(database_url: str, folder: str, kind: str) -> None:
    """Write a snapshot in a process of its own (started by a worker)."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            write_snapshot(session, Path(folder), kind)
    finally:
        engine.dispose()


def _check_of(session: Session, hash_watermark: int) -> tuple[int, int, str] | None:
    """Return what identifies this database's newest hash row (id, media, bits)."""
    row = session.execute(
        sa.select(MediaHash.media_id, MediaHash.bits).where(MediaHash.id == hash_watermark)
    ).first()
    return None if row is None else (hash_watermark, int(row.media_id), bytes(row.bits).hex())


def _same_database(session: Session, index: CatalogIndex) -> bool:
    """Check that a snapshot was made from this database: its newest hash row is here."""
    check = index.check
    if check is None:
        return True
    row = session.execute(
        sa.select(MediaHash.media_id, MediaHash.bits).where(MediaHash.id == check[0])
    ).first()
    return row is not None and row.media_id == check[1] and bytes(row.bits).hex() == check[2]


def init_app(app: Flask) -> None:
    """Give the app its index, empty until first used or preloaded."""
    app.extensions["catalog.index"] = IndexHolder(
        app.config["INDEX_KIND"],
        float(app.config["INDEX_REFRESH_SECONDS"]),
        Path(app.config["INDEX_DIR"]),
        int(app.config["INDEX_SNAPSHOT_PICTURES"]),
        app.config["DATABASE_URL"],
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


def prepare_snapshot(app: Flask) -> Path | None:
    """Bring the server's snapshot up to date before workers start, when it lags far behind.

    gunicorn's master calls this once, so the workers it forks map one fresh snapshot
    instead of each reading a large backlog from the database into memory of its own.
    """
    holder = get_index(app)
    if holder.folder is None:
        return None
    with database(app).sessions() as session:
        try:
            behind = _pictures_past_snapshot(session, holder.folder, holder.kind)
        except sa.exc.SQLAlchemyError:
            app.logger.exception("could not read the database to prepare the index snapshot")
            return None
        if behind is not None and behind < max(1, holder.snapshot_pictures):
            return snapshots.current(holder.folder)
        return write_snapshot(session, holder.folder, holder.kind)


def _pictures_past_snapshot(session: Session, folder: Path, kind: str) -> int | None:
    """Return how many keypoint rows lie past the current snapshot (None: no usable one)."""
    path = snapshots.current(folder)
    if path is None:
        held = session.scalar(sa.select(MediaHash.id).limit(1)) or session.scalar(
            sa.select(MediaAudio.id).limit(1)
        )
        return None if held else 0
    try:
        meta = read_snapshot_meta(path)
    except (OSError, ValueError):
        return None
    pictures = session.scalar(
        sa.select(sa.func.count())
        .select_from(MediaFeatures)
        .where(MediaFeatures.id > int(meta["feature_watermark"]))
    )
    recordings = session.scalar(
        sa.select(sa.func.count())
        .select_from(MediaAudio)
        .where(MediaAudio.id > int(meta.get("audio_watermark", 0)))
    )
    # Weighed as the snapshot trigger weighs them (a recording as ten pictures).
    return int(pictures or 0) + 10 * int(recordings or 0)


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
        frame_pdq_along=int(config["MATCH_FRAME_PDQ_ALONG"]),
        cluster_confidence=float(config["CLUSTER_MIN_CONFIDENCE"]),
    )
