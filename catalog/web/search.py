"""The search page (by file, by hash, by SHA-256, by URL, by text) and the compare view of two
media."""

from __future__ import annotations

import base64
from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from ..db import get_session
from ..hashing import sha256_of
from ..hashing.thumbs import image_jpeg
from ..hashing.views import Source, size_of
from ..jobs import enqueue_upload
from ..models import MediaKind, Role, UploadJob
from ..replies import send_derived
from ..services import Invalid, NotFound, ServiceError
from ..services.media import get_index, search_file, search_hash, thresholds_from
from ..services.media.alignment import align_pair, explain, overlay_jpeg
from ..services.media.compare import compare as compare_media
from ..services.media.search import EXACT, stage_query
from ..services.media.uploads import UploadSettings, accept_upload
from ..services.records import IngestDetails, catalogue
from ..services.text import compare_text
from ..storage import StorageError, get_storage
from . import bp, can, role_required
from .forms import ConfirmForm, HashSearchForm, ReviewForm, SearchFileForm
from .text import FIELD_CHOICES, KIND_CHOICES, search_text

SHA256_CHARS = set("0123456789abcdef")
# The searched files this browser session may catalogue (the newest few): a file is catalogued
# only by the one who searched it, never by naming any stored SHA-256.
STAGED_KEY, STAGED_KEEP = "staged_queries", 5


def _query_picture(data: Source) -> str | None:
    """A small data: URL of the searched file, to show beside the results (images only)."""
    try:
        jpeg = image_jpeg(data, 360, int(current_app.config["MAX_IMAGE_PIXELS"]))
    except Exception:  # noqa: BLE001 - a video or an unreadable file simply has no picture here
        return None
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


@bp.route("/search", methods=["GET", "POST"])
@role_required(Role.VIEWER)
def search():
    """Find catalogued media by file, perceptual hash, SHA-256, sighting URL or text."""
    config = current_app.config
    file_form = SearchFileForm()
    hash_form = (
        HashSearchForm(request.args) if "hash" in request.args else HashSearchForm(formdata=None)
    )
    context: dict[str, Any] = {
        "file_form": file_form,
        "hash_form": hash_form,
        "tab": request.args.get("tab", "file"),
        "text_fields": FIELD_CHOICES,
        "text_kinds": KIND_CHOICES,
    }
    status = 200
    if request.method == "POST":
        context["tab"] = "file"
        if file_form.validate_on_submit():
            upload = file_form.file.data
            data = upload.stream  # as Werkzeug spooled it (to disk past 500 KB), never whole
            try:
                context["matches"] = search_file(
                    get_session(),
                    get_index(),
                    data,
                    thresholds_from(config),
                    max_pixels=int(config["MAX_IMAGE_PIXELS"]),
                    limit=60,
                    max_video_s=float(config["MAX_VIDEO_SECONDS"]),
                )
                context["query"] = {
                    "name": upload.filename,
                    "sha256": sha256_of(data),
                    "size": size_of(data),
                    "picture": _query_picture(data),
                }
                if can("analyst") and not any(m.kind == EXACT for m in context["matches"]):
                    context["staged"] = _stage(data, upload.filename)
            except ServiceError as exc:
                file_form.file.errors = [*file_form.file.errors, str(exc)]
                status = 422
            finally:
                upload.close()  # release the spooled temporary file at once
        else:
            status = 422
    elif "hash" in request.args:
        context["tab"] = "hash"
        if hash_form.validate():
            distance = int(hash_form.max_distance.data) if hash_form.max_distance.data else None
            try:
                context["matches"] = search_hash(
                    get_session(),
                    get_index(),
                    hash_form.algorithm.data,
                    hash_form.hash.data.strip().lower(),
                    max_distance=distance,
                    thresholds=thresholds_from(config),
                    limit=60,
                )
                context["query"] = {
                    "hash": hash_form.hash.data.strip().lower(),
                    "algorithm": hash_form.algorithm.data,
                }
            except Invalid as exc:
                hash_form.hash.errors = [*hash_form.hash.errors, str(exc)]
                status = 422
        else:
            status = 422
    elif "q" in request.args:
        context["tab"] = "text"
        said, status = search_text(request.args)
        context.update(said)
    elif "sha256" in request.args:
        context["tab"] = "sha256"
        sha = request.args["sha256"].strip().lower()
        context["sha256"] = sha
        if len(sha) != 64 or not set(sha) <= SHA256_CHARS:
            context["sha256_error"] = "A SHA-256 is 64 hexadecimal digits."
            status = 422
        else:
            try:
                found = catalogue.by_sha256(get_session(), sha)
            except NotFound:
                context["sha256_error"] = "No catalogued file has exactly these bytes."
            else:
                flash("Exact match: this is the catalogued file with that SHA-256.", "success")
                return redirect(url_for("web.media_page", media_id=found.id))
    elif "url" in request.args:
        context["tab"] = "url"
        url = request.args["url"].strip()
        context["url"] = url
        if not url or len(url) > 2048:
            context["url_error"] = (
                "Give the address where the media was seen (at most 2048 characters)."
            )
            status = 422
        else:
            context["seen_at"] = catalogue.by_url(get_session(), url)
    return render_template("search.html", **context), status


