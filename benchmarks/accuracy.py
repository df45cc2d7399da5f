"""Accuracy of near-duplicate matching: recall per transformation and false matches on
unrelated pictures, for the catalogue's matcher and two baselines measured in the same run
(imagehash pHash at distance <= 10 and PDQ at <= 31, each a linear scan of full decodes).

Two sets, kept apart. The tuning set (the ThreatExchange samples and the tuning photographs)
is what the thresholds were chosen on; the validation set (other photographs, transformations
made from other seeds) is what ``tests/test_accuracy.py`` holds to the floors below, so a
change that only fits the tuning set fails the suite.

    python -m benchmarks.accuracy [--set tuning|validation|both] [--json out.json] [--misses]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps

from benchmarks.variants import GROUPS, TRANSFORMS, make_variant
from catalog.hashing import fingerprint_image, fingerprint_query, hamming
from catalog.index import CatalogIndex, Thresholds
from tests.media import (
    BRIDGE,
    BRIDGE_EDITS,
    LABELME,
    TE,
    TUNING_CATALOGUED,
    TUNING_STEREO_PARTNER,
    TUNING_UNRELATED,
    VALIDATION_CATALOGUED,
    VALIDATION_UNRELATED,
    dihedral_forms,
    index_fingerprint,
    mode_forms,
    photo,
    sample,
)

MAX_PIXELS = 200_000_000
# Floors per group of transformations (benchmarks/variants.py GROUPS) and for false matches.
FLOORS = {"basic": 0.98, "hard": 0.85}
MAX_FALSE_MATCH_RATE = 0.01
# Transformations per validation original are made from these seeds, none of them the
# tuning set's (which uses the transformation's position in TRANSFORMS).
VALIDATION_SEEDS = (1001, 2002)


@dataclass
class Query:
    group: str  # transformation or sample folder
    data: bytes
    expected: str | None  # name of the catalogued original, None for unrelated
    name: str


@dataclass
class Tally:
    hits: int = 0
    total: int = 0
    false: int = 0
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)


def build_queries() -> tuple[dict[str, bytes], list[Query]]:
    """The tuning set: what the thresholds were chosen on."""
    originals = {
        "bridge": sample(BRIDGE),
        "exif": sample("threatexchange/exif-rotn/exif-rotn-1.jpg"),
    }
    for name in TUNING_CATALOGUED:
        originals[name] = photo(name)
    queries: list[Query] = []
    for name in BRIDGE_EDITS:
        queries.append(
            Query("te:bridge-mods", (TE / "bridge-mods" / name).read_bytes(), "bridge", name)
        )
    for name, data in dihedral_forms().items():
        queries.append(Query("te:dihedral", data, "bridge", name))
    for name, data in mode_forms().items():
        queries.append(Query("te:modes", data, "bridge", name))
    for orientation in (3, 6, 8):
        name = f"exif-rotn-{orientation}.jpg"
        queries.append(
            Query("te:exif-rotation", (TE / "exif-rotn" / name).read_bytes(), "exif", name)
        )
    for name, original in originals.items():
        image = upright(original)
        for seed, transform in enumerate(TRANSFORMS):
            queries.append(
                Query(transform, make_variant(image, transform, seed), name, f"{name}:{transform}")
            )
    for name in LABELME:
        queries.append(Query("unrelated", (TE / "labelme-subset" / name).read_bytes(), None, name))
    queries.append(
        Query(
            "unrelated", sample("threatexchange/pen-and-coaster.png"), None, "pen-and-coaster.png"
        )
    )
    for name in TUNING_UNRELATED:
        queries.extend(_with_variants(name, photo(name), None, [0]))
    queries.append(
        Query(
            "stereo pair",
            photo(TUNING_STEREO_PARTNER),
            "motorcycle_left.png",
            TUNING_STEREO_PARTNER,
        )
    )
    return originals, queries


def build_validation() -> tuple[dict[str, bytes], list[Query]]:
    """The validation set: photographs and seeds the tuning never saw.

    The catalogue holds the validation originals among the tuning originals (as distractors);
    every transformation of each validation original must find it, and the pictures held out
    (with all their transformations) must find nothing.
    """
    originals, _ = build_queries()
    queries: list[Query] = []
    for name in VALIDATION_CATALOGUED:
        originals[name] = photo(name)
        queries.extend(_with_variants(name, originals[name], name, list(VALIDATION_SEEDS)))
    for name in VALIDATION_UNRELATED:
        queries.extend(_with_variants(name, photo(name), None, [VALIDATION_SEEDS[0]]))
    return originals, queries


def _with_variants(name: str, data: bytes, expected: str | None, seeds: list[int]) -> list[Query]:
    """Every transformation of a picture per seed (for an unrelated picture, also itself)."""
    out = [] if expected else [Query("unrelated", data, None, name)]
    image = upright(data)
    for seed in seeds:
        for position, transform in enumerate(TRANSFORMS):
            variant = make_variant(image, transform, seed + position)
            group = transform if expected else "unrelated"
            out.append(Query(group, variant, expected, f"{name}:{transform}:{seed}"))
    return out


def upright(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    return ImageOps.exif_transpose(image).convert("RGB")


class Baseline:
    """A linear scan over hashes of full decodes, original orientation only."""

    def __init__(self, name: str, threshold: int) -> None:
        self.name, self.threshold = name, threshold
        self.stored: list[tuple[str, bytes]] = []

    def hash(self, data: bytes) -> bytes:
        image = Image.open(io.BytesIO(data))
        image.load()
        if self.name == "phash":
            return np.packbits(imagehash.phash(image).hash.ravel()).tobytes()
        vector, _ = pdqhash.compute(np.asarray(image.convert("RGB")))
        return np.packbits(np.asarray(vector, dtype=bool)).tobytes()

    def add(self, name: str, data: bytes) -> None:
        self.stored.append((name, self.hash(data)))

    def match(self, data: bytes) -> set[str]:
        try:
            query = self.hash(data)
        except (OSError, ValueError):  # a mode the naive pipeline cannot convert (LAB, ...)
            return set()
        return {name for name, bits in self.stored if hamming(bits, query) <= self.threshold}


class Catalogue:
    """The catalogue's own matcher: fingerprint pipeline plus CatalogIndex."""

    name = "catalogue"

    def __init__(self, thresholds: Thresholds) -> None:
        self.index = CatalogIndex(keep_features=True)
        self.names: dict[int, str] = {}
        self.thresholds = thresholds
        self.row = 0

    def add(self, name: str, data: bytes) -> None:
        media_id = len(self.names) + 1
        self.names[media_id] = name
        self.row = index_fingerprint(
            self.index, media_id, fingerprint_image(data, MAX_PIXELS), self.row
        )

    def match(self, data: bytes) -> set[str]:
        query = fingerprint_query(data, MAX_PIXELS)
        return {self.names[m.media_id] for m in self.index.match(query, self.thresholds)}


