"""The text the pages show: the search page's "Text" tab (the query read from the address,
the results), a snippet split into its marked and unmarked parts so the template escapes
every part, and a video's times as m:ss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..db import get_session
from ..models import MediaKind
from ..services import Invalid
from ..services.records import MediaFilter, filtered_ids
from ..services.text import find_text
from ..text.query import FIELDS, MAX_QUERY_CHARS

# How each field is named beside a hit.
FIELD_LABELS = {
    "ocr": "text in the picture",
    "subtitle": "subtitle",
    "transcript": "speech",
    "title": "title",
    "description": "description",
    "credit": "credit",
    "caption": "caption",
    "account": "account",
    "source": "source",
    "statement": "statement",
    "party": "party",
    "incident": "incident",
    "capture": "captured page",
}
FIELD_CHOICES = [(name, FIELD_LABELS.get(name, name)) for name in FIELDS]
KIND_CHOICES = [kind.value for kind in MediaKind]
RESULTS = 40


def marked(text: str, marks: list[tuple[int, int]] | list[list[int]]) -> list[tuple[str, bool]]:
    """The snippet cut into (part, found) pairs at its marks, for the template to escape
    each part and wrap the found ones in <mark>; marks out of order or range are ignored."""
    parts: list[tuple[str, bool]] = []
    at = 0
    for start, end in sorted((int(m[0]), int(m[1])) for m in marks):
        start, end = max(start, at), min(end, len(text))
        if start >= end:
            continue
        if start > at:
            parts.append((text[at:start], False))
        parts.append((text[start:end], True))
        at = end
    if at < len(text):
        parts.append((text[at:], False))
    return parts


def minutes(seconds: float | None) -> str:
    """Seconds into a video as m:ss (h:mm:ss past an hour)."""
    if seconds is None:
        return ""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    mins, secs = divmod(rest, 60)
    return f"{hours}:{mins:02d}:{secs:02d}" if hours else f"{mins}:{secs:02d}"


def search_text(args: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """The Text tab's context and status for the query in ``args`` (q, field, kind, incident)."""
    query = args.get("q", "").strip()
    wanted = {
        "field": args.get("field", ""),
        "kind": args.get("kind", ""),
        "incident": args.get("incident", "").strip(),
    }
    context: dict[str, Any] = {"text_query": query, "text_wanted": wanted}
    error = None
    if not query:
        error = "Give a word or two to look for."
    elif len(query) > MAX_QUERY_CHARS:
        error = f"The query is longer than {MAX_QUERY_CHARS} characters."
    elif wanted["kind"] and wanted["kind"] not in KIND_CHOICES:
        error = f"Unknown kind {wanted['kind']!r}."
    if error is None:
        try:
            context["text_results"] = find_text(
                get_session(),
                query,
                limit=RESULTS,
                fields=[wanted["field"]] if wanted["field"] else None,
                media_ids=filtered_ids(
                    MediaFilter(kind=wanted["kind"] or None, incident=wanted["incident"] or None)
                ),
            )
        except Invalid as exc:
            error = str(exc)[:1].upper() + str(exc)[1:] + "."
    if error is not None:
        context["text_error"] = error
        return context, 422
    return context, 200
