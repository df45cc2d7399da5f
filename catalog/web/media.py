"""Pages for one media: the upload form, the media page with its edit forms, and the pictures
and files the pages show (thumbnails, previews, video stills, the player's stream, the
original as a download)."""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..db import get_session
from ..jobs import enqueue_text, enqueue_upload
from ..models import Incident, MediaKind, Role, UploadJob, UploadStatus
from ..replies import report_response, send_derived, send_stored
from ..security import work_message, work_wait
from ..services import NotFound, ServiceError, reports
from ..services.collection import sightings as collected
from ..services.media import get_index, previews, thresholds_from, uploads
from ..services.media.compare import shared_sound
from ..services.media.uploads import UploadSettings, accept_upload
from ..services.records import catalogue, editing, named, restore_media, withdraw_media
from ..services.text import media_text, read_sidecar, reading_state
from ..storage import StorageError, get_storage
from . import (
    as_sentence,
    bp,
    error_page,
    flash_errors,
    redirect_back,
    role_required,
    wants_json,
)
from .forms import (
    AcknowledgementForm,
    AnnotationForm,
    ConfirmForm,
    MediaEditForm,
    ReviewForm,
    SightingForm,
    UploadForm,
    WithdrawForm,
)

STRIP_FRAMES = 24


def _incident_titles() -> list[str]:
    return [i.title for i in named.list_named(get_session(), Incident)]


@bp.route("/")
@role_required(Role.VIEWER)
def home():
    """The start page: what to do, and the latest media."""
    items, _ = catalogue.list_media(get_session(), catalogue.MediaFilter(), limit=12)
    return render_template("home.html", items=items)


@bp.route("/upload", methods=["GET", "POST"])
@role_required(Role.ANALYST)
def upload():
    """Add an image or video with what is known about it; say at once if it was known."""
    form = UploadForm()
    valid = form.validate_on_submit()
    # Counted once the form is valid: a mistyped form costs the user none of their uploads.
    wait = work_wait("upload", current_user.id) if valid else 0
    if wait:
        form.file.data.close()
        form.file.errors = [as_sentence(work_message("upload", wait))]
    elif valid:
        config = current_app.config
        upload = form.file.data
        details = form.details()
        details.original_filename = upload.filename  # reduced to a plain name by the service
        try:
            if form.subtitles.data:  # read first: a refused subtitle file stores nothing
                details.sidecar = read_sidecar(
                    form.subtitles.data.stream, form.subtitles.data.filename or ""
                )
            # Read from the upload as Werkzeug spooled it (to disk past 500 KB), never whole.
            result = accept_upload(
                get_session(),
                get_storage(),
                get_index(),
                upload.stream,
                details,
                actor=current_user,
                thresholds=thresholds_from(config),
                settings=UploadSettings.from_config(config),
            )
        except ServiceError as exc:
            form.file.errors = [*form.file.errors, f"{as_sentence(exc)} Nothing was stored."]
        else:
            if isinstance(result, UploadJob):  # a long video: a worker reads it
                enqueue_upload(result.id)
                target = url_for("web.upload_job_page", job_id=result.id)
            else:
                if result.created:
                    enqueue_text(result.media.id)
                target = url_for(
                    "web.media_page",
                    media_id=result.media.id,
                    upload="new" if result.created else "known",
                )
            return jsonify(ok=True, redirect=target) if wants_json() else redirect(target)
        finally:
            upload.close()  # release the spooled temporary file at once
            if form.subtitles.data:
                form.subtitles.data.close()
    status = 200 if request.method != "POST" else 429 if wait else 422
    if request.method == "POST":
        if wants_json():
            errors = form.all_errors()
            # A refused file's own error already ends "Nothing was stored.": said once.
            said = any("Nothing was stored" in e for es in errors.values() for e in es)
            return jsonify(
                ok=False,
                message="The upload was not accepted." + ("" if said else " Nothing was stored."),
                errors=errors,
            ), status
        flash_errors(form)
    return render_template("upload.html", form=form, incidents=_incident_titles()), status


