"""Accuracy among 10,000 real distractors: recall, false matches and candidate recall.

The validation set of ``benchmarks.accuracy`` (its originals catalogued among the tuning
originals, every transformation of each queried, held-out pictures that must match nothing)
run twice in one process: against the originals alone, and against the originals plus the
distractors of ``benchmarks.distractors`` (composites of Debian wallpapers). Candidate recall
is the share of related queries whose original is among the pictures the keypoint stage hands
to the geometric check (for either symmetry): what the inverted file passes on, whether or not
the hashes already found it.

    python -m benchmarks.accuracy_scale [--distractors 10000]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from catalog.hashing import fingerprint_image, fingerprint_query
from catalog.hashing.features import Features
from catalog.index import CatalogIndex, Thresholds, set_threads
from tests.media import index_fingerprint

from . import distractors
from .accuracy import MAX_PIXELS, build_validation
from .variants import GROUPS


def catalogue(
    originals: dict[str, bytes], extra: distractors.Fingerprints | None
) -> tuple[CatalogIndex, dict[int, str], dict[str, int]]:
    """Return an index of the originals (and distractors), media names, and feature rows."""
    index = CatalogIndex(keep_features=True)
    names: dict[int, str] = {}
    feature_row: dict[str, int] = {}
    row = 0
    for media_id, (name, data) in enumerate(originals.items(), start=1):
        names[media_id] = name
        row = index_fingerprint(index, media_id, fingerprint_image(data, MAX_PIXELS), row)
        feature_row[name] = row
    if extra is not None:
        first = len(originals) + 1
        count = len(extra)
        ids = np.arange(first, first + count)
        for algorithm, codes in (("pdq", extra.pdq), ("phash", extra.phash)):
            rows = np.arange(row + 1, row + 1 + count)
            row += count
            index.add_hashes(algorithm, rows, ids, np.full(count, np.nan), codes)
        pictures = []
        for i in range(count):
            k = int(extra.keypoints[i])
            points = extra.positions[i, :k].astype(np.float32) / 65535
            width, height = (int(v) for v in extra.sizes[i])
            row += 1
            pictures.append(
                (row, int(ids[i]), None, Features(points, extra.descriptors[i, :k], width, height))
            )
            names[int(ids[i])] = f"distractor-{i}"
        index.add_features_many(pictures)
    return index, names, feature_row


def evaluate(index: CatalogIndex, names: dict[int, str], feature_row: dict[str, int]) -> dict:
    """Run the validation queries; return tallies per group."""
    _, queries = build_validation()
    thresholds = Thresholds()
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # hits, total, false, cand
    seconds = 0.0
    for query in queries:
        started = time.perf_counter()
        fingerprint = fingerprint_query(query.data, MAX_PIXELS)
        found = {names[m.media_id] for m in index.match(fingerprint, thresholds)}
        seconds += time.perf_counter() - started
        group = tally[query.group]
        group[1] += 1
        if query.expected is None:
            group[2] += bool(found)
            continue
        group[0] += query.expected in found
        group[2] += bool(found - {query.expected})
        wanted = feature_row[query.expected]
        group[3] += any(
            c.row_id == wanted
            for _, features in fingerprint.features
            for c in index.keypoints.candidates(features)
        )
    return {"groups": dict(tally), "seconds": seconds / len(queries)}


def rows(count: int) -> tuple[list[tuple[str, ...]], dict]:
    """Return the table rows (alone vs among distractors) and the raw figures."""
    set_threads(1)
    originals, _ = build_validation()
    extra = distractors.make(count)
    alone = evaluate(*catalogue(originals, None))
    crowded = evaluate(*catalogue(originals, extra))
    out = []
    for kind in ("basic", "hard"):
        members = [g for g, k in GROUPS.items() if k == kind and g in alone["groups"]]
        out.append(_row(f"recall, {kind} transformations", members, alone, crowded, 0))
        out.append(_row(f"candidate recall, {kind}", members, alone, crowded, 3))
    related = [g for g in alone["groups"] if g != "unrelated"]
    out.append(
        _false_row("false matches of related queries (wrong media)", related, alone, crowded)
    )
    out.append(_false_row("false matches of unrelated queries", ["unrelated"], alone, crowded))
    out.append(
        (
            "mean time per query",
            f"{alone['seconds'] * 1000:.0f} ms",
            f"{crowded['seconds'] * 1000:.0f} ms",
        )
    )
    return out, {"alone": alone, "crowded": crowded}


def _sum(figures: dict, groups: list[str], column: int) -> tuple[int, int]:
    return (
        sum(figures["groups"][g][column] for g in groups),
        sum(figures["groups"][g][1] for g in groups),
    )


def _row(label: str, groups: list[str], alone: dict, crowded: dict, column: int) -> tuple:
    a, n = _sum(alone, groups, column)
    b, _ = _sum(crowded, groups, column)
    return (f"{label} (n={n})", f"{a / n:.3f}", f"{b / n:.3f}")


def _false_row(label: str, groups: list[str], alone: dict, crowded: dict) -> tuple:
    a, n = _sum(alone, groups, 2)
    b, _ = _sum(crowded, groups, 2)
    return (f"{label} (n={n})", f"{a / n:.3f}", f"{b / n:.3f}")


def main() -> None:
    """Print the table."""
    from .speed import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distractors", type=int, default=10_000)
    args = parser.parse_args()
    out, figures = rows(args.distractors)
    header = ("validation set", "originals only", f"among {args.distractors:,} distractors")
    print(table(header, out))
    for name in ("alone", "crowded"):
        misses = {
            g: f"{t[0]}/{t[1]}" for g, t in figures[name]["groups"].items() if g != "unrelated"
        }
        print(name, misses)


if __name__ == "__main__":
    main()
