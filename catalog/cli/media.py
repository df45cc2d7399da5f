"""``flask catalog import|search``: bulk ingest of folders and matching of files.

Both are a fixed contract that tools outside this repository rely on: ``import`` prints the
counts of added, already known and rejected files and exits 0 once every file was processed;
``search --json`` prints one JSON object per query file.

``import`` keeps its memory flat whatever the folder's size: the hashing processes work at
most ``AHEAD_PER_JOB`` files each ahead of the one process that ingests, and each file's
fingerprints (about 1 MB for a photograph) are let go once it is ingested.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import click
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_session
from ..hashing.pipeline import FileFingerprint, fingerprint_file
from ..services import ServiceError
from ..services.evidence import evidence_text, kind_label
from ..services.media import (
    get_index,
    ingest_audio_fingerprinted,
    ingest_fingerprinted,
    ingest_video_fingerprinted,
    search_file,
    thresholds_from,
)
from ..services.people import accounts
from ..services.records import IngestDetails, SightingInput
from ..services.text import read_sidecar, reading_options
from ..storage import get_storage
from ..text.read import read_file
from ..text.spans import TextReading
from ..text.subtitles import is_subtitle_file, sidecar_for

# Files each hashing process may have hashed, or be hashing, ahead of the ingest: two keep
# every process busy while the ingest catches up, and bound what waits in memory.
AHEAD_PER_JOB = 2


def _files(paths: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand folders (recursively, in name order); return files and paths that do not exist.

    A subtitle file (``NAME.srt``, ``NAME.vtt``) is read with the video it belongs to, never
    catalogued itself; one with no video of its name beside it is refused."""
    found: list[str] = []
    missing: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            found.append(str(path))
        else:
            missing.append((raw, "no such file or folder"))
    media = [f for f in found if not is_subtitle_file(f)]
    claimed = {str(s) for f in media if (s := sidecar_for(f)) is not None}
    for subtitle in (f for f in found if is_subtitle_file(f) and f not in claimed):
        missing.append((subtitle, "a subtitle file with no video of the same name beside it"))
    return media, missing


def prepare_file(
    path: str,
    max_pixels: int,
    max_bytes: int,
    max_video_s: float,
    text_options: dict[str, object] | None,
) -> tuple[FileFingerprint, TextReading | None]:
    """Fingerprint one file and read its text (with a sidecar subtitle file's cues), in a
    hashing process: the import ends with every file it added searchable by its text."""
    result = fingerprint_file(path, max_pixels, max_bytes, max_video_s)
    if result.error is not None or text_options is None:
        return result, None
    kind = "video" if result.video is not None else "audio" if result.audio else "image"
    try:
        with open(path, "rb") as handle:
            reading = read_file(handle, kind, **text_options)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - text not read is a note, never a lost file
        reading = TextReading(notes=[f"text not read: {exc}"])
    sidecar = sidecar_for(path) if kind != "image" else None
    if sidecar is not None:
        try:
            with open(sidecar, "rb") as handle:
                cues = read_sidecar(handle, sidecar.name)
        except ServiceError as exc:
            reading.notes.append(str(exc))
        except OSError as exc:
            reading.notes.append(f"the subtitle file {sidecar.name!r} was not read: {exc}")
        else:
            reading.spans.extend(cues.spans)
            reading.notes.extend(cues.notes)
    return result, reading


