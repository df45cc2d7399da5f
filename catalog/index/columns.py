"""Columns of numbers for the indexes: growable in memory, saved to and mapped from files.

A snapshot's columns are ``.npy`` files mapped read-only, so every worker of a server reads
the same pages of the page cache rather than holding a copy each.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class Column:
    """A growable numpy column (amortised doubling), so small adds stay cheap."""

    def __init__(self, dtype: type, width: int | None = None) -> None:
        self.tail = () if width is None else (width,)
        self.data = np.empty((1024, *self.tail), dtype=dtype)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        """Append ``values``."""
        needed = self.size + len(values)
        if needed > len(self.data):
            grown = np.empty((max(needed, 2 * len(self.data)), *self.tail), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : needed] = values
        self.size = needed

    def view(self) -> np.ndarray:
        """Return the filled part."""
        return self.data[: self.size]


def save_array(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy and flush it to disk (a snapshot must survive a crash)."""
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def load_array(path: Path) -> np.ndarray:
    """Map a saved array read-only (an empty one is read, as empty files cannot be mapped)."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    return np.asarray(array) if array.size == 0 else array
