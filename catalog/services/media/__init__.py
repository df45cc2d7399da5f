"""Media intake and matching: a file in (``ingest``, its rows and ``commit``; long videos as
``uploads`` jobs), the per-process index and its snapshots (``matching``, ``snapshots``),
search by file, hash and fingerprint (``search``), and the desk's view of a pair (``compare``,
``alignment``, ``previews``)."""

from .commit import INGEST_LOCK, IngestResult, OnCommit
from .ingest import (
    ingest_audio_fingerprinted,
    ingest_bytes,
    ingest_fingerprinted,
    ingest_video_fingerprinted,
)
from .matching import IndexHolder, get_index, thresholds_from
from .search import Rejected, SearchMatch, search_file, search_hash
from .uploads import pending_originals

__all__ = [
    "INGEST_LOCK",
    "IndexHolder",
    "IngestResult",
    "OnCommit",
    "Rejected",
    "SearchMatch",
    "get_index",
    "ingest_audio_fingerprinted",
    "ingest_bytes",
    "ingest_fingerprinted",
    "ingest_video_fingerprinted",
    "pending_originals",
    "search_file",
    "search_hash",
    "thresholds_from",
]
