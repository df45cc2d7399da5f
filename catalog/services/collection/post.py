"""What a captured post says, made fit to record: the text a page or an extractor gave (caption,
account, platform, title, the page's visible text) with control characters, NULs and
replacement characters taken out and lengths bounded, its posted time read strictly, and
every candidate posted time (with who told it and its kind of trust,
``catalog.capture.posted``) kept in bounds, each change noted in words.

The capture process wrote these values after loading a hostile page, so nothing in them is
trusted: one stray character or an extractor's 40,000-character description must cost a note,
never the capture.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from ...capture.posted import KINDS, MAX_CANDIDATES

# The longest each field may be when recorded (as a typed sighting's fields may be).
LIMITS = {
    "caption": 20000,
    "account": 200,
    "platform": 64,
    "title": 500,
    "posted_from": 200,
    # What the page shows, searchable as the capture's text (``catalog.capture.page``).
    "visible_text": 20000,
}
KEPT_CONTROLS = {"\n", "\t"}


def clean_value(value: Any, field: str, notes: list[str]) -> str | None:
    """Return ``value`` as recordable text (None when empty), noting what was taken out or cut."""
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append(f"the post's {field} was not text and was left out")
        return None
    kept = "".join(
        ch
        for ch in value
        if ch in KEPT_CONTROLS or (unicodedata.category(ch) not in ("Cc", "Cs") and ch != "\ufffd")
    )
    if len(kept) != len(value):
        notes.append(
            f"{len(value) - len(kept)} control or unreadable characters were taken out of the"
            f" post's {field}"
        )
    kept = kept.strip()
    limit = LIMITS.get(field, 2000)
    if len(kept) > limit:
        notes.append(f"the post's {field} was cut to {limit:,} of its {len(kept):,} characters")
        kept = kept[:limit].rstrip()
    return kept or None


def posted_time(value: Any, notes: list[str]) -> datetime | None:
    """Return the post's own posted time when it is a full time with its zone; else None, noted."""
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value)[:64])
    except ValueError:
        notes.append(f"the post's posted time {str(value)[:64]!r} could not be read")
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        notes.append(f"the post's posted time {str(value)[:64]!r} has no zone and was left out")
        return None
    return moment


def posted_candidates(value: Any, notes: list[str]) -> list[dict[str, str]]:
    """Return the candidate posted times fit to record: each a full time with its zone, who
    told it (cleaned, bounded) and a known kind of trust; at most ``MAX_CANDIDATES``."""
    if not isinstance(value, list):
        return []
    kept: list[dict[str, str]] = []
    for item in value[:MAX_CANDIDATES]:
        if not isinstance(item, dict) or item.get("trust") not in KINDS:
            notes.append("a candidate posted time of no known kind was left out")
            continue
        moment = posted_time(item.get("at"), notes)
        said_by = clean_value(item.get("from"), "posted_from", notes)
        if moment is not None:
            kept.append({"at": moment.isoformat(), "from": said_by or "", "trust": item["trust"]})
    if len(value) > MAX_CANDIDATES:
        notes.append(f"{len(value) - MAX_CANDIDATES} more candidate posted times were left out")
    return kept


def clean_post(post: Any, notes: list[str]) -> dict[str, Any]:
    """Return the post's fields fit to record (text cleaned and bounded, posted time read)."""
    if not isinstance(post, dict):
        return {}
    cleaned: dict[str, Any] = dict(post)
    for field in LIMITS:
        cleaned[field] = clean_value(post.get(field), field, notes)
    cleaned["posted_at"] = posted_time(post.get("posted_at"), notes)
    if cleaned["posted_at"] is None:
        cleaned["posted_from"] = None
    cleaned["posted_candidates"] = posted_candidates(post.get("posted_candidates"), notes)
    return cleaned