def _stage(data: Source, name: str | None) -> bool:
    """Keep the searched file for the "Catalogue this file" button; say whether it was kept."""
    limit = int(float(current_app.config["MAX_UPLOAD_MB"]) * 1_000_000)
    sha256 = stage_query(get_storage(), data, max_bytes=limit)
    if sha256 is None:
        return False
    staged = [s for s in session.get(STAGED_KEY, []) if s[0] != sha256]
    session[STAGED_KEY] = [[sha256, (name or "")[:255]], *staged][:STAGED_KEEP]
    return True


@bp.route("/search/catalogue", methods=["POST"])
@role_required(Role.ANALYST)
def catalogue_query():
    """Catalogue the file just searched (kept for an hour), as the upload form would; then
    show its page, or compare it with the result the button stood beside."""
    form = ConfirmForm()
    sha256 = request.form.get("sha256", "")
    names = {s[0]: s[1] for s in session.get(STAGED_KEY, [])}
    if not form.validate() or sha256 not in names:
        flash("That searched file cannot be catalogued from here; upload it instead.", "danger")
        return redirect(url_for("web.upload"))
    storage, config = get_storage(), current_app.config
    try:
        with storage.local_copy(sha256) as path, open(path, "rb") as stream:
            result = accept_upload(
                get_session(),
                storage,
                get_index(),
                stream,
                IngestDetails(original_filename=names[sha256] or None),
                actor=current_user,
                thresholds=thresholds_from(config),
                settings=UploadSettings.from_config(config),
            )
    except StorageError:
        flash("The searched file is no longer kept (it is, for an hour); upload it.", "warning")
        return redirect(url_for("web.upload"))
    except ServiceError as exc:
        flash(f"{exc} Nothing was stored.", "danger")
        return redirect(url_for("web.upload"))
    session[STAGED_KEY] = [s for s in session.get(STAGED_KEY, []) if s[0] != sha256]
    if isinstance(result, UploadJob):  # a long video: a worker reads it
        enqueue_upload(result.id)
        return redirect(url_for("web.upload_job_page", job_id=result.id))
    other = request.form.get("compare", "")
    if other.isdigit() and int(other) != result.media.id:  # "Catalogue and compare" with a result
        return redirect(url_for("web.compare", a_id=result.media.id, b_id=int(other)))
    return redirect(
        url_for(
            "web.media_page",
            media_id=result.media.id,
            upload="new" if result.created else "known",
        )
    )


@bp.route("/compare/<id:a_id>/<id:b_id>")
@role_required(Role.VIEWER)
def compare(a_id: int, b_id: int):
    """Two media side by side: overlay slider, distances and, for video, the matching segments."""
    if a_id == b_id:
        flash("Pick two different media to compare.", "warning")
        return redirect(url_for("web.media_page", media_id=a_id))
    result = compare_media(
        get_session(), get_index(), a_id, b_id, thresholds_from(current_app.config)
    )
    reason = None
    text = compare_text(get_session(), a_id, b_id)
    if result.a.kind is MediaKind.IMAGE and result.b.kind is MediaKind.IMAGE:
        pictures = align_pair(get_storage(), result.a, result.b, _max_pixels())
        reason = explain(pictures, result.a, result.b)
    return render_template(
        "compare.html", c=result, reason=reason, text=text, review=ReviewForm(formdata=None)
    )


@bp.route("/compare/<id:a_id>/<id:b_id>/<any(base, aligned, difference):layer>.jpg")
@role_required(Role.VIEWER)
def compare_layer(a_id: int, b_id: int, layer: str):
    """One layer of the aligned overlay: the first picture, the second drawn in its frame, or
    where they differ."""
    session = get_session()
    analyst = current_user.role.allows(Role.ANALYST)  # a withdrawn media is for analysts
    a = catalogue.find_media(session, a_id, withdrawn=analyst)
    b = catalogue.find_media(session, b_id, withdrawn=analyst)
    data = overlay_jpeg(align_pair(get_storage(), a, b, _max_pixels()), layer)
    return send_derived(data, f"{layer}.jpg", f"{a.sha256[:16]}-{b.sha256[:16]}-{layer}")


def _max_pixels() -> int:
    return int(current_app.config["MAX_IMAGE_PIXELS"])
