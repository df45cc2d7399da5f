"""``flask catalog verify|gc|export|demo``: prove what is held, clear what a crash left,
write reports, load the worked example."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app, render_template
from flask.cli import with_appcontext

from ..db import get_session
from ..services import ServiceError, reports
from ..services.custody import collect_garbage, verify
from ..services.evidence import stamp_audit_head, timestamp_authorities
from ..services.media import get_index, thresholds_from
from ..services.people import accounts
from ..storage import get_storage
from ..tsa import load_roots


@click.command("verify")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option(
    "--timestamp",
    is_flag=True,
    help="first have the time-stamp authorities stamp the audit chain's head",
)
@with_appcontext
def verify_command(as_json: bool, timestamp: bool) -> None:
    """Re-hash every original, check the audit chain and every trusted timestamp, find
    orphans; exit 1 on any fault."""
    config = current_app.config
    if timestamp:
        authorities = timestamp_authorities(config)
        if not authorities:
            raise click.ClickException("no time-stamp authority is configured")
        roots = load_roots(config.get("TIMESTAMP_ROOTS"))
        stamped = stamp_audit_head(get_session(), authorities, roots=roots)
        for failure in stamped.failures:
            click.echo(f"TIMESTAMP {failure}", err=True)
        if not stamped.made:
            raise click.ClickException("no authority gave a token")
    # Tokens over the head are due on the worker's schedule once authorities are configured.
    schedule = float(config["TIMESTAMP_HEAD_HOURS"]) if timestamp_authorities(config) else 0.0
    report = verify(
        get_session(), get_storage(), load_roots(config.get("TIMESTAMP_ROOTS")), schedule
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
        ):
            for fault in faults:
                click.echo(f"{label} {fault}", err=True)
        click.echo(
            f"{report.records} records, {report.originals_checked} originals re-hashed,"
            f" {report.audit_events} audit events; "
            f"{len(report.altered)} altered, {len(report.missing)} missing,"
            f" {len(report.orphans)} orphans, "
            f"{len(report.audit_faults)} audit faults, {report.tokens_checked} timestamps checked"
            f" ({len(report.timestamp_faults)} not holding)"
        )
        click.echo("OK" if report.ok else "FAULTS FOUND")
    if not report.ok:
        sys.exit(1)


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
    """Remove orphaned originals (left by a crash), stale temporary files and unfinished uploads."""
    report = collect_garbage(
        get_session(), get_storage(), older_than_s=float(older_than), dry_run=dry_run
    )
    verb = "would remove" if dry_run else "removed"
    for sha256 in report.orphans:
        click.echo(f"{verb} orphan {sha256}")
    click.echo(
        f"{verb} {len(report.orphans)} orphans, {report.temporary} temporary files and"
        f" {report.uploads} unfinished uploads;"
        f" kept {report.kept_young} younger than {older_than} s"
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
@with_appcontext
def export_command(incident: str, output: str, formats: tuple[str, ...]) -> None:
    """Write the provenance report of an incident (id or title) as JSON, CSV and HTML."""
    session = get_session()
    try:
        found = reports.incident_by_title_or_id(session, incident)
        made = reports.incident_report(
            session, found.id, thresholds_from(current_app.config).cluster_confidence
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


COMMANDS = [verify_command, gc_command, export_command, demo_command]
