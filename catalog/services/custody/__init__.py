"""Custody: can we prove what we hold? ``verify`` re-hashes every original, the files captures
kept, the audit chain and its timestamps; ``collect_garbage`` removes what an interrupted
write left behind."""

from .integrity import CollectReport, IntegrityReport, collect_garbage, verify

__all__ = ["CollectReport", "IntegrityReport", "collect_garbage", "verify"]
