"""The pages for what media say: the search page's Text tab (found words marked, what users
typed escaped, bad queries answered on the form), the text of a media on its page (a
picture's lines and boxes, a video's timeline, how reading went), and the compare page's
text side by side with how it differs."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.models import Media, MediaTextState, Sighting
from catalog.services.text import text_difference
from catalog.services.text.entries import add_entries, make_entry
from catalog.text.query import MAX_QUERY_CHARS

from .test_web import PHOTO, XSS, page, sign_in, smaller, uploaded, users
from .video_tools import clip

__all__ = ["users"]  # a fixture, used by name


@pytest.fixture
def analyst(client: FlaskClient, users) -> FlaskClient:
    sign_in(client, "analyst")
    return client


@pytest.fixture
def viewer(app: Flask, users) -> FlaskClient:
    """A viewer in a browser of their own, beside the analyst's."""
    browser = app.test_client()
    sign_in(browser, "viewer")
    return browser


def titled(app: Flask, media_id: int, title: str, *captions: str) -> None:
    """Give a media a title and sightings with captions (the session hook indexes them)."""
    with app.app_context():
        session = get_session()
        media = session.get(Media, media_id)
        media.title = title
        for caption in captions:
            media.sightings.append(Sighting(caption=caption))
        session.commit()


def read_text(app: Flask, media_id: int, *rows: dict) -> None:
    """Store text as the reader would (OCR lines, subtitle cues)."""
    with app.app_context():
        session = get_session()
        add_entries(session, (make_entry(media_id, **row) for row in rows))
        session.commit()


def test_text_tab_finds_cyrillic_by_latin_marks_and_escapes(
    app: Flask, analyst: FlaskClient, viewer: FlaskClient
) -> None:
    media_id = uploaded(analyst)
    titled(app, media_id, "Песков заявил", f"Песков {XSS}")
    html = page(viewer, "/search?tab=text&q=Peskov")
    assert f'data-text-result="{media_id}"' in html and 'id="tab-text"' in html
    snippets = re.findall(r"data-snippet>(.*?)</span>", html)
    assert "<mark>Песков</mark> заявил" in snippets
    assert "<script>" not in html.split("data-text-results", 1)[1]
    assert "&lt;script&gt;" in html
    # A field narrows the search; a kind none of them is finds nothing.
    assert f'data-text-result="{media_id}"' in page(viewer, "/search?q=Peskov&field=caption")
    assert "data-no-results" in page(viewer, "/search?q=Peskov&kind=video")
    assert "data-no-results" in page(viewer, "/search?q=Peskov&incident=Nowhere")


@pytest.mark.parametrize(
    "args",
    [
        {"q": "x" * (MAX_QUERY_CHARS + 1)},
        {"q": '"' + " ".join(["word"] * 20) + '"'},
        {"q": "word", "field": "nope"},
        {"q": "word", "kind": "hologram"},
        {"q": "  "},
    ],
)
def test_a_bad_query_is_answered_on_the_form(viewer: FlaskClient, args: dict) -> None:
    response = viewer.get("/search", query_string=args)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "data-text-error" in html
    assert "data-text-results" not in html


