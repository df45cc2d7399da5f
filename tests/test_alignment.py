"""The compare page's sentence of why two pictures match: each figure of the fit in its place."""

from __future__ import annotations

from catalog.hashing.features import Verification
from catalog.models import Media
from catalog.services.media.alignment import Alignment, explain


def fitted(**fit: float) -> Alignment:
    values = {
        "inliers": 40,
        "matches": 55,
        "query_coverage": 0.25,
        "candidate_coverage": 0.8,
        "rotation_deg": 0.0,
        "scale": 1.0,
    } | fit
    verification = Verification(**values)
    return Alignment(base=None, placed=None, covered=None, fit=verification)


def test_the_sentence_gives_scale_and_turn_each_in_its_place() -> None:
    # Scale and rotation differ, so a sentence that swapped them would read "30× ... turned 2°".
    said = explain(fitted(scale=2.0, rotation_deg=-30.0), Media(id=3), Media(id=7))
    assert "40 keypoints of #7 fit #3" in said
    assert "#7 appears in #3 at 2× its size, turned 30°" in said
    assert "#3 shows 80% of #7, which fills 25% of #3" in said
    level = explain(fitted(scale=0.5, rotation_deg=0.2), Media(id=3), Media(id=7))
    assert "at 0.5× its size, not turned" in level


def test_without_a_fit_the_sentence_says_how_the_picture_was_placed() -> None:
    unfit = Alignment(base=None, placed=None, covered=None, fit=None, turn="mirrored")
    said = explain(unfit, Media(id=3), Media(id=7))
    assert said.startswith("No keypoints of #7 fit #3") and "#7 mirrored" in said
