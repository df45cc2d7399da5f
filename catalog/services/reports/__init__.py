"""Reports: what a provenance report says for a media, a cluster or an incident
(``contents``), written out as JSON or CSV (``formats``; the printable page is a template),
and that page as a PDF dossier made offline (``pdf``)."""

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
from .pdf import RefusedURL, as_pdf, data_uri

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "FORMULA_STARTS",
    "SCOPES",
    "RefusedURL",
    "Report",
    "as_pdf",
    "as_csv",
    "as_json",
    "incident_by_title_or_id",
    "incident_report",
    "media_report",
    "capture_words",
    "data_uri",
    "neutralise",
    "reader_zone",
    "when",
]
