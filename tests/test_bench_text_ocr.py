"""The text reading benchmarks (benchmarks/text_recall.py, benchmarks/text_ocr.py) run end to
end at a tiny size: a catalogue imported by `flask catalog import`, queried, and its tables
printed; OCR timed on one core in a process of its own (it pins itself to one core)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import text_recall

ROOT = Path(__file__).resolve().parent.parent


def rows(out: str) -> dict[str, str]:
    return {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if "|" in line}


def test_the_recall_benchmark_runs_on_a_tiny_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--templates", "1", "--names", "1", "--videos", "2", "--distractors", "1"]
    argv += ["--video-s", "4"]
    assert text_recall.main([*argv, "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 pictures, 2 videos, 1 pictures without text" in out
    assert "added 6, already known 0, rejected 0" in out
    table = rows(out)
    assert {"chyron", "banner", "credit", "exact", "inflected", "other script", "all"} <= set(table)
    # A sidecar's cue needs no OCR: found by all three kinds of query, at its time.
    assert "| 3/3 (100 %) |" in table["sidecar .srt"]
    assert "Distractor queries answered:" in out and "Misses (" in out


def test_the_ocr_speed_benchmark_runs_on_one_core() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.text_ocr", "--photos", "1", "--texts", "1"]
        + ["--video-s", "4"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "OCR speed on 1 core" in done.stdout
    table = rows(done.stdout)
    assert "Tesseract called on 0: none" in table["12-MP photograph without text (1)"]
    video = next(line for key, line in table.items() if key.startswith("720p video"))
    assert "(0 lines read)" not in video and "real time" in video
    assert "× reading off" in table["import's hashing, text reading on"]
