"""Copying a catalogue's files from one store to another (a folder to a bucket, and back), for
``catalog storage migrate``.

Every original is streamed across under the digest it is held by and refused if its bytes hash
to anything else; once written, the copy is read back and hashed again, and a copy that does
not hash to its key is removed, so a later run retries it. What the target already holds is
hashed too, and skipped when it hashes to its key (which makes an interrupted run resumable:
run it again); bytes that do not are no copy of that original, and are replaced. Derived files
follow their originals, and kept records (the copies of trusted timestamps) go across as they
are, never replacing one the target holds. The source is only read.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .base import StorageError, Store

# Each outcome an original can have; the progress callback is told one per original.
COPIED, PRESENT, REPLACED, FAILED = "copied", "present", "replaced", "failed"


@dataclass
class TransferReport:
    """What a copy did: counts, bytes sent, and every failure in words."""

    originals: int = 0
    copied: int = 0
    present: int = 0
    bytes_copied: int = 0
    derived_copied: int = 0
    kept_copied: int = 0
    failed: list[str] = field(default_factory=list)
    # Originals the target held under their key with other bytes, copied afresh (and counted
    # as copied too).
    replaced: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return the report as JSON-ready data."""
        return {
            "ok": not self.failed,
            "originals": self.originals,
            "copied": self.copied,
            "already_there": self.present,
            "bytes_copied": self.bytes_copied,
            "derived_copied": self.derived_copied,
            "replaced": self.replaced,
            "kept_copied": self.kept_copied,
            "failed": self.failed,
        }


def plan(source: Store) -> list[str]:
    """Return the digests of the originals ``source`` holds, in order."""
    return sorted(source.iter_originals())


def copy_store(
    source: Store,
    target: Store,
    originals: list[str],
    *,
    jobs: int = 4,
    on_original: Callable[[str, str], None] | None = None,
) -> TransferReport:
    """Copy ``originals`` and every derived file from ``source`` to ``target``; report what
    was done. ``on_original(digest, outcome)`` is called as each original is settled."""
    if source.describe() == target.describe():
        raise StorageError(f"{target.describe()} is the store being copied")
    report = TransferReport(originals=len(originals))
    held = set(target.iter_originals())
    # Objects go up (and what is there is read back) one by one over the network: a few at
    # once keep the link busy.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        running = {
            pool.submit(_settle_one, source, target, sha256, sha256 in held): sha256
            for sha256 in originals
        }
        for done in concurrent.futures.as_completed(running):
            sha256 = running[done]
            outcome, size, note = done.result()
            if outcome == PRESENT:
                report.present += 1
            elif outcome == FAILED:
                report.failed.append(f"original {sha256}: {note}")
            else:
                report.copied += 1
                report.bytes_copied += size
                if outcome == REPLACED:
                    report.replaced.append(f"original {sha256}: {note}")
            if on_original:
                on_original(sha256, outcome)
    report.derived_copied, derived_failures = _copy_derived(source, target, set(originals))
    report.failed.extend(derived_failures)
    report.kept_copied, kept_failures = _copy_kept(source, target)
    report.failed.extend(kept_failures)
    return report


def _settle_one(
    source: Store, target: Store, sha256: str, held: bool
) -> tuple[str, int, str | None]:
    """Make the target hold the original: keep a copy already there that hashes to its key,
    replace one that does not, copy it when missing; return (outcome, bytes sent, words)."""
    replaced = None
    if held:
        try:
            found = target.hash_file(sha256)
        except (StorageError, OSError) as exc:
            if target.exists(sha256):
                return FAILED, 0, f"the copy already there cannot be read ({exc})"
            found = None  # removed since the listing: copy it
        if found == sha256:
            return PRESENT, 0, None
        if found is not None:
            # A store never overwrites an original, so the wrong bytes go first.
            try:
                target.discard(sha256)
            except (StorageError, OSError) as exc:
                return FAILED, 0, f"the target holds bytes hashing to {found}; not removed ({exc})"
            replaced = f"the target held bytes hashing to {found} under its key; replaced"
    size, problem = _copy_one(source, target, sha256)
    if problem is not None:
        return FAILED, 0, problem
    return (REPLACED, size, replaced) if replaced else (COPIED, size, None)


def _copy_one(source: Store, target: Store, sha256: str) -> tuple[int, str | None]:
    """Copy one original and read it back; return (its size, None) or (0, what went wrong)."""
    try:
        with source.open(sha256) as stream:
            stored = target.put_stream(stream, expected=sha256)
        again = target.hash_file(sha256)
        if again != sha256:
            target.discard(sha256)
            return 0, f"the copy read back hashes to {again}; removed, run again"
    except (StorageError, OSError) as exc:
        return 0, str(exc)
    return stored.size, None


def _copy_derived(source: Store, target: Store, originals: set[str]) -> tuple[int, list[str]]:
    """Copy the derived files of ``originals`` that the target lacks."""
    there = set(target.iter_derived())
    copied, failures = 0, []
    for sha256, name in _derived_of(source, originals):
        if (sha256, name) in there:
            continue
        try:
            data = source.read_derived(sha256, name)
            if data is not None:
                target.put_derived(sha256, name, data)
                copied += 1
        except (StorageError, OSError) as exc:
            failures.append(f"derived {name} of {sha256}: {exc}")
    return copied, failures


def _copy_kept(source: Store, target: Store) -> tuple[int, list[str]]:
    """Copy every kept record the target lacks; one it holds with other bytes is a failure."""
    copied, failures = 0, []
    for name in source.kept_names():
        try:
            data = source.read_kept(name)
            if data is not None and target.keep(name, data):
                copied += 1
        except (StorageError, OSError) as exc:
            failures.append(f"kept {name}: {exc}")
    return copied, failures


def _derived_of(source: Store, originals: set[str]) -> Iterator[tuple[str, str]]:
    for sha256, name in source.iter_derived():
        if sha256 in originals:
            yield sha256, name
