"""A report written out: as JSON, or as CSV with one row per fact (hash, sighting,
acknowledgement, link, event) whose text cells a spreadsheet shows as text, never runs as a
formula. The printable HTML page is the web layer's template."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .contents import Report, iso

FORMATS = ("json", "csv", "html")  # the PDF dossier: ``pdf``, asked for on its own


def reader_zone(name: str | None) -> ZoneInfo | None:
    """Return the zone a reader asked for by its IANA name, None for none; ValueError for a
    name that is no zone."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"{name!r} is not a time zone (give an IANA name such as Europe/Kyiv)"
        ) from exc


def when(value: Any, zone: str | None = None) -> str:
    """Return a report's time as an editor reads it: UTC in whole seconds, and the reader's
    local time beside it when they chose a zone."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC).replace(microsecond=0)
    said = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        place = reader_zone(zone)
    except ValueError:
        return said
    if place is not None:
        said += f" ({moment.astimezone(place).strftime('%Y-%m-%d %H:%M:%S')} {zone})"
    return said


CSV_COLUMNS = [
    "section",
    "media_id",
    "sha256",
    "time",
    "party",
    "status",
    "source",
    "url",
    "distance",
    "detail",
]


def as_json(report: Report) -> dict[str, Any]:
    """Return the report as JSON-ready data."""
    return {
        "title": report.title,
        "scope": report.scope,
        "generated_at": iso(report.generated_at),
        "proposed": report.proposed,
        "incident": report.incident,
        "clusters": report.clusters,
        "timeline": report.timeline,
        "media": report.media,
    }


# A spreadsheet takes a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Return a text cell a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter(csv.DictWriter):
    """A DictWriter whose every text cell is neutralised: names, statements and URLs come
    from users and from the files themselves."""

    def writerow(self, rowdict: Any) -> Any:
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})


def as_csv(report: Report) -> str:
    """Return the report as CSV: one row per hash, sighting, acknowledgement, link and event."""
    out = io.StringIO()
    writer = _SafeWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    if report.incident:
        for a in report.incident["acknowledgements"]:
            writer.writerow(
                {
                    "section": "incident_acknowledgement",
                    "time": a["stated_at"],
                    "party": a["party"],
                    "status": a["status"],
                    "source": a["source"],
                    "url": a["url"],
                    "detail": " ".join(filter(None, [a["summary"], a["statement"]])),
                }
            )
    for m in report.media:
        base = {"media_id": m["id"], "sha256": m["sha256"]}
        writer.writerow(
            {
                **base,
                "section": "media",
                "time": m["catalogued_at"],
                "detail": f"{m['kind']} {m['mime_type']} {m['size_bytes']} bytes;"
                f" title: {m['title'] or ''}; credit: {m['credit'] or ''};"
                f" verification: {m['verification']}",
            }
        )
        for h in m["hashes"]:
            writer.writerow(
                {
                    **base,
                    "section": "hash",
                    "time": h["frame_time"],
                    "detail": f"{h['algorithm']}/{h['variant']} {h['hex']}",
                }
            )
        for s in m["sightings"]:
            writer.writerow(
                {
                    **base,
                    "section": "sighting",
                    "time": s["posted_at"] or s["observed_at"],
                    "source": s["source"],
                    "url": s["url"],
                    "detail": f"deleted {s['deleted_at']}" if s["deleted_at"] else s["platform"],
                }
            )
            if s.get("capture"):
                _capture_row(writer, base, s["id"], s["capture"])
        for a in m["acknowledgements"]:
            writer.writerow(
                {
                    **base,
                    "section": "acknowledgement",
                    "time": a["stated_at"],
                    "party": a["party"],
                    "status": a["status"],
                    "source": a["source"],
                    "url": a["url"],
                    "detail": a["statement"],
                }
            )
        for a in m["provenance"]["acknowledgements"]:
            writer.writerow(
                {
                    **base,
                    "section": "provenance",
                    "time": a["stated_at"],
                    "party": a["party"],
                    "status": a["status"],
                    "source": a["source"],
                    "url": a["url"],
                    "detail": a["summary"],
                }
            )
        first = m["provenance"]["earliest_sighting"]
        if first:
            writer.writerow(
                {
                    **base,
                    "section": "first_seen",
                    "time": first["time"],
                    "source": first["source"],
                    "url": first["url"],
                    "detail": "this file"
                    if first["this_file"]
                    else f"as #{first['media_id']}, {first['relation']}",
                }
            )
        for link in m["links"]:
            writer.writerow(
                {
                    **base,
                    "section": "link",
                    "distance": link["distance"],
                    "detail": f"#{link['source_media_id']} {link['kind_label']}"
                    f" of #{link['target_media_id']} ({link['evidence']}, {link['review']})",
                }
            )
        for u in m["provenance"].get("unconfirmed", []):
            _unconfirmed_rows(writer, base, u)
        for flag in m["provenance"]["flags"]:
            writer.writerow({**base, "section": "flag", "detail": flag["message"]})
        for e in m["audit"]:
            writer.writerow(
                {
                    **base,
                    "section": "audit",
                    "time": e["at"],
                    "party": e["actor"],
                    "status": e["action"],
                    "detail": e["hash"],
                }
            )
    return out.getvalue()


def _unconfirmed_rows(writer: csv.DictWriter, base: dict[str, Any], u: dict[str, Any]) -> None:
    """Rows of a member joined only by a proposed link: each section says it is unconfirmed."""
    via = (
        f"unconfirmed: #{u['media_id']}, {u['relation']}, through proposed link"
        f" {u['link_id']} (confidence {u['confidence']})"
    )
    first = u["earliest_sighting"]
    if first:
        writer.writerow(
            {
                **base,
                "section": "unconfirmed_first_seen",
                "time": first["time"],
                "source": first["source"],
                "url": first["url"],
                "detail": via,
            }
        )
    if u["credit"]:
        writer.writerow(
            {**base, "section": "unconfirmed_credit", "detail": f"{u['credit']} ({via})"}
        )
    for a in u["acknowledgements"]:
        writer.writerow(
            {
                **base,
                "section": "unconfirmed_acknowledgement",
                "time": a["stated_at"],
                "party": a["party"],
                "status": a["status"],
                "source": a["source"],
                "url": a["url"],
                "detail": via,
            }
        )


def capture_words(capture: dict[str, Any]) -> str:
    """Cite a capture in one line: its id, the SHA-256 of its archive and screenshot, and its
    trusted timestamps."""
    words = [f"capture #{capture['id']}"]
    for role in ("wacz", "screenshot"):
        held = capture["files"].get(role)
        words.append(f"{role} sha256 {held['sha256']}" if held else f"no {role}")
    words += [f"timestamp {t['time']} by {t['authority']}" for t in capture["timestamps"]]
    return "; ".join(words)


def _capture_row(
    writer: csv.DictWriter, base: dict[str, Any], sighting_id: int, capture: dict[str, Any]
) -> None:
    """The row citing the capture that made a sighting."""
    stamps = capture["timestamps"]
    writer.writerow(
        {
            **base,
            "section": "capture",
            "time": stamps[0]["time"] if stamps else capture["captured_at"],
            "url": capture["url"],
            "detail": f"sighting {sighting_id}: {capture_words(capture)}",
        }
    )
