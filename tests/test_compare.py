"""The compare page shows what made a match: two videos frame against frame at the times the
matching segments give, a still beside the video's frame it is, a recording and a soundtrack as
two waveforms with the shared stretch marked; its header says the evidence that made the match,
never a hash distance that says "no match"; and the match is named as the search named it."""

from __future__ import annotations

import html as html_lib
import io
import json
import os
import re
import time

import numpy as np
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageOps
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from catalog.db import get_session
from catalog.jobs import _collect_due
from catalog.models import Media, MediaLink
from catalog.services.custody import verify
from catalog.storage import get_storage

from .api_tools import keys, post_media
from .audio_tools import encode, excerpt, film, recording
from .media import encode as encode_picture
from .media import pattern
from .test_web import PHOTO, cropped_with_caption, sign_in, smaller, token
from .video_tools import clip, grab

__all__ = ["keys"]  # a fixture, used by name

PDQ_SAID = re.compile(r"PDQ: (\d+) of 256 bits differ")


@pytest.fixture(autouse=True)
def read_in_the_request(app: Flask) -> None:
    """Videos are read in the upload's request here (upload jobs are tested elsewhere)."""
    app.config["UPLOAD_JOB_VIDEO_SECONDS"] = 0


def posted(client: FlaskClient, keys: dict, data: bytes, name: str) -> int:
    answer = post_media(client, keys["analyst"], data, name)
    assert answer.status_code in (200, 201), answer.get_data(as_text=True)
    return int(answer.json["media"]["id"])


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return html_lib.unescape(response.get_data(as_text=True))


def header(html: str) -> str:
    return re.search(r"data-compare-facts>(.*?)</div>", html, re.S).group(1)


def test_two_matched_videos_are_shown_frame_against_frame_with_a_segment_scrubber(
    client: FlaskClient, keys: dict
) -> None:
    first = posted(client, keys, clip("chair-20-sd-bar.mp4"), "a.mp4")
    second = posted(client, keys, clip("chair-22-sd-grey-bar.mp4"), "b.mp4")
    sign_in(client, "viewer")
    html = page(client, f"/compare/{first}/{second}")
    # Two boxes, one player each, and no overlay of two posters.
    assert html.count('class="compare-box"') == 2
    assert 'data-compare-player="a"' in html and 'data-compare-player="b"' in html
    assert f"/media/{first}/play" in html and f"/media/{second}/play" in html
    assert "data-overlay" not in html
    # The scrubber carries the segments: where each runs in the first and in the second.
    raw = client.get(f"/compare/{first}/{second}").get_data(as_text=True)
    attribute = re.search(r'data-scrubber [^>]*data-segments="([^"]+)"', raw).group(1)
    segments = json.loads(html_lib.unescape(attribute))
    assert segments and all(
        {"query_start", "query_end", "match_start", "match_end"} <= set(s) for s in segments
    )
    seeks = re.findall(r'data-seek-a="([\d.]+)" data-seek-b="([\d.]+)"', html)
    assert [(float(a), float(b)) for a, b in seeks] == [
        (s["query_start"], s["match_start"]) for s in segments
    ]
    # The header: the frames that made the match.
    assert re.search(r"video frames: \d+ matching segments?; #\d+ \d+% covered", header(html))


def test_a_still_is_shown_beside_the_frame_of_the_video_it_matched(
    client: FlaskClient, keys: dict
) -> None:
    footage = clip("chair-20-sd-bar.mp4")
    video = posted(client, keys, footage, "chair.mp4")
    still = posted(client, keys, grab(footage, 7.0), "still.jpg")
    sign_in(client, "viewer")
    html = page(client, f"/compare/{still}/{video}")
    assert "data-compare-still" in html and html.count('class="compare-box"') == 2
    time = float(re.search(r'data-still-frame="([\d.]+)"', html).group(1))
    assert time == pytest.approx(7.0, abs=1.5)
    frame = re.search(rf'src="(/media/{video}/frames/\d+\.jpg)"', html).group(1)
    with client.get(frame) as answer:  # a frame off the page's strip is made too
        assert answer.status_code == 200 and answer.data[:3] == b"\xff\xd8\xff"
    # Named one way: the still's page says what the search says.
    name = re.search(r"a frame of the video at \d+:\d\d of #" + str(video), html)
    assert name, header(html)
    assert name.group(0) in page(client, f"/media/{still}")


def test_a_recording_cut_from_a_soundtrack_is_shown_as_two_waveforms_sharing_a_stretch(
    client: FlaskClient, keys: dict
) -> None:
    sound = recording(40, seed=3)
    pictures = [np.asarray(pattern(160, 120, seed=70 + n)) for n in range(4)]
    video = posted(client, keys, film(pictures, sound), "film.mp4")
    cut = encode(excerpt(sound, 5, 12), "aac")
    answer = post_media(client, keys["analyst"], cut, "cut.m4a").json
    heard = answer["media"]["id"]
    excerpt_of = rf"an excerpt of the soundtrack of #{video} \(0:0[4-6]–0:1[6-8]\)"
    # One name: the upload answer, the recording's page (its stored link), search.
    said = next(m for m in answer["near_duplicates"] if m["media_id"] == video)
    assert re.fullmatch(excerpt_of, said["kind_label"]), said["kind_label"]
    sign_in(client, "analyst")
    html = page(client, f"/compare/{heard}/{video}")
    assert "data-compare-sound" in html and "data-overlay" not in html
    assert f'data-waveform="{heard}"' in html and f'data-waveform="{video}"' in html
    assert f"/media/{heard}/waveform.png" in html and f"/media/{video}/waveform.png" in html
    marks = dict(
        (int(m), float(s))
        for m, s in re.findall(r'data-waveform="(\d+)".*?data-shared-start="([\d.]+)"', html, re.S)
    )
    assert marks[heard] == pytest.approx(0, abs=1.5)
    assert marks[video] == pytest.approx(5, abs=1.5)
    assert "sound: offset" in header(html) and not PDQ_SAID.search(header(html))
    assert re.search(excerpt_of, header(html)), header(html)
    # Search names it as an excerpt of the soundtrack, with where it lies.
    boundary, body = encode_multipart(
        {"csrf_token": token(client), "file": FileStorage(io.BytesIO(cut), filename="q.m4a")}
    )
    found = html_lib.unescape(
        client.post(
            "/search", data=body, content_type=f"multipart/form-data; boundary={boundary}"
        ).get_data(as_text=True)
    )
    assert re.search(excerpt_of, found), found
    assert re.search(excerpt_of, page(client, f"/media/{heard}"))


