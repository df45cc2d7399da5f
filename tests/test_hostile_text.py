"""Every parser that runs on text a user or a file supplies finishes on a megabyte of hostile
text: a hang detector, not a timing target. Each runs in a child process that is killed at
the deadline, so a pattern that backtracks quadratically fails here instead of stalling a
worker (64 KB of XMP once outlasted gunicorn's 120 s timeout)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Linear parsers take well under a second here; the quadratic XMP pattern took hours.
DEADLINE_S = 60

# Texts shaped against each pattern: long word runs, colons without values, openings
# without closings, quotes without ends, and all of it mixed, about a megabyte each.
HOSTILE = {
    "word run": "'a' * 1_000_000",
    "prefixes": "'a:' * 500_000",
    "attribute never closed": "('x:CreatorTool=\"' + 'b' * 499) * 2000",
    "elements never closed": "'<a:b>' * 200_000",
    "quotes": "'a:b=\"' * 200_000",
    "history": "'stEvt:action=\"' * 150_000",
    "mixed": "('<x:Label>' + 'z' * 600 + 'q:r=\"') * 1500",
    "slashes": "'/\\\\' * 500_000",
    "controls": "'\\x00\\x1b\\u202e' * 300_000",
    "hex-like": "'f' * 1_000_000 + 'g'",
}

PARSERS = {
    "XMP packet (text)": "read_xmp(text)",
    "XMP packet (bytes)": "read_xmp(text.encode())",
    "hash in hex": "attempt(parse_hex, 'pdq', text)",
    "file name": "clean_filename(text)",
    "text field": "attempt(clean_text, text, 'title', 2000)",
    "URL": "attempt(clean_url, 'https://example.org/' + text, 'url')",
    "user name": "USERNAME_RE.match(text)",
    "SHA-256 in a path": "SHA256_RE.match(text)",
}


@pytest.mark.parametrize("parser", list(PARSERS))
def test_each_parser_finishes_on_a_megabyte_of_hostile_text(parser: str) -> None:
    program = textwrap.dedent(
        f"""
        from catalog.hashing.embedded import read_xmp
        from catalog.hashing.perceptual import parse_hex
        from catalog.services.people import USERNAME_RE
        from catalog.services.records import clean_filename, clean_text, clean_url
        from catalog.storage import SHA256_RE

        def attempt(function, *args):
            try:
                function(*args)
            except Exception:  # refusing is fine; hanging is not
                pass

        texts = {{{", ".join(f"{name!r}: {code}" for name, code in HOSTILE.items())}}}
        for name, text in texts.items():
            assert len(text) >= 900_000, name
            {PARSERS[parser]}
        print("done", len(texts))
        """
    )
    try:
        finished = subprocess.run(
            [sys.executable, "-c", program],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{parser} did not finish within {DEADLINE_S} s on hostile text")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == f"done {len(HOSTILE)}"
