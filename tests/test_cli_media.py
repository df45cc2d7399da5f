"""`flask catalog import` and `flask catalog search --json`: the fixed command-line contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import Incident, Media, Sighting

from .media import BRIDGE, DATA, PHOTOS, encode, pattern


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    # Files are imported in name order: refused files come first, in the middle and last,
    # so an import that stopped at the first refusal would add nothing.
    root = tmp_path / "incoming"
    (root / "nested").mkdir(parents=True)
    (root / "0-empty.jpg").write_bytes(b"")
    shutil.copy(PHOTOS / "astronaut.png", root / "astronaut.png")
    good_png = encode(pattern(seed=4), "PNG")
    (root / "m-cut-short.png").write_bytes(good_png[: len(good_png) // 2])
    shutil.copy(DATA / BRIDGE, root / "nested" / "bridge.jpg")
    (root / "nested" / "notes.jpg").write_text("an HTML page saved as .jpg <html></html>")
    (root / ".hidden.png").write_bytes(encode(pattern(), "PNG"))
    return root


def test_import_counts_added_known_and_rejected(
    runner: FlaskCliRunner, session: Session, folder: Path
) -> None:
    result = runner.invoke(
        args=[
            "catalog",
            "import",
            "--jobs",
            "1",
            "--incident",
            "Test incident",
            "--source",
            "Field team",
            str(folder),
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "added 2, already known 0, rejected 3"
    assert "0-empty.jpg: " in result.stderr and "m-cut-short.png: " in result.stderr
    assert "notes.jpg: the file is not an image" in result.stderr
    assert session.scalar(sa.select(sa.func.count()).select_from(Media)) == 2
    assert {m.incident.title for m in session.scalars(sa.select(Media))} == {"Test incident"}
    assert session.scalar(sa.select(sa.func.count()).select_from(Sighting)) == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 1

    again = runner.invoke(
        args=["catalog", "import", "--jobs", "1", str(folder), str(folder / "missing.png")]
    )
    assert again.exit_code == 0
    assert again.stdout.strip().splitlines()[-1] == "added 0, already known 2, rejected 4"
    assert "missing.png: no such file or folder" in again.stderr


def test_import_with_worker_processes(
    runner: FlaskCliRunner, session: Session, folder: Path
) -> None:
    result = runner.invoke(args=["catalog", "import", "--jobs", "2", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "added 2, already known 0, rejected 3"


def test_import_as_an_unknown_user_fails_cleanly(runner: FlaskCliRunner, folder: Path) -> None:
    result = runner.invoke(args=["catalog", "import", "--user", "ghost", str(folder)])
    assert result.exit_code == 1 and "no user called 'ghost'" in result.output


def test_search_json_contract(
    runner: FlaskCliRunner, session: Session, folder: Path, tmp_path: Path
) -> None:
    runner.invoke(args=["catalog", "import", "--jobs", "1", str(folder)])
    mirrored = tmp_path / "mirrored.jpg"
    from PIL import Image, ImageOps

    mirrored.write_bytes(
        encode(ImageOps.mirror(Image.open(PHOTOS / "astronaut.png").convert("RGB")), "JPEG")
    )
    # Unreadable queries first and in the middle: each gets its error line and the rest go on.
    queries = [
        str(tmp_path / "nope.jpg"),
        str(PHOTOS / "astronaut.png"),
        str(folder / "nested" / "notes.jpg"),
        str(mirrored),
        str(PHOTOS / "gravel.png"),
    ]
    result = runner.invoke(args=["catalog", "search", *queries, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["query"] for line in lines] == queries
    missing, exact, not_image, mirror, unrelated = lines
    astronaut = session.scalar(sa.select(Media).where(Media.original_filename == "astronaut.png"))
    assert exact["matches"][0] | {"provenance": None} == exact["matches"][0] | {
        "media_id": astronaut.id,
        "sha256": astronaut.sha256,
        "kind": "exact",
        "match": "sha256",
        "distance": 0.0,
        "score": 1.0,
        "provenance": None,
    }
    assert [(m["media_id"], m["kind"]) for m in mirror["matches"]] == [
        (astronaut.id, "mirrored_rotated")
    ]
    for key in ("media_id", "sha256", "kind", "match", "distance", "score"):
        assert key in mirror["matches"][0]
    assert unrelated == {"query": queries[4], "matches": []}
    assert set(missing) == {"query", "error"} and "cannot read" in missing["error"]
    assert set(not_image) == {"query", "error"} and "not an image" in not_image["error"]


def test_search_human_readable(runner: FlaskCliRunner, folder: Path) -> None:
    runner.invoke(args=["catalog", "import", "--jobs", "1", str(folder)])
    result = runner.invoke(args=["catalog", "search", str(PHOTOS / "astronaut.png")])
    assert "1 match" in result.output
    # Named as everywhere else: the kind for people, the evidence with its algorithm.
    assert "the same file: identical bytes (SHA-256)" in result.output
