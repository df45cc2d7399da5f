"""Find the picture inside its frame: strip letterbox and pillarbox bars, caption bars, and the
plain margins and text of a social-media screenshot, so the hashes see the picture alone.

A row (or column) belongs to a bar when most of its pixels have the bar's colour, taken from
the outermost row; text on the bar is the minority. Bars are peeled from each edge in turn,
a few passes deep (a black letterbox inside a white caption card, say).
"""

from __future__ import annotations

import numpy as np

# Channel difference under which a pixel counts as the bar's colour (JPEG noise, gradients).
COLOUR_TOLERANCE = 20
# Share of a row that must have the bar's colour; text lines on a bar stay under the rest.
BAR_SHARE = 0.7
# Bars thinner than this share of the side are ignored (noise at the edge, a hairline).
MIN_TRIM_SHARE = 0.02
# The picture left must keep at least this share of each side.
MIN_KEPT_SHARE = 0.2
PASSES = 3
# A run of non-bar rows this long (share of the side) is picture, not text on the bar.
GAP_SHARE = 0.08


# Bars are found on a copy at most this large; the box is scaled back to the full picture.
SEARCH_SIZE = 160


def find_content_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """Return (top, bottom, left, right) of the picture inside any bars; the whole frame if none."""
    height, width = rgb.shape[:2]
    step = max(1, -(-max(height, width) // SEARCH_SIZE))
    if step > 1:
        top, bottom, left, right = _content_box(rgb[::step, ::step])
        small_h, small_w = -(-height // step), -(-width // step)
        return (
            top * step,
            height if bottom == small_h else bottom * step,
            left * step,
            width if right == small_w else right * step,
        )
    return _content_box(rgb)


def _content_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    # Peeling rows first can eat into a picture between side bars (its rows are mostly bar),
    # and columns first the other way round; of the two, keep the one that removed least.
    pixels = rgb.astype(np.int16)
    boxes = [_peel(pixels, rows_first=True), _peel(pixels, rows_first=False)]
    return max(boxes, key=lambda b: (b[1] - b[0]) * (b[3] - b[2]))


def _peel(pixels: np.ndarray, *, rows_first: bool) -> tuple[int, int, int, int]:
    height, width = pixels.shape[:2]
    top, bottom, left, right = 0, height, 0, width
    for _ in range(PASSES):
        before = (top, bottom, left, right)
        for rows in (True, False) if rows_first else (False, True):
            view = pixels[top:bottom, left:right]
            if rows:
                top += _bar_depth(view)
                bottom -= _bar_depth(view[::-1])
            else:
                left += _bar_depth(view.transpose(1, 0, 2))
                right -= _bar_depth(view.transpose(1, 0, 2)[::-1])
        if (top, bottom, left, right) == before or bottom - top < 8 or right - left < 8:
            break
    if bottom - top < MIN_KEPT_SHARE * height or right - left < MIN_KEPT_SHARE * width:
        return 0, height, 0, width
    return top, bottom, left, right


def _bar_depth(rows: np.ndarray) -> int:
    """Return how many leading rows of ``rows`` form a bar of the first row's colour."""
    count = rows.shape[0]
    if count < 8 or rows.shape[1] < 8:
        return 0
    reference = np.median(rows[0], axis=0)
    close = np.abs(rows - reference).max(axis=2) <= COLOUR_TOLERANCE
    share = close.mean(axis=1)
    is_bar = share >= BAR_SHARE
    if not is_bar[0]:
        return 0
    # The bar ends where a run of picture rows starts; shorter runs are lines of big text.
    run = max(3, int(GAP_SHARE * count))
    not_bar = (~is_bar).astype(np.int32)
    windows = np.convolve(not_bar, np.ones(run, dtype=np.int32), mode="valid")
    starts = np.flatnonzero(windows == run)
    depth = int(starts[0]) if starts.size else count
    if depth < MIN_TRIM_SHARE * count or depth > (1 - MIN_KEPT_SHARE) * count:
        return 0
    return depth


def trim(rgb: np.ndarray) -> np.ndarray | None:
    """Return the picture without its bars, or None when there are none worth removing."""
    height, width = rgb.shape[:2]
    top, bottom, left, right = find_content_box(rgb)
    if (top, bottom, left, right) == (0, height, 0, width):
        return None
    return np.ascontiguousarray(rgb[top:bottom, left:right])
