"""/api/v1/search and /api/v1/lookup: find media by file, by perceptual hash, by SHA-256, by URL."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_smorest import Blueprint

from ..db import get_session
from ..hashing import sha256_of
from ..models import Role
from ..services.media import get_index, search_file, search_hash, thresholds_from
from ..services.records import MediaFilter, catalogue, filtered_ids
from ..services.text import find_text
from . import require
from .schemas import (
    HashQuery,
    MediaDetail,
    MediaSummary,
    SearchLimit,
    SearchOut,
    TextQuery,
    TextResults,
    UploadFiles,
    UrlQuery,
)

blp = Blueprint(
    "search", __name__, url_prefix="/api/v1", description="Search by file, hash, SHA-256 or URL"
)
SECURED: dict[str, list[dict[str, list[str]]]] = {"security": [{"bearerAuth": []}]}


@blp.route("/search", methods=["POST"])
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.arguments(SearchLimit, location="query")
@blp.arguments(UploadFiles, location="files")
@blp.response(200, SearchOut)
def search_by_file(args: dict[str, Any], files: dict[str, Any]):
    """Find what the catalogue holds that matches an uploaded image or video."""
    config = current_app.config
    upload = files["file"]
    # Read from the upload as Werkzeug spooled it (to disk past 500 KB), never whole.
    try:
        matches = search_file(
            get_session(),
            get_index(),
            upload.stream,
            thresholds_from(config),
            max_pixels=int(config["MAX_IMAGE_PIXELS"]),
            limit=args["limit"],
            max_video_s=float(config["MAX_VIDEO_SECONDS"]),
        )
        sha256 = sha256_of(upload.stream)
    finally:
        upload.close()
    return {"sha256": sha256, "matches": [m.as_dict() for m in matches]}


@blp.route("/search/hash")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.arguments(HashQuery, location="query")
@blp.response(200, SearchOut)
def search_by_hash(args: dict[str, Any]):
    """Find media whose stored hashes are near a PDQ (64 hex) or pHash (16 hex) hash."""
    matches = search_hash(
        get_session(),
        get_index(),
        args["algorithm"],
        args["hex"],
        max_distance=args.get("max_distance"),
        thresholds=thresholds_from(current_app.config),
        limit=args["limit"],
    )
    return {"sha256": None, "matches": [m.as_dict() for m in matches]}


@blp.route("/search/text")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.arguments(TextQuery, location="query")
@blp.response(200, TextResults)
def search_by_text(args: dict[str, Any]):
    """Find media by what they say: text read from pictures and videos, subtitles, captions,
    statements and the other records, in Russian, Ukrainian and English."""
    query, limit, wanted = args.pop("q"), args.pop("limit"), args.pop("field", None)
    results = find_text(
        get_session(),
        query,
        limit=limit,
        fields=wanted,
        media_ids=filtered_ids(MediaFilter(**args)),
    )
    return {"results": [r.as_dict() for r in results]}


@blp.route("/lookup/sha256/<string:sha256>")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.response(200, MediaDetail)
def lookup_sha256(sha256: str):
    """Return the media whose exact bytes have this SHA-256."""
    from .media import extended

    if len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256):
        from flask_smorest import abort

        abort(422, message="a SHA-256 is 64 hexadecimal digits")
    return extended(catalogue.get_media_by_sha256(get_session(), sha256))


@blp.route("/lookup/url")
@require(Role.VIEWER)
@blp.doc(**SECURED)
@blp.arguments(UrlQuery, location="query")
@blp.response(200, MediaSummary(many=True))
def lookup_url(args: dict[str, Any]):
    """Return the media seen at a URL in any common spelling of it (a sighting's URL), or at
    an archive URL."""
    return catalogue.by_url(get_session(), args["url"])
