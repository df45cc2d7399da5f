"""Perceptual hashes of a decoded picture: imagehash's pHash (64 bits) and PDQ (256 bits,
with quality), their dihedral variants for queries, and hex encoding of hash bits."""

from __future__ import annotations

import re
from dataclasses import dataclass

import imagehash
import numpy as np
import pdqhash
from PIL import Image

PHASH = "phash"
PDQ = "pdq"
BIT_LENGTHS = {PHASH: 64, PDQ: 256}
ALGORITHMS = tuple(BIT_LENGTHS)
# The eight symmetries of a rectangle, named by what was done to the original picture.
DIHEDRAL = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_horizontal",
    "flip_vertical",
    "transpose",
    "transverse",
)
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True)
class HashValue:
    """One hash: its algorithm, the view it was taken of, its bits and their quality."""

    algorithm: str
    bits: bytes
    quality: int | None = None
    variant: str = "full"

    @property
    def hex(self) -> str:
        """Return the bits as lowercase hex (PDQ's and imagehash's usual spelling)."""
        return self.bits.hex()


def parse_hex(algorithm: str, text: str) -> bytes:
    """Return the bits spelled by ``text`` for ``algorithm``, or raise ValueError saying why."""
    if algorithm not in BIT_LENGTHS:
        raise ValueError(f"unknown hash algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    text = (text or "").strip()
    digits = BIT_LENGTHS[algorithm] // 4
    if len(text) != digits or not _HEX_RE.match(text):
        raise ValueError(f"a {algorithm} hash is {digits} hexadecimal digits")
    return bytes.fromhex(text)


def hamming(a: bytes, b: bytes) -> int:
    """Return the number of differing bits between two hashes of one algorithm."""
    return int.from_bytes(a, "big").__xor__(int.from_bytes(b, "big")).bit_count()


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes()


def pdq(rgb: np.ndarray, variant: str = "full") -> HashValue:
    """Return the PDQ hash and quality (0-100) of an RGB array."""
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return HashValue(PDQ, _pdq_bytes(vector), int(quality), variant)


def pdq_dihedral(rgb: np.ndarray) -> list[HashValue]:
    """Return PDQ of the eight symmetric forms, in ``DIHEDRAL`` order, from one computation."""
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [HashValue(PDQ, _pdq_bytes(v), int(quality), name) for v, name in zip(vectors, _PDQ_DIHEDRAL_ORDER)]


def _pdq_bytes(vector: np.ndarray) -> bytes:
    # PDQ's hex form writes bit 255 first; keep that order so our hex equals the reference.
    return _pack(np.asarray(vector)[::-1])


def phash(rgb: np.ndarray, variant: str = "full") -> HashValue:
    """Return imagehash's pHash (64 bits) of an RGB array."""
    value = imagehash.phash(Image.fromarray(rgb))
    return HashValue(PHASH, _pack(value.hash), None, variant)


def phash_dihedral(rgb: np.ndarray) -> list[HashValue]:
    """Return pHash of the eight symmetric forms, in ``DIHEDRAL`` order."""
    return [phash(form, name) for name, form in zip(DIHEDRAL, dihedral_arrays(rgb))]


def dihedral_arrays(rgb: np.ndarray) -> list[np.ndarray]:
    """Return the eight symmetric forms of an array, in ``DIHEDRAL`` order."""
    return [
        rgb,
        np.rot90(rgb, 1),
        np.rot90(rgb, 2),
        np.rot90(rgb, 3),
        rgb[:, ::-1],
        rgb[::-1, :],
        np.transpose(rgb, (1, 0, 2)),
        np.rot90(rgb, 2).transpose(1, 0, 2),
    ]


# pdqhash.compute_dihedral's order, in our names (checked against dihedral_arrays in tests):
# its "flip x" mirrors top to bottom.
_PDQ_DIHEDRAL_ORDER = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_vertical",
    "flip_horizontal",
    "transpose",
    "transverse",
)