@bp.route("/uploads/<id:job_id>")
@role_required(Role.VIEWER)
def upload_job_page(job_id: int):
    """A long video being read by a worker: its progress (the page reloads itself), then the
    media it made."""
    job = uploads.get_upload(get_session(), job_id)
    if job.status is UploadStatus.DONE and job.media_id is not None:
        return redirect(
            url_for(
                "web.media_page", media_id=job.media_id, upload="new" if job.created else "known"
            )
        )
    kept = job.status is UploadStatus.FAILED and get_storage().exists(job.sha256)
    return render_template("upload_job.html", job=job, form=ConfirmForm(), retry=kept)


@bp.route("/uploads/<id:job_id>/retry", methods=["POST"])
@role_required(Role.ANALYST)
def retry_upload_job(job_id: int):
    """Try a failed upload again whose stored file was kept."""
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            job = uploads.retry_upload(get_session(), get_storage(), job_id, current_user)
        except ServiceError as exc:
            flash(str(exc), "danger")
        else:
            enqueue_upload(job.id)
    return redirect(url_for("web.upload_job_page", job_id=job_id))


@bp.route("/media/<id:media_id>")
@role_required(Role.VIEWER)
def media_page(media_id: int):
    """Everything about one media, with the forms to change it."""
    record = catalogue.describe(
        get_session(), media_id, thresholds_from(current_app.config).cluster_confidence
    )
    media = record.media
    # Withdrawn: analysts see it with who withdrew it and why (and may restore it, as
    # admins); to viewers it is not there, as in every list.
    if media.withdrawn_at is not None and not current_user.role.allows(Role.ANALYST):
        return error_page(404, f"No media with id {media_id}.")
    edit = MediaEditForm(
        formdata=None,
        title=media.title,
        description=media.description,
        credit=media.credit,
        incident=media.incident.title if media.incident else "",
        tags=", ".join(sorted(t.name for t in media.tags)),
        verification=media.verification.value,
        claimed_captured_at=media.claimed_captured_at,
        claimed_place=media.claimed_place,
    )

    def moment(s: Any) -> Any:
        return s.posted_at or s.observed_at

    timed = [s for s in media.sightings if moment(s) is not None]
    timeline = sorted(timed, key=moment) + sorted(
        (s for s in media.sightings if moment(s) is None), key=lambda s: s.id
    )
    first = timeline[0].id if timed else None
    return render_template(
        "media.html",
        record=record,
        media=media,
        edit=edit,
        timeline=timeline,
        first_sighting=first,
        posted_from=collected.posted_sources(get_session(), (s.capture_id for s in timeline)),
        sighting_form=SightingForm(formdata=None),
        ack_form=AcknowledgementForm(formdata=None),
        review_form=ReviewForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
        incidents=_incident_titles(),
        upload_state=request.args.get("upload"),
        strip=_strip(record.frame_times),
        sound_spans=_sound_spans(media, record.links),
        sighting_edits={s.id: _sighting_form(s) for s in media.sightings},
        annotation_forms={s.id: AnnotationForm(prefix=f"a{s.id}") for s in media.sightings},
        ack_edits={a.id: _ack_form(a) for a in media.acknowledgements},
        withdraw_form=WithdrawForm(formdata=None),
        texts=media_text(get_session(), media.id),
        reading=reading_state(get_session(), media.id),
        start=_start(request.args.get("t", "")),
    )


def _start(given: str) -> float | None:
    """Where a link asks the player to start (``?t=`` seconds, as the text search links)."""
    try:
        seconds = float(given)
    except ValueError:
        return None
    return round(seconds, 1) if 0 <= seconds < 10**7 else None


def _sound_spans(media: Any, links: list[Any]) -> dict[int, dict[str, Any]]:
    """For a recording's links to videos: where the shared sound lies in each video, read
    from the stored fingerprints, so a link is named with its stretch as the upload answer
    named the match ("an excerpt of the soundtrack of #1 (0:05–0:17)")."""
    if media.kind is not MediaKind.AUDIO:
        return {}
    spans = {}
    for link in links:
        if link.source_media_id == media.id and link.target_media.kind is MediaKind.VIDEO:
            found = shared_sound(media, link.target_media)
            if found is not None:
                spans[link.id] = found
    return spans


