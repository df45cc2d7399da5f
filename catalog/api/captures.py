"""/api/v1/captures: ask for a capture of a URL (it runs as a background job) and follow it;
/api/v1/sightings/{id}/check: the deletion re-check of one sighting, now."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..db import get_session
from ..jobs import enqueue_capture
from ..models import CaptureStatus, Role, Sighting
from ..netguard import AddressPolicy
from ..replies import too_many
from ..security import work_message, work_wait
from ..services.collection import captures
from ..services.collection import sightings as collected
from . import api_user, require
from .schemas import MAX_ID, AwareDateTime, choice

blp = Blueprint(
    "captures", __name__, url_prefix="/api/v1", description="Captures of post pages (jobs)"
)
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


class CaptureIn(Schema):
    url = fields.Url(
        required=True,
        schemes={"http", "https"},
        require_tld=False,
        validate=validate.Length(max=2048),
    )
    incident = fields.String(validate=validate.Length(min=1, max=300), allow_none=True)


class CaptureQuery(Schema):
    status = fields.String(validate=choice(CaptureStatus))
    url = fields.String(validate=validate.Length(max=2048))
    incident = fields.String(validate=validate.Length(max=300))
    before = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class CaptureFileOut(Schema):
    role = fields.String()
    sha256 = fields.String()
    size_bytes = fields.Integer()
    content_type = fields.String()


class CaptureMediaOut(Schema):
    media_id = fields.Integer()
    url = fields.String()
    created = fields.Boolean()


class CaptureOut(Schema):
    id = fields.Integer()
    url = fields.String()
    incident = fields.Function(lambda c: c.incident.title if c.incident else None)
    status = fields.Function(
        lambda c: c.status.value, metadata={"enum": [s.value for s in CaptureStatus]}
    )
    progress = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    http_status = fields.Integer(allow_none=True)
    final_url = fields.String(allow_none=True)
    post = fields.Dict(allow_none=True)
    notes = fields.List(fields.String(), allow_none=True)
    files = fields.List(fields.Nested(CaptureFileOut))
    media = fields.List(fields.Nested(CaptureMediaOut), attribute="found")
    created_at = AwareDateTime()
    started_at = AwareDateTime(allow_none=True)
    finished_at = AwareDateTime(allow_none=True)


@blp.route("/captures")
class CaptureCollection(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.arguments(CaptureQuery, location="query")
    @blp.response(200, CaptureOut(many=True))
    def get(self, args: dict[str, Any]):
        """List captures, newest first (filters: status, url, incident; ``before`` an id)."""
        return captures.list_captures(get_session(), **args)

    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.arguments(CaptureIn)
    @blp.response(202, CaptureOut)
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    def post(self, args: dict[str, Any]):
        """Capture a URL: answered at once (202); the capture runs as a job, follow it by id."""
        wait = work_wait("capture", api_user().id)
        if wait:
            return too_many(work_message("capture", wait), wait)
        capture = captures.create_capture(
            get_session(), args["url"], incident=args.get("incident"), actor=api_user()
        )
        enqueue_capture(capture.id)
        return capture, 202, {"Location": url_for("captures.capture", capture_id=capture.id)}


@blp.route("/captures/<id:capture_id>", endpoint="capture")
class CaptureItem(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.response(200, CaptureOut)
    def get(self, capture_id: int):
        """A capture: status, progress, what it kept and found."""
        return captures.get_capture(get_session(), capture_id)


class CheckOut(Schema):
    sighting_id = fields.Integer()
    url = fields.String()
    state = fields.String(metadata={"enum": ["live", "deleted", "unreachable"]})
    status = fields.Integer(allow_none=True, metadata={"description": "the HTTP status"})
    reason = fields.String()
    checked_at = AwareDateTime(allow_none=True)
    deleted_at = AwareDateTime(allow_none=True)


@blp.route("/sightings/<id:sighting_id>/check", methods=["POST"])
@require(Role.ANALYST)
@blp.doc(**SECURED)
@blp.response(200, CheckOut)
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def check_sighting(sighting_id: int):
    """Re-check now whether a sighting's post is still there (live, deleted or unreachable);
    a post found gone is marked deleted, and the asking is audited. No body."""
    collected.sighting_media(get_session(), sighting_id)  # 404 before counting the asking
    wait = work_wait("capture", api_user().id)
    if wait:
        return too_many(work_message("capture", wait), wait)
    policy = AddressPolicy.from_setting(current_app.config.get("CAPTURE_ALLOWED_HOSTS"))
    check = collected.check_sighting_now(get_session(), policy, sighting_id, api_user())
    sighting = get_session().get(Sighting, sighting_id)
    return {
        "sighting_id": check.sighting_id,
        "url": check.url,
        "state": check.state,
        "status": check.status,
        "reason": check.reason,
        "checked_at": sighting.checked_at if sighting else None,
        "deleted_at": sighting.deleted_at if sighting else None,
    }
