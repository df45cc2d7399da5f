"""Records: what analysts say about media. The checks on typed fields (``fields``); the named
records (incidents, sources, parties, tags: found or made by name, listed, edited,
``named``); the details given with a new media (``details``); reading the catalogue
(``catalogue``), changing what is recorded after ingest (``editing``), withdrawing a media
catalogued by mistake (``withdrawal``); an incident's clusters and timeline as an analyst
reads them (``story``)."""

from .catalogue import (
    MediaFilter,
    MediaRecord,
    by_sha256,
    by_url,
    filtered_ids,
    get_media,
    links_of,
)
from .details import (
    AcknowledgementInput,
    IngestDetails,
    SightingInput,
    apply_details,
    check_details,
    record_details,
)
from .fields import aware, clean_filename, clean_text, clean_url
from .named import (
    get_named,
    incident_detail,
    incident_named,
    party_named,
    source_named,
    tag_named,
)
from .story import ClusterStory, IncidentStory, TimelineEntry, incident_story
from .withdrawal import restore_media, withdraw_media

__all__ = [
    "ClusterStory",
    "IncidentStory",
    "TimelineEntry",
    "AcknowledgementInput",
    "IngestDetails",
    "MediaFilter",
    "filtered_ids",
    "MediaRecord",
    "SightingInput",
    "apply_details",
    "aware",
    "by_sha256",
    "by_url",
    "check_details",
    "clean_filename",
    "clean_text",
    "clean_url",
    "get_media",
    "get_named",
    "incident_detail",
    "incident_named",
    "incident_story",
    "links_of",
    "party_named",
    "record_details",
    "restore_media",
    "source_named",
    "tag_named",
    "withdraw_media",
]