@click.command("import")
@with_appcontext
@click.argument("paths", nargs=-1, required=True)
@click.option("--incident", help="Incident the files are about (created if new).")
@click.option("--credit", help="Credit line for every file.")
@click.option("--source", help="Source the files came from (a sighting is recorded).")
@click.option("--platform", help="Platform of that source (telegram, x, ...).")
@click.option("--tag", "tags", multiple=True, help="Tag every file (repeatable).")
@click.option("--user", "username", help="Record the import in the audit trail as this user.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Hashing processes.",
)
def import_command(
    paths: tuple[str, ...],
    incident: str | None,
    credit: str | None,
    source: str | None,
    platform: str | None,
    tags: tuple[str, ...],
    username: str | None,
    jobs: int,
) -> None:
    """Add the files in PATHS (files or folders, recursively) to the catalogue."""
    session = get_session()
    config = current_app.config
    try:
        actor = accounts.get_user(session, username) if username else None
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    files, rejected = _files(paths)
    storage, holder, thresholds = get_storage(), get_index(), thresholds_from(config)
    max_pixels, max_bytes = int(config["MAX_IMAGE_PIXELS"]), int(config["MAX_CONTENT_LENGTH"])
    max_video_s = float(config["MAX_VIDEO_SECONDS"])
    counts: Counter[str] = Counter()
    with (
        _hashing_pool(jobs) as pool,
        click.progressbar(length=len(files), label="Importing", file=sys.stderr) as bar,
    ):
        limits = (max_pixels, max_bytes, max_video_s, reading_options(config))
        for result, reading in _fingerprints(pool, files, limits, AHEAD_PER_JOB * jobs):
            outcome = _ingest_one(
                session,
                storage,
                holder,
                thresholds,
                result,
                reading,
                actor,
                incident,
                credit,
                source,
                platform,
                list(tags),
            )
            if outcome.startswith("rejected:"):
                rejected.append((result.path, outcome.removeprefix("rejected:")))
            else:
                counts[outcome] += 1
            bar.update(1)
    for path, reason in rejected:
        click.echo(f"rejected {path}: {reason}", err=True)
    click.echo(
        f"added {counts['added']}, already known {counts['known']}, rejected {len(rejected)}"
    )


def _fingerprints(
    pool: ProcessPoolExecutor | None,
    files: list[str],
    limits: tuple[int, int, float, dict[str, object] | None],
    ahead: int,
) -> Iterator[tuple[FileFingerprint, TextReading | None]]:
    """Yield each file's fingerprints and text in the order of ``files``, at most ``ahead``
    in flight."""
    if pool is None:
        yield from (prepare_file(path, *limits) for path in files)
        return
    # Not pool.map: it submits every file at once, and each result then waits in memory
    # until the ingest reaches it (2.7 GB for 2,700 small JPEGs). Here a file is submitted
    # only as an earlier one is taken, so what waits is bounded by ``ahead``.
    waiting = iter(files)
    pending: deque[Future[tuple[FileFingerprint, TextReading | None]]] = deque(
        pool.submit(prepare_file, path, *limits) for path in islice(waiting, ahead)
    )
    while pending:
        result = pending.popleft().result()
        if (path := next(waiting, None)) is not None:
            pending.append(pool.submit(prepare_file, path, *limits))
        yield result


def _hashing_pool(jobs: int) -> ProcessPoolExecutor | _NoPool:
    if jobs <= 1:
        return _NoPool()
    # forkserver: the parent holds database connections and index threads that a fork
    # would copy in an unknown state. The server imports the hashing code once and each
    # worker is forked from it ready, rather than importing it again (0.3 s a worker).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["catalog.hashing.pipeline"])
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_prepare_worker,
        initargs=(current_app.config.get("C2PA_TRUST_PEM"),),
    )


def _prepare_worker(trust_pem: str | None) -> None:
    """Keep each hashing process on one thread (the processes already fill the cores) and
    give it the app's C2PA trust list."""
    import cv2

    from ..hashing.embedded import set_trust_anchors

    cv2.setNumThreads(1)
    set_trust_anchors(trust_pem)


