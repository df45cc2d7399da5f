"""Look-ups by URL find a post in any common spelling of its address: the API's and the web's
URL search, the captures list; the canonical form follows every change of a URL and is never
shown in its place."""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.models import Capture, CaptureStatus, Sighting
from catalog.services.collection import captures

from .api_tools import assert_problem, keys, upload
from .test_web import page, sign_in

__all__ = ["keys"]  # a fixture, used by name

GIVEN = "https://twitter.com/user/status/1?s=20"


def lookup(client: FlaskClient, headers: dict, url: str) -> list[int]:
    answer = client.get(f"/api/v1/lookup/url?url={quote(url, safe='')}", headers=headers)
    assert answer.status_code == 200, answer.json
    return [m["id"] for m in answer.json]


def test_the_api_finds_a_sighting_by_another_spelling_of_its_url(client: FlaskClient, keys) -> None:
    media = upload(client, keys["analyst"], metadata={"sighting": {"url": GIVEN}}).json["media"]
    viewer = keys["viewer"]
    assert lookup(client, viewer, "x.com/user/status/1/") == [media["id"]]
    assert lookup(client, viewer, "https://mobile.twitter.com/other/status/1?t=x") == [media["id"]]
    assert lookup(client, viewer, "https://x.com/user/status/2") == []
    # What is shown is the URL as given, never the canonical form.
    assert media["sightings"][0]["url"] == GIVEN


def test_an_edited_url_is_found_by_its_new_spellings_only(client: FlaskClient, keys) -> None:
    analyst, viewer = keys["analyst"], keys["viewer"]
    media = upload(client, analyst, metadata={"sighting": {"url": GIVEN}}).json["media"]
    sighting = media["sightings"][0]["id"]
    changed = client.patch(
        f"/api/v1/sightings/{sighting}", headers=analyst, json={"url": "https://t.me/s/Chan/9"}
    )
    assert changed.status_code == 200 and changed.json["url"] == "https://t.me/s/Chan/9"
    assert lookup(client, viewer, "https://telegram.me/chan/9?single") == [media["id"]]
    assert lookup(client, viewer, "x.com/user/status/1") == []
    cleared = client.patch(f"/api/v1/sightings/{sighting}", headers=analyst, json={"url": None})
    assert cleared.status_code == 200
    assert lookup(client, viewer, "https://t.me/chan/9") == []


def test_the_web_search_finds_a_sighting_by_another_spelling(client: FlaskClient, keys) -> None:
    media = upload(client, keys["analyst"], metadata={"sighting": {"url": GIVEN}}).json["media"]
    sign_in(client, "viewer")  # the keys' users sign in to the pages too
    found = page(client, f"/search?tab=url&url={quote('x.com/user/status/1/', safe='')}")
    assert f'href="/media/{media["id"]}"' in found
    assert "No sighting recorded at this address" in page(
        client, "/search?tab=url&url=https://x.com/user/status/2"
    )


def test_captures_are_listed_by_any_spelling_and_keep_the_canonical_form_in_step(
    app: Flask,
) -> None:
    with app.app_context():
        session = get_session()
        capture = Capture(url="https://www.youtube.com/shorts/dQw4w9WgXcQ?feature=share")
        capture.status = CaptureStatus.DONE
        session.add(capture)
        session.commit()
        listed = captures.list_captures(session, url="https://youtu.be/dQw4w9WgXcQ")
        assert [c.id for c in listed] == [capture.id]
        assert captures.list_captures(session, url="https://youtu.be/aaaaaaaaaaa") == []
        capture.url = "https://t.me/chan/3"  # a URL changed later carries its form along
        session.commit()
        stored = session.execute(
            sa.select(Capture.url, Capture.url_canonical).where(Capture.id == capture.id)
        ).one()
        assert tuple(stored) == ("https://t.me/chan/3", "https://t.me/chan/3")
        sighting = Sighting(media_id=1, url="https://vk.ru/wall-1_2")
        assert sighting.url_canonical == "https://vk.com/wall-1_2"


def test_the_api_lists_captures_by_any_spelling(app: Flask, client: FlaskClient, keys) -> None:
    with app.app_context():
        session = get_session()
        session.add(Capture(url=GIVEN, status=CaptureStatus.QUEUED))
        session.commit()
    listed = client.get(
        f"/api/v1/captures?url={quote('https://x.com/user/status/1/', safe='')}",
        headers=keys["viewer"],
    )
    assert listed.status_code == 200, listed.json
    assert [c["url"] for c in listed.json] == [GIVEN]


def test_a_nul_in_a_looked_up_url_is_refused_not_a_server_error(client: FlaskClient, keys) -> None:
    assert_problem(
        client.get("/api/v1/lookup/url?url=https://x.com/a%00", headers=keys["viewer"]), 422, "NUL"
    )


def test_a_nul_in_the_web_search_is_a_message_not_a_server_error(client: FlaskClient, keys) -> None:
    sign_in(client, "viewer")
    answer = client.get("/search?tab=url&url=https://x.com/a%00")
    assert 400 <= answer.status_code < 500
    assert "NUL" in answer.get_data(as_text=True)
