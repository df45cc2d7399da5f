"""What the job queue may hold: task messages, results and errors as plain JSON, never pickle.

Huey pickles by default, and unpickling runs whatever code the bytes name: anyone who could
write to the queue (a Redis reachable on the network, a writable SQLite file) would run code
in every worker. Here a message is JSON of fixed fields whose task arguments are ids and
plain values (strings, numbers, booleans, null); a result is a plain JSON value; an error is
Huey's ``Error`` with plain metadata. Anything else is refused when written and when read:
a message that does not decode raises ``QueueFormatError``, which Huey's consumer logs
("Error reading from queue") before it drops the message, unexecuted.

Pipelines, error handlers and chords (tasks carried inside a task) are not used here and are
refused, so a message names exactly one registered task.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from huey.registry import Message
from huey.serializer import Serializer
from huey.utils import Error

VERSION = 1
SCALARS = (str, int, float, bool, type(None))
# Message fields and what each may hold (besides None); the nested-task fields must be None.
NUMBERS = ("retries", "retry_delay", "priority", "expires", "timeout", "retry_backoff")
TIMES = ("eta", "expires_resolved")
NESTED = ("on_complete", "on_error", "chord_config")


class QueueFormatError(ValueError):
    """Something that is not a plain task message, result or error, refused."""


class JsonSerializer(Serializer):
    """Huey's serializer, writing and reading only the plain JSON this module allows."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(encode(data), allow_nan=False, separators=(",", ":")).encode()

    def _deserialize(self, data: bytes) -> Any:
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise QueueFormatError("the queue held something that is not JSON; refused") from None
        return decode(document)


def encode(data: Any) -> dict[str, Any]:
    """Return the JSON document of a message, an error or a plain result; refuse the rest."""
    if isinstance(data, Message):
        return {"v": VERSION, "task": _message_fields(data._asdict())}
    if isinstance(data, Error):
        return {"v": VERSION, "error": _metadata(data.metadata)}
    return {"v": VERSION, "value": _plain(data)}


def decode(document: Any) -> Any:
    """Return the message, error or result a document holds; refuse anything else."""
    if not isinstance(document, dict) or document.get("v") != VERSION or len(document) != 2:
        raise QueueFormatError("the queue held a document of an unknown shape; refused")
    if "task" in document:
        fields = document["task"]
        if not isinstance(fields, dict) or set(fields) != set(Message._fields):
            raise QueueFormatError("a task message with unknown fields; refused")
        checked = _message_fields({**fields, "args": _args(fields["args"])})
        checked["args"] = tuple(checked["args"])
        for name in TIMES:
            if checked[name] is not None:
                checked[name] = datetime.fromisoformat(checked[name])
        return Message(**checked)
    if "error" in document:
        return Error(_metadata(document["error"]))
    if "value" in document:
        return _plain(document["value"])
    raise QueueFormatError("the queue held a document of an unknown shape; refused")


def _args(args: Any) -> tuple[Any, ...]:
    """Task arguments as Huey keeps them (a tuple; JSON has only lists)."""
    if not isinstance(args, list | tuple):
        raise QueueFormatError("task arguments must be a list; refused")
    return tuple(args)


def _message_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Check a message's fields; return them with times written as ISO 8601 text."""
    out = dict(fields)
    if not isinstance(fields["id"], str) or not isinstance(fields["name"], str):
        raise QueueFormatError("a task message needs a text id and name; refused")
    for name in NESTED:
        if fields[name] is not None:
            raise QueueFormatError(f"tasks carried in a task ({name}) are not used; refused")
    for name in NUMBERS:
        value = fields[name]
        if value is not None and (not isinstance(value, int | float) or _odd_number(value)):
            raise QueueFormatError(f"the task message's {name} must be a number; refused")
    for name in TIMES:
        value = fields[name]
        if isinstance(value, datetime):
            out[name] = value.isoformat()
        elif value is not None and not _iso_time(value):
            raise QueueFormatError(f"the task message's {name} must be a time; refused")
    args, kwargs = fields["args"], fields["kwargs"]
    if not isinstance(args, tuple) or not all(_scalar(a) for a in args):
        raise QueueFormatError("task arguments must be ids and plain values; refused")
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict) or not all(
        isinstance(k, str) and _scalar(v) for k, v in kwargs.items()
    ):
        raise QueueFormatError("task keyword arguments must be plain values; refused")
    out["args"], out["kwargs"] = list(args), kwargs
    return out


def _metadata(metadata: Any) -> dict[str, Any]:
    """An error's metadata (message, retries, traceback, task id): plain values only."""
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and _scalar(v) for k, v in metadata.items()
    ):
        raise QueueFormatError("an error result must be plain values; refused")
    return metadata


def _plain(value: Any) -> Any:
    """A result: JSON's own values, nested in lists and objects with text keys."""
    if _scalar(value):
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise QueueFormatError(f"a {type(value).__name__} is not a plain value; refused")


def _scalar(value: Any) -> bool:
    return isinstance(value, SCALARS) and not (isinstance(value, float) and _odd_number(value))


def _odd_number(value: float) -> bool:
    """NaN and infinities: JSON has no words for them."""
    return isinstance(value, float) and (value != value or value in (float("inf"), float("-inf")))


def _iso_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
