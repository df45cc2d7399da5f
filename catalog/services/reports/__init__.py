"""Reports: what a provenance report says for a media, a cluster or an incident
(``contents``), written out as JSON or CSV (``formats``; the printable page is a template)."""

from .contents import SCOPES, Report, incident_by_title_or_id, incident_report, media_report
from .formats import (
    CSV_COLUMNS,
    FORMATS,
    FORMULA_STARTS,
    as_csv,
    as_json,
    capture_words,
    neutralise,
    reader_zone,
    when,
)

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "FORMULA_STARTS",
    "SCOPES",
    "Report",
    "as_csv",
    "as_json",
    "incident_by_title_or_id",
    "incident_report",
    "media_report",
    "capture_words",
    "neutralise",
    "reader_zone",
    "when",
]
