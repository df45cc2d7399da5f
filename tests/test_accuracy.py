"""Matching accuracy held to its floors on the validation set: photographs the thresholds were
never tuned on, transformed with seeds the tuning never used (benchmarks/accuracy.py builds
both sets and prints them; this fails when recall or false matches cross a floor)."""

from __future__ import annotations

import pytest

from benchmarks.accuracy import (
    FLOORS,
    MAX_FALSE_MATCH_RATE,
    VALIDATION_SEEDS,
    Catalogue,
    Tally,
    build_queries,
    build_validation,
    evaluate,
)
from benchmarks.variants import GROUPS, TRANSFORMS
from catalog.index import Thresholds

from .media import (
    TUNING_CATALOGUED,
    TUNING_STEREO_PARTNER,
    TUNING_UNRELATED,
    VALIDATION_CATALOGUED,
    VALIDATION_UNRELATED,
)


@pytest.fixture(scope="module")
def validation() -> dict[str, Tally]:
    originals, queries = build_validation()
    return evaluate([Catalogue(Thresholds())], originals, queries)["catalogue"]


def test_the_validation_set_is_apart_from_the_tuning_set() -> None:
    tuning = set(TUNING_CATALOGUED) | set(TUNING_UNRELATED) | {TUNING_STEREO_PARTNER}
    assert not tuning & (set(VALIDATION_CATALOGUED) | set(VALIDATION_UNRELATED))
    # Tuning variants use each transformation's position as its seed; validation's are far off.
    assert min(VALIDATION_SEEDS) > len(TRANSFORMS)
    tuning_originals, tuning_queries = build_queries()
    assert not set(tuning_originals) & set(VALIDATION_CATALOGUED)
    assert len(tuning_queries) == 11 + 7 + 13 + 3 + 14 * len(TRANSFORMS) + 8 + 2 * 18 + 1


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_recall_of_each_transformation_meets_its_floor(
    validation: dict[str, Tally], transform: str
) -> None:
    tally = validation[transform]
    assert tally.total == len(VALIDATION_CATALOGUED) * len(VALIDATION_SEEDS)
    floor = FLOORS[GROUPS[transform]]
    assert tally.hits / tally.total >= floor, f"missed {tally.misses}"


def test_unrelated_pictures_match_nothing(validation: dict[str, Tally]) -> None:
    tally = validation["unrelated"]
    assert tally.total == len(VALIDATION_UNRELATED) * (1 + len(TRANSFORMS))
    assert tally.false / tally.total <= MAX_FALSE_MATCH_RATE


def test_related_queries_never_match_the_wrong_media(validation: dict[str, Tally]) -> None:
    related = [t for group, t in validation.items() if group != "unrelated"]
    wrong, total = sum(t.false for t in related), sum(t.total for t in related)
    assert total == len(TRANSFORMS) * len(VALIDATION_CATALOGUED) * len(VALIDATION_SEEDS)
    assert wrong / total <= MAX_FALSE_MATCH_RATE