def _strip(times: list[float]) -> list[float]:
    if len(times) <= STRIP_FRAMES:
        return times
    step = (len(times) - 1) / (STRIP_FRAMES - 1)
    return [times[round(i * step)] for i in range(STRIP_FRAMES)]


def _sighting_form(s: Any) -> SightingForm:
    return SightingForm(
        formdata=None,
        prefix=f"s{s.id}",
        url=s.url,
        platform=s.platform or "",
        source=s.source.name if s.source else "",
        account=s.account,
        posted_at=s.posted_at,
        observed_at=s.observed_at,
        deleted_at=s.deleted_at,
        archive_url=s.archive_url,
    )


def _ack_form(a: Any) -> AcknowledgementForm:
    return AcknowledgementForm(
        formdata=None,
        prefix=f"a{a.id}",
        party=a.party.name,
        status=a.status.value,
        statement=a.statement,
        source=a.source.name if a.source else "",
        url=a.statement_url,
        stated_at=a.stated_at,
    )


def _back(media_id: int, anchor: str = "") -> Any:
    return redirect(url_for("web.media_page", media_id=media_id) + anchor)


def _refused(media_id: int, form: Any, what: str) -> Any:
    problems = "; ".join(
        f"{getattr(form, name).label.text if hasattr(form, name) else name}: {' '.join(errs)}"
        for name, errs in form.errors.items()
    )
    flash(f"The {what} was not saved. {problems}", "danger")
    return _back(media_id)


@bp.route("/media/<id:media_id>/edit", methods=["POST"])
@role_required(Role.ANALYST)
def edit_media(media_id: int):
    """Save the media's title, description, credit, verification, incident, claims and tags."""
    form = MediaEditForm()
    if not form.validate():
        return _refused(media_id, form, "change")
    _save(
        lambda: editing.update_media(get_session(), media_id, form.changes(), current_user),
        "Saved.",
    )
    return _back(media_id)


@bp.route("/media/<id:media_id>/withdraw", methods=["POST"])
@role_required(Role.ANALYST)
def withdraw(media_id: int):
    """Withdraw a media catalogued by mistake, with the reason."""
    form = WithdrawForm()
    if not form.validate():
        return _refused(media_id, form, "withdrawal")
    _save(
        lambda: withdraw_media(get_session(), media_id, form.reason.data, current_user),
        "Withdrawn: it is out of every list, search and report.",
    )
    return _back(media_id)


@bp.route("/media/<id:media_id>/restore", methods=["POST"])
@role_required(Role.ADMIN)
def restore(media_id: int):
    """Bring a withdrawn media back."""
    if not ConfirmForm().validate():
        return error_page(400, "The form expired; reload the page and try again.")
    _save(lambda: restore_media(get_session(), media_id, current_user), "Restored.")
    return _back(media_id)


@bp.route("/media/<id:media_id>/incident/<id:incident_id>", methods=["POST"])
@role_required(Role.ANALYST)
def join_incident(media_id: int, incident_id: int):
    """Put the media in the incident its copies belong to (one click on its page)."""
    if not ConfirmForm().validate():
        return error_page(400, "The form expired; reload the page and try again.")
    _save(
        lambda: editing.join_incident(get_session(), media_id, incident_id, current_user),
        "Added to the incident.",
    )
    return _back(media_id)


@bp.route("/media/<id:media_id>/sightings", methods=["POST"])
@role_required(Role.ANALYST)
def add_sighting(media_id: int):
    """Record another place the media was seen."""
    form = SightingForm()
    if not form.validate():
        return _refused(media_id, form, "sighting")
    _save(
        lambda: editing.add_sighting(get_session(), media_id, form.to_input(), current_user),
        "Sighting added.",
    )
    return _back(media_id, "#sightings")


