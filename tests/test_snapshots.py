"""Index snapshots: the pure index saved and mapped back answers as before, rows added past a
snapshot are found, the candidate stage ranks the true picture first, and the service layer
opens, refreshes, replaces and refuses snapshots as it should."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog import schema
from catalog.db import database, get_session
from catalog.hashing import fingerprint_image, fingerprint_query
from catalog.hashing.audio import query_variants
from catalog.hashing.features import Features
from catalog.index import CatalogIndex, HammingIndex
from catalog.index.keypoints import KeypointIndex
from catalog.index.vocabulary import Vocabulary, default
from catalog.services.media import IndexHolder, get_index, snapshots
from catalog.services.media.matching import prepare_snapshot, write_snapshot
from catalog.services.people import accounts

from .api_tools import keys, upload
from .audio_tools import OTHER_SENTENCES, excerpt, recording
from .audio_tools import encode as encode_sound
from .media import BRIDGE, encode, index_fingerprint, photo, sample

__all__ = ["keys"]  # a fixture, used by name

LIMIT = 100_000_000
NAMES = ["astronaut.png", "coffee.png", "camera.png", "chelsea.png"]


@functools.cache
def fingerprints() -> list:
    return [fingerprint_image(photo(name), LIMIT) for name in NAMES]


def fill(index: CatalogIndex, found: list, first_media: int = 1) -> dict[int, Features]:
    """Add fingerprints to ``index``; return their keypoints by row (what a database holds)."""
    kept = {}
    row = 1000 * first_media
    for media_id, fp in enumerate(found, start=first_media):
        row = index_fingerprint(index, media_id, fp, row)
        kept[row] = fp.features
    return kept


def crop_of(name: str) -> bytes:
    image = Image.open(io.BytesIO(photo(name))).convert("RGB")
    w, h = image.size
    return encode(image.crop((w // 5, h // 6, w - w // 10, h - h // 8)), "JPEG", quality=80)


def summary(matches: list) -> list[tuple[int, str, str]]:
    return [(m.media_id, m.kind, m.algorithm) for m in matches]


def test_a_saved_index_mapped_back_answers_exactly_as_before(tmp_path: Path) -> None:
    found = fingerprints()
    memory = CatalogIndex(keep_features=True)
    # The mapped index keeps no keypoints; they come from a loader (the database, in service).
    kept = fill(memory, found)
    memory.save(tmp_path / "snap")
    opened = CatalogIndex.open(tmp_path / "snap")
    assert opened.hash_watermark == memory.hash_watermark
    assert opened.feature_watermark == memory.feature_watermark
    for data in (crop_of("chelsea.png"), photo("coffee.png"), sample(BRIDGE)):
        query = fingerprint_query(data, LIMIT)
        expected = summary(memory.match(query))
        got = summary(opened.match(query, load_features=lambda rows: {r: kept[r] for r in rows}))
        assert got == expected
    assert summary(memory.match(fingerprint_query(crop_of("chelsea.png"), LIMIT)))[0][0] == 4


def test_pictures_added_past_a_snapshot_are_found_with_those_in_it(tmp_path: Path) -> None:
    found = fingerprints()
    base = CatalogIndex(keep_features=True)
    kept = fill(base, found[:2])
    base.save(tmp_path / "snap")
    opened = CatalogIndex.open(tmp_path / "snap")
    kept.update(fill(opened, found[2:], first_media=3))  # the delta, in memory
    loader = lambda rows: {r: kept[r] for r in rows if r in kept}  # noqa: E731
    for name, media_id in (("astronaut.png", 1), ("chelsea.png", 4)):
        query = fingerprint_query(crop_of(name), LIMIT)
        assert summary(opened.match(query, load_features=loader))[0][0] == media_id, name
    assert len(opened.keypoints) == 4 and opened.keypoints.pictures_in_memory == 2
    # Saving again folds base and delta into one snapshot that answers the same.
    opened.save(tmp_path / "again")
    again = CatalogIndex.open(tmp_path / "again")
    assert len(again.keypoints) == 4 and again.keypoints.pictures_in_memory == 0
    query = fingerprint_query(crop_of("chelsea.png"), LIMIT)
    assert summary(again.match(query, load_features=loader))[0][0] == 4


def test_hash_search_over_a_mapped_base_counts_the_radius_inclusively(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, size=(500, 32), dtype=np.uint8)
    query = codes[0].copy()
    for i, flips in enumerate([0, 31, 32], start=1):
        codes[i] = query
        for bit in rng.choice(256, flips, replace=False):
            codes[i, bit // 8] ^= 1 << (bit % 8)
    index = HammingIndex(256)
    index.add(np.arange(500), np.arange(500) + 7, np.full(500, np.nan), codes)
    index.save(tmp_path, "pdq")
    mapped = HammingIndex(256)
    mapped.open_base(tmp_path, "pdq")
    for radius in (0, 31, 32):
        assert [(h.media_id, h.distance) for h in mapped.search(query, radius)[0]] == [
            (h.media_id, h.distance) for h in index.search(query, radius)[0]
        ]
    assert {h.row_id for h in mapped.search(query, 31)[0]} >= {1, 2}
    assert 3 not in {h.row_id for h in mapped.search(query, 31)[0]}
    assert mapped.distance_to_media(query, 7 + 2) == 31


def test_segments_merged_as_they_accumulate_answer_like_one_batch() -> None:
    rng = np.random.default_rng(8)
    vocabulary = default()
    pictures = []
    for row in range(1, 61):
        descriptors = rng.integers(0, 256, size=(96, 32), dtype=np.uint8)
        points = rng.random((96, 2), dtype=np.float32)
        pictures.append((row, row, None, Features(points, descriptors, 512, 384)))
    one, many = KeypointIndex(vocabulary), KeypointIndex(vocabulary)
    one.add_many(pictures)
    for picture in pictures:
        many.add_many([picture])
    assert len(many._segments) <= 7  # merged, not one segment per picture
    query = Features(pictures[41][3].points[:60], pictures[41][3].descriptors[:60], 512, 384)
    assert one.candidates(query) == many.candidates(query)
    assert one.candidates(query)[0].row_id == 42


# -- the service layer ---------------------------------------------------------------------


def add(client, keys, data: bytes, name: str) -> int:
    # As a JPEG under Werkzeug's 500 KB spooling size: the test client never closes the
    # temporary file it spools a larger body to.
    data = encode(Image.open(io.BytesIO(data)).convert("RGB"), "JPEG", quality=90)
    response = upload(client, keys["analyst"], data, name.rsplit(".", 1)[0] + ".jpg")
    assert response.status_code in (200, 201), response.get_json()
    return int(response.get_json()["media"]["id"])


@pytest.fixture
def filled(app, client, keys) -> list[int]:
    return [add(client, keys, photo(name), name) for name in NAMES[:3]]


def test_a_worker_opens_the_snapshot_then_reads_only_rows_past_it(app, client, keys, filled):
    folder = Path(app.config["INDEX_DIR"])
    with app.app_context():
        path = write_snapshot(get_session(), folder, "flat")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["pictures"] == 3 and snapshots.current(folder) == path
    later = add(client, keys, photo("chelsea.png"), "chelsea.png")
    holder = IndexHolder("flat", 0, folder)
    with database(app).sessions() as session:
        added = holder.refresh(session, force=True)
        assert holder.index.snapshot == path.name
        assert holder.index.keypoints.pictures_in_memory == 1  # only the upload past it
        assert added >= 2
        query = fingerprint_query(crop_of("chelsea.png"), LIMIT)
        found = holder.index.match(query, load_features=holder.feature_loader(session))
        assert found[0].media_id == later
        query = fingerprint_query(crop_of("astronaut.png"), LIMIT)
        found = holder.index.match(query, load_features=holder.feature_loader(session))
        assert found[0].media_id == filled[0]


def test_workers_move_to_a_newer_snapshot_at_their_next_refresh(app, client, keys, filled):
    folder = Path(app.config["INDEX_DIR"])
    with app.app_context():
        first = write_snapshot(get_session(), folder, "flat")
    holder = IndexHolder("flat", 0, folder)
    with database(app).sessions() as session:
        holder.refresh(session, force=True)
    assert holder.index.snapshot == first.name
    add(client, keys, photo("chelsea.png"), "chelsea.png")
    with app.app_context():
        second = write_snapshot(get_session(), folder, "flat")
        # Nothing new since: the same snapshot stays current.
        assert write_snapshot(get_session(), folder, "flat") == second
    assert second != first
    with database(app).sessions() as session:
        holder.refresh(session, force=True)
    assert holder.index.snapshot == second.name
    assert len(holder.index.keypoints) == 4 and holder.index.keypoints.pictures_in_memory == 0


def test_a_snapshot_of_another_database_is_never_used(
    app, app_factory, fresh_database_url, client, keys, filled
):
    folder = Path(app.config["INDEX_DIR"])
    with app.app_context():
        write_snapshot(get_session(), folder, "flat")
    other = app_factory(fresh_database_url, INDEX_DIR=str(folder))
    schema.upgrade(database(other).engine)
    holder = IndexHolder("flat", 0, folder)
    with database(other).sessions() as session:
        holder.refresh(session, force=True)
    assert holder.index.snapshot is None and len(holder.index.keypoints) == 0
    with other.app_context():
        rebuilt = write_snapshot(get_session(), folder, "flat")
    assert json.loads((rebuilt / "meta.json").read_text())["pictures"] == 0


def test_the_snapshot_command_writes_and_describes_the_snapshot(app, filled) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["catalog", "index", "snapshot"])
    assert result.exit_code == 0, result.output
    assert "3 pictures" in result.output
    status = json.loads(runner.invoke(args=["catalog", "index", "status"]).output)
    assert status["meta"]["pictures"] == 3 and status["snapshot"].startswith("snapshot-")
    result = runner.invoke(args=["catalog", "index", "snapshot", "--rebuild"])
    assert result.exit_code == 0 and "3 pictures" in result.output


def test_words_and_signatures_are_the_chosen_bits_of_each_descriptor() -> None:
    rng = np.random.default_rng(12)
    descriptors = rng.integers(0, 256, size=(200, 32), dtype=np.uint8)
    bits = np.unpackbits(descriptors, axis=1)
    vocabulary = default()
    key = (bits[:, list(vocabulary.key_bits)].astype(np.int64) << np.arange(20)).sum(axis=1)
    sig = (bits[:, list(vocabulary.signature_bits)].astype(np.int64) << np.arange(32)).sum(axis=1)
    assert (vocabulary.assign(descriptors) == key).all()
    assert (vocabulary.signature(descriptors) == sig).all()
    with pytest.raises(ValueError):
        Vocabulary(vocabulary.key_bits, vocabulary.key_bits * 2)


def test_a_repeated_query_patch_votes_once_per_stored_keypoint() -> None:
    rng = np.random.default_rng(13)
    index = KeypointIndex(default())
    stored = rng.integers(0, 256, size=(96, 32), dtype=np.uint8)
    index.add(1, 10, None, Features(rng.random((96, 2), dtype=np.float32), stored, 512, 384))
    # Forty copies of one stored patch (a lattice, a line of text) and five other patches.
    query = np.concatenate([np.repeat(stored[:1], 40, axis=0), stored[1:6]])
    assert index.candidates(Features(np.zeros((45, 2), np.float32), query, 512, 384)) == []
    query = np.concatenate([np.repeat(stored[:1], 40, axis=0), stored[1:12]])
    [found] = index.candidates(Features(np.zeros((51, 2), np.float32), query, 512, 384))
    assert (found.row_id, found.votes) == (10, 12)


def test_a_worker_holding_enough_past_the_snapshot_has_a_new_one_written(
    app_factory, fresh_database_url, tmp_path
) -> None:
    app = app_factory(
        fresh_database_url, INDEX_SNAPSHOT_PICTURES=2, INDEX_DIR=str(tmp_path / "idx")
    )
    schema.upgrade(database(app).engine)
    client = app.test_client()
    with app.app_context():
        accounts.create_user(get_session(), "analyst", "analyst-password-1", "analyst")
        _, secret = accounts.create_api_key(get_session(), "analyst")
    headers = {"analyst": {"Authorization": f"Bearer {secret}"}}
    for name in NAMES[:3]:  # each upload refreshes the uploading process's index
        add(client, headers, photo(name), name)
    holder = get_index(app)
    writer = holder._writer
    assert writer is not None, "no snapshot writer was started"
    writer.join(120)
    assert writer.exitcode == 0
    path = snapshots.current(tmp_path / "idx")
    assert path is not None and json.loads((path / "meta.json").read_text())["pictures"] >= 2
    with database(app).sessions() as session:
        holder.refresh(session, force=True)
    assert holder.index.snapshot == path.name
    assert len(holder.index.keypoints) == 3


def test_the_master_writes_a_snapshot_before_forking_only_when_one_is_due(
    app, client, keys, filled
) -> None:
    folder = Path(app.config["INDEX_DIR"])
    first = prepare_snapshot(app)  # none yet, and the catalogue is not empty
    assert first is not None and snapshots.current(folder) == first
    add(client, keys, photo("chelsea.png"), "chelsea.png")
    # One picture past it is fewer than INDEX_SNAPSHOT_PICTURES: the workers read it.
    assert prepare_snapshot(app) == first
    app.config["INDEX_SNAPSHOT_PICTURES"] = 1
    get_index(app).snapshot_pictures = 1
    second = prepare_snapshot(app)
    assert second is not None and second != first
    assert json.loads((second / "meta.json").read_text())["pictures"] == 4


def test_recordings_are_kept_in_the_snapshot_and_a_worker_maps_them(app, client, keys) -> None:
    # A restarted worker is ready from the snapshot for sound too: it reads only the
    # recordings catalogued past it.
    first = recording(60, seed=21)
    second = recording(60, seed=22, sentences=OTHER_SENTENCES)
    sounds = {}
    for samples, name in ((first, "one.mp3"), (second, "two.mp3")):
        answer = upload(client, keys["analyst"], encode_sound(samples, "libmp3lame"), name)
        assert answer.status_code == 201, answer.get_json()
        sounds[int(answer.get_json()["media"]["id"])] = samples
        if name == "one.mp3":
            folder = Path(app.config["INDEX_DIR"])
            with app.app_context():
                path = write_snapshot(get_session(), folder, "flat")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["recordings"] == 1 and meta["audio_watermark"] > 0
    holder = IndexHolder("flat", 0, folder)
    with database(app).sessions() as session:
        holder.refresh(session, force=True)
    assert holder.index.snapshot == path.name
    assert len(holder.audio) == 2 and holder.audio.recordings_in_memory == 1
    for media_id, samples in sounds.items():
        matches = holder.audio.search(query_variants(excerpt(samples, 20.0, 15.0)))
        assert matches and matches[0].recording_id == media_id
