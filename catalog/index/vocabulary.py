"""Visual words of ORB descriptors: 20 chosen bits make the word, 32 others its signature.

An inverted file needs the same patch, seen in two copies of a picture, to land in the same
list. Words learnt by k-means over the 256-bit descriptors fail at that: measured on the
tuning set's true correspondences (median 6 bits apart), a 65,536-word two-level vocabulary
put both ends in the same word 54 % of the time, its 256 coarse cells only 76 %, because in
256 dimensions a descriptor lies almost as near several centroids. Single bits, those that
flip least between true correspondences among those near 50 % set in photographs, do better
and cost nothing to compute: 16 of them agree 69 % of the time, 20 agree 64 %. Twenty make
the word: a million pictures' 96 million postings then spread over a million lists, and a
query reads about 400 postings per descriptor instead of 7,000 with 16 bits (search by file
at a million: 40 ms instead of 204 ms, the same originals found but one). Thirty-two more
such bits are a signature (Hamming embedding): within a word, a posting votes only if its
signature is within ``SIGNATURE_DISTANCE`` bits, which keeps 99 % of true pairs and 22 % of
chance ones.

The bits were chosen by ``python -m benchmarks.keybits`` (flip rates on the tuning set's
correspondences, balance on Debian wallpaper photographs); the validation set had no say.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

DESCRIPTOR_BYTES = 32
KEY_BITS = (
    6, 24, 37, 44, 94, 102, 114, 123, 129, 141,
    145, 150, 184, 208, 214, 216, 227, 229, 236, 246,
)  # fmt: skip
SIGNATURE_BITS = (
    1, 10, 48, 50, 52, 57, 69, 86, 92, 100, 108, 115, 121, 132, 143, 148,
    152, 166, 168, 169, 170, 176, 188, 204, 212, 219, 225, 231, 241, 242, 243, 254,
)  # fmt: skip
WORDS = 1 << len(KEY_BITS)
SIGNATURE_DISTANCE = 5


class Vocabulary:
    """Maps descriptors to words (``assign``) and signatures (``signature``)."""

    def __init__(self, key_bits: tuple[int, ...], signature_bits: tuple[int, ...]) -> None:
        if not 8 <= len(key_bits) <= 24 or len(signature_bits) != 32:
            raise ValueError("a vocabulary takes 8 to 24 key bits and 32 signature bits")
        if set(key_bits) & set(signature_bits) or max(*key_bits, *signature_bits) >= 256:
            raise ValueError("key and signature bits must be distinct bits of 256")
        self.key_bits, self.signature_bits = key_bits, signature_bits
        self.words = 1 << len(key_bits)
        self.digest = hashlib.sha256(repr((key_bits, signature_bits)).encode()).hexdigest()[:16]

    def assign(self, descriptors: np.ndarray) -> np.ndarray:
        """Return the word of each descriptor (int32, 0..65535)."""
        return _gather(descriptors, self.key_bits).astype(np.int32)

    def signature(self, descriptors: np.ndarray) -> np.ndarray:
        """Return each descriptor's 32-bit signature (uint32)."""
        return _gather(descriptors, self.signature_bits).astype(np.uint32)


def _gather(descriptors: np.ndarray, bits: tuple[int, ...]) -> np.ndarray:
    """Pack the chosen bits (numbered as ``np.unpackbits`` numbers them) into an integer."""
    codes = np.ascontiguousarray(descriptors, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES)
    out = np.zeros(len(codes), dtype=np.uint64)
    for position, bit in enumerate(bits):
        value = (codes[:, bit // 8] >> np.uint8(7 - bit % 8)) & np.uint8(1)
        out |= value.astype(np.uint64) << np.uint64(position)
    return out


@functools.cache
def default() -> Vocabulary:
    """Return the vocabulary every index uses."""
    return Vocabulary(KEY_BITS, SIGNATURE_BITS)