def test_the_header_never_says_a_distance_of_no_match_beside_the_evidence_that_made_one(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    original = posted(client, keys, PHOTO, "photo.jpg")
    copy = posted(client, keys, cropped_with_caption(PHOTO), "repost.jpg")
    sign_in(client, "viewer")
    said = header(page(client, f"/compare/{copy}/{original}"))
    assert re.search(r"\d+ matching keypoints", said), said
    pdq = app.config["MATCH_PDQ"]
    assert all(int(d) <= int(pdq) for d in PDQ_SAID.findall(said)), said


def search_file(client: FlaskClient, data: bytes, name: str) -> str:
    boundary, body = encode_multipart(
        {"csrf_token": token(client), "file": FileStorage(io.BytesIO(data), filename=name)}
    )
    answer = client.post(
        "/search", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_searched_file_can_be_catalogued_from_its_results(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    data = encode_picture(pattern(seed=41), "PNG")
    viewer = app.test_client()
    sign_in(viewer, "viewer")  # a viewer may search, not catalogue
    assert "data-catalogue-query" not in search_file(viewer, data, "found.png")
    sign_in(client, "analyst")
    html = search_file(client, data, "found.png")
    assert "data-catalogue-query" in html
    sha256 = re.search(r'name="sha256" value="([0-9a-f]{64})"', html).group(1)
    # Only a file this session searched: another SHA-256 is refused with a message.
    refused = client.post(
        "/search/catalogue", data={"csrf_token": token(client), "sha256": "0" * 64}
    )
    assert refused.status_code == 302 and refused.headers["Location"] == "/upload"
    made = client.post("/search/catalogue", data={"csrf_token": token(client), "sha256": sha256})
    assert made.status_code == 302, made.get_data(as_text=True)
    media_id = int(re.search(r"/media/(\d+)\?upload=new", made.headers["Location"]).group(1))
    with app.app_context():
        media = get_session().get(Media, media_id)
        assert media.sha256 == sha256 and media.original_filename == "found.png"
    # Catalogued, the same file searched again is the exact match: no button any more.
    assert "data-catalogue-query" not in search_file(client, data, "found.png")


def test_a_mirrored_copy_is_named_mirrored_in_the_answer_and_as_a_stored_link(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    original = posted(client, keys, PHOTO, "photo.jpg")
    flipped = encode_picture(ImageOps.mirror(Image.open(io.BytesIO(PHOTO)).convert("RGB")))
    answer = post_media(client, keys["analyst"], flipped, "flipped.jpg").json
    match = next(m for m in answer["near_duplicates"] if m["media_id"] == original)
    assert match["kind_label"] == "a mirrored or turned copy"
    with app.app_context():
        link = get_session().scalar(
            sa.select(MediaLink).where(MediaLink.target_media_id == original)
        )
        assert link.algorithm.endswith("-mirror")
    sign_in(client, "viewer")
    shown = page(client, f"/media/{answer['media']['id']}")
    assert re.search(r"data-match-name>\s*a mirrored or turned copy", shown)


def test_a_searched_file_can_be_catalogued_and_compared_with_a_result(
    client: FlaskClient, keys: dict
) -> None:
    original = posted(client, keys, PHOTO, "photo.jpg")
    sign_in(client, "analyst")
    html = search_file(client, smaller(PHOTO), "repost.jpg")
    form = re.search(rf'data-catalogue-compare="{original}">(.*?)</form>', html, re.S)
    assert form, html
    sha256 = re.search(r'name="sha256" value="([0-9a-f]{64})"', form.group(1)).group(1)
    made = client.post(
        "/search/catalogue",
        data={"csrf_token": token(client), "sha256": sha256, "compare": str(original)},
    )
    assert made.status_code == 302
    new, other = re.fullmatch(r"/compare/(\d+)/(\d+)", made.headers["Location"]).groups()
    assert int(other) == original and int(new) != original
    assert "data-compare-facts" in page(client, made.headers["Location"])


def test_a_kept_search_file_is_no_fault_for_verify_and_the_hourly_gc_removes_it(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    sign_in(client, "analyst")
    data = encode_picture(pattern(seed=43), "PNG")
    html = search_file(client, data, "kept.png")
    sha256 = re.search(r'name="sha256" value="([0-9a-f]{64})"', html).group(1)
    with app.app_context():
        storage = get_storage()
        assert storage.exists(sha256)
        # Kept for the button, it is not an orphan yet: verify raises no false alarm.
        report = verify(get_session(), storage)
        assert report.ok and report.orphans == [] and report.unrecorded_young == 1
        # An hour on and never catalogued: an orphan, which the worker's hourly gc removes.
        path = storage.path_for(sha256)
        old = time.time() - 7200
        os.utime(path, (old, old))
        assert not verify(get_session(), storage).ok
        assert _collect_due() == 1
        assert not storage.exists(sha256)
        assert verify(get_session(), storage).ok
