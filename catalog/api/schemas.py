"""Request and response schemas of the API (marshmallow); the OpenAPI document comes from them."""

from __future__ import annotations

import copy
from datetime import UTC
from enum import Enum
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

from ..models import AckStatus, LinkKind, LinkReview, MediaKind, Verification

MAX_ID = 2**31 - 1  # PostgreSQL INTEGER
URL = fields.Url(schemes={"http", "https"}, validate=validate.Length(max=2048))


def choice(enum: type[Enum]) -> validate.OneOf:
    return validate.OneOf([m.value for m in enum])


class Extended:
    """An object with extra attributes for a schema to dump beside its own (counts, links)."""

    def __init__(self, obj: Any, **extra: Any) -> None:
        self._obj = obj
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)


def patch_of(schema: type[Schema], name: str, *, keep: tuple[str, ...] = ()) -> type[Schema]:
    """Return a PATCH schema: every field optional, null allowed (it clears) except in ``keep``."""
    declared = {}
    for key, field in schema._declared_fields.items():
        field = copy.deepcopy(field)
        field.required = False
        field.load_default = missing
        field.allow_none = key not in keep
        declared[key] = field
    return Schema.from_dict(declared, name=name)


class AwareDateTime(fields.AwareDateTime):
    """An ISO 8601 time that must carry its timezone."""

    def __init__(self, **kwargs):
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        # Always answer in UTC, whatever offset the time was given with.
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class SightingIn(Schema):
    url = URL
    platform = fields.String(validate=validate.Length(max=64))
    source = fields.String(validate=validate.Length(min=1, max=200))
    account = fields.String(validate=validate.Length(max=200))
    posted_at = AwareDateTime()
    observed_at = AwareDateTime()
    deleted_at = AwareDateTime()
    caption = fields.String(validate=validate.Length(max=20000))
    archive_url = URL


class AcknowledgementIn(Schema):
    party = fields.String(required=True, validate=validate.Length(min=1, max=200))
    status = fields.String(required=True, validate=choice(AckStatus))
    statement = fields.String(validate=validate.Length(max=20000))
    source = fields.String(validate=validate.Length(min=1, max=200))
    url = URL
    stated_at = AwareDateTime()


class MediaMetadataIn(Schema):
    title = fields.String(validate=validate.Length(max=500))
    description = fields.String(validate=validate.Length(max=20000))
    credit = fields.String(validate=validate.Length(max=500))
    incident = fields.String(validate=validate.Length(min=1, max=300))
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), validate=validate.Length(max=50)
    )
    sighting = fields.Nested(SightingIn)
    acknowledgement = fields.Nested(AcknowledgementIn)


class MediaEdit(Schema):
    title = fields.String(validate=validate.Length(max=500))
    description = fields.String(validate=validate.Length(max=20000))
    credit = fields.String(validate=validate.Length(max=500))
    verification = fields.String(validate=choice(Verification))
    incident = fields.String(
        validate=validate.Length(min=1, max=300),
        metadata={"description": "incident title; created if new, null detaches"},
    )
    claimed_captured_at = AwareDateTime()
    claimed_place = fields.String(validate=validate.Length(max=300))
    tags = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        validate=validate.Length(max=50),
        metadata={"description": "the whole set of tags"},
    )


MediaPatch = patch_of(MediaEdit, "MediaPatch", keep=("verification", "tags"))
SightingPatch = patch_of(SightingIn, "SightingPatch")
AcknowledgementPatch = patch_of(AcknowledgementIn, "AcknowledgementPatch", keep=("party", "status"))


class UploadFiles(Schema):
    file = Upload(required=True, metadata={"description": "the image or video"})


class MediaUpload(UploadFiles):
    subtitles = Upload(
        metadata={"description": "subtitles of the video, .srt or .vtt (kept with their times)"}
    )
    metadata = fields.String(
        metadata={
            "description": "JSON object: title, description, credit, incident, tags, sighting,"
            " acknowledgement"
        }
    )


