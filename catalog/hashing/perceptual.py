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
_HEX_RE = re.compile(r"\A[0-9a-fA-F]+\Z")


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


def distances(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Return the Hamming distance from each row of ``left`` to each row of ``right`` (uint8
    arrays of packed hashes, one hash per row), as a len(left) x len(right) array."""
    xor = np.bitwise_xor(left[:, None, :], right[None, :, :])
    counts: np.ndarray = np.unpackbits(xor, axis=2).sum(axis=2, dtype=np.int32)
    return counts


def least_distance(left: np.ndarray, right: np.ndarray) -> int:
    """Return the least Hamming distance between any row of ``left`` and any row of ``right``."""
    return int(distances(left, right).min())


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=bool).ravel()).tobytes()


def pdq(rgb: np.ndarray, variant: str = "full") -> HashValue:
    """Return the PDQ hash and quality (0-100) of an RGB array."""
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return HashValue(PDQ, _pdq_bytes(vector), int(quality), variant)


def pdq_dihedral(rgb: np.ndarray) -> list[HashValue]:
    """Return PDQ of the eight symmetric forms, in ``DIHEDRAL`` order, from one computation."""
    vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return [
        HashValue(PDQ, _pdq_bytes(v), int(quality), name)
        for v, name in zip(vectors, _PDQ_DIHEDRAL_ORDER, strict=True)
    ]


def _pdq_bytes(vector: np.ndarray) -> bytes:
    # pdqhash's bit order packed as is gives the reference hex form (ThreatExchange, HMA),
    # so hashes exchanged with other PDQ tools compare directly.
    return _pack(vector)


def _phash_input(rgb: np.ndarray) -> np.ndarray:
    """Return the 32x32 grey picture imagehash's pHash looks at (its first step, done once)."""
    grey = Image.fromarray(rgb).convert("L")
    return np.asarray(grey.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0))


def _phash_of_grey32(grey: np.ndarray, variant: str) -> HashValue:
    # imagehash.phash resizes to 32x32 first; given 32x32 that step changes nothing.
    value = imagehash.phash(Image.fromarray(np.ascontiguousarray(grey)))
    return HashValue(PHASH, _pack(value.hash), None, variant)


def phash(rgb: np.ndarray, variant: str = "full") -> HashValue:
    """Return imagehash's pHash (64 bits) of an RGB array."""
    return _phash_of_grey32(_phash_input(rgb), variant)


def phash_dihedral(rgb: np.ndarray) -> list[HashValue]:
    """Return pHash of the eight symmetric forms, in ``DIHEDRAL`` order.

    Turning or mirroring the 32x32 grey picture equals shrinking the turned picture, so the
    costly resize is done once.
    """
    grey = _phash_input(rgb)[..., None]
    return [
        _phash_of_grey32(form[..., 0], name)
        for name, form in zip(DIHEDRAL, dihedral_arrays(grey), strict=True)
    ]


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
