"""Choose the descriptor bits that make visual words and signatures (``index.vocabulary``).

    python -m benchmarks.keybits

True correspondences come from the tuning set of ``benchmarks.accuracy``: each transformed
query against its original, mutual nearest keypoints that fit the geometric check. A bit is
good for a word when it rarely differs between the two ends of a true correspondence and is
set in about half of all descriptors (measured on 10,000 wallpaper composites, so that words
fill evenly). The 20 best make the word, the next 32 the signature. Prints the two lists and
how often the word agrees on the validation set's correspondences (never used to choose).
"""

from __future__ import annotations

import numpy as np

from catalog.hashing import fingerprint_image, fingerprint_query
from catalog.hashing.features import verify
from catalog.index.keypoints import correspondences
from catalog.index.vocabulary import Vocabulary

from . import distractors
from .accuracy import MAX_PIXELS, build_queries, build_validation

BALANCE = 0.12  # a usable bit is set in 38 % to 62 % of descriptors
KEY_LENGTH = 20


def true_pairs(build) -> tuple[np.ndarray, np.ndarray]:
    """Return the descriptors at both ends of every verified inlier correspondence."""
    originals, queries = build()
    stored = {n: fingerprint_image(d, MAX_PIXELS).features for n, d in originals.items()}
    left, right = [], []
    for query in queries:
        if query.expected is None:
            continue
        original = stored[query.expected]
        for _, features in fingerprint_query(query.data, MAX_PIXELS).features:
            pairs = correspondences(features, original)
            check = verify(features, original, pairs)
            if check is None:
                continue
            matrix = np.array(check.matrix).reshape(2, 3)
            source = original.points[pairs[:, 1]] * [original.width, original.height]
            target = features.points[pairs[:, 0]] * [features.width, features.height]
            error = np.hypot(*(source @ matrix[:, :2].T + matrix[:, 2] - target).T)
            inlier = error < 0.01 * max(features.width, features.height) + 1.5
            left.append(features.descriptors[pairs[inlier, 0]])
            right.append(original.descriptors[pairs[inlier, 1]])
    return np.concatenate(left), np.concatenate(right)


def main() -> None:
    """Print the chosen bits and their agreement on the validation set."""
    query, stored = true_pairs(build_queries)
    flips = (np.unpackbits(query, axis=1) != np.unpackbits(stored, axis=1)).mean(axis=0)
    pool = distractors.make(10_000)
    every = np.concatenate([pool.descriptors[i, :k] for i, k in enumerate(pool.keypoints)])
    share = np.unpackbits(every, axis=1).mean(axis=0)
    order = np.argsort(flips + 10 * (np.abs(share - 0.5) >= BALANCE))
    key = tuple(sorted(order[:KEY_LENGTH].tolist()))
    signature = tuple(sorted(order[KEY_LENGTH : KEY_LENGTH + 32].tolist()))
    print(f"{len(query):,} tuning correspondences; flip rates {flips.min():.3f}..{flips.max():.3f}")
    print("KEY_BITS =", key)
    print("SIGNATURE_BITS =", signature)
    vocabulary = Vocabulary(key, signature)
    query, stored = true_pairs(build_validation)
    same = vocabulary.assign(query) == vocabulary.assign(stored)
    apart = np.bitwise_count(vocabulary.signature(query) ^ vocabulary.signature(stored))
    print(
        f"validation: {len(query):,} correspondences, same word {same.mean():.3f}, "
        f"signature within 5 bits {(apart[same] <= 5).mean():.3f}"
    )


if __name__ == "__main__":
    main()