class SightingOut(Schema):
    id = fields.Integer()
    media_id = fields.Integer()
    url = fields.String(allow_none=True)
    platform = fields.String(allow_none=True)
    source = fields.Function(lambda s: s.source.name if s.source else None)
    account = fields.String(allow_none=True)
    posted_at = AwareDateTime(allow_none=True)
    observed_at = AwareDateTime(allow_none=True)
    deleted_at = AwareDateTime(allow_none=True)
    caption = fields.String(allow_none=True)
    archive_url = fields.String(allow_none=True)
    capture_id = fields.Integer(allow_none=True)
    # Set where the media is read whole (its provenance cites the captures in one pass).
    capture = fields.Dict(
        attribute="citation",
        allow_none=True,
        metadata={
            "description": "the capture that made the sighting: id, url, its wacz and"
            " screenshot files with their sha256, and its trusted timestamps (time, authority)"
        },
    )
    created_at = AwareDateTime()
    # Notes added since, the way a capture's facts are corrected (they stay as captured).
    annotations = fields.Function(
        lambda s: [
            {
                "id": a.id,
                "field": a.field,
                "text": a.text,
                "created_by": a.created_by.username if a.created_by else None,
                "created_at": a.created_at.isoformat(),
            }
            for a in s.annotations
        ]
    )


class AcknowledgementOut(Schema):
    id = fields.Integer()
    media_id = fields.Integer(allow_none=True)
    incident_id = fields.Integer(allow_none=True)
    party = fields.Function(lambda a: a.party.name)
    status = fields.Function(lambda a: a.status.value)
    statement = fields.String(allow_none=True)
    source = fields.Function(lambda a: a.source.name if a.source else None)
    url = fields.String(attribute="statement_url", allow_none=True)
    stated_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()


class HashOut(Schema):
    algorithm = fields.String()
    variant = fields.String()
    hex = fields.Function(lambda h: h.bits.hex())
    bit_length = fields.Integer()
    quality = fields.Integer(allow_none=True)
    frame_time = fields.Float(attribute="frame_time_s", allow_none=True)


class LinkOut(Schema):
    id = fields.Integer()
    source_media_id = fields.Integer()
    target_media_id = fields.Integer()
    kind = fields.Function(
        lambda link: link.kind.value, metadata={"enum": [k.value for k in LinkKind]}
    )
    algorithm = fields.String(allow_none=True)
    distance = fields.Float(allow_none=True)
    frame_time = fields.Float(attribute="frame_time_s", allow_none=True)
    review = fields.Function(
        lambda link: link.review.value, metadata={"enum": [r.value for r in LinkReview]}
    )
    review_note = fields.String(allow_none=True)


class MediaSummary(Schema):
    id = fields.Integer()
    sha256 = fields.String()
    kind = fields.Function(lambda m: m.kind.value, metadata={"enum": [k.value for k in MediaKind]})
    mime_type = fields.String()
    size_bytes = fields.Integer()
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration = fields.Float(attribute="duration_s", allow_none=True)
    title = fields.String(allow_none=True)
    credit = fields.String(allow_none=True)
    incident = fields.Function(lambda m: m.incident.title if m.incident else None)
    incident_id = fields.Integer(allow_none=True)
    verification = fields.Function(lambda m: m.verification.value)
    created_at = AwareDateTime()


