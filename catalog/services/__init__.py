"""Use cases of the catalogue. Each service is a typed function that takes the session and
owns the commit; views, the API and the CLI call one service and map these errors to replies."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")
# What viewers read when a job's attempt broke on something unforeseen; the details (a repr,
# with SQL) go to the worker's log only.
INTERNAL_ERROR = "an internal error stopped this attempt (the worker's log has the details)"


class ServiceError(Exception):
    """Base of the errors a service raises for its caller to report."""


class Invalid(ServiceError):
    """The input breaks a rule; the message says which, in words for the user."""


class NotFound(ServiceError):
    """The object asked for does not exist."""


class Conflict(ServiceError):
    """The change clashes with what is already there (a name taken, a duplicate)."""


def fetch(session: Session, model: type[T], record_id: int, noun: str) -> T:
    """Return the ``model`` row with this id, or raise NotFound naming the ``noun``."""
    record = session.get(model, record_id)
    if record is None:
        raise NotFound(f"no {noun} with id {record_id}")
    return record
