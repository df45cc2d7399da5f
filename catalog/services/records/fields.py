"""The checks on what people type into records, which ingest, editing and every named record
share: free text, file names, URLs and times, field cleaners, and changes applied field by
field with the old and new values the audit trail keeps."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from ...models import Incident, Party, Source
from .. import Invalid

MAX_URL = 2048
Cleaner = Callable[[Session, Any], Any]


def clean_text(value: str | None, field: str, limit: int) -> str | None:
    """Return ``value`` stripped (None when blank), or raise Invalid when too long or binary."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text")
    value = value.strip()
    if not value:
        return None
    if len(value) > limit:
        raise Invalid(f"{field} is longer than {limit} characters")
    if "\x00" in value:
        raise Invalid(f"{field} contains a NUL character")
    if "\ufffd" in value:
        # What the request decoder puts where the bytes sent were not UTF-8.
        raise Invalid(f"{field} is not valid UTF-8 text")
    return value


def clean_filename(value: str | None) -> str | None:
    """Return the last component of a client's file name without control characters.

    Never used as a path (originals are stored by SHA-256), but shown and offered as the
    download name, so "../", NUL and line breaks must not survive.
    """
    if not value:
        return None
    name = re.split(r"[\\/]", value)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name.strip().strip(".").strip()[:255] or None


def clean_url(value: str | None, field: str) -> str | None:
    """Return an http(s) URL, or raise Invalid saying what is wrong with it."""
    value = clean_text(value, field, MAX_URL)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Invalid(f"{field} must be an http or https URL")
    return value


def aware(value: datetime | None, field: str) -> datetime | None:
    """Return ``value`` if it carries a timezone, else raise Invalid."""
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise Invalid(f"{field} needs a timezone (for example 2023-05-03T02:30:00+03:00)")
    return value


def text_cleaner(field: str, limit: int) -> Cleaner:
    """A cleaner for a free-text field of at most ``limit`` characters (blank clears it)."""
    return lambda _session, value: clean_text(value, field, limit)


def url_cleaner(field: str) -> Cleaner:
    """A cleaner for an http(s) URL field."""
    return lambda _session, value: clean_url(value, field)


def choice_cleaner(kind: type[Enum], field: str) -> Cleaner:
    """A cleaner for a field that takes one value of a closed vocabulary."""

    def clean(_session: Session, value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise Invalid(f"{field} must be one of {', '.join(k.value for k in kind)}") from None

    return clean


def shown(value: Any) -> Any:
    """Return the form of a field value the audit trail keeps (names for related records)."""
    if isinstance(value, (Incident, Source, Party)):
        return value.title if isinstance(value, Incident) else value.name
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def apply_changes(
    session: Session, record: Any, values: dict[str, Any], cleaners: dict[str, Cleaner], noun: str
) -> dict[str, Any]:
    """Set each given field via its cleaner; return {field: {from, to}} for those that changed."""
    changes: dict[str, Any] = {}
    for field, raw in values.items():
        if field not in cleaners:
            raise Invalid(f"a {noun} has no field {field!r} that can be changed")
        new = cleaners[field](session, raw)
        old = getattr(record, field)
        if shown(old) != shown(new):
            changes[field] = {"from": shown(old), "to": shown(new)}
            setattr(record, field, new)
    return changes
