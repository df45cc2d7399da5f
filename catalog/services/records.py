"""Named records that ingest and editing share: find-or-create incidents, sources, parties
and tags, and the checks on what people type into them."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import Incident, Party, Source, Tag
from . import Invalid

MAX_URL = 2048
T = TypeVar("T", Incident, Source, Party, Tag)


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
    return value


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


def _named(session: Session, model: type[T], field: str, value: str, limit: int) -> T:
    """Return the ``model`` row whose name column equals ``value``, creating it if needed."""
    value = clean_text(value, field, limit) or ""
    if not value:
        raise Invalid(f"{field} is empty")
    column = getattr(model, "title" if model is Incident else "name")
    found = session.scalar(sa.select(model).where(column == value))
    if found is None:
        found = model(**{column.key: value})
        session.add(found)
        session.flush()
    return found


def incident_named(session: Session, title: str) -> Incident:
    """Return the incident with this title, creating it if needed."""
    return _named(session, Incident, "incident", title, 300)


def source_named(session: Session, name: str) -> Source:
    """Return the source with this name, creating it if needed."""
    return _named(session, Source, "source", name, 200)


def party_named(session: Session, name: str) -> Party:
    """Return the party with this name, creating it if needed."""
    return _named(session, Party, "party", name, 200)


def tag_named(session: Session, name: str) -> Tag:
    """Return the tag with this name (spaces trimmed), creating it if needed."""
    return _named(session, Tag, "tag", name, 100)
