"""Accuracy of near-duplicate matching: recall per transformation and false matches on
unrelated pictures, for the catalogue's matcher and two baselines measured in the same run
(imagehash pHash at distance <= 10 and PDQ at <= 31, each a linear scan of full decodes).

    python -m benchmarks.accuracy [--data ../shared/data] [--json out.json]
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

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
MAX_PIXELS = 200_000_000
CATALOGUED_PHOTOS = [
    "astronaut.png",
    "camera.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "moon.png",
    "brick.png",
    "grass.png",
    "page.png",
    "ihc.png",
    "logo.png",
    "china.jpg",
    "flower.jpg",
    "motorcycle_left.png",
]
HELD_OUT_PHOTOS = ["gravel.png", "coins.png", "text.png", "chelsea.png", "rocket.jpg"]


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


def read(path: Path) -> bytes:
    return path.read_bytes()


def build_queries(data: Path) -> tuple[dict[str, bytes], list[Query]]:
    te = data / "threatexchange"
    originals = {
        "bridge": read(te / "bridge-mods" / "aaa-orig.jpg"),
        "exif": read(te / "exif-rotn" / "exif-rotn-1.jpg"),
    }
    for name in CATALOGUED_PHOTOS:
        originals[name] = read(data / "photos" / name)
    queries: list[Query] = []
    for path in sorted((te / "bridge-mods").glob("*.jpg")):
        if path.name != "aaa-orig.jpg":
            queries.append(Query("te:bridge-mods", read(path), "bridge", path.name))
    for path in sorted((te / "dih").glob("*.jpg")):
        if "original" not in path.name:
            queries.append(Query("te:dihedral", read(path), "bridge", path.name))
    for path in sorted((te / "modes").iterdir()):
        if path.suffix in (".png", ".jpg", ".webp") and path.stem != "original":
            queries.append(Query("te:modes", read(path), "bridge", path.name))
    for path in sorted((te / "exif-rotn").glob("*.jpg")):
        if path.name != "exif-rotn-1.jpg":
            queries.append(Query("te:exif-rotation", read(path), "exif", path.name))
    for name, original in originals.items():
        image = upright(original)
        for seed, transform in enumerate(TRANSFORMS):
            queries.append(
                Query(transform, make_variant(image, transform, seed), name, f"{name}:{transform}")
            )
    for path in sorted((te / "labelme-subset").glob("*.jpg")):
        queries.append(Query("unrelated", read(path), None, path.name))
    queries.append(
        Query("unrelated", read(te / "pen-and-coaster.png"), None, "pen-and-coaster.png")
    )
    for name in HELD_OUT_PHOTOS:
        raw = read(data / "photos" / name)
        queries.append(Query("unrelated", raw, None, name))
        image = upright(raw)
        for seed, transform in enumerate(TRANSFORMS):
            queries.append(
                Query(
                    "unrelated", make_variant(image, transform, seed), None, f"{name}:{transform}"
                )
            )
    queries.append(
        Query(
            "stereo pair",
            read(data / "photos" / "motorcycle_right.png"),
            "motorcycle_left.png",
            "motorcycle_right.png",
        )
    )
    return originals, queries


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
        query = self.hash(data)
        return {name for name, bits in self.stored if hamming(bits, query) <= self.threshold}


class Catalogue:
    """The catalogue's own matcher: fingerprint pipeline plus CatalogIndex."""

    name = "catalogue"

    def __init__(self, thresholds: Thresholds) -> None:
        self.index = CatalogIndex()
        self.names: dict[int, str] = {}
        self.thresholds = thresholds
        self.row = 0

    def add(self, name: str, data: bytes) -> None:
        media_id = len(self.names) + 1
        self.names[media_id] = name
        fp = fingerprint_image(data, MAX_PIXELS)
        for value in fp.hashes:
            self.row += 1
            self.index.add_hashes(
                value.algorithm,
                np.array([self.row]),
                np.array([media_id]),
                np.array([np.nan]),
                np.frombuffer(value.bits, np.uint8),
            )
        self.row += 1
        self.index.add_features(self.row, media_id, None, fp.features)

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
    timing = " | ".join(
        f"{sum(t.seconds for t in results[m].values()) / sum(t.total for t in results[m].values()) * 1000:.0f} ms"
        for m in methods
    )
    lines.append(f"| mean time per query | | | {timing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--misses", action="store_true", help="list the queries each method missed")
    args = parser.parse_args(argv)
    originals, queries = build_queries(args.data)
    methods = [Baseline("phash", 10), Baseline("pdq", 31), Catalogue(Thresholds())]
    results = evaluate(methods, originals, queries)
    groups = [
        "te:bridge-mods",
        "te:modes",
        "te:exif-rotation",
        "te:dihedral",
        *TRANSFORMS,
        "unrelated",
        "stereo pair",
    ]
    print(f"Accuracy: {len(originals)} catalogued originals, {len(queries)} queries\n")
    print(report(results, groups))
    if args.misses:
        for method, tallies in results.items():
            missed = [name for t in tallies.values() for name in t.misses]
            print(f"\n{method} missed {len(missed)}: {', '.join(missed)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {m: {g: vars(t) for g, t in r.items()} for m, r in results.items()}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
