"""One vocabulary for matches, wherever one is shown: the upload answer, search results, the
media page's links, provenance, compare, reports, the API and ``search --json``.

A match has a kind (what the copy is) and evidence (what shows it). Kinds keep their codes in
JSON (``cropped_contained``) and have one name for people; evidence is said with its unit and
its algorithm, and keypoint evidence as the points that fit and the share of the picture
shown, never as a distance.
"""

from __future__ import annotations

from typing import Any

KIND_LABELS = {
    "exact": "the same file",
    "near_duplicate": "a copy (re-encode, resize or edit)",
    "mirrored_rotated": "a mirrored or turned copy",
    "cropped_contained": "a crop or part of the same picture",
    "frame_of": "a frame of the video",
    "derived_from": "derived from it",
}
# What each evidence measures, and the bits of a hash.
HASH_BITS = {"pdq": 256, "phash": 64}
ALGORITHM_NAMES = {
    "sha256": "SHA-256",
    "pdq": "PDQ",
    "phash": "pHash",
    "orb": "keypoints",
    "frames": "video frames",
    "audio": "sound",
    "frames+audio": "video frames and sound",
}


def kind_label(kind: str | None) -> str:
    """Return the name people read for a match or link kind."""
    return KIND_LABELS.get(str(kind), str(kind or "").replace("_", " "))


def link_label(kind: str | None, algorithm: str | None) -> str:
    """Return the name of a stored link's kind (a keypoint link between pictures is a crop)."""
    if kind == "near_duplicate" and algorithm == "orb":
        return KIND_LABELS["cropped_contained"]
    return kind_label(kind)


def evidence_text(
    algorithm: str | None, distance: float | None, details: dict[str, Any] | None = None
) -> str:
    """Say what shows a match, with its unit: "PDQ: 12 of 256 bits differ", "40 keypoints fit;
    the copy shows 56% of the picture", "sound: 8% of fingerprint bits differ"."""
    details = details or {}
    if algorithm == "sha256":
        return "identical bytes (SHA-256)"
    if algorithm in HASH_BITS:
        if distance is None:
            return ALGORITHM_NAMES[algorithm]
        return f"{ALGORITHM_NAMES[algorithm]}: {distance:.0f} of {HASH_BITS[algorithm]} bits differ"
    if algorithm == "orb":
        return _keypoints(details)
    if algorithm == "audio":
        return _sound(details, distance)
    if algorithm in ("frames", "frames+audio"):
        said = "video frames" + (
            f": PDQ {distance:.0f} of 256 bits differ" if distance is not None else ""
        )
        if algorithm == "frames+audio":
            said += "; " + _sound(details, None)
        return said
    return ALGORITHM_NAMES.get(str(algorithm), str(algorithm or "unknown evidence"))


def _keypoints(details: dict[str, Any]) -> str:
    inliers = details.get("inliers")
    said = f"{inliers} keypoints fit" if inliers is not None else "keypoints fit"
    shown = details.get("match_area")
    if shown is not None:
        said += f"; the copy shows {float(shown):.0%} of the picture"
    return said


def _sound(details: dict[str, Any], distance: float | None) -> str:
    rate = details.get("audio_bit_error_rate", distance)
    if rate is None:
        return "sound"
    return f"sound: {float(rate):.0%} of fingerprint bits differ"
