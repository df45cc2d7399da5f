"""HTTP answers shared by the two entry points that speak HTTP, the JSON API and the web pages:
a service's domain error as an RFC 9457 problem, and a provenance report as JSON, CSV or a
printable page.

It sits below both blueprints so that neither imports the other; the report page's template
(``report.html``) is found through the app's template loader.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify, redirect, render_template, request, send_file
from flask_login import current_user
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import FileWrapper

from .services import Conflict, Invalid, NotFound, ServiceError, reports
from .services.media import Rejected
from .storage import CHUNK, Store

PROBLEM = "application/problem+json"
# Refusal codes that mean "this is not a file of a kind we take" (415) rather than a broken
# file of a kind we do take (422).
UNSUPPORTED_CODES = ("not_an_image", "unsupported_format", "not_a_video", "not_audio")


# Status phrases as RFC 9110 names them, where Werkzeug keeps the older ones.
_RENAMED = {413: "Content Too Large", 422: "Unprocessable Content"}


def status_title(status: int) -> str:
    """Return the status phrase every problem answer uses as its title."""
    return _RENAMED.get(status) or HTTP_STATUS_CODES.get(status, "Error")


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """Return a problem+json response."""
    response = jsonify(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    )
    response.status_code = status
    response.mimetype = PROBLEM
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="catalog"'
    return response


def too_many(detail: str, wait: int) -> Response:
    """Return a 429 problem saying when to try again."""
    response = problem(429, status_title(429), detail)
    response.headers["Retry-After"] = str(wait)
    return response


def service_error(error: ServiceError) -> Response:
    """Map a service's domain error to its HTTP status (one place for every JSON answer)."""
    if isinstance(error, Rejected):
        status = 415 if error.code in UNSUPPORTED_CODES else 422
        return problem(
            status,
            "Unsupported Media Type" if status == 415 else "Unprocessable Content",
            str(error),
            code=error.code,
        )
    if isinstance(error, NotFound):
        return problem(404, "Not Found", str(error))
    if isinstance(error, Conflict):
        return problem(409, "Conflict", str(error))
    if isinstance(error, Invalid):
        return problem(422, "Unprocessable Content", str(error))
    return problem(400, "Bad Request", str(error))


def report_zone() -> str | None:
    """The zone a report's reader asked for (``tz``), else the one the signed-in user chose;
    Invalid for a name that is no zone."""
    asked = request.args.get("tz")
    if asked:
        try:
            reports.reader_zone(asked)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        return asked
    return getattr(current_user, "timezone", None) if current_user else None


def report_response(made: reports.Report, fmt: str, stem: str) -> Response | str:
    """Answer a report as JSON, CSV (a download) or a printable page (in the reader's zone)."""
    if fmt == "json":
        return jsonify(reports.as_json(made))
    if fmt == "csv":
        response = current_app.response_class(reports.as_csv(made), mimetype="text/csv")
        response.headers["Content-Disposition"] = f"attachment; filename={stem}.csv"
        return response
    if fmt == "pdf":
        return _pdf(made, stem)
    return render_template("report.html", report=made, zone=report_zone())


def report_pictures(made: reports.Report) -> dict[Any, str]:
    """The pictures a dossier embeds, as data: URIs: each media's thumbnail (by id) and each
    cited capture's screenshot (``capture-<id>``), read from the store."""
    from .db import get_session
    from .services.media import previews
    from .services.records import get_media
    from .storage import StorageError, get_storage

    store, session = get_storage(), get_session()
    limit = int(current_app.config["MAX_IMAGE_PIXELS"])
    pictures: dict[Any, str] = {}
    for m in made.media:
        try:
            thumb = previews.picture(store, get_media(session, m["id"]), "thumb.jpg", limit)
        except (ServiceError, StorageError):
            continue  # a recording with no waveform yet: the dossier goes without
        pictures[m["id"]] = reports.data_uri(thumb, "image/jpeg")
        for s in m["sightings"]:
            shot = (s["capture"] or {}).get("files", {}).get("screenshot")
            if shot and f"capture-{s['capture']['id']}" not in pictures:
                try:
                    with store.open(shot["sha256"]) as handle:
                        data = handle.read()
                except StorageError:
                    continue
                pictures[f"capture-{s['capture']['id']}"] = reports.data_uri(data, "image/png")
    return pictures


def _pdf(made: reports.Report, stem: str) -> Response:
    """The printable dossier: the report's page, its style inline and its pictures embedded,
    made into a PDF offline."""
    css = (Path(current_app.root_path) / "web" / "static" / "report.css").read_text("utf-8")
    page = render_template(
        "report.html",
        report=made,
        zone=report_zone(),
        inline_css=css,
        pictures=report_pictures(made),
    )
    response = current_app.response_class(reports.as_pdf(page), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename={stem}.pdf"
    return response


def send_stored(
    store: Store,
    sha256: str,
    mimetype: str,
    *,
    download_name: str | None = None,
    presign: bool = False,
) -> BaseResponse:
    """Answer with a stored original: streamed from the store a piece at a time, with range
    requests (players seek with them), or, where ``S3_PRESIGNED_SECONDS`` asks for it and the
    store can sign one, a redirect to a short-lived URL of the bucket (``presign``: pages only;
    API clients may carry their key across a redirect). ``download_name`` makes it an
    attachment; without it the file is shown inline. StorageError when it is missing."""
    seconds = int(current_app.config["S3_PRESIGNED_SECONDS"])
    if presign and seconds > 0:
        url = store.presigned_url(sha256, seconds, mimetype=mimetype, download_name=download_name)
        if url is not None:
            moved = redirect(url, 302)
            moved.headers["Cache-Control"] = "private, no-store"  # the URL expires
            return moved
    handle = store.open(sha256)
    size = handle.seek(0, io.SEEK_END)
    handle.seek(0)
    response = send_file(
        handle,
        mimetype=mimetype,
        as_attachment=download_name is not None,
        download_name=download_name,
        etag=sha256,
        max_age=3600,
        conditional=False,
    )
    # Werkzeug's own wrapper, not the server's: gunicorn's wsgi.file_wrapper cannot seek, and
    # a range would then be reached by reading (from the bucket) everything before it.
    response.response = FileWrapper(handle, CHUNK)
    if download_name is None:
        response.headers["Content-Disposition"] = "inline"
    # Behind a sign-in: browsers may keep it, shared caches may not.
    response.cache_control.public = False
    response.cache_control.private = True
    response.content_length = size
    try:
        return response.make_conditional(request.environ, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        handle.close()
        raise


def send_derived(data: bytes, name: str, tag: str) -> BaseResponse:
    """Answer with a derived picture held in memory (a thumbnail, poster or still)."""
    mimetype = "image/png" if name.endswith(".png") else "image/jpeg"
    response = send_file(io.BytesIO(data), mimetype=mimetype, etag=tag, max_age=3600)
    response.cache_control.public = False
    response.cache_control.private = True
    return response.make_conditional(request.environ)
