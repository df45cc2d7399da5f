"""``flask catalog storage ...``: where the originals are kept, and moving them between a local
folder and an S3-compatible bucket."""

from __future__ import annotations

import json
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup

from ..storage import StorageError, get_storage, open_store
from ..storage.transfer import copy_store, plan


@click.group("storage", cls=AppGroup)
def storage_group() -> None:
    """Describe the media store, or copy its files to another one."""


@storage_group.command("where")
def where_command() -> None:
    """Print where originals are kept (a folder, or an s3:// bucket and prefix)."""
    click.echo(get_storage().describe())


@storage_group.command("migrate")
@click.option(
    "--to",
    "to_url",
    required=True,
    help="the store to copy into: s3://bucket/prefix, or a folder (file:///path or a path)",
)
@click.option(
    "--endpoint-url",
    default=None,
    help="the S3 endpoint of the target (default: the S3_ENDPOINT_URL setting)",
)
@click.option(
    "--jobs",
    default=4,
    show_default=True,
    type=click.IntRange(1, 32),
    help="originals copied at once",
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def migrate_command(to_url: str, endpoint_url: str | None, jobs: int, as_json: bool) -> None:
    """Copy every original and derived file to another store, each verified by SHA-256;
    run it again to resume. Then point CATALOG_STORAGE_URL at the new store."""
    config = current_app.config
    source = get_storage()
    try:
        target = open_store(
            to_url,
            config["MEDIA_ROOT"],
            endpoint_url=endpoint_url or config.get("S3_ENDPOINT_URL"),
            create_bucket=bool(config.get("S3_CREATE_BUCKET")),
        )
    except (ValueError, StorageError) as exc:
        raise click.ClickException(str(exc)) from None
    originals = plan(source)
    click.echo(
        f"copying {len(originals)} originals from {source.describe()} to {target.describe()}",
        err=True,
    )
    started = time.monotonic()
    with click.progressbar(length=len(originals), label="Copying", file=sys.stderr) as bar:

        def settled(_: str, __: str) -> None:
            bar.update(1)

        try:
            report = copy_store(source, target, originals, jobs=jobs, on_original=settled)
        except StorageError as exc:
            raise click.ClickException(str(exc)) from None
    seconds = time.monotonic() - started
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "seconds": round(seconds, 2)}, indent=2))
    else:
        for replaced in report.replaced:
            click.echo(f"REPLACED {replaced}")
        for failure in report.failed:
            click.echo(f"FAILED {failure}")
        click.echo(
            f"{report.copied} originals copied ({report.bytes_copied / 1e6:.1f} MB), "
            f"{report.present} already there, {report.derived_copied} derived files copied, "
            f"{report.kept_copied} kept records copied, "
            f"{len(report.failed)} failed, in {seconds:.1f} s"
        )
        if not report.failed:
            click.echo(
                f"every original is in {target.describe()}, read back and verified by SHA-256, "
                "those already there included"
            )
    if report.failed:
        sys.exit(1)


COMMANDS = [storage_group]
