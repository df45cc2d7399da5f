"""The part of a text that answers a query, with the words it found marked."""

from __future__ import annotations

from collections.abc import Iterable

from .terms import WORD, Probe, fold

SNIPPET_CHARS = 200


def marks(text: str, probes: Iterable[Probe]) -> list[tuple[int, int]]:
    """Where in ``text`` the words the probes find are, as (start, end) offsets."""
    wanted = list(probes)
    found = []
    # Folding keeps the length of every Cyrillic and most Latin text; where it does not
    # (a ligature), the offsets of the original words are what is marked.
    for match in WORD.finditer(text):
        word = fold(match.group(0)).replace("'", "").replace("’", "").replace("ʼ", "")
        if any(p.finds(word) for p in wanted):
            found.append((match.start(), match.end()))
    return found


def snippet(
    text: str, probes: Iterable[Probe], width: int = SNIPPET_CHARS
) -> tuple[str, list[tuple[int, int]]]:
    """The window of ``text`` around its first found word, and the marks inside it."""
    text = " ".join(text.split())  # one line: subtitles and OCR lines keep their breaks
    found = marks(text, probes)
    if len(text) <= width:
        return text, found
    first = found[0][0] if found else 0
    start = max(0, min(first - width // 4, len(text) - width))
    # Start and end on a word boundary where one is near.
    if start > 0:
        space = text.find(" ", start, start + 20)
        start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", end - 20, end)
        end = space if space > start else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - start
    inside = [(a + shift, b + shift) for a, b in found if a >= start and b <= end]
    return prefix + text[start:end] + suffix, inside
