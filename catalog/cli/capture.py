"""``flask catalog capture|worker``: capturing post pages, and the background job worker.

``capture --json`` is a fixed contract that tools outside this repository rely on: it waits
for each capture to finish and prints one JSON line per URL, ``{"url", "capture_id",
"status", "media": [{"media_id", "sha256", "kind", "created"}], "files": [{"role",
"sha256"}]}`` (with ``"error"`` when the capture failed), or ``{"url", "error"}`` when no
capture could be made of it. It exits 0 once every URL was tried. ``recheck --json`` prints
one line per sighting re-checked, ``{"sighting_id", "url", "state"}``, the state being
``live``, ``deleted`` or ``unreachable``.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from ..db import get_session
from ..jobs import run_worker
from ..models import Capture, Incident
from ..netguard import AddressPolicy
from ..services import ServiceError
from ..services.collection import (
    CaptureSettings,
    RetryLater,
    attempt_failed,
    capture_refusal,
    create_capture,
    recheck_sightings,
    run_capture,
)
from ..services.collection.captures import capture_media
from ..services.media import get_index, thresholds_from
from ..services.people import accounts
from ..storage import get_storage


@click.command("capture")
@with_appcontext
@click.argument("urls", nargs=-1, required=True)
@click.option("--incident", help="Incident the post is about (created if new).")
@click.option("--user", "username", help="Record the capture in the audit trail as this user.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per URL.")
def capture_command(
    urls: tuple[str, ...], incident: str | None, username: str | None, as_json: bool
) -> None:
    """Capture each URL (screenshot, page, web archive, media) and wait for it to finish."""
    session = get_session()
    config = current_app.config
    try:
        actor = accounts.get_user(session, username) if username else None
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    settings = CaptureSettings.from_config(config)
    for url in urls:
        try:
            capture = create_capture(session, url, incident=incident, actor=actor)
        except ServiceError as exc:
            session.rollback()
            _emit({"url": url, "error": str(exc)}, as_json)
            continue
        while True:
            try:
                capture = run_capture(
                    session,
                    get_storage(),
                    get_index(),
                    capture.id,
                    settings,
                    thresholds_from(config),
                )
                break
            except RetryLater:
                attempts = capture.attempts or 1
                time.sleep(float(config["CAPTURE_RETRY_SECONDS"]) * 2 ** (attempts - 1))
                capture = session.get(Capture, capture.id) or capture
            except KeyboardInterrupt:
                # Stopped by hand: the capture ends failed, not "running" with nobody on it.
                session.rollback()
                stopped = replace(settings, attempts=0)
                attempt_failed(session, capture.id, "the capture command was interrupted", stopped)
                raise
        _emit(capture_line(session, capture), as_json)


def capture_line(session: Any, capture: Capture) -> dict[str, Any]:
    """Return the contract's JSON object for a finished capture."""
    line: dict[str, Any] = {
        "url": capture.url,
        "capture_id": capture.id,
        "status": capture.status.value,
        "media": [
            {
                "media_id": media.id,
                "sha256": media.sha256,
                "kind": media.kind.value,
                "created": found.created,
            }
            for found, media in capture_media(session, capture)
        ],
        "files": [{"role": f.role, "sha256": f.sha256} for f in capture.files],
    }
    if capture.error:
        line["error"] = capture.error
    return line


def _emit(line: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(line))
    elif "capture_id" not in line:
        click.echo(f"{line['url']}: {line['error']}", err=True)
    else:
        kept = ", ".join(f"{f['role']} {f['sha256'][:12]}" for f in line["files"]) or "no files"
        found = ", ".join(
            f"#{m['media_id']} {m['kind']}{' (new)' if m['created'] else ''}" for m in line["media"]
        )
        click.echo(
            f"capture {line['capture_id']} of {line['url']}: {line['status']}"
            f"{' - ' + line['error'] if line.get('error') else ''}; kept {kept};"
            f" media {found or 'none'}"
        )


@click.command("recheck")
@with_appcontext
@click.option("--incident", help="Only the sightings of this incident's media.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sighting.")
def recheck_command(incident: str | None, as_json: bool) -> None:
    """Re-check now whether the posts where media were seen are live, deleted or unreachable."""
    session = get_session()
    if (
        incident is not None
        and session.scalar(sa.select(Incident.id).where(Incident.title == incident)) is None
    ):
        raise click.ClickException(f"no incident named {incident!r}")
    policy = AddressPolicy.from_setting(current_app.config.get("CAPTURE_ALLOWED_HOSTS"))
    for check in recheck_sightings(session, policy, incident=incident):
        if as_json:
            click.echo(
                json.dumps(
                    {"sighting_id": check.sighting_id, "url": check.url, "state": check.state}
                )
            )
        else:
            click.echo(f"sighting {check.sighting_id}: {check.state} ({check.reason}) {check.url}")


@click.command("worker")
@with_appcontext
@click.option(
    "--workers", type=click.IntRange(1, 64), default=None, help="Job threads (QUEUE_WORKERS)."
)
@click.option(
    "--scheduler/--no-scheduler",
    default=True,
    show_default=True,
    help="Also queue the scheduled jobs (deletion re-check, timestamps); one worker of a "
    "deployment does, the others run with --no-scheduler.",
)
def worker_command(workers: int | None, scheduler: bool) -> None:
    """Run background jobs (captures, uploads, the deletion re-check) until stopped."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    refused = capture_refusal(CaptureSettings.from_config(app.config))
    if refused:
        # Uploads and the other jobs still run; each capture fails with this reason.
        click.secho(f"CAPTURES ARE REFUSED on this worker: {refused}", err=True, fg="red")
    run_worker(app, workers or int(app.config["QUEUE_WORKERS"]), scheduler=scheduler)


COMMANDS = [capture_command, recheck_command, worker_command]