@bp.route("/sightings/<id:sighting_id>/edit", methods=["POST"])
@role_required(Role.ANALYST)
def edit_sighting(sighting_id: int):
    """Change a sighting."""
    sighting = editing.get_sighting(get_session(), sighting_id)
    form = SightingForm(prefix=f"s{sighting_id}")
    if not form.validate():
        return _refused(sighting.media_id, form, "sighting")
    # The form has no caption, and a sighting's capture is never edited; nor are the facts a
    # capture recorded (the form does not show them for such a sighting).
    kept_as_is = {"caption", "capture_id"}
    if sighting.capture_id is not None:
        kept_as_is.update(editing.CAPTURED_FIELDS)
    values = {k: v for k, v in vars(form.to_input()).items() if k not in kept_as_is}
    _save(
        lambda: editing.update_sighting(get_session(), sighting_id, values, current_user),
        "Sighting saved.",
    )
    return _back(sighting.media_id, "#sightings")


@bp.route("/sightings/<id:sighting_id>/annotate", methods=["POST"])
@role_required(Role.ANALYST)
def annotate_sighting(sighting_id: int):
    """Add a note to a sighting."""
    sighting = editing.get_sighting(get_session(), sighting_id)
    form = AnnotationForm(prefix=f"a{sighting_id}")
    if not form.validate():
        return _refused(sighting.media_id, form, "annotation")
    _save(
        lambda: editing.annotate_sighting(
            get_session(), sighting_id, form.text.data, form.field.data or None, current_user
        ),
        "Annotation added.",
    )
    return _back(sighting.media_id, "#sightings")


@bp.route("/sightings/<id:sighting_id>/delete", methods=["POST"])
@role_required(Role.ANALYST)
def delete_sighting(sighting_id: int):
    """Remove a sighting recorded in error."""
    media_id = editing.get_sighting(get_session(), sighting_id).media_id
    _save(
        lambda: editing.delete_sighting(get_session(), sighting_id, current_user),
        "Sighting removed (the audit trail keeps it).",
    )
    return _back(media_id, "#sightings")


@bp.route("/media/<id:media_id>/acknowledgements", methods=["POST"])
@role_required(Role.ANALYST)
def add_acknowledgement(media_id: int):
    """Record a party's stance on the media."""
    form = AcknowledgementForm()
    if not form.validate():
        return _refused(media_id, form, "acknowledgement")
    _save(
        lambda: editing.add_acknowledgement(
            get_session(), form.to_input(), current_user, media_id=media_id
        ),
        "Acknowledgement added.",
    )
    return _back(media_id, "#acknowledgements")


@bp.route("/acknowledgements/<id:ack_id>/edit", methods=["POST"])
@role_required(Role.ANALYST)
def edit_acknowledgement(ack_id: int):
    """Change an acknowledgement."""
    ack = editing.get_acknowledgement(get_session(), ack_id)
    form = AcknowledgementForm(prefix=f"a{ack_id}")
    back = (
        _back(ack.media_id, "#acknowledgements")
        if ack.media_id
        else redirect(url_for("web.incident", incident_id=ack.incident_id))
    )
    if not form.validate():
        flash(
            "The acknowledgement was not saved: "
            + "; ".join(" ".join(e) for e in form.errors.values()),
            "danger",
        )
        return back
    values = vars(form.to_input())
    values["statement_url"] = values.pop("url")
    _save(
        lambda: editing.update_acknowledgement(get_session(), ack_id, values, current_user),
        "Acknowledgement saved.",
    )
    return back


@bp.route("/acknowledgements/<id:ack_id>/delete", methods=["POST"])
@role_required(Role.ANALYST)
def delete_acknowledgement(ack_id: int):
    """Remove an acknowledgement recorded in error."""
    ack = editing.get_acknowledgement(get_session(), ack_id)
    back = (
        _back(ack.media_id, "#acknowledgements")
        if ack.media_id
        else redirect(url_for("web.incident", incident_id=ack.incident_id))
    )
    _save(
        lambda: editing.delete_acknowledgement(get_session(), ack_id, current_user),
        "Acknowledgement removed (the audit trail keeps it).",
    )
    return back


@bp.route("/links/<id:link_id>/review", methods=["POST"])
@role_required(Role.ANALYST)
def review_link(link_id: int):
    """Confirm or reject a link between two media."""
    form = ReviewForm()
    if not form.validate():
        abort(400)
    link = catalogue.review_link(
        get_session(), link_id, form.review.data, current_user, note=form.note.data
    )
    flash(f"Link {form.review.data}.", "success")
    return redirect_back(url_for("web.media_page", media_id=link.source_media_id) + "#links")


