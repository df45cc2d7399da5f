"""The pure index: radius search against brute force, flat and multi-hash, thread safety,
keypoint matching, and the match rules of CatalogIndex."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from catalog.hashing import fingerprint_image, fingerprint_query
from catalog.index import FLAT, MULTIHASH, CatalogIndex, HammingIndex

from .media import BRIDGE, dihedral_forms, encode, index_fingerprint, pattern, sample

LIMIT = 100_000_000


def popcount_distances(codes: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.unpackbits(np.bitwise_xor(codes, query), axis=1).sum(axis=1)


@pytest.mark.parametrize("kind", [FLAT, MULTIHASH])
def test_radius_search_equals_brute_force(kind: str) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(3000, 32), dtype=np.uint8)
    # Plant near neighbours of the first code at known distances.
    for i, flips in enumerate([1, 5, 12, 20, 31, 40], start=1):
        codes[i] = codes[0]
        for bit in rng.choice(256, flips, replace=False):
            codes[i, bit // 8] ^= 1 << (bit % 8)
    index = HammingIndex(256, kind)
    index.add(np.arange(3000) + 100, np.arange(3000) // 2, np.full(3000, np.nan), codes)
    hits = index.search(codes[0], 31)[0]
    expected = sorted(
        (int(d), i) for i, d in enumerate(popcount_distances(codes, codes[0])) if d <= 31
    )
    assert [(h.distance, h.row_id - 100) for h in hits] == expected
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    assert hits[0].media_id == 0 and hits[0].frame_time is None


def test_frame_times_and_media_distance() -> None:
    index = HammingIndex(64)
    codes = np.array([[0] * 8, [255] * 8], dtype=np.uint8)
    index.add(np.array([1, 2]), np.array([7, 8]), np.array([np.nan, 12.5]), codes)
    hit = index.search(np.array([255] * 8, dtype=np.uint8), 0)[0][0]
    assert (hit.media_id, hit.frame_time) == (8, 12.5)
    assert index.distance_to_media(np.array([[1] + [0] * 7], dtype=np.uint8), 7) == 1
    assert index.distance_to_media(codes[:1], 99) is None
    assert index.search(np.zeros((0, 8), np.uint8), 3) == []


def test_adds_and_searches_from_many_threads() -> None:
    index = HammingIndex(256)
    rng = np.random.default_rng(1)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for start in range(0, 500, 10):
                codes = rng.integers(0, 256, size=(10, 32), dtype=np.uint8)
                ids = np.arange(start, start + 10) + offset
                index.add(ids, ids, np.full(10, np.nan), codes)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(200):
                index.search(rng.integers(0, 256, size=(4, 32), dtype=np.uint8), 40)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 10_000,)) for n in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(index) == 1500


def catalogue_of(*pictures: bytes) -> CatalogIndex:
    index = CatalogIndex(keep_features=True)
    row = 0
    for media_id, data in enumerate(pictures, start=1):
        row = index_fingerprint(index, media_id, fingerprint_image(data, LIMIT), row)
    return index


@pytest.fixture(scope="module")
def catalogue() -> CatalogIndex:
    return catalogue_of(
        sample("photos/astronaut.png"),
        sample("photos/coffee.png"),
        sample(BRIDGE),
    )


def matches_for(index: CatalogIndex, data: bytes) -> list:
    return index.match(fingerprint_query(data, LIMIT))


def test_near_duplicate_mirror_and_crop_kinds(catalogue: CatalogIndex) -> None:
    from PIL import Image, ImageOps

    astronaut = Image.open(__import__("io").BytesIO(sample("photos/astronaut.png"))).convert("RGB")
    [resized] = matches_for(catalogue, encode(astronaut.resize((256, 256)), "JPEG", quality=60))
    assert (resized.media_id, resized.kind, resized.algorithm) == (1, "near_duplicate", "pdq")
    assert resized.distance <= 31 and 0 < resized.score <= 1

    [mirrored] = matches_for(catalogue, encode(ImageOps.mirror(astronaut), "JPEG"))
    assert (mirrored.media_id, mirrored.kind) == (1, "mirrored_rotated")
    assert mirrored.query_variant.endswith("flip_horizontal")

    [cropped] = matches_for(catalogue, encode(astronaut.crop((60, 40, 60 + 358, 40 + 358)), "JPEG"))
    assert (cropped.media_id, cropped.kind, cropped.algorithm) == (1, "cropped_contained", "orb")
    assert cropped.details["inliers"] >= 12
    assert cropped.details["query_area"] > 0.9 and cropped.details["match_area"] < 0.6


def test_unrelated_pictures_match_nothing(catalogue: CatalogIndex) -> None:
    for name in ("photos/gravel.png", "photos/chelsea.png", "threatexchange/pen-and-coaster.png"):
        assert matches_for(catalogue, sample(name)) == [], name
    assert matches_for(catalogue, encode(pattern(seed=11), "PNG")) == []


def test_dihedral_sample_set_matches_the_original(catalogue: CatalogIndex) -> None:
    forms = dihedral_forms()
    assert len(forms) == 7
    for name, data in forms.items():
        found = matches_for(catalogue, data)
        assert [m.media_id for m in found] == [3], name
