"""The sound index's part a snapshot holds: every recording's postings (value, recording,
position, sorted by value) and fingerprint (values, informative mask, duration), as arrays in
``.npy`` files that every worker of a server maps read-only, so the memory is needed once per
server and a restarted worker is ready without reading the recordings from the database.

Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hashing.audio import AudioPrint

FILES = ("keys", "recordings", "positions", "ids", "offsets", "values", "informative", "durations")


@dataclass
class SoundBase:
    """Recordings' postings and fingerprints held as flat arrays (mapped, or built to save)."""

    keys: np.ndarray  # uint32, sorted
    recordings: np.ndarray  # int64, the recording of each posting
    positions: np.ndarray  # int32, where in that recording
    ids: np.ndarray  # int64, sorted: the recordings held
    offsets: np.ndarray  # int64, len(ids) + 1: where each one's values start in ``values``
    values: np.ndarray  # uint32, every recording's values, one after another
    informative: np.ndarray  # bool, as long as ``values``
    durations: np.ndarray  # float64, per recording

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, recording_id: object) -> bool:
        return self._slot(int(recording_id)) is not None  # type: ignore[call-overload]

    def _slot(self, recording_id: int) -> int | None:
        slot = int(np.searchsorted(self.ids, recording_id))
        return slot if slot < len(self.ids) and int(self.ids[slot]) == recording_id else None

    def print_of(self, recording_id: int) -> AudioPrint | None:
        """Return a recording's fingerprint (views of the mapped arrays), None if not held."""
        slot = self._slot(recording_id)
        if slot is None:
            return None
        low, high = int(self.offsets[slot]), int(self.offsets[slot + 1])
        return AudioPrint(
            self.values[low:high], self.informative[low:high], float(self.durations[slot])
        )

    def items(self) -> Iterable[tuple[int, AudioPrint]]:
        """Yield (recording, fingerprint) for every recording held."""
        for slot, recording_id in enumerate(self.ids):
            low, high = int(self.offsets[slot]), int(self.offsets[slot + 1])
            yield (
                int(recording_id),
                AudioPrint(
                    self.values[low:high], self.informative[low:high], float(self.durations[slot])
                ),
            )

    @classmethod
    def build(cls, prints: Iterable[tuple[int, AudioPrint]]) -> SoundBase:
        """Gather fingerprints into arrays, and their informative values into postings."""
        held = sorted(prints, key=lambda item: item[0])
        lengths = np.array([len(p.values) for _, p in held], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = _joined([p.values for _, p in held], np.uint32)
        informative = _joined([p.informative for _, p in held], np.bool_)
        where = np.flatnonzero(informative)
        owner = np.repeat(np.arange(len(held), dtype=np.int64), lengths)[where]
        ids = np.array([rid for rid, _ in held], dtype=np.int64)
        keys = values[where]
        order = np.argsort(keys, kind="stable")
        return cls(
            keys=keys[order],
            recordings=ids[owner][order],
            positions=(where - offsets[owner]).astype(np.int32)[order],
            ids=ids,
            offsets=offsets,
            values=values,
            informative=informative,
            durations=np.array([p.duration for _, p in held], dtype=np.float64),
        )

    def save(self, folder: Path) -> None:
        """Write every array as ``audio-<name>.npy`` in ``folder``."""
        for name in FILES:
            np.save(folder / f"audio-{name}.npy", getattr(self, name))

    @classmethod
    def open(cls, folder: Path) -> SoundBase | None:
        """Map the arrays ``save`` wrote; None when the snapshot holds no sound."""
        if not all((folder / f"audio-{name}.npy").is_file() for name in FILES):
            return None
        return cls(**{name: _mapped(folder / f"audio-{name}.npy") for name in FILES})


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _mapped(path: Path) -> np.ndarray:
    try:
        loaded: np.ndarray = np.load(path, mmap_mode="r")
    except ValueError:  # an empty array: nothing to map
        loaded = np.load(path)
    return loaded
