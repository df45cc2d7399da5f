"""/api/v1/uploads: the uploads that run as jobs (videos longer than
``UPLOAD_JOB_VIDEO_SECONDS``): status, progress, and the media they made."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..db import get_session
from ..jobs import enqueue_upload
from ..models import Role, UploadStatus
from ..services.media import uploads
from ..storage import get_storage
from . import api_user, require
from .schemas import AwareDateTime

blp = Blueprint("uploads", __name__, url_prefix="/api/v1", description="Uploads run as jobs")
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


class UploadJobOut(Schema):
    id = fields.Integer()
    status = fields.Function(
        lambda j: j.status.value, metadata={"enum": [s.value for s in UploadStatus]}
    )
    progress = fields.Float(metadata={"description": "share of the video read, 0 to 1"})
    stage = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    sha256 = fields.String()
    size_bytes = fields.Integer()
    original_filename = fields.String(allow_none=True)
    duration_s = fields.Float(allow_none=True)
    media_id = fields.Integer(allow_none=True)
    created = fields.Boolean(allow_none=True)
    near_duplicates = fields.List(fields.Dict(), attribute="matches", allow_none=True)
    created_at = AwareDateTime()
    started_at = AwareDateTime(allow_none=True)
    finished_at = AwareDateTime(allow_none=True)


class UploadQueued(Schema):
    upload = fields.Nested(UploadJobOut)


@blp.route("/uploads/<id:job_id>", endpoint="upload")
class UploadItem(MethodView):
    @require(Role.VIEWER)
    @blp.doc(**SECURED)
    @blp.response(200, UploadJobOut)
    def get(self, job_id: int):
        """An upload job: status, progress and, once done, the media it made."""
        return uploads.get_upload(get_session(), job_id)


@blp.route("/uploads/<id:job_id>/retry", endpoint="retry")
class UploadRetry(MethodView):
    @require(Role.ANALYST)
    @blp.doc(**SECURED)
    @blp.response(202, UploadJobOut)
    def post(self, job_id: int):
        """Try a failed upload again whose stored file was kept (409 otherwise)."""
        job = uploads.retry_upload(get_session(), get_storage(), job_id, api_user())
        enqueue_upload(job.id)
        return job