def evaluate(
    methods: list, originals: dict[str, bytes], queries: list[Query]
) -> dict[str, dict[str, Tally]]:
    results: dict[str, dict[str, Tally]] = {}
    for method in methods:
        for name, data in originals.items():
            method.add(name, data)
        tallies: dict[str, Tally] = defaultdict(Tally)
        for query in queries:
            started = time.perf_counter()
            found = method.match(query.data)
            tally = tallies[query.group]
            tally.seconds += time.perf_counter() - started
            tally.total += 1
            if query.expected in found:
                tally.hits += 1
            elif query.expected is not None:
                tally.misses.append(query.name)
            if found - {query.expected}:
                tally.false += 1
        results[method.name] = dict(tallies)
    return results


def report(results: dict[str, dict[str, Tally]], groups: list[str]) -> str:
    methods = list(results)
    lines = [
        "| transformation | target | n | " + " | ".join(f"{m} recall" for m in methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for group in groups:
        first = results[methods[0]].get(group)
        if first is None:
            continue
        target = {"basic": "≥ 0.98", "hard": "≥ 0.85"}.get(GROUPS.get(group, ""), "")
        if group.startswith("te:"):
            target = "≥ 0.98" if group != "te:dihedral" else "≥ 0.85"
        if group == "unrelated":
            cells = [
                f"false-match rate {results[m][group].false / results[m][group].total:.3f}"
                for m in methods
            ]
            lines.append(
                f"| unrelated (must match nothing) | ≤ 0.01 | {first.total} | "
                + " | ".join(cells)
                + " |"
            )
            continue
        if group == "stereo pair":
            cells = ["matched" if results[m][group].hits else "not matched" for m in methods]
            lines.append(
                "| stereo pair (judgement: same scene, reported) | matched | 1 | "
                + " | ".join(cells)
                + " |"
            )
            continue
        cells = [f"{results[m][group].hits / results[m][group].total:.3f}" for m in methods]
        lines.append(f"| {group} | {target} | {first.total} | " + " | ".join(cells) + " |")
    related_false = {
        m: sum(t.false for g, t in results[m].items() if g not in ("unrelated", "stereo pair"))
        for m in methods
    }
    related_total = sum(
        t.total for g, t in results[methods[0]].items() if g not in ("unrelated", "stereo pair")
    )
    lines.append(
        f"| wrong media matched by related queries | ≤ 0.01 | {related_total} | "
        + " | ".join(f"{related_false[m] / related_total:.3f}" for m in methods)
        + " |"
    )
    mean_ms = {
        m: sum(t.seconds for t in results[m].values())
        / sum(t.total for t in results[m].values())
        * 1000
        for m in methods
    }
    timing = " | ".join(f"{mean_ms[m]:.0f} ms" for m in methods)
    lines.append(f"| mean time per query | | | {timing} |")
    return "\n".join(lines)


def shortfalls(tallies: dict[str, Tally]) -> list[str]:
    """Name every group whose recall is under its floor, or whose false matches are over it."""
    found = []
    for group, tally in tallies.items():
        floor = FLOORS.get(GROUPS.get(group, ""))
        if floor is not None and tally.hits / tally.total < floor:
            found.append(
                f"{group}: recall {tally.hits}/{tally.total} under {floor} ({tally.misses})"
            )
    unrelated = tallies.get("unrelated")
    if unrelated and unrelated.false / unrelated.total > MAX_FALSE_MATCH_RATE:
        found.append(f"unrelated: {unrelated.false}/{unrelated.total} matched something")
    related = [t for g, t in tallies.items() if g not in ("unrelated", "stereo pair")]
    wrong, total = sum(t.false for t in related), sum(t.total for t in related)
    if total and wrong / total > MAX_FALSE_MATCH_RATE:
        found.append(f"related queries matched the wrong media {wrong}/{total} times")
    return found


GROUP_ORDER = [
    "te:bridge-mods",
    "te:modes",
    "te:exif-rotation",
    "te:dihedral",
    *TRANSFORMS,
    "unrelated",
    "stereo pair",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("tuning", "validation", "both"), default="both")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--misses", action="store_true", help="list the queries each method missed")
    args = parser.parse_args(argv)
    figures = {}
    for name, build in (("tuning", build_queries), ("validation", build_validation)):
        if args.set not in (name, "both"):
            continue
        originals, queries = build()
        methods = [Baseline("phash", 10), Baseline("pdq", 31), Catalogue(Thresholds())]
        results = evaluate(methods, originals, queries)
        print(
            f"\nAccuracy, {name} set: {len(originals)} catalogued originals,"
            f" {len(queries)} queries\n"
        )
        print(report(results, GROUP_ORDER))
        short = shortfalls(results["catalogue"])
        print("\ncatalogue: " + ("every floor met" if not short else "; ".join(short)))
        if args.misses:
            for method, tallies in results.items():
                missed = [q for t in tallies.values() for q in t.misses]
                print(f"\n{method} missed {len(missed)}: {', '.join(missed)}")
        figures[name] = {m: {g: vars(t) for g, t in r.items()} for m, r in results.items()}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
