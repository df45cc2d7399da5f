"""Pure hashing: bytes in, identities, perceptual hashes, keypoints and metadata out.

Imports neither Flask nor SQLAlchemy, so it runs in worker processes and is tested alone.
"""

from .decode import IMAGE_FORMATS, ImageRejected, open_image
from .features import Features
from .perceptual import ALGORITHMS, BIT_LENGTHS, PDQ, PHASH, HashValue, hamming, parse_hex
from .pipeline import ImageFingerprint, QueryFingerprint, fingerprint_image, fingerprint_query
from .views import sha256_of

__all__ = [
    "ALGORITHMS",
    "BIT_LENGTHS",
    "Features",
    "HashValue",
    "IMAGE_FORMATS",
    "ImageFingerprint",
    "ImageRejected",
    "PDQ",
    "PHASH",
    "QueryFingerprint",
    "fingerprint_image",
    "fingerprint_query",
    "hamming",
    "open_image",
    "parse_hex",
    "sha256_of",
]
