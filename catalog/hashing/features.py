"""Local binary features (ORB) and their geometric check: the crop-resistant stage.

Global hashes describe the whole frame, so a crop, a tilt, or a picture inside a screenshot
changes them beyond recognition. ORB keypoints describe small patches, survive those edits,
and a consistent similarity transform between two sets of matched keypoints proves that one
picture is (part of) the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

ORB = "orb"
DESCRIPTOR_BYTES = 32
# Keypoints kept per picture: enough for a 50% crop to keep a dozen, few enough that a
# million pictures fit in memory.
MAX_KEYPOINTS = 96
# Keypoints detected per query picture; queries are few, so they can afford more.
QUERY_KEYPOINTS = 500
MIN_INLIERS = 12
# RANSAC's reprojection tolerance as a share of the query's longest side.
RANSAC_SHARE = 0.01
_SCALE = 65535


@dataclass(frozen=True)
class Features:
    """Keypoint positions (0..1 of width and height) and their 256-bit descriptors."""

    points: np.ndarray  # float32, N x 2 (x, y) in [0, 1]
    descriptors: np.ndarray  # uint8, N x 32
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    def pack(self) -> tuple[bytes, bytes]:
        """Return (descriptors, points) as bytes for storage."""
        points = np.round(self.points * _SCALE).astype("<u2")
        return self.descriptors.astype(np.uint8).tobytes(), points.tobytes()

    @classmethod
    def unpack(cls, descriptors: bytes, points: bytes, width: int, height: int) -> Features:
        """Rebuild features stored by ``pack``."""
        desc = np.frombuffer(descriptors, dtype=np.uint8).reshape(-1, DESCRIPTOR_BYTES)
        pts = np.frombuffer(points, dtype="<u2").reshape(-1, 2).astype(np.float32) / _SCALE
        return cls(pts, desc, width, height)


def extract(rgb: np.ndarray, limit: int = MAX_KEYPOINTS) -> Features:
    """Detect ORB keypoints, spread over the picture, keeping the ``limit`` strongest."""
    return extract_sets(rgb, (limit,))[0]


def extract_sets(rgb: np.ndarray, limits: tuple[int, ...]) -> list[Features]:
    """Detect once and return one spread-out selection per limit (stored and query sets)."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    if min(height, width) < 2 * 15 + 2:  # smaller than ORB's border: nothing to describe
        empty = Features(
            np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), width, height
        )
        return [empty for _ in limits]
    # Detect generously, then keep the strongest per grid cell so a crop of any part keeps some.
    detector = cv2.ORB.create(
        nfeatures=max(max(limits) * 4, 500),
        scaleFactor=1.2,
        nlevels=8,
        edgeThreshold=15,
        patchSize=31,
        fastThreshold=10,
    )
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        empty = Features(
            np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), width, height
        )
        return [empty for _ in limits]
    size = np.array([width, height], dtype=np.float32)
    sets = []
    for limit in limits:
        chosen = _spread(keypoints, width, height, limit)
        points = np.array([keypoints[i].pt for i in chosen], dtype=np.float32) / size
        sets.append(Features(np.clip(points, 0, 1), descriptors[chosen], width, height))
    return sets


def _spread(
    keypoints: Sequence[cv2.KeyPoint], width: int, height: int, limit: int, grid: int = 4
) -> np.ndarray:
    """Pick up to ``limit`` keypoints: the strongest of every grid cell, then the second, ..."""
    xy = np.array([kp.pt for kp in keypoints], dtype=np.float32)
    response = np.array([kp.response for kp in keypoints], dtype=np.float32)
    cells = np.minimum(grid - 1, (xy[:, 0] * grid / width).astype(int)) * grid + np.minimum(
        grid - 1, (xy[:, 1] * grid / height).astype(int)
    )
    by_cell = np.lexsort((-response, cells))
    sorted_cells = cells[by_cell]
    starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
    rank = np.arange(len(by_cell)) - starts  # 0 for the strongest in its cell, 1 next, ...
    order = by_cell[np.lexsort((sorted_cells, rank))]
    return order[:limit]


