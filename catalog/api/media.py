"""/api/v1/media: upload, list, one media with everything known about it, its files, its
sightings and acknowledgements, its audit trail and provenance."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, jsonify, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from marshmallow import ValidationError

from ..db import get_session
from ..jobs import enqueue_text, enqueue_upload
from ..models import Media, Role, UploadJob
from ..replies import report_response, send_derived, send_stored, too_many
from ..security import work_message, work_wait
from ..services import reports
from ..services.evidence import summarise, summarise_one
from ..services.media import get_index, previews, thresholds_from
from ..services.media.uploads import UploadSettings, accept_upload
from ..services.records import (
    AcknowledgementInput,
    IngestDetails,
    SightingInput,
    catalogue,
    editing,
    restore_media,
    withdraw_media,
)
from ..services.text import read_sidecar
from ..storage import StorageError, get_storage
from . import api_user, require
from .schemas import (
    AcknowledgementIn,
    AcknowledgementOut,
    AuditOut,
    Extended,
    MediaDetail,
    MediaFilter,
    MediaMetadataIn,
    MediaPage,
    MediaPatch,
    MediaUpload,
    ProvenanceOut,
    ReportQuery,
    SightingIn,
    SightingOut,
    UploadOut,
    WithdrawIn,
)
from .uploads import UploadQueued

blp = Blueprint(
    "media",
    __name__,
    url_prefix="/api/v1/media",
    description="Media: upload, read, list, provenance",
)
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


def _confidence() -> float:
    return thresholds_from(current_app.config).cluster_confidence


def detail(media_id: int) -> Extended:
    """Return one media as the API shows it (for MediaDetail to serialise)."""
    media = catalogue.get_media(get_session(), media_id)
    # A withdrawn media is for analysts to see (and restore); to viewers it is not there.
    if media.withdrawn_at is not None and not api_user().role.allows(Role.ANALYST):
        abort(404, message=f"no media with id {media_id}")
    return extended(media)


def _analyst() -> bool:
    """Whether the caller may see withdrawn media (and their files): analysts and admins."""
    return bool(api_user().role.allows(Role.ANALYST))


def extended(media: Media) -> Extended:
    """Return a media read with its relations (``catalogue.get_media``) as the API shows it."""
    # The media's own sightings and stances are in hand: provenance reads only the rest, and
    # the media's links with it.
    summary, links = summarise_one(get_session(), media, _confidence())
    for s in media.sightings:
        # Read for the provenance already: each sighting carries its capture's citation.
        s.citation = summary.captures.get(s.capture_id) if s.capture_id else None  # type: ignore[attr-defined]
    return Extended(
        media,
        links=links,
        provenance=summary.as_dict(),
        derived=list(get_storage().derived_names(media.sha256)),
    )


@blp.route("")
class MediaCollection(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.arguments(MediaFilter, location="query")
    @blp.response(200, MediaPage)
    def get(self, args: dict[str, Any]):
        """List media, newest first, with filters and a cursor."""
        cursor, limit = args.pop("cursor", None), args.pop("limit")
        items, next_cursor = catalogue.list_media(
            get_session(), catalogue.MediaFilter(**args), cursor=cursor, limit=limit
        )
        return {"items": items, "next_cursor": next_cursor}

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(MediaUpload, location="files")
    @blp.response(201, UploadOut)
    @blp.alt_response(
        200, schema=UploadOut, description="the bytes were already held; the existing record"
    )
    @blp.alt_response(
        202,
        schema=UploadQueued,
        description="a video longer than UPLOAD_JOB_VIDEO_SECONDS: stored, and read by a job"
        " worker; follow the upload (Location) until it names the media",
    )
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, files: dict[str, Any]):
        """Upload an image or video with optional metadata (a JSON object in 'metadata')."""
        # A form field, parsed here: one multipart body cannot be split over two schemas
        # in the OpenAPI document.
        details = _details(request.form.get("metadata"))
        upload = files["file"]
        wait = work_wait("upload", api_user().id)
        if wait:
            upload.close()
            return too_many(work_message("upload", wait), wait)
        details.original_filename = upload.filename  # reduced to a plain name by the service
        config = current_app.config
        subtitles = files.get("subtitles")
        if subtitles is not None:
            # Read before the file is stored: a refused subtitle file stores nothing.
            try:
                details.sidecar = read_sidecar(subtitles.stream, subtitles.filename or "")
            except BaseException:
                upload.close()
                raise
            finally:
                subtitles.close()
        # Read from the upload as Werkzeug spooled it (to disk past 500 KB), never whole.
        try:
            result = accept_upload(
                get_session(),
                get_storage(),
                get_index(),
                upload.stream,
                details,
                actor=api_user(),
                thresholds=thresholds_from(config),
                settings=UploadSettings.from_config(config),
            )
        finally:
            upload.close()  # release the spooled temporary file at once
        if isinstance(result, UploadJob):
            enqueue_upload(result.id)
            location = url_for("uploads.upload", job_id=result.id)
            # A response of its own: the decorator's schema is the 201 answer's.
            queued = jsonify(UploadQueued().dump({"upload": result}))
            queued.status_code, queued.headers["Location"] = 202, location
            return queued
        if result.created:
            enqueue_text(result.media.id)
        body = {
            "created": result.created,
            "media": detail(result.media.id),
            "near_duplicates": [m.as_dict() for m in result.near_duplicates],
        }
        headers = {"Location": url_for("media.MediaItem", media_id=result.media.id)}
        return body, 201 if result.created else 200, headers


def _details(raw: str | None) -> IngestDetails:
    if not raw:
        return IngestDetails()
    try:
        loaded = MediaMetadataIn().load(json.loads(raw))
    except json.JSONDecodeError as exc:
        abort(422, message=f"metadata is not valid JSON ({exc.msg})")
    except ValidationError as exc:
        abort(422, message="metadata is invalid", errors={"metadata": exc.messages})
    except TypeError:
        abort(422, message="metadata must be a JSON object")
    sighting = SightingInput(**loaded.pop("sighting")) if "sighting" in loaded else None
    ack = (
        AcknowledgementInput(**loaded.pop("acknowledgement"))
        if "acknowledgement" in loaded
        else None
    )
    return IngestDetails(sighting=sighting, acknowledgement=ack, **loaded)


@blp.route("/<id:media_id>")
class MediaItem(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.response(200, MediaDetail)
    def get(self, media_id: int):
        """Return a media with hashes, metadata, sightings, acknowledgements, links, provenance."""
        response = jsonify(MediaDetail().dump(detail(media_id)))
        response.add_etag()
        return response.make_conditional(request)

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(MediaPatch)
    @blp.response(200, MediaDetail)
    def patch(self, args: dict[str, Any], media_id: int):
        """Change title, description, credit, verification, incident, claimed time/place, tags."""
        editing.update_media(get_session(), media_id, args, api_user())
        return detail(media_id)


@blp.route("/<id:media_id>/original")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.response(200, description="the original bytes, as an attachment")
def original(media_id: int):
    """Download the original file exactly as catalogued."""
    media = catalogue.find_media(get_session(), media_id, withdrawn=_analyst())
    try:
        return send_stored(
            get_storage(),
            media.sha256,
            media.mime_type,
            download_name=media.original_filename or media.sha256,
        )
    except StorageError as exc:
        abort(404, message=str(exc))


@blp.route("/<id:media_id>/files/<any('poster.jpg', 'contact-sheet.jpg', 'waveform.png'):name>")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.response(200, description="a derived picture (JPEG; the waveform PNG)")
def derived(media_id: int, name: str):
    """Return a poster frame, contact sheet or waveform made at ingest."""
    media = catalogue.find_media(get_session(), media_id, withdrawn=_analyst())
    data = previews.derived(get_storage(), media, name)
    return send_derived(data, name, f"{media.sha256}-{name}")


@blp.route("/<id:media_id>/sightings", methods=["POST"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.arguments(SightingIn)
@blp.response(201, SightingOut)
def add_sighting(args: dict[str, Any], media_id: int):
    """Record another place the media was seen."""
    sighting = editing.add_sighting(get_session(), media_id, SightingInput(**args), api_user())
    return sighting, 201, {"Location": url_for("records.sighting", sighting_id=sighting.id)}


@blp.route("/<id:media_id>/acknowledgements", methods=["POST"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.arguments(AcknowledgementIn)
@blp.response(201, AcknowledgementOut)
def add_acknowledgement(args: dict[str, Any], media_id: int):
    """Record a party's stance on the media."""
    ack = editing.add_acknowledgement(
        get_session(), AcknowledgementInput(**args), api_user(), media_id=media_id
    )
    return ack, 201, {"Location": url_for("records.acknowledgement", ack_id=ack.id)}


