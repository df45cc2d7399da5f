"""``flask catalog find`` and ``flask catalog text ...``: searching what media say, and
keeping it searchable.

``find --json`` is a fixed contract that tools outside this repository rely on: one JSON
object per media, best first, ``{"media_id", "sha256", "kind", "score", "hits"}``, each hit
``{"field", "text", "at", ...}``; nothing printed and exit 0 when nothing answers.
"""

from __future__ import annotations

import json

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_session
from ..models import Media
from ..services import ServiceError
from ..services.text import find_text, read_media, reindex_records, waiting
from ..storage import get_storage


def _format_at(at: float | None) -> str:
    if at is None:
        return ""
    minutes, seconds = divmod(int(at), 60)
    return f" at {minutes}:{seconds:02d}"


@click.command("find")
@with_appcontext
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option(
    "--field",
    "fields",
    multiple=True,
    help="Only hits in this field (title, caption, statement, ocr, subtitle, ...; repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per media, best first.")
def find_command(query: str, limit: int, fields: tuple[str, ...], as_json: bool) -> None:
    """Find media by what they say: OCR, subtitles, captions, statements, records."""
    try:
        results = find_text(get_session(), query, limit=limit, fields=fields)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    for result in results:
        if as_json:
            click.echo(json.dumps(result.as_dict(), ensure_ascii=False))
            continue
        media = result.media
        click.echo(f"media {media.id} ({media.kind.value}) {media.title or media.sha256[:12]}")
        for hit in result.hits:
            click.echo(f"  {hit.field}{_format_at(hit.at)}: {hit.text}")


@click.group("text")
def text_group() -> None:
    """Keep what media say searchable."""


@text_group.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Write the record text of every media anew (after an upgrade, or to repair)."""
    session = get_session()
    ids = list(session.scalars(sa.select(Media.id).order_by(Media.id)))
    written = 0
    for start in range(0, len(ids), 1000):
        written += reindex_records(session, ids[start : start + 1000])
        session.commit()
    click.echo(f"{written} texts written for {len(ids)} media")


@text_group.command("read")
@with_appcontext
@click.argument("media_ids", nargs=-1, type=int)
@click.option("--waiting", "only_waiting", is_flag=True, help="Read every media that waits.")
def read_command(media_ids: tuple[int, ...], only_waiting: bool) -> None:
    """Read the text in these media now (pictures by OCR, videos by OCR and subtitles)."""
    session = get_session()
    ids = list(media_ids)
    if only_waiting:
        ids += waiting(session, older_than_s=0, limit=100_000)
    if not ids:
        raise click.UsageError("give media ids, or --waiting")
    for media_id in ids:
        try:
            state = read_media(session, get_storage(), media_id, current_app.config)
        except ServiceError as exc:
            click.echo(f"media {media_id}: {exc}", err=True)
            continue
        notes = "; ".join(state.notes or [])
        click.echo(f"media {media_id}: {state.state}{' (' + notes + ')' if notes else ''}")


COMMANDS = [find_command, text_group]
