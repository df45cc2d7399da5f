"""Text read as media arrive: ``catalog import`` ends with its files searchable by their text
(OCR, a sidecar subtitle file beside a video), uploads take a subtitle file or refuse it
before storing anything, and the worker's job reads what waits."""

from __future__ import annotations

import io
import json
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from catalog.models import Media, MediaText, MediaTextState
from catalog.services.text import QUEUED, READ, read_media, text_state
from catalog.storage import get_storage

from .api_tools import assert_problem, keys  # noqa: F401 - the fixture
from .test_text_ocr import chyron, video_with_text


def post_with_subtitles(client: FlaskClient, headers: dict, video: bytes, subtitles: bytes):  # noqa: ANN201
    """Upload a video and its subtitles, the body encoded in memory (the test client spools
    a large body to a temporary file it never closes)."""
    boundary, body = encode_multipart(
        {
            "file": FileStorage(io.BytesIO(video), filename="clip.mp4"),
            "subtitles": FileStorage(io.BytesIO(subtitles), filename="clip.srt"),
        }
    )
    return client.post(
        "/api/v1/media",
        headers=headers,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


SRT = (
    "1\n00:00:02,000 --> 00:00:04,500\nДрони над Києвом\n\n"
    "2\n00:00:05,000 --> 00:00:06,000\nSecond cue\n"
)


def test_import_reads_text_and_sidecar_subtitles(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    chyron(1280, 720, "СРОЧНО: Песков заявил").save(folder / "chyron.jpg", quality=92)
    (folder / "clip.mp4").write_bytes(video_with_text(seconds=4.0))
    (folder / "clip.srt").write_text(SRT, encoding="cp1251")
    (folder / "lonely.vtt").write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nhello\n")
    result = runner.invoke(args=["catalog", "import", "--jobs", "1", str(folder)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "added 2, already known 0, rejected 1"
    assert "lonely.vtt: a subtitle file with no video" in result.stderr
    # Searchable as soon as the command ends, by OCR and by the sidecar's cues with times.
    found = runner.invoke(args=["catalog", "find", "Peskov", "--json"])
    picture = json.loads(found.stdout.splitlines()[0])
    assert picture["kind"] == "image" and picture["hits"][0]["field"] == "ocr"
    cue = json.loads(runner.invoke(args=["catalog", "find", "Київ", "--json"]).stdout)
    assert cue["kind"] == "video"
    assert cue["hits"][0]["field"] == "subtitle" and cue["hits"][0]["at"] == 2.0
    states = set(session.scalars(sa.select(MediaTextState.state)))
    assert states == {READ}


def test_upload_takes_subtitles_or_refuses_them_storing_nothing(
    client: FlaskClient,
    session: Session,
    keys: dict[str, dict[str, str]],  # noqa: F811
) -> None:
    video = video_with_text(seconds=3.0)
    refused = post_with_subtitles(client, keys["analyst"], video, b"\x00\x01 not subtitles " * 50)
    assert_problem(refused, 422, "subtitle file")
    assert session.scalar(sa.select(sa.func.count()).select_from(Media)) == 0
    created = post_with_subtitles(client, keys["analyst"], video, SRT.encode())
    assert created.status_code == 201, created.json
    media_id = created.json["media"]["id"]
    cues = session.scalars(
        sa.select(MediaText).where(MediaText.media_id == media_id, MediaText.source == "sidecar")
    ).all()
    assert [(c.text, c.at, c.until) for c in cues][0] == ("Дрони над Києвом", 2.0, 4.5)
    assert text_state(session, media_id) == QUEUED


def test_the_job_reads_what_waits_and_keeps_the_sidecar(
    app: Flask,
    client: FlaskClient,
    session: Session,
    keys: dict[str, dict[str, str]],  # noqa: F811
) -> None:
    picture = io.BytesIO()
    chyron(1280, 720, "BREAKING: Kremlin statement").save(picture, "JPEG", quality=92)
    created = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data={"file": (io.BytesIO(picture.getvalue()), "chyron.jpg")},
        content_type="multipart/form-data",
    )
    media_id = created.json["media"]["id"]
    assert text_state(session, media_id) == QUEUED
    state = read_media(session, get_storage(app), media_id, app.config)
    assert state.state == READ
    lines = session.scalars(
        sa.select(MediaText.text).where(MediaText.media_id == media_id, MediaText.field == "ocr")
    ).all()
    assert any("Kremlin" in line for line in lines), lines


def test_a_copy_with_other_text_says_so_in_the_match_answer(
    app: Flask,
    client: FlaskClient,
    session: Session,
    keys: dict[str, dict[str, str]],  # noqa: F811
) -> None:
    original = io.BytesIO()
    chyron(1280, 720, "СРОЧНО: пожар в Москве", seed=7).save(original, "JPEG", quality=92)
    created = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data={"file": (io.BytesIO(original.getvalue()), "original.jpg")},
        content_type="multipart/form-data",
    )
    media_id = created.json["media"]["id"]
    read_media(session, get_storage(app), media_id, app.config)
    # The same picture, its chyron rewritten: a match, and the answer says what changed.
    copy = io.BytesIO()
    chyron(1280, 720, "СРОЧНО: удар по Кремлю", seed=7).save(copy, "JPEG", quality=80)
    answer = client.post(
        "/api/v1/search",
        headers=keys["viewer"],
        data={"file": (io.BytesIO(copy.getvalue()), "copy.jpg")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200, answer.json
    match = next(m for m in answer.json["matches"] if m["media_id"] == media_id)
    said = match["text_difference"]
    assert said is not None and said.startswith("text in the picture differs")
    assert "Кремлю" in said and "Москве" in said
    # The very same picture with the same text: no difference said.
    same = client.post(
        "/api/v1/search",
        headers=keys["viewer"],
        data={"file": (io.BytesIO(original.getvalue()), "same.jpg")},
        content_type="multipart/form-data",
    )
    assert all(m["text_difference"] is None for m in same.json["matches"])


def test_media_from_before_text_are_read_and_a_broken_original_is_given_up(
    app: Flask,
    client: FlaskClient,
    session: Session,
    keys: dict[str, dict[str, str]],  # noqa: F811
) -> None:
    from catalog.services.text import FAILED, find_text, waiting

    picture = io.BytesIO()
    chyron(1280, 720, "Kharkiv reservoir", seed=3).save(picture, "JPEG", quality=92)
    created = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data={
            "file": (io.BytesIO(picture.getvalue()), "old.jpg"),
            "metadata": json.dumps({"title": "Dam before the flood"}),
        },
        content_type="multipart/form-data",
    )
    media_id = created.json["media"]["id"]
    # As a catalogue upgraded from before text was kept: no state, no text rows.
    session.execute(sa.delete(MediaText).where(MediaText.media_id == media_id))
    session.execute(sa.delete(MediaTextState).where(MediaTextState.media_id == media_id))
    session.commit()
    assert find_text(session, "flood") == []
    assert media_id in waiting(session, older_than_s=3600)
    read_media(session, get_storage(app), media_id, app.config)
    assert [r.media.id for r in find_text(session, "flood")] == [media_id]
    assert [r.media.id for r in find_text(session, "reservoir", fields={"ocr"})] == [media_id]
    assert media_id not in waiting(session, older_than_s=0)
    # An original that cannot be read is tried again, then given up with its reason.
    media = session.get(Media, media_id)
    get_storage(app).discard(media.sha256)
    session.get(MediaTextState, media_id).state = QUEUED
    session.commit()
    states = [read_media(session, get_storage(app), media_id, app.config) for _ in range(3)]
    assert [s.state for s in states][-1] == FAILED
    assert "could not be opened" in states[-1].notes[0]
    assert media_id not in waiting(session, older_than_s=0)