def _save(action: Any, message: str) -> None:
    try:
        action()
    except NotFound:
        raise
    except ServiceError as exc:
        flash(f"Not saved: {exc}", "danger")
    else:
        flash(message, "success")


def _media(media_id: int) -> Any:
    # A withdrawn media's files are for analysts, as its page is.
    return catalogue.find_media(
        get_session(), media_id, withdrawn=current_user.role.allows(Role.ANALYST)
    )


@bp.route("/media/<id:media_id>/report.<any(json, csv, html, pdf):fmt>")
@role_required(Role.VIEWER)
def report(media_id: int, fmt: str):
    """The provenance report of a media (or, with ?scope=cluster, of its whole cluster)."""
    scope = "cluster" if request.args.get("scope") == "cluster" else "media"
    made = reports.media_report(
        get_session(),
        media_id,
        scope,
        thresholds_from(current_app.config).cluster_confidence,
        proposed=request.args.get("proposed") == "1",
    )
    return report_response(made, fmt, f"media-{media_id}-{scope}")


@bp.route("/media/<id:media_id>/<any('thumb.jpg', 'preview.jpg'):name>")
@role_required(Role.VIEWER)
def picture(media_id: int, name: str):
    """A thumbnail or preview of the media (made on first request)."""
    media = _media(media_id)
    data = previews.picture(get_storage(), media, name, int(current_app.config["MAX_IMAGE_PIXELS"]))
    return send_derived(data, name, f"{media.sha256}-{name}")


@bp.route("/media/<id:media_id>/frames/<int:millis>.jpg")
@role_required(Role.VIEWER)
def frame(media_id: int, millis: int):
    """A still of a video at one of its sampled frames (the strip is made in one pass; a
    frame off the strip, as the compare page shows one a picture matched, alone)."""
    media = _media(media_id)
    times = catalogue.frame_times(get_session(), media_id)
    strip = _strip(times)
    wanted = next((t for t in times if round(t * 1000) == millis), None)
    if media.kind is not MediaKind.VIDEO or wanted is None:
        abort(404)
    previews.video_frames(
        get_storage(),
        media,
        strip if wanted in strip else [wanted],
        int(current_app.config["MAX_IMAGE_PIXELS"]),
    )
    return _derived_file(media, previews.frame_name(wanted))


@bp.route("/media/<id:media_id>/waveform.png")
@role_required(Role.VIEWER)
def waveform(media_id: int):
    """The picture of a recording's or a video's sound over time."""
    return _derived_file(_media(media_id), "waveform.png")


@bp.route("/media/<id:media_id>/contact-sheet.jpg")
@role_required(Role.VIEWER)
def contact_sheet(media_id: int):
    """The contact sheet of a video's sampled frames."""
    return _derived_file(_media(media_id), "contact-sheet.jpg")


def _derived_file(media: Any, name: str):
    try:
        data = previews.derived(get_storage(), media, name)
    except NotFound:
        abort(404)
    return send_derived(data, name, f"{media.sha256}-{name}")


@bp.route("/media/<id:media_id>/play")
@role_required(Role.VIEWER)
def play(media_id: int):
    """The video or recording for the page's player: its sniffed type, inline, with range
    requests (streamed from the store, or a redirect to the bucket where presigned)."""
    media = _media(media_id)
    if media.kind is MediaKind.IMAGE:
        abort(404)
    try:
        return send_stored(get_storage(), media.sha256, media.mime_type, presign=True)
    except StorageError:
        abort(404)


@bp.route("/media/<id:media_id>/original")
@role_required(Role.VIEWER)
def original(media_id: int):
    """Download the original exactly as catalogued, as an attachment."""
    media = _media(media_id)
    try:
        return send_stored(
            get_storage(),
            media.sha256,
            media.mime_type,
            download_name=media.original_filename or media.sha256,
            presign=True,
        )
    except StorageError:
        return error_page(404, "The stored original is missing; run `flask catalog verify`.")