@blp.route("/<id:media_id>/audit")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.response(200, AuditOut(many=True))
def media_audit(media_id: int):
    """Return the audit trail of one media, oldest first."""
    return catalogue.media_audit(get_session(), media_id, withdrawn=_analyst())


@blp.route("/<id:media_id>/provenance")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.response(200, ProvenanceOut)
def provenance(media_id: int):
    """Return the provenance of one media rolled up over its cluster of copies."""
    media = catalogue.find_media(get_session(), media_id, withdrawn=_analyst())
    return summarise(get_session(), [media_id], _confidence(), known={media_id: media})[
        media_id
    ].as_dict()


@blp.route("/<id:media_id>/report")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.arguments(ReportQuery, location="query")
@blp.response(200, description="the report: JSON, CSV (text/csv) or a printable HTML page")
def media_report(args: dict[str, Any], media_id: int):
    """The provenance report of a media, or of its whole cluster (scope=cluster)."""

    made = reports.media_report(
        get_session(), media_id, args["scope"], _confidence(), proposed=args["proposed"]
    )
    return report_response(made, args["format"], f"media-{media_id}-{args['scope']}")


@blp.route("/<id:media_id>/withdraw", methods=["POST"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.arguments(WithdrawIn)
@blp.response(200, MediaDetail)
def withdraw(args: dict[str, Any], media_id: int):
    """Withdraw a media catalogued by mistake, with the reason: out of lists, search, reports."""
    withdraw_media(get_session(), media_id, args["reason"], api_user())
    return detail(media_id)


@blp.route("/<id:media_id>/restore", methods=["POST"])
@require(Role.ADMIN)
@blp.doc(**SECURED)
@blp.response(200, MediaDetail)
def restore(media_id: int):
    """Bring a withdrawn media back (its original, if gc removed it, stays gone)."""
    restore_media(get_session(), media_id, api_user())
    return detail(media_id)
