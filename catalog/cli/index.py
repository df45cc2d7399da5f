"""``flask catalog index ...``: this server's similarity-index snapshot."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ..db import get_session
from ..index import read_snapshot_meta
from ..services.media import snapshots
from ..services.media.matching import write_snapshot


@click.group("index", cls=AppGroup)
def index_group() -> None:
    """Write or describe this server's index snapshot (the files every worker maps)."""


@index_group.command("snapshot")
@click.option("--rebuild", is_flag=True, help="Read every row again instead of adding to the last.")
def snapshot_command(rebuild: bool) -> None:
    """Write a new snapshot holding every hash and keypoint row in the database."""
    folder = Path(current_app.config["INDEX_DIR"])
    started = time.monotonic()
    path = write_snapshot(get_session(), folder, current_app.config["INDEX_KIND"], rebuild=rebuild)
    meta = read_snapshot_meta(path)
    click.echo(
        f"snapshot {path.name}: {meta['pictures']} pictures, "
        f"{sum(meta['hashes'].values())} hashes, in {time.monotonic() - started:.1f} s"
    )


@index_group.command("status")
def status_command() -> None:
    """Print the current snapshot's description as JSON (null when there is none)."""
    path = snapshots.current(Path(current_app.config["INDEX_DIR"]))
    meta = read_snapshot_meta(path) if path is not None else None
    click.echo(json.dumps({"snapshot": path.name if path else None, "meta": meta}))


COMMANDS = [index_group]
