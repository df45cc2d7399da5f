"""What media say, searchable: text read from pictures, video frames and subtitles, and the
text of their records, indexed by each database's own full-text engine.

Importing this package starts keeping record text in step with the records (records.py).
"""

from .entries import MAX_TEXT, clean
from .reading import (
    FAILED,
    QUEUED,
    READ,
    keep_reading,
    keep_subtitles,
    queue_reading,
    read_captions,
    read_media,
    read_sidecar,
    reading_options,
    text_state,
    waiting,
)
from .records import init_hooks, reindex_records
from .search import TextHit, TextResult, find_text, read_query
from .shown import (
    TextPair,
    compare_text,
    media_text,
    reading_difference,
    reading_state,
    text_difference,
)

init_hooks()

__all__ = [
    "FAILED",
    "MAX_TEXT",
    "QUEUED",
    "READ",
    "TextHit",
    "TextPair",
    "TextResult",
    "clean",
    "compare_text",
    "find_text",
    "init_hooks",
    "keep_reading",
    "keep_subtitles",
    "media_text",
    "queue_reading",
    "read_media",
    "read_captions",
    "read_query",
    "read_sidecar",
    "reading_difference",
    "reading_options",
    "reading_state",
    "reindex_records",
    "text_difference",
    "text_state",
    "waiting",
]