class ProvenanceOut(Schema):
    earliest_sighting = fields.Dict(
        allow_none=True,
        metadata={
            "description": "earliest sighting of any member of the cluster;"
            " media_id and this_file say whose"
        },
    )
    sightings = fields.Integer(metadata={"description": "sightings of this very file"})
    acknowledgements = fields.List(
        fields.Dict(),
        metadata={
            "description": "each party's strongest stance over the cluster,"
            " with this_file, relation and a one-sentence summary"
        },
    )
    cluster = fields.List(
        fields.Dict(),
        metadata={
            "description": "the other members of the cluster and how each relates to this file"
        },
    )
    sources = fields.List(fields.String())
    credits = fields.List(fields.String())
    incident_acknowledgements = fields.List(
        fields.Dict(), metadata={"description": "stances on the incidents the members belong to"}
    )
    flags = fields.List(
        fields.Dict(),
        metadata={
            "description": "metadata_stripped, captured_after_first_sighting,"
            " claimed_after_first_sighting"
        },
    )
    unconfirmed = fields.List(
        fields.Dict(),
        metadata={
            "description": "members joined only by links the matcher proposed and nobody"
            " confirmed, each with link_id, confidence and the first sighting, credit and"
            " stances it would add; kept out of the confirmed facts above"
        },
    )


def withdrawal_of(media: Any) -> dict[str, Any] | None:
    """Who withdrew a media, when and why, and when its original was removed (or None)."""
    if media.withdrawn_at is None:
        return None
    return {
        "withdrawn_at": media.withdrawn_at.isoformat(),
        "withdrawn_by": media.withdrawn_by.username if media.withdrawn_by else None,
        "reason": media.withdrawn_reason,
        "original_removed_at": (
            media.original_removed_at.isoformat() if media.original_removed_at else None
        ),
    }


class WithdrawIn(Schema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "why the media is withdrawn (a test upload, a wrong file)"},
    )


class MediaDetail(MediaSummary):
    description = fields.String(allow_none=True)
    claimed_captured_at = AwareDateTime(allow_none=True)
    claimed_place = fields.String(allow_none=True)
    capture_latitude = fields.Float(allow_none=True)
    capture_longitude = fields.Float(allow_none=True)
    original_filename = fields.String(allow_none=True)
    extracted = fields.Dict()
    tags = fields.Function(lambda m: sorted(t.name for t in m.tags))
    hashes = fields.List(fields.Nested(HashOut))
    sightings = fields.List(fields.Nested(SightingOut))
    acknowledgements = fields.List(fields.Nested(AcknowledgementOut))
    links = fields.List(fields.Nested(LinkOut))
    provenance = fields.Nested(ProvenanceOut)
    derived = fields.List(fields.String())
    withdrawal = fields.Function(
        withdrawal_of,
        metadata={"description": "null, or who withdrew the media, when and why"},
    )


class MatchOut(Schema):
    media_id = fields.Integer()
    sha256 = fields.String()
    kind = fields.String()
    kind_label = fields.String(metadata={"description": "the kind as people read it"})
    evidence = fields.String(
        metadata={"description": "what shows the match, with its unit and algorithm"}
    )
    match = fields.String(
        metadata={
            "description": "the evidence: sha256, pdq, phash, orb; for videos and recordings"
            " frames, audio or frames+audio"
        }
    )
    distance = fields.Float()
    score = fields.Float()
    media_kind = fields.String()
    title = fields.String(allow_none=True)
    query_variant = fields.String()
    time = fields.Float()
    query_coverage = fields.Float()
    match_coverage = fields.Float()
    segments = fields.List(fields.Dict())
    offset = fields.Float()
    mirrored = fields.Boolean(
        metadata={"description": "the query's frames match this video mirrored left to right"}
    )
    inliers = fields.Integer()
    query_area = fields.Float()
    match_area = fields.Float()
    rotation = fields.Float()
    scale = fields.Float()
    # Sound: the share of the query's informative sound found in the match, the match's
    # share, the shared stretches (seconds in both), and how the two line up.
    audio_coverage = fields.Float()
    audio_match_coverage = fields.Float()
    audio_segments = fields.List(fields.Dict())
    audio_offset = fields.Float()
    audio_speed = fields.Float(metadata={"description": "the query played this much faster"})
    audio_bit_error_rate = fields.Float()
    provenance = fields.Dict()
    text_difference = fields.String(
        allow_none=True,
        metadata={
            "description": "how the query's text differs from the match's (text in the picture"
            " differs: '...' vs '...'); null when they agree or a side was not read"
        },
    )


