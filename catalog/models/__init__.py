"""The domain in SQLAlchemy 2 style; importing this package registers every table."""

from .accounts import ApiKey, User, UserSession
from .audit import GENESIS_HASH, AuditEvent
from .base import (
    INCIDENT_ONLY_STATUSES,
    AckStatus,
    Base,
    LinkKind,
    LinkReview,
    MediaKind,
    PartyKind,
    Role,
    SourceKind,
    UTCDateTime,
    Verification,
    utcnow,
)
from .captures import Capture, CaptureFile, CaptureMedia, CaptureStatus
from .media import Media, MediaAudio, MediaFeatures, MediaHash, MediaLink, Tag, media_tags
from .provenance import Acknowledgement, Incident, Party, Sighting, SightingAnnotation, Source
from .text import MediaText, MediaTextState, TextTerm
from .timestamps import TimestampToken
from .uploads import UploadJob, UploadStatus

__all__ = [
    "AckStatus",
    "Acknowledgement",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Capture",
    "CaptureFile",
    "CaptureMedia",
    "CaptureStatus",
    "GENESIS_HASH",
    "INCIDENT_ONLY_STATUSES",
    "Incident",
    "LinkKind",
    "LinkReview",
    "Media",
    "MediaAudio",
    "MediaFeatures",
    "MediaHash",
    "MediaKind",
    "MediaLink",
    "MediaText",
    "MediaTextState",
    "Party",
    "PartyKind",
    "Role",
    "Sighting",
    "SightingAnnotation",
    "Source",
    "SourceKind",
    "Tag",
    "TextTerm",
    "TimestampToken",
    "UTCDateTime",
    "UploadJob",
    "UploadStatus",
    "User",
    "UserSession",
    "Verification",
    "utcnow",
    "media_tags",
]
