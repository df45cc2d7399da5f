"""The cheap test for text: where in a picture text-like lines are, found with OpenCV alone
(no model weights), so that the costly OCR runs only there, or not at all.

On a grey copy of at most ``DETECT_SIDE`` pixels: a morphological gradient marks strong edges,
Otsu (never below ``MIN_EDGE``) keeps them, a horizontal closing joins the letters of a line,
and each joined blob is kept only when it looks like a line of letters: wider than tall, and
made of several glyph-sized pieces standing on one baseline. Foliage, gravel and noise make
blobs too, but their pieces are of every size and do not line up; and whatever passes, the
area handed to the OCR is bounded (``MAX_OCR_SHARE``, ``MAX_REGIONS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

# The longest side the test works at; a 12-MP photo is read at about 1/16 of its pixels.
DETECT_SIDE = 1000
# The weakest edge (0-255 gradient) that may count as a letter's edge.
MIN_EDGE = 40
# Line heights, in detection pixels, that can be read.
MIN_LINE_H, MAX_LINE_SHARE = 7, 0.3
# Big letters are looked for again on a copy this many times smaller, where a line of them is
# as compact as a line of small letters is at full detection size.
COARSE = 3
# Glyph-sized pieces a line must have, and how far (share of the line height) their bottoms
# may stray from their median.
MIN_GLYPHS = 3
BASELINE_SPREAD = 0.2
# At most this share of the picture, in at most this many blocks, is given to the OCR; a block
# of at least STRONG_LINES lines scoring STRONG_SCORE on average (a page, a screenshot of a
# post) is plainly text and is read whatever its size.
MAX_OCR_SHARE = 0.25
STRONG_LINES, STRONG_SCORE = 3, 0.5
# A block scoring less than this (a line of three glyphs on a baseline scores about 0.3) is
# the chance alignment of leaves or gravel.
MIN_BLOCK_SCORE = 0.25
MAX_REGIONS = 24
# Candidate lines considered at most (the best), so a busy picture costs little to group.
MAX_LINES = 300


# A picture as the readers take it: Pillow's, or an RGB, RGBA or grey uint8 array.
Picture = Image.Image | np.ndarray


@dataclass(frozen=True)
class Region:
    """A block of text-like lines, in original picture pixels."""

    x: int
    y: int
    w: int
    h: int
    line_h: float  # the median line height, in original pixels
    score: float
    lines: int  # how many candidate lines the block joins


def grey_of(picture: np.ndarray) -> np.ndarray:
    """Return a 2-D uint8 grey copy of an RGB, RGBA or grey array."""
    if picture.ndim == 2:
        return np.ascontiguousarray(picture, dtype=np.uint8)
    if picture.shape[2] == 4:
        return cv2.cvtColor(picture, cv2.COLOR_RGBA2GRAY)
    return cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)


def small_grey(picture: Picture) -> tuple[np.ndarray, float]:
    """Return a grey copy fitted within DETECT_SIDE and the scale used (small/original).
    A Pillow picture is shrunk before it is made grey or copied into an array: turning a
    12-MP picture into an array costs more than the whole test."""
    if isinstance(picture, Image.Image):
        width, height = picture.size
        scale = min(1.0, DETECT_SIDE / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            picture = picture.resize(size, Image.Resampling.BOX, reducing_gap=2.0)
        return np.asarray(picture.convert("L")), scale
    grey = grey_of(picture)
    height, width = grey.shape
    scale = min(1.0, DETECT_SIDE / max(height, width))
    if scale >= 1.0:
        return grey, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA), scale


def grey_crop(picture: Picture, box: tuple[int, int, int, int]) -> np.ndarray:
    """Return the grey pixels of (left, top, right, bottom) of a picture, at full size."""
    left, top, right, bottom = box
    if isinstance(picture, Image.Image):
        return np.asarray(picture.crop(box).convert("L"))
    return grey_of(picture[top:bottom, left:right])


def find_lines(small: np.ndarray) -> list[tuple[int, int, int, int, float]]:
    """Return (x, y, w, h, score) of each text-like line in a detection-sized grey picture."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    gradient = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, kernel)
    otsu, _ = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, edges = cv2.threshold(gradient, max(float(otsu), MIN_EDGE), 255, cv2.THRESH_BINARY)
    joined = cv2.morphologyEx(
        edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1))
    )
    contours, _ = cv2.findContours(joined, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    lines = []
    for contour in contours:
        left, top, wide, high = cv2.boundingRect(contour)
        for x, y, w, h in _split_rows(edges, (left, top, wide, high)):
            line = _line(small, joined, x, y, w, h)
            if line is not None:
                lines.append(line)
    return lines


def _split_rows(
    edges: np.ndarray, rect: tuple[int, int, int, int]
) -> list[tuple[int, int, int, int]]:
    """Split a blob at the rows where its edges thin out: lines of a dense paragraph touch
    once their edges are thickened, and would otherwise make one tall blob."""
    x, y, w, h = rect
    if h < 2 * MIN_LINE_H:
        return [rect]
    rows = np.count_nonzero(edges[y : y + h, x : x + w], axis=1)
    busy = rows > 0.1 * float(np.median(rows[rows > 0])) if rows.any() else rows > 0
    parts, start = [], None
    for row, on in enumerate([*busy.tolist(), False]):
        if on and start is None:
            start = row
        elif not on and start is not None:
            band = edges[y + start : y + row, x : x + w]
            columns = np.flatnonzero(band.any(axis=0))
            if columns.size:
                left, right = int(columns[0]), int(columns[-1]) + 1
                parts.append((x + left, y + start, right - left, row - start))
            start = None
    return parts


def _line(
    small: np.ndarray, joined: np.ndarray, x: int, y: int, w: int, h: int
) -> tuple[int, int, int, int, float] | None:
    """Return the line with its score when the box holds text-like glyphs, else None."""
    if h < MIN_LINE_H or h > MAX_LINE_SHARE * small.shape[0] or w < 2 * h:
        return None
    filled = cv2.countNonZero(joined[y : y + h, x : x + w]) / (w * h)
    if filled < 0.45:
        return None
    score = _glyph_score(small[y : y + h, x : x + w])
    return (x, y, w, h, score * filled) if score > 0 else None


def _glyph_score(crop: np.ndarray) -> float:
    """Return how much a line crop looks like letters on a baseline (0: not at all)."""
    h = crop.shape[0]
    _, ink = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if cv2.countNonZero(ink) > ink.size / 2:  # letters are the lesser part: light on dark
        ink = cv2.bitwise_not(ink)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    heights, widths = stats[1:count, cv2.CC_STAT_HEIGHT], stats[1:count, cv2.CC_STAT_WIDTH]
    glyphs = (heights >= 0.3 * h) & (heights <= 0.98 * h) & (widths <= 1.5 * h) & (widths >= 1)
    if int(glyphs.sum()) < MIN_GLYPHS:
        return 0.0
    bottoms = (stats[1:count, cv2.CC_STAT_TOP] + heights)[glyphs].astype(np.float32)
    tops = stats[1:count, cv2.CC_STAT_TOP][glyphs].astype(np.float32)
    # Letters share a baseline (descenders aside) or a cap line: the better of the two counts.
    on_line = max(
        float(np.mean(np.abs(bottoms - np.median(bottoms)) <= BASELINE_SPREAD * h)),
        float(np.mean(np.abs(tops - np.median(tops)) <= BASELINE_SPREAD * h)),
    )
    if on_line < 0.6:
        return 0.0
    return on_line * min(1.0, float(glyphs.sum()) / 6)


def text_regions(picture: Picture) -> tuple[list[Region], np.ndarray, float]:
    """Return the blocks worth reading (original pixels, best first, bounded in count and
    area), the detection-sized grey picture and its scale."""
    small, scale = small_grey(picture)
    lines = find_lines(small)
    if min(small.shape) >= COARSE * 4 * MIN_LINE_H:
        coarse = cv2.resize(
            small,
            (small.shape[1] // COARSE, small.shape[0] // COARSE),
            interpolation=cv2.INTER_AREA,
        )
        for x, y, w, h, score in find_lines(coarse):
            if h * COARSE > 3 * MIN_LINE_H:  # small letters were found at full size
                lines.append((x * COARSE, y * COARSE, w * COARSE, h * COARSE, score))
    lines = sorted(lines, key=lambda line: -line[4])[:MAX_LINES]
    blocks = _blocks(lines)
    blocks.sort(key=lambda block: -block[4])
    budget = MAX_OCR_SHARE * small.shape[0] * small.shape[1]
    kept: list[Region] = []
    for x, y, w, h, score, line_h, count in blocks:
        strong = count >= STRONG_LINES and score / count >= STRONG_SCORE
        if score < MIN_BLOCK_SCORE or len(kept) >= MAX_REGIONS or (w * h > budget and not strong):
            continue
        if not strong:
            budget -= w * h
        kept.append(
            Region(
                int(x / scale),
                int(y / scale),
                int(np.ceil(w / scale)),
                int(np.ceil(h / scale)),
                line_h / scale,
                score,
                count,
            )
        )
    return kept, small, scale


def _blocks(
    lines: list[tuple[int, int, int, int, float]],
) -> list[tuple[int, int, int, int, float, float, int]]:
    """Join lines whose padded boxes touch into blocks (x, y, w, h, score, line height,
    line count)."""
    groups: list[list[tuple[int, int, int, int, float]]] = [[line] for line in lines]
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _touch(_box(groups[i]), _box(groups[j])):
                    groups[i] += groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    blocks = []
    for group in groups:
        x, y, w, h = _box(group)
        line_h = float(np.median([line[3] for line in group]))
        blocks.append((x, y, w, h, sum(line[4] for line in group), line_h, len(group)))
    return blocks


def _box(group: list[tuple[int, int, int, int, float]]) -> tuple[int, int, int, int]:
    """The padded box around a group of lines: half a line above and below, one to the sides."""
    pad = int(np.median([line[3] for line in group]))
    x0 = max(0, min(line[0] for line in group) - pad)
    y0 = max(0, min(line[1] for line in group) - pad // 2)
    x1 = max(line[0] + line[2] for line in group) + pad
    y1 = max(line[1] + line[3] for line in group) + pad // 2
    return x0, y0, x1 - x0, y1 - y0


def _touch(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return (
        a[0] <= b[0] + b[2] and b[0] <= a[0] + a[2] and a[1] <= b[1] + b[3] and b[1] <= a[1] + a[3]
    )