class UploadOut(Schema):
    created = fields.Boolean()
    media = fields.Nested(MediaDetail)
    near_duplicates = fields.List(fields.Nested(MatchOut))


class SearchOut(Schema):
    sha256 = fields.String(allow_none=True)
    matches = fields.List(fields.Nested(MatchOut))


class HashQuery(Schema):
    algorithm = fields.String(required=True, validate=validate.OneOf(["pdq", "phash"]))
    hex = fields.String(
        required=True,
        validate=validate.Regexp(
            r"^[0-9a-fA-F]{16}$|^[0-9a-fA-F]{64}$",
            error="hex must be 16 (pHash) or 64 (PDQ) hexadecimal digits",
        ),
    )
    max_distance = fields.Integer(validate=validate.Range(0, 128))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class SearchLimit(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class UrlQuery(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2048))


class MediaFilter(Schema):
    incident = fields.String(validate=validate.Length(max=300))
    kind = fields.String(validate=choice(MediaKind))
    party = fields.String(validate=validate.Length(max=200))
    status = fields.String(validate=choice(AckStatus))
    source = fields.String(validate=validate.Length(max=200))
    tag = fields.String(validate=validate.Length(max=100))
    verification = fields.String(validate=choice(Verification))
    added_after = AwareDateTime()
    added_before = AwareDateTime()
    seen_after = AwareDateTime()
    seen_before = AwareDateTime()
    q = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "text in title, description or credit"},
    )
    cursor = fields.Integer(
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "next_cursor of the previous page"},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))

    @validates_schema
    def status_needs_party(self, data, **_kwargs):
        if "status" in data and "party" not in data:
            raise ValidationError("filter by status together with party", "status")


class TextQuery(MediaFilter):
    """A text search: the query, the fields it looks in, and the media list's filters."""

    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": 'words, "a phrase", field:word (ocr:, caption:, statement:)'},
    )
    field = fields.List(
        fields.String(validate=validate.Length(max=16)),
        metadata={"description": "only hits in these fields (repeatable)"},
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 200))

    class Meta:
        exclude = ("cursor",)


class TextHitOut(Schema):
    field = fields.String()
    text = fields.String(metadata={"description": "a snippet of the text"})
    at = fields.Float(allow_none=True, metadata={"description": "seconds into a video"})
    until = fields.Float(allow_none=True)
    marks = fields.List(
        fields.List(fields.Integer()), metadata={"description": "found words: [start, end)"}
    )
    box = fields.List(fields.Integer(), allow_none=True)


class TextResultOut(Schema):
    media_id = fields.Integer()
    sha256 = fields.String()
    kind = fields.String()
    title = fields.String(allow_none=True)
    score = fields.Float()
    hits = fields.List(fields.Nested(TextHitOut))


class TextResults(Schema):
    results = fields.List(fields.Nested(TextResultOut))


class MediaPage(Schema):
    items = fields.List(fields.Nested(MediaSummary))
    next_cursor = fields.Integer(allow_none=True)


class AuditOut(Schema):
    id = fields.Integer()
    occurred_at = AwareDateTime()
    actor = fields.String()
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String(allow_none=True)
    details = fields.Dict()
    hash = fields.String()


class IncidentReportQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "html"]))
    tz = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "IANA zone whose local time the printable page shows beside UTC"},
    )
    proposed = fields.Boolean(
        load_default=False,
        metadata={
            "description": "also show, apart and marked unconfirmed, what reaches the media"
            " only through links the matcher proposed and nobody confirmed"
        },
    )


class ReportQuery(IncidentReportQuery):
    scope = fields.String(load_default="media", validate=validate.OneOf(["media", "cluster"]))
