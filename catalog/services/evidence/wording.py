"""One vocabulary for matches, wherever one is shown: the upload answer, search results, the
media page's links, provenance, compare, reports, the API and ``search --json``.

A match has a kind (what the copy is) and evidence (what shows it). Kinds keep their codes in
JSON (``cropped_contained``) and have one name for people; evidence is said with its unit and
its algorithm, and keypoint evidence as the count of matching keypoints and the share of the
picture shown, never as a distance.

``match_name`` is the one name of a match, as a search answers it and as its link is stored: a
mirrored copy stays mirrored (its link's algorithm carries ``-mirror``), a still is the frame of
the video at its time, a recording cut from a video's sound is an excerpt of its soundtrack.
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


# A stored link keeps what its kind cannot say in its algorithm: a mirror match its witness's
# name with this ending ("pdq-mirror"), a keypoint match its count after a slash ("orb/12").
MIRROR_SUFFIX = "-mirror"


def stored_algorithm(algorithm: str, *, mirrored: bool = False, inliers: int | None = None) -> str:
    """Return the algorithm a link stores for a match: "pdq-mirror", "orb/40"."""
    said = algorithm + (MIRROR_SUFFIX if mirrored else "")
    return said + (f"/{int(inliers)}" if inliers is not None else "")


def witness(algorithm: str | None) -> tuple[str | None, bool, int | None]:
    """Read a stored algorithm back: the witness, whether mirrored, and the keypoint count."""
    if algorithm is None:
        return None, False, None
    name, _, count = algorithm.partition("/")
    mirrored = name.endswith(MIRROR_SUFFIX)
    if mirrored:
        name = name[: -len(MIRROR_SUFFIX)]
    return name, mirrored, int(count) if count.isdigit() else None


def link_label(kind: str | None, algorithm: str | None) -> str:
    """Return the name of a stored link's kind (a keypoint link between pictures is a crop)."""
    return match_name(kind, algorithm)


def clock(seconds: float) -> str:
    """Return seconds as people read a time in a video: "0:07", "1:02:05"."""
    whole = int(round(float(seconds)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def match_name(
    kind: str | None,
    algorithm: str | None,
    details: dict[str, Any] | None = None,
    *,
    time: float | None = None,
    other: int | None = None,
    this_kind: str | None = None,
    other_kind: str | None = None,
) -> str:
    """Return the one name of a match or stored link: "a frame of the video at 0:07 of #2",
    "an excerpt of the soundtrack of #1 (0:05–0:17)", "a mirrored or turned copy"."""
    details = details or {}
    algorithm, mirrored, _ = witness(algorithm)
    of = f" of #{other}" if other is not None else ""
    if str(algorithm).split("+")[-1] == "audio" and this_kind == "audio" and other_kind == "video":
        span = _span(details)
        return f"an excerpt of the soundtrack{of}" + (
            f" ({clock(span[0])}–{clock(span[1])})" if span else ""
        )
    if kind == "frame_of" and other_kind == "image":  # the other is a still of this video
        return f"{KIND_LABELS['frame_of']}" + (f" at {clock(time)}" if time is not None else "")
    if kind == "frame_of" or (time is not None and other_kind == "video"):
        at = f" at {clock(time)}" if time is not None else ""
        return f"{KIND_LABELS['frame_of']}{at}{of}"
    if kind == "mirrored_rotated" or mirrored:
        return KIND_LABELS["mirrored_rotated"]
    if kind == "near_duplicate" and algorithm == "orb":
        return KIND_LABELS["cropped_contained"]
    return kind_label(kind)


def _span(details: dict[str, Any]) -> tuple[float, float] | None:
    """Where the shared sound lies in the matched media: its first segment's start to its
    last one's end."""
    segments = details.get("audio_segments") or details.get("segments") or []
    if not segments:
        return None
    return (
        min(float(s["match_start"]) for s in segments),
        max(float(s["match_end"]) for s in segments),
    )


def evidence_text(
    algorithm: str | None, distance: float | None, details: dict[str, Any] | None = None
) -> str:
    """Say what shows a match, with its unit: "PDQ: 12 of 256 bits differ", "40 matching
    keypoints; the copy shows 56% of the picture", "sound: 8% of fingerprint bits differ"."""
    details = details or {}
    name, mirrored, inliers = witness(algorithm)
    if mirrored or inliers is not None:
        if inliers is not None:
            details = {"inliers": inliers, **details}
        said = evidence_text(name, distance, details)
        return f"{said} (mirrored)" if mirrored else said
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
    # The count is the evidence: said wherever it is known (a stored link does not keep it).
    said = f"{int(inliers)} matching keypoints" if inliers is not None else "matching keypoints"
    shown = details.get("match_area")
    if shown is not None:
        said += f"; the copy shows {float(shown):.0%} of the picture"
    return said


def _sound(details: dict[str, Any], distance: float | None) -> str:
    rate = details.get("audio_bit_error_rate", distance)
    if rate is None:
        return "sound"
    return f"sound: {float(rate):.0%} of fingerprint bits differ"