class _NoPool:
    """Stands in for a pool when hashing runs in this process."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


def _ingest_one(
    session,
    storage,
    holder,
    thresholds,
    result: FileFingerprint,
    reading: TextReading | None,
    actor,
    incident,
    credit,
    source,
    platform,
    tags,
) -> str:  # noqa: ANN001
    """Store one fingerprinted file; return 'added', 'known' or 'rejected:<reason>'."""
    if result.error is not None:
        return f"rejected:{result.error}"
    try:
        # Read from the file as needed, never whole: folders hold videos of gigabytes.
        data = open(result.path, "rb")  # closed below, whatever happens
    except OSError as exc:
        return f"rejected:cannot read the file ({exc.strerror})"
    with data:
        return _ingest_open(
            session, storage, holder, thresholds, result, reading, data, actor, incident,
            credit, source, platform, tags,
        )  # fmt: skip


def _ingest_open(
    session,
    storage,
    holder,
    thresholds,
    result: FileFingerprint,
    reading: TextReading | None,
    data: BinaryIO,
    actor,
    incident,
    credit,
    source,
    platform,
    tags,
) -> str:  # noqa: ANN001
    try:
        details = IngestDetails(
            credit=credit,
            incident=incident,
            original_filename=Path(result.path).name,
            sighting=SightingInput(source=source, platform=platform)
            if source or platform
            else None,
            tags=tags,
            read_text=reading,
        )
        if result.audio is not None:
            outcome = ingest_audio_fingerprinted(
                session,
                storage,
                holder,
                data,
                result.audio,
                details,
                actor=actor,
                thresholds=thresholds,
                provenance=False,  # an import shows no matches
            )
        elif result.video is not None:
            outcome = ingest_video_fingerprinted(
                session,
                storage,
                holder,
                data,
                result.video,
                details,
                actor=actor,
                thresholds=thresholds,
                provenance=False,  # an import shows no matches
            )
        else:
            # fingerprint_file returns an error, a recording, a video, or a still's two
            # fingerprints.
            assert result.stored is not None and result.query is not None
            outcome = ingest_fingerprinted(
                session,
                storage,
                holder,
                data,
                result.stored,
                result.query,
                details,
                actor=actor,
                thresholds=thresholds,
                provenance=False,  # an import shows no matches
            )
    except (ServiceError, OSError) as exc:
        session.rollback()
        return f"rejected:{exc}"
    return "added" if outcome.created else "known"


@click.command("search")
@with_appcontext
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query file.")
@click.option("--limit", type=click.IntRange(1, 1000), default=None, help="Most matches per file.")
def search_command(files: tuple[str, ...], as_json: bool, limit: int | None) -> None:
    """Find what the catalogue holds that matches each of FILES."""
    session = get_session()
    config = current_app.config
    holder, thresholds = get_index(), thresholds_from(config)
    for path in files:
        try:
            with open(path, "rb") as data:  # read as needed, never whole
                matches = search_file(
                    session,
                    holder,
                    data,
                    thresholds,
                    max_pixels=int(config["MAX_IMAGE_PIXELS"]),
                    limit=limit or int(config["SEARCH_LIMIT"]),
                    max_video_s=float(config["MAX_VIDEO_SECONDS"]),
                )
        except OSError as exc:
            _print_error(path, f"cannot read the file ({exc.strerror})", as_json)
            continue
        except ServiceError as exc:
            _print_error(path, str(exc), as_json)
            continue
        if as_json:
            click.echo(
                json.dumps(
                    {"query": path, "matches": [m.as_dict() for m in matches]}, ensure_ascii=False
                )
            )
            continue
        click.echo(f"{path}: {len(matches)} match{'es' if len(matches) != 1 else ''}")
        for m in matches:
            title = f"  {m.media.title}" if m.media.title else ""
            click.echo(
                f"  {kind_label(m.kind)}: {evidence_text(m.evidence, m.distance, m.details)}"
                f"  score {m.score:.2f}  media {m.media.id} {m.media.sha256[:12]}{title}"
            )


def _print_error(path: str, message: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"query": path, "error": message}, ensure_ascii=False))
    else:
        click.echo(f"{path}: error: {message}", err=True)


COMMANDS = [import_command, search_command]