def test_a_picture_shows_its_lines_boxes_and_reading_state(
    app: Flask, analyst: FlaskClient
) -> None:
    media_id = uploaded(analyst)
    read_text(
        app,
        media_id,
        {"field": "ocr", "text": "second line", "box": [10, 60, 200, 30], "source": "tesseract"},
        {"field": "ocr", "text": f"first {XSS}", "box": [10, 10, 200, 30], "source": "tesseract"},
    )
    html = page(analyst, f"/media/{media_id}")
    lines = re.findall(r'data-text-line="ocr">(.*?)</li>', html)
    assert [html_lib.unescape(line) for line in lines] == [f"first {XSS}", "second line"]
    assert XSS not in html
    with app.app_context():
        media = get_session().get(Media, media_id)
        size = f'viewBox="0 0 {media.width} {media.height}"'
    assert size in html and html.count('class="text-box"') == 2 and "data-toggle-boxes" in html
    assert 'x="10" y="60" width="200" height="30"' in html
    script = re.search(r'<script src="([^"]+/text\.js)"', html).group(1)
    with analyst.get(script) as served:
        assert served.status_code == 200 and b"data-toggle-boxes" in served.data
    assert 'data-text-state="queued"' in html
    with app.app_context():
        session = get_session()
        state = session.get(MediaTextState, media_id)
        state.state, state.notes = "failed", ["text not read: the time limit of 20 s passed"]
        session.commit()
    html = page(analyst, f"/media/{media_id}")
    assert 'data-text-state="failed"' in html and "the time limit of 20 s passed" in html
    assert f"/media/{media_id}" in page(analyst, "/search?q=second&field=ocr")


def test_a_video_shows_its_text_on_a_timeline(app: Flask, analyst: FlaskClient) -> None:
    media_id = uploaded(analyst, clip("chair-20-sd-bar.mp4"), name="chair.mp4")
    read_text(
        app,
        media_id,
        {"field": "subtitle", "text": "Мы прибыли", "at": 75.5, "until": 78.0},
        {"field": "ocr", "text": "BREAKING", "at": 3.0, "until": 6.0},
    )
    html = page(analyst, f"/media/{media_id}")
    timeline = html.split("data-text-timeline", 1)[1]
    assert re.search(r'data-time="3\.0" data-text-line="ocr">\s*<span[^>]*>0:03</span>', timeline)
    assert re.search(r'data-time="75\.5" data-text-line="subtitle">\s*<span[^>]*>1:15<', timeline)
    assert timeline.index("BREAKING") < timeline.index("Мы прибыли")
    # The search links a video's hit to its time; the page starts the player there.
    found = page(analyst, "/search?q=pribyli")
    assert f'href="/media/{media_id}?t=75.5#player"' in found and ">1:15</a>" in found
    assert 'play#t=75.5"' in page(analyst, f"/media/{media_id}?t=75.5")
    assert "#t=" not in page(analyst, f"/media/{media_id}?t=nan")


def test_compare_says_the_same_picture_has_another_caption(
    app: Flask, analyst: FlaskClient
) -> None:
    first = uploaded(analyst)
    second = uploaded(analyst, smaller(PHOTO))
    titled(app, first, "Original", "Взрыв на складе в Донецке")
    titled(app, second, "Repost", "Взрыв на складе в Киеве")
    html = page(analyst, f"/compare/{first}/{second}")
    said = re.search(r"data-text-difference>(.*?)</p>", html).group(1)
    assert said.startswith("Same picture; caption differs: ")
    assert "Донецке" in said and "Киеве" in said
    assert f'data-compare-texts="{first}"' in html and "Repost" in html


def test_text_difference(app: Flask, analyst: FlaskClient) -> None:
    a, b = uploaded(analyst), uploaded(analyst, smaller(PHOTO))
    with app.app_context():
        session = get_session()
        assert text_difference(session, a, b) is None  # nothing known is no difference
    titled(app, a, "", "Ёлки, ПРОТЕСТ!")
    titled(app, b, "", "елки протест")
    read_text(app, a, {"field": "ocr", "text": "ТАСС 12:00", "box": [0, 0, 5, 5]})
    with app.app_context():
        # Case, ё and punctuation are no difference; text read from one only is unknown.
        assert text_difference(get_session(), a, b) is None
    read_text(app, b, {"field": "ocr", "text": "РИА Новости 12:00", "box": [0, 0, 5, 5]})
    long = "очень " * 30
    titled(app, b, "", long)
    with app.app_context():
        said = text_difference(get_session(), a, b)
    assert said is not None
    assert said.startswith("text in the picture differs: 'ТАСС 12:00' vs 'РИА Новости 12:00'")
    assert "; caption differs: nothing more vs 'очень" in said and said.endswith("…'")
