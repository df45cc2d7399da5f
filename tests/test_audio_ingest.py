"""Sound in the catalogue: recordings (MP3, M4A, Ogg/Opus, WAV, FLAC) are a media kind of
their own, videos keep their soundtrack's fingerprint, and a match says whether it rests on
the pictures, the sound or both, with the shared stretches placed in both."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from PIL import Image

from catalog.db import get_session
from catalog.models import Media, MediaAudio

from .api_tools import keys, post_media
from .audio_tools import OTHER_SENTENCES, encode, excerpt, film, recording, speech
from .media import pattern

__all__ = ["keys"]  # a fixture, used by name

START, LENGTH = 100.0, 15.0


@pytest.fixture(scope="module")
def long_recording() -> np.ndarray:
    return recording(300, seed=1)


@pytest.fixture(autouse=True)
def read_in_the_request(app: Flask) -> None:
    """Recordings of any length are read in the upload's request here (upload jobs are
    tested in ``test_upload_jobs``)."""
    app.config["UPLOAD_JOB_VIDEO_SECONDS"] = 0


def post(client: FlaskClient, headers: dict, data: bytes, name: str) -> dict:
    """Upload through the API, the body encoded in memory (bodies over 500 KB would be
    spooled by the test client to a file it never closes)."""
    answer = post_media(client, headers, data, name)
    assert answer.status_code in (200, 201), answer.get_data(as_text=True)
    return answer.json


def pictures(seed: int, size: tuple[int, int] = (160, 120)) -> list[np.ndarray]:
    return [np.asarray(pattern(*size, seed=seed * 10 + n)) for n in range(6)]


def test_a_mirrored_video_with_other_sound_is_found_by_its_frames(
    client: FlaskClient, keys: dict, long_recording: np.ndarray
) -> None:
    """The copy's sound is not the original's (a re-upload with its music replaced): its
    frames, mirrored back, find the original, and the answer says so."""
    source = post(
        client, keys["analyst"], film(pictures(3), excerpt(long_recording, 10, 20)), "a.mp4"
    )["media"]
    flipped = [np.ascontiguousarray(p[:, ::-1]) for p in pictures(3)]
    other = recording(20, seed=77, sentences=OTHER_SENTENCES)
    answer = post(client, keys["analyst"], film(flipped, other), "mirrored.mp4")
    found = {m["media_id"]: m for m in answer["near_duplicates"]}
    match = found[source["id"]]
    assert (match["match"], match["kind"], match["mirrored"]) == (
        "frames",
        "mirrored_rotated",
        True,
    )
    assert match["query_variant"] == "full/flip_horizontal" and match["query_coverage"] >= 0.8


def test_a_recording_is_catalogued_and_its_excerpt_found_with_its_offset(
    app: Flask, client: FlaskClient, keys: dict, long_recording: np.ndarray
) -> None:
    original = post(client, keys["analyst"], encode(long_recording, "libmp3lame"), "call.mp3")
    media = original["media"]
    assert (media["kind"], media["mime_type"]) == ("audio", "audio/mpeg")
    assert media["duration"] == pytest.approx(300, abs=1)
    with app.app_context():
        row = get_session().scalar(sa.select(MediaAudio).where(MediaAudio.media_id == media["id"]))
        assert row is not None and row.informative_share > 0.5
    for codec, name in (("libopus", "clip.ogg"), ("aac", "clip.m4a"), ("flac", "clip.flac")):
        clip = encode(excerpt(long_recording, START, LENGTH), codec)
        answer = post(client, keys["analyst"], clip, name)
        assert answer["media"]["kind"] == "audio"
        # The original, and the excerpts uploaded before this one (the same sound).
        found = {m["media_id"]: m for m in answer["near_duplicates"]}
        match = found[media["id"]]
        assert match["match"] == "audio" and all(m["match"] == "audio" for m in found.values())
        assert match["audio_coverage"] >= 0.75
        first = match["segments"][0]
        assert first["query_start"] == pytest.approx(0, abs=1)
        assert first["match_start"] == pytest.approx(START, abs=1)
        assert match["offset"] == pytest.approx(START, abs=1)


def test_a_video_matches_by_sound_when_its_picture_does_not(
    client: FlaskClient,
    keys: dict,
    runner: FlaskCliRunner,
    long_recording: np.ndarray,
    tmp_path,  # noqa: ANN001
) -> None:
    sound = excerpt(long_recording, 40, 30)
    source = post(client, keys["analyst"], film(pictures(1), sound), "source.mp4")["media"]
    assert source["kind"] == "video"

    # The same footage inset at 40 % in a newscast frame, with the same soundtrack.
    def inset(picture: np.ndarray) -> np.ndarray:
        frame = Image.fromarray(np.asarray(pattern(320, 240, seed=999)))
        small = Image.fromarray(picture).resize((128, 96))
        frame.paste(small, (170, 30))
        return np.asarray(frame)

    framed = film([inset(p) for p in pictures(1)], excerpt(long_recording, 45, 20))
    answer = post(client, keys["analyst"], framed, "newscast.mp4")
    found = {m["media_id"]: m for m in answer["near_duplicates"]}
    assert source["id"] in found, answer["near_duplicates"]
    match = found[source["id"]]
    assert match["match"] in ("audio", "frames+audio") and match["audio_coverage"] >= 0.75
    assert match["audio_segments"][0]["match_start"] == pytest.approx(5, abs=1)
    # The same footage and sound again, re-encoded: both the pictures and the sound agree.
    again = post(client, keys["analyst"], film(pictures(1), sound, fps=12), "again.mp4")
    both = {m["media_id"]: m for m in again["near_duplicates"]}[source["id"]]
    assert both["match"] == "frames+audio"
    assert both["query_coverage"] > 0.5 and both["audio_coverage"] > 0.75
    # The command line says the same.
    path = tmp_path / "query.mp4"
    path.write_bytes(framed)
    result = runner.invoke(args=["catalog", "search", str(path), "--json"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.splitlines()[0])
    matches = {m["media_id"]: m for m in line["matches"]}
    assert matches[source["id"]]["match"] in ("audio", "frames+audio")
    # The compare page shows where the sound is shared, on both timelines.
    from .test_web import sign_in

    sign_in(client, "viewer")
    framed_id = answer["media"]["id"]
    page = client.get(f"/compare/{framed_id}/{source['id']}").get_data(as_text=True)
    assert "Matching sound" in page and page.count('class="timeline-segment"') >= 2


def test_unrelated_and_silent_recordings_match_nothing(
    app: Flask, client: FlaskClient, keys: dict, long_recording: np.ndarray
) -> None:
    post(client, keys["analyst"], encode(long_recording, "libmp3lame"), "call.mp3")
    other = np.concatenate([speech(s, "en+f3", 150, 40) for s in OTHER_SENTENCES])
    assert (
        post(client, keys["analyst"], encode(other, "libopus"), "other.ogg")["near_duplicates"]
        == []
    )
    silent = post(
        client, keys["analyst"], encode(np.zeros(20 * 11_025, np.float32), "aac"), "q.m4a"
    )
    assert silent["media"]["kind"] == "audio" and silent["near_duplicates"] == []
    with app.app_context():
        row = get_session().scalar(
            sa.select(MediaAudio).where(MediaAudio.media_id == silent["media"]["id"])
        )
        assert row is not None and row.informative_share == 0
    from .test_web import sign_in

    sign_in(client, "viewer")
    page = client.get(f"/media/{silent['media']['id']}").get_data(as_text=True)
    assert "not matched by sound" in page


@pytest.mark.parametrize("codec", ["pcm_s16le", "flac"])
def test_a_cut_recording_is_refused_with_a_reason(
    client: FlaskClient, keys: dict, codec: str
) -> None:
    whole = encode(recording(10, seed=3), codec)
    answer = post_media(client, keys["analyst"], whole[: len(whole) // 2], "cut")
    assert answer.status_code == 422 and answer.json["code"] == "truncated", answer.json
    assert "cut short" in answer.json["detail"] or "truncated" in answer.json["detail"]


def test_a_file_disguised_as_a_recording_is_refused(client: FlaskClient, keys: dict) -> None:
    wav = encode(recording(4, seed=6), "pcm_s16le")
    fmt = wav.index(b"fmt ") + 8
    unknown_codec = wav[:fmt] + b"\x34\x12" + wav[fmt + 2 :]  # a format tag FFmpeg lacks
    for disguised in (
        b"OggS" + bytes(2000),
        b"ID3" + bytes(5000),
        b"RIFF\x10\x00\x00\x00WAVE",
        unknown_codec,
    ):
        answer = post_media(client, keys["analyst"], disguised, "x.ogg")
        assert answer.status_code in (415, 422), answer.get_data(as_text=True)
        assert answer.mimetype == "application/problem+json"


def test_a_wav_written_to_a_pipe_is_not_taken_for_a_cut_one(
    client: FlaskClient, keys: dict
) -> None:
    wav = encode(recording(6, seed=7), "pcm_s16le")
    streamed = wav[:4] + b"\xff\xff\xff\xff" + wav[8:]  # the size a pipe's writer leaves
    assert post_media(client, keys["analyst"], streamed, "pipe.wav").status_code == 201


def test_the_media_page_plays_the_recording_and_shows_its_sound(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    from .test_web import sign_in

    made = post(client, keys["analyst"], encode(recording(12, seed=5), "libmp3lame"), "v.mp3")
    media_id = made["media"]["id"]
    sign_in(client, "viewer")
    page = client.get(f"/media/{media_id}").get_data(as_text=True)
    assert "<audio" in page and 'id="soundtrack"' in page
    with client.get(f"/media/{media_id}/waveform.png") as picture:
        assert picture.status_code == 200 and picture.data[:8] == b"\x89PNG\r\n\x1a\n"
    with client.get(f"/media/{media_id}/play", headers={"Range": "bytes=0-99"}) as played:
        assert played.status_code == 206 and played.mimetype == "audio/mpeg"
    with client.get(f"/media/{media_id}/thumb.jpg") as thumb:  # lists show the waveform
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    with app.app_context():
        assert get_session().get(Media, media_id).kind.value == "audio"
