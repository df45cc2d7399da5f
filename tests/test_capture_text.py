"""What a captured post says, searchable: the subtitles yt-dlp offers for its video (kept as
the capture's files and with the video's text, with their times) and the text the page shows,
against the suite's local stand-in for a site."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.capture.extractors import Caption, extract
from catalog.capture.page import MAX_VISIBLE, read_page
from catalog.models import Capture
from catalog.netguard import AddressPolicy, Limits, fetch
from catalog.services.collection.post import clean_post
from catalog.services.text import find_text, keep_reading
from catalog.storage import get_storage
from catalog.text.spans import TextReading

from .postsite import PostSite

LOCAL = ["127.0.0.1"]
RU_VTT = """WEBVTT

00:00:00.500 --> 00:00:01.500
Начало съёмки

00:00:02.000 --> 00:00:03.250
Кресло горит возле набережной
"""
DE_VTT = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nDer Stuhl brennt\n"
BROKEN_VTT = "this is not a subtitle file at all"


def _subtitled(site: PostSite, english: str = "/subs/en.vtt") -> bytes:
    return f"""<!doctype html><html><head><title>Video post with subtitles</title>
<style>.hidden {{ content: "stylesheetword" }}</style></head>
<body><p>The quartermaster filmed this from the bridge.</p>
<script>var scriptword = 1;</script><noscript>noscriptword</noscript>
<video controls src="/media/clip.mp4" width="640">
<track kind="subtitles" src="/subs/ru.vtt" srclang="ru" label="Русский">
<track kind="subtitles" src="{english}" srclang="en" label="English">
<track kind="subtitles" src="/subs/de.vtt" srclang="de" label="Deutsch">
</video></body></html>""".encode()


@pytest.fixture
def site() -> PostSite:
    with PostSite() as running:
        running.files["/subs/ru.vtt"] = ("text/vtt", RU_VTT.encode())
        running.files["/subs/de.vtt"] = ("text/vtt", DE_VTT.encode())
        running.files["/subs/en.vtt"] = ("text/vtt", BROKEN_VTT.encode())
        running.files["/post/subtitled"] = ("text/html; charset=utf-8", _subtitled(running))
        yield running


@pytest.fixture
def capturing(app: Flask) -> Flask:
    app.config.update(CAPTURE_ALLOWED_HOSTS=LOCAL, CAPTURE_TIMEOUT_SECONDS=15)
    return app


def capture(runner: FlaskCliRunner, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(args=["catalog", "capture", *args, "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def _subtitle_hits(session: Session, query: str) -> list[tuple[int, str, float | None]]:
    return [
        (found.media.id, hit.field, hit.at)
        for found in find_text(session, query)
        for hit in found.hits
        if hit.field == "subtitle"
    ]


def test_yt_dlp_offers_the_subtitles_in_the_languages_asked_for(site: PostSite) -> None:
    policy = AddressPolicy(frozenset(LOCAL))

    def get(url: str, method: str, headers: list, body: bytes):  # noqa: ANN202
        return fetch(url, policy, Limits(timeout_s=10), method=method, headers=headers)[-1]

    found = extract(site.url("/post/subtitled"), get, 10, ("en", "ru", "uk"))
    assert found is not None and found.media_urls == (site.url("/media/clip.mp4"),)
    assert sorted(found.captions, key=lambda c: c.lang) == [
        Caption("en", "vtt", site.url("/subs/en.vtt")),
        Caption("ru", "vtt", site.url("/subs/ru.vtt")),
    ]
    # yt-dlp only chose them: nothing was fetched but the page.
    assert not any(path.startswith("/subs/") for path in site.requests)
    unasked = extract(site.url("/post/subtitled"), get, 10)
    assert unasked is not None and unasked.captions == ()


def test_the_page_s_visible_text_is_read_and_bounded() -> None:
    page = read_page(
        "<html><head><title>Title</title><style>p{}</style></head><body><p>Seen\n\n  text</p>"
        "<script>hidden()</script><template><b>unused</b></template><p>after</p></body></html>",
        "http://127.0.0.1/post",
    )
    assert page.visible_text == "Seen text after"
    long = read_page("<p>" + "word " * 10_000 + "</p>", "http://127.0.0.1/post")
    assert long.visible_text is not None and len(long.visible_text) <= MAX_VISIBLE
    notes: list[str] = []
    kept = clean_post({"visible_text": "x\x00y " + "z" * 30_000}, notes)
    assert kept["visible_text"].startswith("xy ") and len(kept["visible_text"]) == 20_000
    assert len(notes) == 2


def test_a_captured_video_s_subtitles_and_page_text_are_searchable(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [line] = capture(runner, site.url("/post/subtitled"))
    assert line["status"] == "done", line
    [video] = line["media"]
    assert video["kind"] == "video" and video["created"] is True
    files = {f["role"]: f["sha256"] for f in line["files"]}
    # Kept as the capture's files, the broken one too (evidence of what was offered).
    assert {"subtitles-ru", "subtitles-en"} <= set(files) and "subtitles-de" not in files
    with get_storage().open(files["subtitles-ru"]) as kept:
        assert kept.read() == RU_VTT.encode()
    captured = session.get(Capture, line["capture_id"])
    assert captured is not None
    assert any("en subtitles were not read" in note for note in captured.notes or [])
    types = {f.role: f.content_type for f in captured.files}
    assert types["subtitles-ru"] == "text/vtt"

    # Each cue with its time: another form of the word finds it.
    assert _subtitle_hits(session, "горит") == [(video["media_id"], "subtitle", 2.0)]
    assert _subtitle_hits(session, "начало") == [(video["media_id"], "subtitle", 0.5)]
    assert _subtitle_hits(session, "brennt") == []  # a language not asked for

    # The page's body, not its script, style or title, is the capture's text.
    [found] = find_text(session, "quartermaster")
    assert found.media.id == video["media_id"]
    assert [hit.field for hit in found.hits] == ["capture"]
    for hidden in ("scriptword", "noscriptword", "stylesheetword"):
        assert find_text(session, hidden) == []

    # The capture's page lists them; each downloads as what it is, never shown as a page.
    from catalog.services.people import accounts

    from .api_tools import PASSWORD
    from .test_web import sign_in

    accounts.create_user(session, "viewer", PASSWORD, "viewer")
    client = capturing.test_client()
    sign_in(client, "viewer")
    page = client.get(f"/captures/{captured.id}").get_data(as_text=True)
    assert "Subtitles (ru)" in page and "Subtitles (en)" in page
    with client.get(f"/captures/{captured.id}/files/subtitles-ru") as answer:
        assert answer.status_code == 200 and answer.data == RU_VTT.encode()
        assert answer.mimetype == "text/vtt"
        named = answer.headers["Content-Disposition"]
        assert named == f"attachment; filename=capture-{captured.id}.ru.vtt"
    assert client.get(f"/captures/{captured.id}/files/subtitles-de").status_code == 404
    assert client.get(f"/captures/{captured.id}/files/anything").status_code == 404

    # Reading the video's own text again keeps what its post offered.
    keep_reading(session, video["media_id"], TextReading())
    session.commit()
    assert _subtitle_hits(session, "горит") == [(video["media_id"], "subtitle", 2.0)]


def test_subtitles_reach_a_video_the_catalogue_had_already(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [first] = capture(runner, site.url("/post/video"))
    [video] = first["media"]
    assert _subtitle_hits(session, "горит") == []
    # Its English subtitles are gone from the site: a note, not a failed capture.
    site.files["/post/again"] = ("text/html; charset=utf-8", _subtitled(site, "/subs/gone.vtt"))
    [again] = capture(runner, site.url("/post/again"))
    assert again["status"] == "done" and again["media"][0]["created"] is False, again
    assert again["media"][0]["media_id"] == video["media_id"]
    captured = session.get(Capture, again["capture_id"])
    assert captured is not None and "subtitles-en" not in {f.role for f in captured.files}
    assert any(note.startswith("subtitles not fetched") for note in captured.notes or [])
    assert _subtitle_hits(session, "горит") == [(video["media_id"], "subtitle", 2.0)]
