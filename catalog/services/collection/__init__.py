"""Collection: posts brought in from the web. A capture keeps a post page (screenshot, web
archive, its media ingested with a sighting each, ``captures``); the deletion re-check looks
again at every sighting's URL and records when a post is gone (``recheck``). Sources that a
team follows ("watches") build on these."""

from .captures import (
    CaptureSettings,
    RetryLater,
    attempt_failed,
    capture_refusal,
    create_capture,
    keep_loaded,
    run_capture,
)
from .recheck import Check, recheck_sightings

__all__ = [
    "CaptureSettings",
    "Check",
    "RetryLater",
    "attempt_failed",
    "capture_refusal",
    "create_capture",
    "keep_loaded",
    "recheck_sightings",
    "run_capture",
]
