"""Named records that ingest and editing share: find-or-create incidents, sources, parties
and tags, and the checks on what people type into them."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import Incident, Party, Source, Tag
from . import Invalid

MAX_URL = 2048


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


def incident_named(session: Session, title: str) -> Incident:
    """Return the incident with this title, creating it if needed."""
    title = clean_text(title, "incident", 300) or ""
    if not title:
        raise Invalid("incident title is empty")
    found = session.scalar(sa.select(Incident).where(Incident.title == title))
    if found is None:
        found = Incident(title=title)
        session.add(found)
        session.flush()
    return found


def source_named(session: Session, name: str) -> Source:
    """Return the source with this name, creating it if needed."""
    name = clean_text(name, "source", 200) or ""
    if not name:
        raise Invalid("source name is empty")
    found = session.scalar(sa.select(Source).where(Source.name == name))
    if found is None:
        found = Source(name=name)
        session.add(found)
        session.flush()
    return found


def party_named(session: Session, name: str) -> Party:
    """Return the party with this name, creating it if needed."""
    name = clean_text(name, "party", 200) or ""
    if not name:
        raise Invalid("party name is empty")
    found = session.scalar(sa.select(Party).where(Party.name == name))
    if found is None:
        found = Party(name=name)
        session.add(found)
        session.flush()
    return found


def tag_named(session: Session, name: str) -> Tag:
    """Return the tag with this name (case kept, spaces trimmed), creating it if needed."""
    name = clean_text(name, "tag", 100) or ""
    if not name:
        raise Invalid("tag is empty")
    found = session.scalar(sa.select(Tag).where(Tag.name == name))
    if found is None:
        found = Tag(name=name)
        session.add(found)
        session.flush()
    return found
