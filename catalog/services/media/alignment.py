"""Two pictures shown aligned, for the compare page: the similarity transform that places one
in the other (from their own keypoints, as the matcher's check fits it), the second picture
drawn in the first one's frame, their difference, and a plain sentence of why they match.

Without a fit (too few keypoints agree: another scene, a flat picture), the second is turned or
mirrored as it looks most like the first, its bars trimmed if that fits better, and scaled into
the first one's box; the sentence says so.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Hashable
from dataclasses import dataclass
from typing import cast

import numpy as np
from PIL import Image

from ...hashing import ImageRejected
from ...hashing.decode import open_image
from ...hashing.features import Verification, place
from ...hashing.trim import trim
from ...index.keypoints import fit_pictures
from ...models import Media, MediaKind
from ...storage import StorageError, Store
from .. import NotFound

# Where the second picture does not reach, the overlay and the difference show this grey.
UNCOVERED = 40


@dataclass
class Alignment:
    """The first picture, the second drawn in its frame, and how they were fitted."""

    base: np.ndarray  # the first picture (RGB, its working size)
    placed: np.ndarray  # the second, in the first one's frame
    covered: np.ndarray  # bool: the first one's pixels the second covers
    fit: Verification | None
    turn: str = "as it is"  # without a fit: how the second was turned or mirrored


def align_pair(storage: Store, a: Media, b: Media, max_pixels: int) -> Alignment:
    """Place picture ``b`` in picture ``a``'s frame; NotFound when either is not a picture
    that can be read."""
    for media in (a, b):
        if media.kind is not MediaKind.IMAGE:
            raise NotFound(f"#{media.id} is not a picture")
    # Each store is one object per process, hashed by identity.
    return _aligned(cast(Hashable, storage), a.id, a.sha256, b.id, b.sha256, max_pixels)


# A compare page and its three layers ask for the same pair at once: decode and fit it once.
# Originals never change under their digest, so a kept answer stays right.
@functools.lru_cache(maxsize=8)
def _aligned(
    storage: Store, a_id: int, a_sha256: str, b_id: int, b_sha256: str, max_pixels: int
) -> Alignment:
    base = _picture(storage, a_id, a_sha256, max_pixels)
    other = _picture(storage, b_id, b_sha256, max_pixels)
    height, width = base.shape[:2]
    fit = fit_pictures(base, other)
    if fit is not None:
        placed, covered = place(other, fit, width, height)
        return Alignment(base, placed, covered, fit)
    # No keypoints agree (a flat picture, a small one): turn and mirror it the way that looks
    # most like the first, as the hashes' dihedral forms match, and scale it into the box.
    # A copy boxed in bars (letterboxed, pillarboxed) is also tried without them.
    inner = trim(other)
    sources = [("", other)] + ([(" without its bars", inner)] if inner is not None else [])
    turn, placed = min(
        (
            (name + trimmed, _fitted(form, width, height))
            for trimmed, picture in sources
            for name, form in _dihedral(picture)
        ),
        key=lambda item: _gap(base, item[1]),
    )
    covered = np.ones((height, width), dtype=bool)
    return Alignment(base, placed, covered, None, turn)


def overlay_jpeg(alignment: Alignment, which: str) -> bytes:
    """Return one layer of the aligned overlay as a JPEG: ``base`` (the first picture),
    ``aligned`` (the second in its frame) or ``difference`` (where they differ, bright)."""
    if which == "base":
        picture = alignment.base
    elif which == "aligned":
        picture = np.where(alignment.covered[..., None], alignment.placed, UNCOVERED)
    elif which == "difference":
        # Amplified, so a caption bar or a logo stands out and re-encoding noise stays dark.
        gap = np.abs(alignment.base.astype(np.int16) - alignment.placed.astype(np.int16))
        picture = np.clip(gap.max(axis=2) * 3, 0, 255).astype(np.uint8)[..., None].repeat(3, 2)
        picture = np.where(alignment.covered[..., None], picture, UNCOVERED)
    else:
        raise NotFound(f"no layer called {which}")
    out = io.BytesIO()
    Image.fromarray(picture.astype(np.uint8)).save(out, "JPEG", quality=88)
    return out.getvalue()


def explain(alignment: Alignment, a: Media, b: Media) -> str:
    """Say in a sentence why the two pictures match, or that no fit was found."""
    fit = alignment.fit
    if fit is None:
        return (
            f"No keypoints of #{b.id} fit #{a.id}: the overlay shows #{b.id} {alignment.turn}, "
            f"scaled into the box of #{a.id}, without aligning it further."
        )
    turn = abs(fit.rotation_deg)
    turned = f"turned {turn:.0f}°" if turn >= 0.5 else "not turned"
    return (
        f"{fit.inliers} keypoints of #{b.id} fit #{a.id} under one similarity: #{b.id} "
        f"appears in #{a.id} at {fit.scale:.2g}× its size, {turned}; #{a.id} shows "
        f"{fit.candidate_coverage:.0%} of #{b.id}, which fills {fit.query_coverage:.0%} of "
        f"#{a.id}."
    )


def _dihedral(rgb: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The eight turns and mirror images of a picture, named."""
    turned = [("as it is", rgb)] + [(f"turned {90 * k}°", np.rot90(rgb, -k)) for k in (1, 2, 3)]
    mirrored = [
        ("mirrored" if name == "as it is" else f"mirrored and {name}", form[:, ::-1])
        for name, form in turned
    ]
    return turned + mirrored


def _fitted(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    picture = Image.fromarray(np.ascontiguousarray(rgb))
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR))


def _gap(one: np.ndarray, other: np.ndarray) -> float:
    """How unlike two pictures of one size look, coarsely (grey 32 x 32, mean difference)."""

    def small(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(rgb).convert("L").resize((32, 32)), dtype=np.float32)

    return float(np.abs(small(one) - small(other)).mean())


def _picture(storage: Store, media_id: int, sha256: str, max_pixels: int) -> np.ndarray:
    """Decode a stored picture at the working size."""
    try:
        with storage.open(sha256) as stream:
            return open_image(stream, max_pixels).rgb
    except (StorageError, ImageRejected) as exc:
        raise NotFound(f"#{media_id} cannot be shown aligned: {exc}") from None