@dataclass(frozen=True)
class Verification:
    """How one picture sits in another: inliers, and the share of each covered by the other."""

    inliers: int
    matches: int
    query_coverage: float  # share of the query's area that shows the candidate
    candidate_coverage: float  # share of the candidate's area visible in the query
    rotation_deg: float
    scale: float
    # Maps candidate pixels to query pixels (2 x 3, similarity), at the working sizes.
    matrix: tuple[float, ...] = ()


def verify(
    query: Features,
    candidate: Features,
    pairs: np.ndarray,
    min_inliers: int = MIN_INLIERS,
) -> Verification | None:
    """Fit a similarity transform to matched keypoints (query index, candidate index) by RANSAC."""
    if len(pairs) < min_inliers:
        return None
    src = candidate.points[pairs[:, 1]] * np.array([candidate.width, candidate.height], np.float32)
    dst = query.points[pairs[:, 0]] * np.array([query.width, query.height], np.float32)
    threshold = RANSAC_SHARE * max(query.width, query.height) + 1.5
    matrix, mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=threshold,
        maxIters=2000,
        confidence=0.995,
    )
    if matrix is None or mask is None:
        return None
    inliers = int(mask.sum())
    if inliers < min_inliers:
        return None
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if not 0.05 <= scale <= 20:
        return None
    rotation = float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))
    query_cov, candidate_cov = _coverage(matrix, candidate, query)
    if candidate_cov <= 0.0:
        return None
    return Verification(
        inliers,
        len(pairs),
        query_cov,
        candidate_cov,
        rotation,
        scale,
        tuple(float(v) for v in matrix.ravel()),
    )


def align(query_rgb: np.ndarray, check: Verification, width: int, height: int) -> np.ndarray:
    """Return the part of the query that shows the candidate, warped into the candidate's frame.

    Hashing this and comparing with the candidate's own hash tells a copy (close) from another
    photograph of the same scene (far), which keypoints alone cannot.
    """
    matrix = np.array(check.matrix, dtype=np.float64).reshape(2, 3)
    return cv2.warpAffine(
        np.ascontiguousarray(query_rgb),
        matrix,
        (int(width), int(height)),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def place(
    candidate_rgb: np.ndarray, check: Verification, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the candidate where it sits in the query's frame (``width`` x ``height``); return
    the picture and the mask of the query's pixels it covers (for showing the two aligned)."""
    matrix = np.array(check.matrix, dtype=np.float64).reshape(2, 3)
    size = (int(width), int(height))
    placed = cv2.warpAffine(
        np.ascontiguousarray(candidate_rgb), matrix, size, flags=cv2.INTER_LINEAR
    )
    covered = cv2.warpAffine(
        np.full(candidate_rgb.shape[:2], 255, np.uint8), matrix, size, flags=cv2.INTER_NEAREST
    )
    return placed, covered > 0


def _coverage(matrix: np.ndarray, candidate: Features, query: Features) -> tuple[float, float]:
    """Return the shares of the query and of the candidate that overlap once aligned."""
    corners = np.array(
        [[0, 0], [candidate.width, 0], [candidate.width, candidate.height], [0, candidate.height]],
        np.float32,
    )
    mapped = cv2.transform(corners[None], matrix)[0]
    query_box = np.array(
        [[0, 0], [query.width, 0], [query.width, query.height], [0, query.height]], np.float32
    )
    area, _ = cv2.intersectConvexConvex(mapped, query_box)
    mapped_area = abs(cv2.contourArea(mapped))
    query_area = float(query.width * query.height)
    if mapped_area <= 0 or query_area <= 0:
        return 0.0, 0.0
    return min(1.0, area / query_area), min(1.0, area / mapped_area)
