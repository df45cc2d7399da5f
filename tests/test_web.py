"""The web pages through Flask's test client, on both databases: every page and form with
success, validation errors, a missing CSRF token and the wrong role; escaping of what users
typed; the pictures and files the pages use; error pages."""

from __future__ import annotations

import html as html_lib
import io
import json
import re

import numpy as np
import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from PIL import Image, ImageOps
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from catalog.db import get_session
from catalog.models import Media, Role
from catalog.services.people import accounts

from .media import encode, pattern, sample
from .video_tools import clip, transform

PASSWORD = "correct horse battery"
PHOTO = sample("photos/china.jpg")
XSS = "<script>alert('x')</script>"


def token(client: FlaskClient, path: str = "/search") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def sign_in(client: FlaskClient, username: str) -> None:
    response = client.post(
        "/login",
        data={"csrf_token": token(client, "/login"), "username": username, "password": PASSWORD},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def users(app: Flask) -> None:
    with app.app_context():
        for role in ("viewer", "analyst", "admin"):
            accounts.create_user(get_session(), role, PASSWORD, role)


@pytest.fixture
def analyst(client: FlaskClient, users) -> FlaskClient:
    sign_in(client, "analyst")
    return client


@pytest.fixture
def viewer(client: FlaskClient, users) -> FlaskClient:
    sign_in(client, "viewer")
    return client


def upload(client: FlaskClient, data: bytes = PHOTO, name: str = "photo.jpg", **fields: str):
    # Encoded in memory: for bodies over 500 KB the test client spools to a temporary file
    # that it never closes, which the suite's warning filter would report.
    boundary, body = encode_multipart(
        {
            "csrf_token": token(client),
            "file": FileStorage(io.BytesIO(data), filename=name),
            **fields,
        }
    )
    return client.post(
        "/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def uploaded(client: FlaskClient, data: bytes = PHOTO, **fields: str) -> int:
    response = upload(client, data, **fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/media/(\d+)", response.headers["Location"]).group(1))


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def smaller(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return encode(image.resize((image.width * 2 // 3, image.height * 2 // 3)), "JPEG", quality=75)


PAGES = [
    "/",
    "/upload",
    "/search",
    "/media",
    "/incidents",
    "/sources",
    "/parties",
    "/media/1",
    "/media/1/thumb.jpg",
    "/compare/1/2",
]


# -- signing in ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_signed_in_user(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_sign_in_and_out(client: FlaskClient, users) -> None:
    html = page(client, "/login")
    wrong = client.post(
        "/login",
        data={
            "csrf_token": token(client, "/login"),
            "username": "analyst",
            "password": "nope-nope-nope",
        },
    )
    assert wrong.status_code == 401 and "wrong password" in wrong.get_data(as_text=True)
    assert 'name="csrf_token"' in html
    response = client.post(
        "/login",
        data={
            "csrf_token": token(client, "/login"),
            "username": "analyst",
            "password": PASSWORD,
            "next": "/media",
        },
    )
    assert response.headers["Location"] == "/media"
    assert "Signed in as analyst" in page(client, "/media")
    assert (
        client.post("/logout", data={"csrf_token": token(client)}).headers["Location"] == "/login"
    )
    assert client.get("/").status_code == 302


def test_sign_in_refuses_offsite_next_missing_csrf_and_disabled_users(
    app: Flask, client: FlaskClient, users
) -> None:
    response = client.post(
        "/login",
        data={
            "csrf_token": token(client, "/login"),
            "username": "viewer",
            "password": PASSWORD,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["Location"] == "/"
    client.post("/logout", data={"csrf_token": token(client)})
    missing = client.post("/login", data={"username": "viewer", "password": PASSWORD})
    assert missing.status_code == 400 and "CSRF" in missing.get_data(as_text=True)
    with app.app_context():
        accounts.set_active(get_session(), "viewer", False)
    refused = client.post(
        "/login",
        data={"csrf_token": token(client, "/login"), "username": "viewer", "password": PASSWORD},
    )
    assert refused.status_code == 401


def test_password_change_and_disabling_end_sessions(app: Flask, viewer: FlaskClient) -> None:
    assert viewer.get("/").status_code == 200
    with app.app_context():
        accounts.set_password(get_session(), "viewer", "another long password")
    assert viewer.get("/").status_code == 302


# -- roles ----------------------------------------------------------------------------------


def page_posts(app: Flask) -> list[tuple[str, str, Role]]:
    """Every page route that takes a POST, from the URL map: (path with ids filled in,
    endpoint, the least role its POST needs). A new form is checked without being listed."""
    posts = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "POST" not in (rule.methods or ()) or rule.rule.startswith("/api/"):
                continue
            view = app.view_functions[rule.endpoint]
            # Sign-in has no role (everyone may try); every other page declares one.
            role = getattr(view, "_catalog_post_role", None)
            path = url_for(rule.endpoint, **dict.fromkeys(rule.arguments, 1))
            posts.append((path, rule.endpoint, role or Role.VIEWER))
    return sorted(posts)


def test_the_url_map_has_the_forms_we_know(app: Flask) -> None:
    endpoints = {endpoint for _, endpoint, _ in page_posts(app)}
    known = {"web.login", "web.logout", "web.search", "web.upload", "web.review_link"}
    assert known | {"web.captures_page", "web.retry_upload_job"} <= endpoints
    assert len(endpoints) == 36


def test_viewers_cannot_post_any_form(app: Flask, viewer: FlaskClient) -> None:
    writes = [(path, role) for path, _, role in page_posts(app) if role is not Role.VIEWER]
    assert len(writes) == 30
    for path, role in writes:
        response = viewer.post(
            path,
            data={"csrf_token": token(viewer), "title": "x", "name": "x", "review": "confirmed"},
        )
        body = response.get_data(as_text=True)
        assert response.status_code == 403 and f"{role.value} role" in body, path


def test_every_form_needs_the_csrf_token(app: Flask, analyst: FlaskClient) -> None:
    posts = page_posts(app)
    # Sign-out last: it must be refused too, and the session must still be there after it.
    for path, _, _ in sorted(posts, key=lambda p: p[1] == "web.logout"):
        response = analyst.post(path, data={"title": "x", "name": "x", "username": "analyst"})
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and "Reload the page" in body, path
    assert analyst.get("/").status_code == 200  # still signed in: sign-out was refused


def test_viewers_see_no_edit_controls(app: Flask, analyst: FlaskClient, users) -> None:
    media_id = uploaded(analyst, title="Seen")
    analyst.post("/logout", data={"csrf_token": token(analyst)})
    sign_in(analyst, "viewer")
    html = page(analyst, f"/media/{media_id}")
    assert (
        "Edit details" not in html and "Add a sighting" not in html and 'href="/upload"' not in html
    )
    assert "New incident" not in page(analyst, "/incidents")


# -- upload -----------------------------------------------------------------------------------


def test_upload_with_everything_known_and_escaping(app: Flask, analyst: FlaskClient) -> None:
    media_id = uploaded(
        analyst,
        title=f"Smoke {XSS}",
        credit="Photographer / AFP",
        incident="Claimed strike",
        tags="smoke, dome",
        **{
            "sighting-url": "https://t.me/c/1",
            "sighting-platform": "telegram",
            "sighting-source": "Chan",
            "sighting-posted_at": "2023-05-03 02:30+03:00",
            "sighting-deleted_at": "2023-05-03T03:00Z",
            "ack-party": "Government of R",
            "ack-status": "semi_official",
            "ack-statement": f"aired {XSS}",
            "ack-source": "State TV",
        },
    )
    html = page(analyst, f"/media/{media_id}?upload=new")
    assert XSS not in html and "Smoke &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Nothing like it was in the catalogue" in html and "first seen" in html
    assert "Government of R: semi-official" in html and "deleted 2023-05-03 03:00 UTC" in html
    assert "smoke" in html and "Claimed strike" in html
    with app.app_context():
        media = get_session().get(Media, media_id)
        assert media.sightings[0].posted_at.isoformat() == "2023-05-02T23:30:00+00:00"
    party = re.search(r'href="(/parties/\d+)"', page(analyst, f"/media/{media_id}")).group(1)
    source = re.search(r'href="(/sources/\d+)"', page(analyst, f"/media/{media_id}")).group(1)
    for path in ("/media", "/search?tab=url&url=https://t.me/c/1", party, source):
        assert XSS not in page(analyst, path)


def test_repeat_and_near_duplicate_uploads_say_so(analyst: FlaskClient) -> None:
    first = uploaded(analyst)
    again = upload(analyst, **{"sighting-url": "https://x.com/a/1"})
    assert again.headers["Location"] == f"/media/{first}?upload=known"
    assert "Exact match" in page(analyst, again.headers["Location"])
    second = uploaded(analyst, smaller(PHOTO))
    html = page(analyst, f"/media/{second}?upload=new")
    assert "1 near-duplicate already in the catalogue" in html and f'href="/media/{first}"' in html
    assert f"/compare/{second}/{first}" in html


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"sighting-posted_at": "2023-05-03 02:30"}, "Add the timezone"),
        ({"sighting-posted_at": "yesterday"}, "Not a date and time"),
        ({"sighting-url": "ftp://x/y"}, "http and https"),
        (
            {"sighting-posted_at": "2023-05-03T02:30Z", "sighting-deleted_at": "2023-05-02T02:30Z"},
            "deleted before it was posted",
        ),
        ({"ack-party": "Government of R"}, "both the party and its status"),
        ({"title": "x" * 501}, "longer than 500"),
    ],
)
def test_upload_validation_errors_store_nothing(
    app: Flask, analyst: FlaskClient, fields: dict, message: str
) -> None:
    response = upload(analyst, **fields)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert get_session().query(Media).count() == 0


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.jpg", "the file is empty"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "photo.jpg", "not an image"),
        (encode(pattern(), "PNG")[:400], "cut.png", "Nothing was stored"),
    ],
)
def test_bad_files_are_refused_on_the_form(
    app: Flask, analyst: FlaskClient, data: bytes, name: str, message: str
) -> None:
    response = upload(analyst, data, name)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    with app.app_context():
        assert get_session().query(Media).count() == 0


def test_upload_from_the_page_script_answers_json(analyst: FlaskClient) -> None:
    headers = {"X-Requested-With": "XMLHttpRequest"}
    ok = analyst.post(
        "/upload",
        headers=headers,
        content_type="multipart/form-data",
        data={"csrf_token": token(analyst), "file": (io.BytesIO(PHOTO), "p.jpg")},
    )
    assert ok.json["ok"] is True and ok.json["redirect"].startswith("/media/")
    bad = analyst.post(
        "/upload",
        headers=headers,
        content_type="multipart/form-data",
        data={
            "csrf_token": token(analyst),
            "file": (io.BytesIO(PHOTO), "p.jpg"),
            "sighting-posted_at": "noon",
        },
    )
    assert (
        bad.status_code == 422
        and bad.json["ok"] is False
        and "sighting-posted_at" in bad.json["errors"]
    )
    assert "Nothing was stored." in bad.json["message"]  # no field says it


def test_a_refused_file_says_nothing_was_stored_once_to_the_page_script(
    analyst: FlaskClient,
) -> None:
    answer = analyst.post(
        "/upload",
        headers={"X-Requested-With": "XMLHttpRequest"},
        content_type="multipart/form-data",
        data={
            "csrf_token": token(analyst),
            "file": (io.BytesIO(encode(pattern(), "PNG")[:400]), "cut.png"),
        },
    )
    shown = " ".join(
        [answer.json["message"], *(e for es in answer.json["errors"].values() for e in es)]
    )
    assert answer.status_code == 422 and shown.count("Nothing was stored") == 1, shown


def test_the_upload_box_names_the_sound_formats_it_accepts(analyst: FlaskClient) -> None:
    box = analyst.get("/upload").get_data(as_text=True)
    assert "sound recording" in box
    for name in ("MP3", "M4A", "AAC", "WAV", "FLAC", "Ogg"):
        assert name in box, name


def test_oversized_upload_gets_a_clear_page(app_factory, fresh_database_url: str) -> None:
    from catalog import schema
    from catalog.db import make_engine

    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    engine.dispose()
    small = app_factory(fresh_database_url, MAX_UPLOAD_MB=0.05)
    with small.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
    client = small.test_client()
    sign_in(client, "ana")
    response = client.post(
        "/upload",
        data={"csrf_token": token(client), "file": (io.BytesIO(b"x" * 80_000), "big.jpg")},
        content_type="multipart/form-data",
    )
    assert (
        response.status_code == 413
        and "larger than the upload limit of 0.05 MB" in response.get_data(as_text=True)
    )


# -- the media page and its forms ----------------------------------------------------------


def test_media_page_forms(app: Flask, analyst: FlaskClient) -> None:
    media_id = uploaded(analyst, title="Before")
    csrf = token(analyst)
    edit = analyst.post(
        f"/media/{media_id}/edit",
        data={
            "csrf_token": csrf,
            "title": "After",
            "verification": "verified",
            "incident": "Strike",
            "tags": "a, b",
            "claimed_captured_at": "2023-05-03T02:27+03:00",
        },
    )
    assert edit.headers["Location"] == f"/media/{media_id}"
    html = page(analyst, f"/media/{media_id}")
    assert "After" in html and "2023-05-02 23:27 UTC" in html
    # The badge itself, not a substring that "unverified" would also satisfy.
    assert '<span class="badge text-bg-success border">verified</span>' in html
    assert ">unverified</span>" not in html
    bad = analyst.post(
        f"/media/{media_id}/edit",
        data={"csrf_token": csrf, "title": "x" * 600, "verification": "verified"},
        follow_redirects=True,
    )
    assert "was not saved" in bad.get_data(as_text=True)
    assert (
        analyst.post(
            f"/media/{media_id}/edit",
            data={"csrf_token": csrf, "verification": "probably"},
            follow_redirects=True,
        )
        .get_data(as_text=True)
        .count("was not saved")
        == 1
    )

    added = analyst.post(
        f"/media/{media_id}/sightings",
        data={"csrf_token": csrf, "url": "https://t.me/c/9", "posted_at": "2023-05-03T01:00Z"},
        follow_redirects=True,
    )
    assert "Sighting added." in added.get_data(as_text=True)
    refused = analyst.post(
        f"/media/{media_id}/sightings", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Give at least a URL" in refused.get_data(as_text=True)
    with app.app_context():
        sighting_id = get_session().get(Media, media_id).sightings[0].id
    changed = analyst.post(
        f"/sightings/{sighting_id}/edit",
        data={
            "csrf_token": csrf,
            f"s{sighting_id}-url": "https://t.me/c/10",
            f"s{sighting_id}-posted_at": "2023-05-03T01:00Z",
            f"s{sighting_id}-deleted_at": "2023-05-03T02:00Z",
        },
        follow_redirects=True,
    )
    assert "Sighting saved." in changed.get_data(
        as_text=True
    ) and "https://t.me/c/10" in changed.get_data(as_text=True)
    assert "Sighting removed" in analyst.post(
        f"/sightings/{sighting_id}/delete", data={"csrf_token": csrf}, follow_redirects=True
    ).get_data(as_text=True)

    ack = analyst.post(
        f"/media/{media_id}/acknowledgements",
        data={
            "csrf_token": csrf,
            "party": "Government of U",
            "status": "denied",
            "statement": "Not us",
        },
        follow_redirects=True,
    )
    assert "Government of U: denied" in ack.get_data(as_text=True)
    assert "was not saved" in analyst.post(
        f"/media/{media_id}/acknowledgements",
        data={"csrf_token": csrf, "party": "P"},
        follow_redirects=True,
    ).get_data(as_text=True)
    with app.app_context():
        ack_id = get_session().get(Media, media_id).acknowledgements[0].id
    edited = analyst.post(
        f"/acknowledgements/{ack_id}/edit",
        data={
            "csrf_token": csrf,
            f"a{ack_id}-party": "Government of U",
            f"a{ack_id}-status": "official",
        },
        follow_redirects=True,
    )
    assert "Government of U: official" in edited.get_data(as_text=True)
    assert "Acknowledgement removed" in analyst.post(
        f"/acknowledgements/{ack_id}/delete", data={"csrf_token": csrf}, follow_redirects=True
    ).get_data(as_text=True)
    history = page(analyst, f"/media/{media_id}")
    for action in (
        "media.update",
        "sighting.create",
        "sighting.update",
        "sighting.delete",
        "acknowledgement.update",
        "acknowledgement.delete",
    ):
        assert action in history
    # Read as field: old → new lines, not as JSON with its quotes and escapes.
    details = re.search(r'<section id="history".*?</section>', history, re.S).group(0)
    shown = html_lib.unescape(re.sub(r"<[^>]+>", "\n", details))
    assert "url: https://t.me/c/9 → https://t.me/c/10" in shown, shown
    assert "status: denied → official" in shown and "deleted at: — → 2023-05-03" in shown, shown
    assert '{"' not in shown and "\\u" not in shown


def test_link_review_and_compare(analyst: FlaskClient) -> None:
    first = uploaded(analyst)
    second = uploaded(analyst, smaller(PHOTO))
    html = page(analyst, f"/media/{second}")
    link_id = int(re.search(r'data-link="(\d+)"', html).group(1))
    reviewed = analyst.post(
        f"/links/{link_id}/review",
        data={"csrf_token": token(analyst), "review": "rejected", "next": f"/media/{second}#links"},
    )
    assert reviewed.headers["Location"] == f"/media/{second}#links"
    assert ">rejected<" in page(analyst, f"/media/{second}")
    assert (
        analyst.post(
            f"/links/{link_id}/review", data={"csrf_token": token(analyst), "review": "maybe"}
        ).status_code
        == 400
    )
    compared = page(analyst, f"/compare/{first}/{second}")
    assert (
        re.search(r"PDQ: \d+ of 256 bits differ at the closest views", compared)
        and "data-compare-slider" in compared
        and "(rejected)" in compared
    )
    assert analyst.get(f"/compare/{first}/{first}").status_code == 302
    assert analyst.get(f"/compare/{first}/999").status_code == 404


def test_a_review_note_has_a_label_and_viewers_read_it(analyst: FlaskClient) -> None:
    first = uploaded(analyst)
    second = uploaded(analyst, smaller(PHOTO))
    link_id = int(re.search(r'data-link="(\d+)"', page(analyst, f"/media/{second}")).group(1))
    compared = page(analyst, f"/compare/{first}/{second}")
    # The note box is named by a label one sees, not only by an aria-label.
    assert re.search(rf'<label[^>]*for="review-note-{link_id}"[^>]*>Why', compared)
    assert f'id="review-note-{link_id}"' in compared
    analyst.post(
        f"/links/{link_id}/review",
        data={"csrf_token": token(analyst), "review": "confirmed", "note": "Same <b>crane</b>"},
    )
    analyst.post("/logout", data={"csrf_token": token(analyst)})
    sign_in(analyst, "viewer")
    for path in (f"/media/{second}", f"/compare/{first}/{second}"):
        shown = page(analyst, path)
        assert "Same &lt;b&gt;crane&lt;/b&gt;" in shown and "data-review-note" in shown, path
        assert 'name="note"' not in shown, path


def test_a_videos_own_title_is_in_its_metadata_panel(analyst: FlaskClient) -> None:
    from .video_tools import titled

    media_id = uploaded(analyst, titled("Drone over <the> Senate"), name="clip.mp4")
    shown = page(analyst, f"/media/{media_id}")
    assert re.search(r"data-container-title>Drone over &lt;the&gt; Senate<", shown)


def test_pictures_and_files(analyst: FlaskClient) -> None:
    media_id = uploaded(analyst, name="a.jpg")
    for name in ("thumb.jpg", "preview.jpg"):
        with analyst.get(f"/media/{media_id}/{name}") as response:
            assert response.status_code == 200 and response.mimetype == "image/jpeg"
            assert max(Image.open(io.BytesIO(response.data)).size) <= (
                360 if name == "thumb.jpg" else 1600
            )
    with analyst.get(f"/media/{media_id}/original") as response:
        assert response.data == PHOTO and "attachment" in response.headers["Content-Disposition"]
    assert analyst.get(f"/media/{media_id}/play").status_code == 404
    assert analyst.get(f"/media/{media_id}/frames/0.jpg").status_code == 404


def test_video_page_has_player_strip_and_frames(analyst: FlaskClient) -> None:
    media_id = uploaded(analyst, clip("chair-20-sd-bar.mp4"), name="chair.mp4")
    html = page(analyst, f"/media/{media_id}")
    assert "data-player" in html and 'class="keyframe"' in html
    millis = re.findall(rf"/media/{media_id}/frames/(\d+)\.jpg", html)
    assert len(millis) >= 5
    with analyst.get(f"/media/{media_id}/frames/{millis[2]}.jpg") as still:
        assert still.status_code == 200 and still.data[:3] == b"\xff\xd8\xff"
    with analyst.get(f"/media/{media_id}/play", headers={"Range": "bytes=0-99"}) as stream:
        assert (
            stream.status_code == 206
            and len(stream.data) == 100
            and stream.mimetype.startswith("video/")
        )
        assert stream.headers["Content-Disposition"] == "inline"
    with analyst.get(f"/media/{media_id}/thumb.jpg") as thumb:
        assert thumb.status_code == 200
    assert analyst.get(f"/media/{media_id}/frames/123456789.jpg").status_code == 404


def test_compare_two_videos_shows_segments_on_two_timelines(analyst: FlaskClient) -> None:
    first = uploaded(analyst, clip("chair-20-sd-bar.mp4"), name="a.mp4")
    second = uploaded(analyst, clip("chair-22-sd-grey-bar.mp4"), name="b.mp4")
    html = page(analyst, f"/compare/{first}/{second}")
    assert "data-segments" in html and html.count('class="timeline-segment"') >= 2
    assert re.search(r"coverage: #\d+ \d+% · #\d+ \d+%", html)


# -- search -----------------------------------------------------------------------------------


def test_search_by_file_hash_sha256_and_url(app: Flask, analyst: FlaskClient) -> None:
    media_id = uploaded(analyst, **{"sighting-url": "https://t.me/c/5"})
    found = analyst.post(
        "/search",
        data={"csrf_token": token(analyst), "file": (io.BytesIO(smaller(PHOTO)), "q.jpg")},
        content_type="multipart/form-data",
    )
    assert found.status_code == 200 and f'data-match="{media_id}"' in found.get_data(as_text=True)
    assert "data:image/jpeg;base64," in found.get_data(as_text=True)
    none = analyst.post(
        "/search",
        data={
            "csrf_token": token(analyst),
            "file": (io.BytesIO(encode(pattern(seed=5), "PNG")), "other.png"),
        },
        content_type="multipart/form-data",
    )
    assert "No catalogued media match" in none.get_data(as_text=True)
    bad = analyst.post(
        "/search",
        data={"csrf_token": token(analyst), "file": (io.BytesIO(b"not an image"), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422 and "not an image" in bad.get_data(as_text=True)
    assert (
        analyst.post(
            "/search",
            data={"file": (io.BytesIO(PHOTO), "q.jpg")},
            content_type="multipart/form-data",
        ).status_code
        == 400
    )

    with app.app_context():
        media = get_session().get(Media, media_id)
        pdq = next(h.bits.hex() for h in media.hashes if h.algorithm == "pdq")
        sha = media.sha256
    assert f'data-match="{media_id}"' in page(analyst, f"/search?tab=hash&algorithm=pdq&hash={pdq}")
    assert analyst.get("/search?tab=hash&algorithm=pdq&hash=xyz").status_code == 422
    assert analyst.get(f"/search?tab=hash&algorithm=phash&hash={pdq}").status_code == 422
    assert analyst.get(f"/search?sha256={sha.upper()}").headers["Location"] == f"/media/{media_id}"
    assert "No catalogued file has exactly these bytes" in page(
        analyst, "/search?sha256=" + "0" * 64
    )
    assert analyst.get("/search?sha256=abc").status_code == 422
    assert f'href="/media/{media_id}"' in page(analyst, "/search?url=https://t.me/c/5")
    assert "No sighting recorded at this address" in page(analyst, "/search?url=https://t.me/c/6")


# -- browsing, incidents, sources, parties ------------------------------------------------------


def test_media_list_filters_and_pages(analyst: FlaskClient) -> None:
    first = uploaded(
        analyst,
        title="First",
        incident="Strike",
        **{"ack-party": "Government of R", "ack-status": "official"},
    )
    second = uploaded(analyst, encode(pattern(seed=3), "PNG"), title="Second")
    listed = page(analyst, "/media")
    assert listed.index(f'href="/media/{second}"') < listed.index(f'href="/media/{first}"')
    assert f'href="/media/{second}"' not in page(analyst, "/media?incident=Strike")
    assert f'href="/media/{first}"' in page(analyst, "/media?party=Government+of+R&status=official")
    assert "No media match" in page(analyst, "/media?party=Government+of+R&status=denied")
    assert f'href="/media/{second}"' in page(analyst, "/media?q=seco")
    assert analyst.get("/media?added_after=3+May").status_code == 422
    assert analyst.get("/media?status=official").status_code == 422
    assert analyst.get("/media?kind=hologram").status_code == 422
    assert analyst.get("/media?cursor=-4").status_code == 422
    today = __import__("datetime").date.today().isoformat()
    assert f'href="/media/{first}"' in page(
        analyst, f"/media?added_after=2000-01-01&added_before={today}"
    )


def test_incident_pages_cluster_duplicates_and_record_stances(
    app: Flask, analyst: FlaskClient
) -> None:
    csrf = token(analyst)
    created = analyst.post(
        "/incidents",
        data={
            "csrf_token": csrf,
            "title": "Strike",
            "occurred_on": "2023-05-03",
            "place": "Moscow",
        },
    )
    incident_url = created.headers["Location"]
    assert (
        analyst.post(
            "/incidents", data={"csrf_token": csrf, "title": "Strike"}, follow_redirects=True
        )
        .get_data(as_text=True)
        .count("already exists")
        == 1
    )
    assert "Not created" in analyst.post(
        "/incidents", data={"csrf_token": csrf, "title": ""}, follow_redirects=True
    ).get_data(as_text=True)
    uploaded(analyst, incident="Strike")
    copy = uploaded(analyst, smaller(PHOTO), incident="Strike")
    uploaded(analyst, encode(pattern(seed=4), "PNG"), incident="Strike")
    # Only proposed by the matcher, the copy stands apart; confirmed, it joins its original.
    assert "3 media in 3 clusters" in page(analyst, incident_url)
    confirm_links(analyst, copy)
    html = page(analyst, incident_url)
    assert "3 media in 2 clusters" in html and "Cluster of 2" in html
    incident_id = int(incident_url.rsplit("/", 1)[1])
    stance = analyst.post(
        f"/incidents/{incident_id}/acknowledgements",
        data={
            "csrf_token": csrf,
            "party": "Government of U",
            "status": "denied",
            "statement": "Not us",
        },
        follow_redirects=True,
    )
    assert "Government of U" in stance.get_data(
        as_text=True
    ) and "Stance recorded." in stance.get_data(as_text=True)
    assert "Government of U: denied" in page(analyst, "/incidents")
    edited = analyst.post(
        f"/incidents/{incident_id}/edit",
        data={"csrf_token": csrf, "title": "Strike on the dome", "occurred_on": "2023-05-03"},
        follow_redirects=True,
    )
    assert "Strike on the dome" in edited.get_data(as_text=True)
    refused = analyst.post(
        f"/incidents/{incident_id}/delete", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Not deleted" in refused.get_data(as_text=True) and "3 media" in refused.get_data(
        as_text=True
    )
    assert analyst.get("/incidents/999").status_code == 404


def test_sources_and_parties(analyst: FlaskClient) -> None:
    csrf = token(analyst)
    source = analyst.post(
        "/sources",
        data={
            "csrf_token": csrf,
            "name": "State TV",
            "kind": "state_media",
            "affiliated_party": "Government of R",
            "url": "https://tv.example",
        },
    )
    source_url = source.headers["Location"]
    html = page(analyst, source_url)
    assert "speaks for" in html and "Government of R" in html
    assert "Not created" in analyst.post(
        "/sources",
        data={"csrf_token": csrf, "name": "X", "url": "javascript:alert(1)"},
        follow_redirects=True,
    ).get_data(as_text=True)
    media_id = uploaded(
        analyst, **{"sighting-url": "https://tv.example/1", "sighting-source": "State TV"}
    )
    assert f"/media/{media_id}#sightings" in page(analyst, source_url)
    source_id = source_url.rsplit("/", 1)[1]
    assert "Not deleted" in analyst.post(
        f"/sources/{source_id}/delete", data={"csrf_token": csrf}, follow_redirects=True
    ).get_data(as_text=True)
    saved = analyst.post(
        f"/sources/{source_id}/edit",
        data={"csrf_token": csrf, "name": "State Television", "kind": "broadcaster"},
        follow_redirects=True,
    )
    assert "State Television" in saved.get_data(as_text=True) and "broadcaster" in saved.get_data(
        as_text=True
    )

    party = analyst.post(
        "/parties",
        data={"csrf_token": csrf, "name": "Ministry", "kind": "government", "country": "R"},
    )
    party_url = party.headers["Location"]
    assert "Ministry" in page(analyst, "/parties")
    party_id = party_url.rsplit("/", 1)[1]
    assert (
        analyst.post(f"/parties/{party_id}/delete", data={"csrf_token": csrf}).headers["Location"]
        == "/parties"
    )
    assert analyst.get(party_url).status_code == 404


def test_error_pages(analyst: FlaskClient) -> None:
    missing = analyst.get("/no/such/page")
    assert missing.status_code == 404 and "There is nothing at this address" in missing.get_data(
        as_text=True
    )
    assert analyst.get("/media/999").status_code == 404
    assert analyst.get("/media/99999999999999").status_code == 404
    api = analyst.get("/api/v1/nothing")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_every_page_names_the_site_icon_and_the_icon_is_served(analyst: FlaskClient) -> None:
    # Without one, the browser asks for /favicon.ico on every page and logs an error.
    signed_out = analyst.application.test_client()
    for client, path in [(analyst, p) for p in ("/", "/search", "/upload", "/api/v1/docs")] + [
        (signed_out, "/login")
    ]:
        html = client.get(path).get_data(as_text=True)
        assert re.search(
            r'<link rel="icon" type="image/svg\+xml" href="[^"]+favicon\.svg"', html
        ), path
    for path in ("/favicon.ico", "/static/catalog/favicon.svg"):
        with analyst.application.test_client().get(path) as icon:
            assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
            assert icon.data.startswith(b"<svg")


def test_a_sighting_shows_its_platform_by_name_and_both_its_times(analyst: FlaskClient) -> None:
    media_id = uploaded(
        analyst,
        **{
            "sighting-url": "https://x.com/a/status/1",
            "sighting-platform": "x",
            "sighting-posted_at": "2023-05-03T02:30+03:00",
            "sighting-observed_at": "2023-05-03T04:00Z",
        },
    )
    html = page(analyst, f"/media/{media_id}")
    assert re.search(r'data-platform="x">X \(Twitter\)</span>', html)  # not a bare "x"
    # The time it was posted leads; the time someone saw it is shown beside it.
    assert "2023-05-02 23:30 UTC" in html
    assert re.search(r"data-observed>observed 2023-05-03 04:00 UTC<", html)
    form = page(analyst, "/upload")
    assert '<option value="x">X (Twitter)</option>' in form


def test_one_first_seen_badge_when_a_copy_was_seen_earlier(analyst: FlaskClient) -> None:
    first = uploaded(
        analyst, **{"sighting-url": "https://t.me/c/7", "sighting-posted_at": "2023-05-04T10:00Z"}
    )
    copy = uploaded(
        analyst,
        smaller(PHOTO),
        **{"sighting-url": "https://t.me/c/6", "sighting-posted_at": "2023-05-03T10:00Z"},
    )
    assert copy != first
    # Proposed only: the copy's earlier sighting is shown apart, not as this file's first seen.
    html = page(analyst, f"/media/{first}")
    assert html.count(">first seen<") == 2 and "data-unconfirmed" in html
    link = re.search(r'action="/links/(\d+)/review"', html).group(1)
    analyst.post(
        f"/links/{link}/review", data={"csrf_token": token(analyst), "review": "confirmed"}
    )
    html = page(analyst, f"/media/{first}")
    # Confirmed: the provenance panel's "first seen" is the copy's earlier sighting; this file's own
    # first sighting is labelled as such, not as a second "first seen" with another date.
    assert html.count(">first seen<") == 1
    assert ">first of this file<" in html
    alone = page(analyst, f"/media/{copy}")
    assert alone.count(">first seen<") == 2 and "first of this file" not in alone


def test_a_whole_copy_fills_both_timelines_as_its_coverage_says(analyst: FlaskClient) -> None:
    data = clip("chair-20-sd-bar.mp4")
    first = uploaded(analyst, data, name="a.mp4")
    second = uploaded(analyst, transform(data), name="b.mp4")
    html = page(analyst, f"/compare/{first}/{second}")
    assert re.search(r"coverage: #\d+ 100% · #\d+ 100%", html), html
    block = html[html.index("data-segments") :]
    rect = r'<rect x="([\d.]+)" y="4" width="([\d.]+)" height="16" class="timeline-segment"'
    ends = [
        max(float(x) + float(w) for x, w in re.findall(rect, svg))
        for svg in re.findall(r"<svg .*?</svg>", block, re.S)[:2]
    ]
    # A sampled frame stands for the time until the next: the last one reaches the end.
    assert len(ends) == 2 and min(ends) >= 990, ends


def confirm_links(client: FlaskClient, media_id: int) -> None:
    """Confirm every link shown on a media's page, as an analyst who checked them would."""
    html = page(client, f"/media/{media_id}")
    links = sorted(set(re.findall(r'action="/links/(\d+)/review"', html)))
    assert links, "the media has no link to confirm"
    for link in links:
        reviewed = client.post(
            f"/links/{link}/review", data={"csrf_token": token(client), "review": "confirmed"}
        )
        assert reviewed.status_code == 302


def test_a_new_copy_is_offered_its_incident_in_one_click(analyst: FlaskClient) -> None:
    first = uploaded(analyst, incident="Claimed strike")
    copy = uploaded(analyst, smaller(PHOTO))
    html = page(analyst, f"/media/{copy}")
    offered = re.search(r'data-offered-incident="(\d+)"', html)
    assert offered and "Copies of this file belong to" in html and "Claimed strike" in html
    incident_id = offered.group(1)
    before = page(analyst, f"/incidents/{incident_id}")
    assert "1 media in 1 cluster" in before
    joined = analyst.post(
        f"/media/{copy}/incident/{incident_id}", data={"csrf_token": token(analyst)}
    )
    assert joined.status_code == 302
    after = page(analyst, f"/media/{copy}")
    assert "data-offered-incident" not in after and "Added to the incident." in after
    assert "2 media in 2 clusters" in page(analyst, f"/incidents/{incident_id}")
    confirm_links(analyst, copy)
    assert "2 media in 1 cluster" in page(analyst, f"/incidents/{incident_id}")
    # Nothing is offered to a media already in an incident, and a form without its token fails.
    assert "data-offered-incident" not in page(analyst, f"/media/{first}")
    assert analyst.post(f"/media/{copy}/incident/{incident_id}").status_code == 400


def cropped_with_caption(data: bytes) -> bytes:
    """A 75 % crop of the picture with a caption bar laid over its foot, as reposts do."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = image.size
    crop = image.crop((w // 8, h // 8, w - w // 8, h - h // 8))
    bar = Image.new("RGB", (crop.width, crop.height // 6), (250, 250, 250))
    crop.paste(bar, (0, crop.height - bar.height))
    return encode(crop, "JPEG", quality=88)


def test_compare_aligns_a_cropped_captioned_copy_and_shows_what_differs(
    analyst: FlaskClient,
) -> None:
    original = uploaded(analyst)
    copy = uploaded(analyst, cropped_with_caption(PHOTO), name="repost.jpg")
    html = page(analyst, f"/compare/{copy}/{original}")
    why = re.search(r"data-why>([^<]+)<", html)
    assert why, html
    sentence = why.group(1)
    # "N keypoints of #original fit #copy …; #copy shows 56% of #original, …"
    assert re.search(rf"\d+ keypoints of #{original} fit #{copy}", sentence), sentence
    shown = int(re.search(rf"#{copy} shows (\d+)% of #{original}", sentence).group(1))
    assert 45 <= shown <= 70, sentence  # a 75 % crop shows about 56 % of the area
    layers = {}
    for layer in ("base", "aligned", "difference"):
        with analyst.get(f"/compare/{copy}/{original}/{layer}.jpg") as answer:
            assert answer.status_code == 200 and answer.mimetype == "image/jpeg"
            layers[layer] = np.asarray(Image.open(io.BytesIO(answer.data)).convert("L"), float)
    # The original is drawn in the copy's own box, so the two layers line up pixel for pixel.
    assert layers["base"].shape == layers["aligned"].shape == layers["difference"].shape
    difference = layers["difference"]
    rows = difference.shape[0]
    picture, caption = difference[: rows * 2 // 3], difference[rows - rows // 8 :]
    assert picture.mean() < 40 < caption.mean(), (picture.mean(), caption.mean())
    # Confirm or reject on the page itself, coming back to it.
    assert "data-review" in html and ">Confirm<" in html and ">Reject<" in html
    link = re.search(r'action="/links/(\d+)/review"', html).group(1)
    back = f"/compare/{copy}/{original}"
    form = re.search(r"<form[^>]*data-review>.*?</form>", html, re.S).group(0)
    assert f'name="next" value="{back}"' in form and 'name="note"' in form
    assert form.count('name="next"') == 1  # one place to come back to
    done = analyst.post(
        f"/links/{link}/review",
        data={
            "csrf_token": token(analyst),
            "review": "confirmed",
            "note": "same rocket, caption added",
            "next": back,
        },
    )
    assert done.headers["Location"] == back
    after = page(analyst, back)
    assert "<strong>confirmed</strong>" in after and "same rocket, caption added" in after


def test_a_crop_is_named_one_way_everywhere_it_is_shown(
    app: Flask, analyst: FlaskClient, tmp_path
) -> None:
    original = uploaded(analyst)
    copy = uploaded(analyst, cropped_with_caption(PHOTO), name="repost.jpg")
    name = "a crop or part of the same picture"
    said = {
        "upload answer": page(analyst, f"/media/{copy}?upload=new"),
        "compare": page(analyst, f"/compare/{copy}/{original}"),
        "report": page(analyst, f"/media/{copy}/report.html"),
        "search": analyst.post(
            "/search",
            data={
                "csrf_token": token(analyst),
                "file": (io.BytesIO(cropped_with_caption(PHOTO)), "q.jpg"),
            },
            content_type="multipart/form-data",
        ).get_data(as_text=True),
    }
    for where, html in said.items():
        text = html_lib.unescape(html)
        assert name in text, where
        # Keypoint evidence is points that fit, never an "orb distance".
        assert "orb distance" not in text, where
        assert re.search(r"\d+ matching keypoints", text), where
    report = analyst.get(f"/media/{copy}/report.json").get_json()
    links = [link for m in report["media"] for link in m["links"]]
    assert any(
        link["kind_label"] == name and "matching keypoints" in link["evidence"] for link in links
    )
    query = tmp_path / "q.jpg"
    query.write_bytes(cropped_with_caption(PHOTO))
    found = app.test_cli_runner().invoke(args=["catalog", "search", "--json", str(query)])
    lines = [json.loads(line) for line in found.stdout.splitlines() if line.strip()]
    matches = [m for line in lines for m in line.get("matches", [])]
    assert any(
        m["kind_label"] == name and "matching keypoints" in m["evidence"] for m in matches
    ), lines


def test_times_show_the_viewers_local_time_beside_utc_once_they_choose_a_place(
    analyst: FlaskClient,
) -> None:
    media_id = uploaded(
        analyst,
        **{"sighting-url": "https://t.me/c/8", "sighting-posted_at": "2023-05-03T02:30+03:00"},
    )
    assert "2023-05-02 23:30 UTC<" in page(analyst, f"/media/{media_id}")  # UTC alone
    settings = page(analyst, "/account/sessions")
    assert 'name="timezone"' in settings and '<option value="Europe/Moscow"' in settings
    saved = analyst.post(
        "/account/timezone", data={"csrf_token": token(analyst), "timezone": "Europe/Moscow"}
    )
    assert saved.status_code == 302
    # Another day there: the date is said too.
    assert "2023-05-02 23:30 UTC (2023-05-03 02:30 Europe/Moscow)" in page(
        analyst, f"/media/{media_id}"
    )
    refused = analyst.post(
        "/account/timezone", data={"csrf_token": token(analyst), "timezone": "Mars/Olympus"}
    )
    assert refused.status_code == 302
    assert "is not a timezone name" in page(analyst, "/account/sessions")
    analyst.post("/account/timezone", data={"csrf_token": token(analyst), "timezone": ""})
    assert "2023-05-02 23:30 UTC<" in page(analyst, f"/media/{media_id}")


def test_date_times_are_picked_with_their_zone_beside_them(
    app: Flask, analyst: FlaskClient
) -> None:
    form = page(analyst, "/upload")
    assert re.search(
        r'<input type="datetime-local" class="form-control" id="sighting-posted_at"', form
    )
    assert '<select class="form-select flex-grow-0 w-auto" name="sighting-posted_at-tz"' in form
    assert '<option value="+03:00">+03:00</option>' in form and 'placeholder="2023' not in form
    media_id = uploaded(
        analyst,
        **{
            "sighting-url": "https://t.me/c/9",
            "sighting-posted_at": "2023-05-03T02:30",
            "sighting-posted_at-tz": "+03:00",
            "sighting-observed_at": "2023-05-03T09:00",
            "sighting-observed_at-tz": "Europe/Kyiv",
        },
    )
    with app.app_context():
        sighting = get_session().get(Media, media_id).sightings[0]
        assert sighting.posted_at.isoformat() == "2023-05-02T23:30:00+00:00"
        assert sighting.observed_at.isoformat() == "2023-05-03T06:00:00+00:00"
    # A viewer who chose a place gets it preselected, and the times shown in it.
    analyst.post(
        "/account/timezone", data={"csrf_token": token(analyst), "timezone": "Europe/Kyiv"}
    )
    html = page(analyst, f"/media/{media_id}")
    assert re.search(r'<option value="Europe/Kyiv" selected>', html)
    assert 'value="2023-05-03T02:30"' in html  # 23:30 UTC is 02:30 in Kyiv that May
    bad = upload(
        analyst, **{"sighting-posted_at": "2023-05-03T02:30", "sighting-posted_at-tz": "Mars/Base"}
    )
    assert bad.status_code == 422 and "Add the timezone" in bad.get_data(as_text=True)


def smooth_scene() -> Image.Image:
    """A picture with too little texture for keypoints: a ramp with one soft blob off-centre."""
    y, x = np.mgrid[0:240, 0:320]
    ramp = (x * 0.5 + y * 0.3).astype(np.float32)
    blob = 120 * np.exp(-(((x - 80) ** 2 + (y - 90) ** 2) / (2 * 35.0**2)))
    grey = np.clip(ramp + blob, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey, grey // 2 + 60, 255 - grey], axis=2))


def test_without_keypoints_the_overlay_turns_the_copy_as_its_hash_matched(
    analyst: FlaskClient,
) -> None:
    scene = smooth_scene()
    original = uploaded(analyst, encode(scene, "PNG"), name="scene.png")
    mirrored = uploaded(analyst, encode(ImageOps.mirror(scene), "PNG"), name="mirror.png")
    html = page(analyst, f"/compare/{original}/{mirrored}")
    assert f"No keypoints of #{mirrored} fit #{original}" in html
    assert f"shows #{mirrored} mirrored, scaled" in html
    with analyst.get(f"/compare/{original}/{mirrored}/difference.jpg") as answer:
        difference = np.asarray(Image.open(io.BytesIO(answer.data)).convert("L"), float)
    assert difference.mean() < 20, difference.mean()  # turned back, it lines up


def test_without_keypoints_a_letterboxed_copy_is_shown_without_its_bars(
    analyst: FlaskClient,
) -> None:
    scene = smooth_scene()
    boxed = Image.new("RGB", (320, 360), (0, 0, 0))
    boxed.paste(scene, (0, 60))
    original = uploaded(analyst, encode(scene, "PNG"), name="scene.png")
    copy = uploaded(analyst, encode(boxed, "PNG"), name="boxed.png")
    html = page(analyst, f"/compare/{original}/{copy}")
    assert f"shows #{copy} as it is without its bars, scaled" in html, html
    with analyst.get(f"/compare/{original}/{copy}/difference.jpg") as answer:
        difference = np.asarray(Image.open(io.BytesIO(answer.data)).convert("L"), float)
    assert difference.mean() < 20, difference.mean()
