"""The text search benchmark (benchmarks/text_search.py) runs end to end on a small SQLite
catalogue, and the terms it bulk-loads are the ones the service would have written."""

from __future__ import annotations

import pytest

from benchmarks import text_search
from benchmarks.text_corpus import KINDS, Corpus
from catalog.text.terms import analyse


def test_bulk_terms_are_the_services_terms() -> None:
    corpus = Corpus(7)
    texts = [t.text for video in (False, True) * 20 for t in corpus.media_texts(video)]
    for text in texts:
        assert text_search.terms_of(text) == analyse(text).joined()


def test_the_benchmark_runs_on_a_small_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert text_search.main(["--sizes", "200", "--db", "sqlite", "--queries", "3"]) == 0
    out = capsys.readouterr().out
    assert "SQLite, 200 media" in out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if "|" in line}
    assert set(KINDS) <= rows.keys()
    # Names are found across scripts; letters no vocabulary makes find nothing.
    assert "| 3/3 |" in rows["name, other script"]
    assert "| 0/3 |" in rows["no match"]
