"""``flask catalog verify|timestamps|gc|export|demo``: prove what is held, keep the trusted
timestamps elsewhere, clear what a crash left, write reports, load the worked example."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app, render_template
from flask.cli import AppGroup, with_appcontext

from ..db import get_session
from ..services import ServiceError, reports
from ..services.custody import collect_garbage, verify
from ..services.evidence import (
    export_document,
    keep_missing_copies,
    read_export,
    stamp_audit_head,
    timestamp_authorities,
)
from ..services.media import get_index, thresholds_from
from ..services.people import accounts
from ..storage import StorageError, get_storage
from ..tsa import load_roots

EXPORT_FILE = "tokens.json"


def _exported(path: str | None) -> list[dict] | None:
    """The tokens of an export (its folder, or its JSON file), or None without one."""
    if path is None:
        return None
    target = Path(path)
    try:
        return read_export((target / EXPORT_FILE if target.is_dir() else target).read_bytes())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


@click.command("verify")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option(
    "--timestamp",
    is_flag=True,
    help="first have the time-stamp authorities stamp the audit chain's head",
)
@click.option(
    "--tokens",
    "tokens_path",
    type=click.Path(exists=True),
    help="also check the tokens against an export kept elsewhere (`catalog timestamps export`)",
)
@with_appcontext
def verify_command(as_json: bool, timestamp: bool, tokens_path: str | None) -> None:
    """Re-hash every original, check the audit chain, every trusted timestamp and its copies,
    replay the chain against the evidence rows, find orphans; exit 1 on any fault."""
    config = current_app.config
    exported = _exported(tokens_path)
    if timestamp:
        authorities = timestamp_authorities(config)
        if not authorities:
            raise click.ClickException("no time-stamp authority is configured")
        roots = load_roots(config.get("TIMESTAMP_ROOTS"))
        stamped = stamp_audit_head(get_session(), get_storage(), authorities, roots=roots)
        for failure in stamped.failures:
            click.echo(f"TIMESTAMP {failure}", err=True)
        if not stamped.made:
            raise click.ClickException("no authority gave a token")
    # Tokens over the head are due on the worker's schedule once authorities are configured.
    schedule = float(config["TIMESTAMP_HEAD_HOURS"]) if timestamp_authorities(config) else 0.0
    report = verify(
        get_session(),
        get_storage(),
        load_roots(config.get("TIMESTAMP_ROOTS")),
        schedule,
        exported,
        authorities_configured=bool(timestamp_authorities(config)),
    )
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for label, faults in (
            ("ALTERED", report.altered),
            ("MISSING", report.missing),
            ("ORPHAN", report.orphans),
            ("AUDIT", report.audit_faults),
            ("TIMESTAMP", report.timestamp_faults),
            ("GAP", report.timestamp_gaps),
            ("ROW", report.row_faults),
        ):
            for fault in faults:
                click.echo(f"{label} {fault}", err=True)
        click.echo(
            f"{report.records} records, {report.originals_checked} originals re-hashed,"
            f" {report.audit_events} audit events; "
            f"{len(report.altered)} altered, {len(report.missing)} missing,"
            f" {len(report.orphans)} orphans, "
            f"{len(report.audit_faults)} audit faults, {report.stamping}"
            f" ({len(report.timestamp_faults)} not holding), "
            f"{len(report.row_faults)} rows differing from the audit trail"
        )
        if report.unrecorded_young:
            click.echo(
                f"NOTE {report.unrecorded_young} originals younger than an hour have no record yet"
                " (searched files kept for cataloguing, or ingests under way): gc removes those"
                " left unrecorded once they are an hour old"
            )
        if not report.authorities_configured:
            # Said on its own line: an unstamped chain is no fault, but no proof of time either.
            click.echo(f"NOTE {report.stamping}")
        click.echo("OK" if report.ok else "FAULTS FOUND")
    if not report.ok:
        sys.exit(1)


@click.group("timestamps", cls=AppGroup)
def timestamps_group() -> None:
    """Keep the trusted timestamps where a database rewrite cannot reach them."""


@timestamps_group.command("export")
@click.argument("target", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="write one JSON file (- for stdout)")
def timestamps_export(target: str, as_json: bool) -> None:
    """Write every token with its statement into the folder TARGET (tokens.json, and a .tsr
    and .txt per token for `openssl ts -verify`), or with --json into the file TARGET; keep it
    away from the catalogue and check it with `catalog verify --tokens TARGET`."""
    document = export_document(get_session())
    text = json.dumps(document, indent=1, ensure_ascii=False)
    if as_json:
        if target == "-":
            click.echo(text)
            return
        Path(target).write_text(text, encoding="utf-8")
    else:
        folder = Path(target)
        folder.mkdir(parents=True, exist_ok=True)
        for token in document["tokens"]:
            stem = folder / f"{token['subject']}-{token['sha256'][:16]}"
            stem.with_suffix(".tsr").write_bytes(base64.b64decode(token["token"]))
            stem.with_suffix(".txt").write_bytes(token["statement"].encode("utf-8"))
        (folder / EXPORT_FILE).write_text(text, encoding="utf-8")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    click.echo(f"wrote {len(document['tokens'])} tokens to {target} at {stamp}", err=True)


@timestamps_group.command("keep")
def timestamps_keep() -> None:
    """Keep in the store a copy of every token that has none (made before copies were kept)."""
    try:
        written = keep_missing_copies(get_session(), get_storage())
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"kept {written} copies")


@click.command("gc")
@click.option(
    "--older-than",
    "older_than",
    type=click.IntRange(0),
    default=3600,
    show_default=True,
    help="seconds a file must be old to go (younger ones may be mid-ingest)",
)
@click.option("--dry-run", is_flag=True, help="only say what would be removed")
@with_appcontext
def gc_command(older_than: int, dry_run: bool) -> None:
    """Remove orphaned originals, stale temporary files, unfinished uploads and the originals of
    media withdrawn longer than WITHDRAWN_RETENTION_DAYS."""
    report = collect_garbage(
        get_session(),
        get_storage(),
        older_than_s=float(older_than),
        dry_run=dry_run,
        withdrawn_retention_days=float(current_app.config["WITHDRAWN_RETENTION_DAYS"]),
    )
    verb = "would remove" if dry_run else "removed"
    for sha256 in report.orphans:
        click.echo(f"{verb} orphan {sha256}")
    for media_id in report.withdrawn_removed:
        click.echo(f"{verb} the original of withdrawn media #{media_id}")
    click.echo(
        f"{verb} {len(report.orphans)} orphans, {report.temporary} temporary files and"
        f" {report.uploads} unfinished uploads;"
        f" kept {report.kept_young} younger than {older_than} s"
        f" and the originals of {report.withdrawn_kept} media withdrawn within the retention"
        " period"
    )


@click.command("export")
@click.argument("incident")
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="folder to write into",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(reports.FORMATS),
    multiple=True,
    help="repeatable; default all three",
)
@click.option(
    "--proposed",
    is_flag=True,
    help="also show, apart and marked unconfirmed, facts reached only through proposed links",
)
@with_appcontext
def export_command(incident: str, output: str, formats: tuple[str, ...], proposed: bool) -> None:
    """Write the provenance report of an incident (id or title) as JSON, CSV and HTML."""
    session = get_session()
    try:
        found = reports.incident_by_title_or_id(session, incident)
        made = reports.incident_report(
            session,
            found.id,
            thresholds_from(current_app.config).cluster_confidence,
            proposed=proposed,
        )
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    for fmt in formats or reports.FORMATS:
        target = folder / f"incident-{found.id}.{fmt}"
        if fmt == "json":
            target.write_text(
                json.dumps(reports.as_json(made), indent=2, ensure_ascii=False), encoding="utf-8"
            )
        elif fmt == "csv":
            target.write_text(reports.as_csv(made), encoding="utf-8", newline="")
        else:
            css = (Path(current_app.root_path) / "web" / "static" / "report.css").read_text(
                encoding="utf-8"
            )
            target.write_text(
                render_template("report.html", report=made, inline_css=css), encoding="utf-8"
            )
        click.echo(f"wrote {target}")
    click.echo(f"{len(made.media)} media in {len(made.clusters)} clusters")


@click.command("demo")
@click.option("--user", "username", help="record the loading in the audit trail as this user")
@click.option(
    "--copy-to",
    type=click.Path(file_okay=False),
    help="also write a re-encoded copy of the smoke clip here, to upload",
)
@with_appcontext
def demo_command(username: str | None, copy_to: str | None) -> None:
    """Load the worked example: the claimed drone strike on the Kremlin of 3 May 2023."""
    from .. import demo

    session = get_session()
    try:
        actor = accounts.get_user(session, username) if username else None
        config = current_app.config
        result = demo.load(
            session,
            get_storage(),
            get_index(),
            actor=actor,
            thresholds=thresholds_from(config),
            max_pixels=int(config["MAX_IMAGE_PIXELS"]),
        )
    except ServiceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"loaded {demo.INCIDENT!r} (incident #{result.incident_id}): "
        + ", ".join(f"{k} #{v}" for k, v in result.media.items())
    )
    if copy_to:
        click.echo(
            f"wrote {demo.write_copy(Path(copy_to))}: upload it to see the match and its provenance"
        )


COMMANDS = [verify_command, timestamps_group, gc_command, export_command, demo_command]
