"""When a post was posted: every time a capture was told, with who told it, and the choice
among them by a fixed order of trust.

A capture hears posted times from several voices, and they disagree. Each is kept as a
candidate ``{"at": ISO time, "from": who said it, "trust": its kind}``; the one recorded as the
post's posted time is chosen by kind, most trusted first:

1. ``platform`` - the platform itself: its API as gallery-dl reads it (a Mastodon status's
   ``created_at``), or a yt-dlp extractor written for that one site (YouTube's, Telegram's).
2. ``page`` - the page's own declarations, in this order: schema.org (JSON-LD) ``datePublished``,
   ``article:published_time``, ``og:published_time``, microdata ``itemprop="datePublished"``,
   schema.org ``uploadDate``, the first ``<time datetime>`` element, a ``date`` meta tag.
3. ``header`` - never chosen: what says when a *file* changed, not when a post was posted.
   The HTTP ``Last-Modified`` header is one; so is the timestamp of yt-dlp's generic
   extractors, which read it from that header (the page's own declarations they might also
   read are candidates of their own, above).

Within a kind the first told wins (the order above for the page; yt-dlp before gallery-dl for
extractors). The others stay beside the chosen one, for an analyst to weigh.

Pure: no Flask, no database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PLATFORM, PAGE, HEADER = "platform", "page", "header"
# The kinds that may be chosen, most trusted first; a kind not here is kept, never chosen.
TRUST_ORDER = (PLATFORM, PAGE)
KINDS = (PLATFORM, PAGE, HEADER)
# A page may declare a time in many places; a capture keeps this many candidates at most.
MAX_CANDIDATES = 20


def candidate(at: datetime, said_by: str, trust: str) -> dict[str, str]:
    """Return one candidate posted time as the JSON a capture keeps."""
    return {"at": at.astimezone(UTC).isoformat(), "from": said_by, "trust": trust}


def choose(candidates: list[dict[str, Any]]) -> tuple[datetime | None, str | None]:
    """Return the posted time to record and who said it: the first candidate of the most
    trusted kind in ``TRUST_ORDER`` (a ``header`` one never); (None, None) when none fits."""
    ranked = sorted(
        (TRUST_ORDER.index(c.get("trust")), n, c)
        for n, c in enumerate(candidates)
        if isinstance(c, dict) and c.get("trust") in TRUST_ORDER
    )
    for _rank, _n, chosen in ranked:
        at = parse(chosen.get("at"))
        if at is not None:
            return at, str(chosen.get("from") or "") or None
    return None, None


def parse(value: Any) -> datetime | None:
    """Parse an ISO 8601 time; a time without a zone is taken as UTC; nonsense is None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text[:64])
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1990 <= parsed.year <= 2200:
        return None
    return parsed.astimezone(UTC)
