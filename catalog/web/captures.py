"""Pages of captures: the "Capture from a URL" form, the list of captures, and a capture's
page (status and progress while it runs, then its screenshot, files, the media it found, its
trusted timestamps and whether its post is still there); "check again now" on a capture and on
a sighting (the deletion re-check, at once)."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, render_template, request, send_file, url_for
from flask import redirect as go
from flask_login import current_user

from ..db import get_session
from ..jobs import enqueue_capture
from ..models import CaptureStatus, Role
from ..netguard import AddressPolicy
from ..security import work_message, work_wait
from ..services import ServiceError
from ..services.collection import Check, captures
from ..services.collection import sightings as collected
from ..services.collection.recheck import DELETED
from ..services.evidence import capture_tokens
from ..storage import StorageError, get_storage
from . import as_sentence, bp, error_page, role_required
from .forms import CaptureForm, ConfirmForm

# Served for download only, never shown in the catalogue's own pages: a captured page is
# someone else's HTML and script.
DOWNLOADS = {
    "html": ("text/html", "html"),
    "warc": ("application/warc", "warc.gz"),
    "wacz": ("application/wacz", "wacz"),
}


def _subtitle_download(role: str, content_type: str) -> tuple[str, str]:
    """How a capture's subtitle file is downloaded: its type, and a name with its language."""
    suffix = "srt" if content_type == "application/x-subrip" else "vtt"
    return content_type, f"{role.removeprefix('subtitles-')}.{suffix}"


@bp.route("/captures", methods=["GET", "POST"])
@role_required(Role.VIEWER, post=Role.ANALYST)
def captures_page():
    """The form to capture a URL, and the captures made so far."""
    form = CaptureForm()
    answer = 200
    if request.method == "POST" and form.validate_on_submit():
        wait = work_wait("capture", current_user.id)
        if not wait:
            capture = captures.create_capture(
                get_session(), form.url.data, incident=form.incident.data, actor=current_user
            )
            enqueue_capture(capture.id)
            return go(url_for("web.capture_page", capture_id=capture.id))
        form.url.errors = [as_sentence(work_message("capture", wait))]
        answer = 429
    status = request.args.get("status") or None
    listed = captures.list_captures(
        get_session(),
        status=status if status in {s.value for s in CaptureStatus} else None,
        limit=100,
    )
    return render_template("captures.html", form=form, captures=listed, status=status), answer


@bp.route("/captures/<id:capture_id>")
@role_required(Role.VIEWER)
def capture_page(capture_id: int):
    """One capture: while it runs, its progress (the page reloads itself); then what it kept."""
    session = get_session()
    capture = captures.get_capture(session, capture_id)
    return render_template(
        "capture.html",
        capture=capture,
        files={f.role: f for f in capture.files},
        found=captures.capture_media(session, capture),
        running=capture.status in (CaptureStatus.QUEUED, CaptureStatus.RUNNING),
        sightings=captures.sightings_of(session, capture),
        tokens=capture_tokens(session, capture.id),
    )


@bp.route("/captures/<id:capture_id>/check", methods=["POST"])
@role_required(Role.ANALYST)
def check_capture(capture_id: int):
    """Re-check now whether the captured post is still there (each of its sightings)."""
    captures.get_capture(get_session(), capture_id)  # 404 before anything else
    if ConfirmForm().validate_on_submit():
        _check(lambda policy: collected.check_capture_now(
            get_session(), policy, capture_id, current_user
        ))  # fmt: skip
    return go(url_for("web.capture_page", capture_id=capture_id) + "#capture-checks")


@bp.route("/sightings/<id:sighting_id>/check", methods=["POST"])
@role_required(Role.ANALYST)
def check_sighting(sighting_id: int):
    """Re-check now whether a sighting's post is still there."""
    media_id = collected.sighting_media(get_session(), sighting_id)
    if ConfirmForm().validate_on_submit():
        _check(lambda policy: [collected.check_sighting_now(
            get_session(), policy, sighting_id, current_user
        )])  # fmt: skip
    return go(url_for("web.media_page", media_id=media_id) + "#sightings")


def _check(run: Callable[[AddressPolicy], list[Check]]) -> None:
    """Run a re-check asked for from a page; say what it found, or why it was not made."""
    wait = work_wait("capture", current_user.id)
    if wait:
        flash(as_sentence(work_message("capture", wait)), "danger")
        return
    policy = AddressPolicy.from_setting(current_app.config.get("CAPTURE_ALLOWED_HOSTS"))
    try:
        checks = run(policy)
    except ServiceError as exc:
        flash(f"Not checked: {exc}", "danger")
        return
    gone = sum(c.state == DELETED for c in checks)
    found = ", ".join(f"{c.state} ({c.reason})" for c in checks)
    flash(f"Checked now: {found}.", "warning" if gone else "success")


@bp.route("/captures/<id:capture_id>/files/<string(maxlength=32):role>")
@role_required(Role.VIEWER)
def capture_file(capture_id: int, role: str):
    """A file the capture kept: the screenshot shown, the page, archive and subtitles
    downloaded."""
    if role not in DOWNLOADS and role != "screenshot" and not role.startswith("subtitles-"):
        return error_page(404, "A capture keeps no such file.")
    capture = captures.get_capture(get_session(), capture_id)
    kept = next((f for f in capture.files if f.role == role), None)
    if kept is None:
        return error_page(404, f"This capture kept no {role}.")
    try:
        handle = get_storage().open(kept.sha256)
    except StorageError:
        return error_page(404, "The stored file is missing; run `flask catalog verify`.")
    if role == "screenshot":
        shown = send_file(handle, mimetype="image/png", max_age=3600, etag=kept.sha256)
        # Evidence like the rest: kept by this browser only, never by a shared cache.
        shown.cache_control.public = False
        shown.cache_control.private = True
        return shown
    mimetype, suffix = DOWNLOADS.get(role) or _subtitle_download(role, kept.content_type)
    # An attachment, and nosniff on every answer: the browser saves it, never renders it here.
    return send_file(
        handle,
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"capture-{capture.id}.{suffix}",
        etag=kept.sha256,
    )
