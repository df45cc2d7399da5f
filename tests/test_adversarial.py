"""Adversarial input, through the API and through the web form: every bad file or field gets a
4xx with a clear message, never a 500, and leaves no row and no file. The files are made
here: truncated and corrupt images and videos, decompression bombs, empty files, HTML and SVG
named .jpg, polyglots, hostile file names, invalid UTF-8, SQL and script payloads; and a
bounded hypothesis fuzz of upload and search."""

from __future__ import annotations

import html
import io
import json
import re
import struct
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from catalog.db import get_session
from catalog.models import Media
from catalog.services.people import accounts
from catalog.storage import get_storage

from .api_tools import assert_problem, keys
from .media import encode, pattern
from .test_web import PASSWORD, sign_in, token
from .video_tools import clip

__all__ = ["keys"]  # a fixture, used by name


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int, height: int, inflate: bool) -> bytes:
    """A valid PNG header for a huge grey image; with ``inflate``, pixel data inflating to it."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    body = b""
    if inflate:
        squeeze = zlib.compressobj(9)
        row = b"\0" * (width + 1)
        parts = [squeeze.compress(row) for _ in range(height)]
        body = b"".join(parts) + squeeze.flush()
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


JPEG = encode(pattern(seed=1), "JPEG")
MP4 = clip("chair-20-sd-bar.mp4")
# The head of a hand-made multipart file part named a.jpg.
FILE_PART = (
    '\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"'
    "\r\nContent-Type: image/jpeg\r\n\r\n"
)
# (case, bytes, file name, API status, refusal code, what the message must say)
BAD_FILES = [
    ("empty", b"", "empty.jpg", 422, "empty", "the file is empty"),
    ("truncated jpeg", JPEG[: len(JPEG) // 2], "half.jpg", 422, "truncated", "truncated"),
    (
        "corrupt jpeg",
        JPEG[:600] + bytes(range(256)) * 20,
        "corrupt.jpg",
        422,
        "truncated",
        "truncated or corrupt",
    ),
    (
        "truncated png",
        encode(pattern(seed=2), "PNG")[:500],
        "cut.png",
        422,
        "truncated",
        "truncated or corrupt",
    ),
    (
        "huge dimensions",
        png_bomb(200_000, 200_000, inflate=False),
        "huge.png",
        422,
        "too_many_pixels",
        "too many pixels",
    ),
    (
        "inflates to 2.5 GB",
        png_bomb(50_000, 50_000, inflate=True),
        "bomb.png",
        422,
        "too_many_pixels",
        "too many pixels",
    ),
    (
        "html named jpg",
        b"<!doctype html><html><script>alert(1)</script></html>",
        "photo.jpg",
        415,
        "not_an_image",
        "not an image",
    ),
    (
        "svg named jpg",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        "photo.jpg",
        415,
        "not_an_image",
        "not an image",
    ),
    (
        "jpeg magic then html",
        b"\xff\xd8\xff\xe0" + b"<html><script>alert(1)</script></html>" * 20,
        "x.jpg",
        422,
        "corrupt",
        "the image header cannot be read",
    ),
    ("truncated mp4", MP4[: len(MP4) // 3], "cut.mp4", 422, "truncated", "the video is truncated"),
    (
        "mp4 header then garbage",
        MP4[:64] + b"\0" * 5000,
        "bad.mp4",
        422,
        "no_video_stream",
        "no video stream",
    ),
    (
        "zip named jpg",
        b"PK\x03\x04" + b"\0" * 200,
        "archive.jpg",
        415,
        "not_an_image",
        "not an image",
    ),
]


def held(app: Flask) -> tuple[int, list[str]]:
    with app.app_context():
        rows = get_session().scalar(sa.select(sa.func.count()).select_from(Media))
        files = sorted(get_storage().iter_originals())
        tmp = [p for p in get_storage().tmp.iterdir()]
    assert tmp == [], f"temporary files left: {tmp}"
    return rows, files


@pytest.mark.parametrize(
    ("case", "data", "name", "status", "code", "text"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_files_through_the_api(
    app: Flask,
    client: FlaskClient,
    keys,
    case: str,
    data: bytes,
    name: str,
    status: int,
    code: str,
    text: str,
) -> None:
    before = held(app)
    for path in ("/api/v1/media", "/api/v1/search"):
        boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename=name)})
        response = client.post(
            path,
            headers=keys["analyst"],
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        assert_problem(response, status, text)
        assert response.json["code"] == code, (case, path)
    assert held(app) == before


@pytest.mark.parametrize(
    ("case", "data", "name", "status", "code", "text"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_files_through_the_form(
    app: Flask,
    client: FlaskClient,
    case: str,
    data: bytes,
    name: str,
    status: int,
    code: str,
    text: str,
) -> None:
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
    sign_in(client, "ana")
    before = held(app)
    boundary, body = encode_multipart(
        {"csrf_token": token(client), "file": FileStorage(io.BytesIO(data), filename=name)}
    )
    response = client.post(
        "/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    page = response.get_data(as_text=True)
    # The form answers 422 whatever the reason; the message says which, and that nothing stays.
    assert response.status_code == 422, case
    assert text in page and "Nothing was stored" in page, case
    # Two sentences, not one run into the next ("…supported format Nothing was stored.").
    assert re.search(r"[.!?] Nothing was stored\.", html.unescape(page)), case
    assert held(app) == before


def test_polyglot_is_kept_as_the_image_it_is_and_never_served_as_html(
    client: FlaskClient, keys
) -> None:
    polyglot = JPEG + b"<html><script>alert(document.cookie)</script></html>"
    created = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data={"file": (io.BytesIO(polyglot), "page.html")},
        content_type="multipart/form-data",
    )
    assert created.status_code == 201 and created.json["media"]["mime_type"] == "image/jpeg"
    with client.get(
        f"/api/v1/media/{created.json['media']['id']}/original", headers=keys["viewer"]
    ) as original:
        assert (
            original.mimetype == "image/jpeg"
            and original.headers["X-Content-Type-Options"] == "nosniff"
        )
        assert original.headers["Content-Disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd\x00.jpg",
        "..\\..\\boot.ini",
        "a\r\nSet-Cookie: x=1.jpg",
        "\x1b[31mred.jpg",
        "....",
        "x" * 600 + ".jpg",
    ],
)
def test_hostile_file_names_are_reduced_to_a_plain_name(
    client: FlaskClient, keys, name: str
) -> None:
    data = encode(pattern(seed=len(name)), "PNG")
    created = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    if (
        created.status_code == 422
    ):  # a line break in the name ends the part's header: no file arrived
        assert_problem(created, 422, "file")
        return
    assert created.status_code == 201
    stored = created.json["media"]["original_filename"]
    assert stored is None or (
        "/" not in stored
        and "\\" not in stored
        and not any(ord(c) < 32 for c in stored)
        and len(stored) <= 255
        and stored not in ("..", ".")
    )
    with client.get(
        f"/api/v1/media/{created.json['media']['id']}/original", headers=keys["viewer"]
    ) as original:
        assert original.status_code == 200 and "\n" not in original.headers["Content-Disposition"]


@pytest.mark.parametrize(
    ("metadata", "status"),
    [
        (b'{"title": "\xff\xfe broken"}', 422),
        (json.dumps({"title": "t" * 100_000}).encode(), 422),
        (json.dumps({"sighting": {"posted_at": "2023-13-45T99:99:99Z"}}).encode(), 422),
        (json.dumps({"sighting": {"url": "javascript:alert(1)"}}).encode(), 422),
        (json.dumps({"incident": "\x00"}).encode(), 422),
        (json.dumps({"tags": ["x"] * 1000}).encode(), 422),
        (
            json.dumps(
                {"acknowledgement": {"party": "P", "status": "official'; DROP TABLE media; --"}}
            ).encode(),
            422,
        ),
    ],
)
def test_bad_metadata_fields(
    app: Flask, client: FlaskClient, keys, metadata: bytes, status: int
) -> None:
    before = held(app)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n'.encode()
        + metadata
        + FILE_PART.format(boundary=boundary).encode()
        + JPEG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert_problem(response, status)
    assert held(app) == before


def test_sql_metacharacters_are_only_text(client: FlaskClient, keys) -> None:
    title = "Robert'); DROP TABLE media;-- % _ \\"
    created = client.post(
        "/api/v1/media",
        headers=keys["analyst"],
        data={
            "file": (io.BytesIO(JPEG), "a.jpg"),
            "metadata": json.dumps({"title": title, "incident": title}),
        },
        content_type="multipart/form-data",
    )
    assert created.status_code == 201 and created.json["media"]["title"] == title
    found = client.get(
        "/api/v1/media", headers=keys["viewer"], query_string={"q": "'); DROP", "incident": title}
    ).json["items"]
    assert [m["id"] for m in found] == [created.json["media"]["id"]]
    assert [
        m["id"]
        for m in client.get(
            "/api/v1/media", headers=keys["viewer"], query_string={"q": "% _"}
        ).json["items"]
    ] == [created.json["media"]["id"]]
    assert (
        client.get(
            "/api/v1/lookup/url", headers=keys["viewer"], query_string={"url": "' OR 1=1 --"}
        ).json
        == []
    )
    assert (
        client.get(
            "/api/v1/search/hash",
            headers=keys["viewer"],
            query_string={"algorithm": "pdq' --", "hex": "0" * 64},
        ).status_code
        == 422
    )


def test_invalid_utf8_in_the_form_is_refused(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
    sign_in(client, "ana")
    boundary = "b0undary"
    body = (
        (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="csrf_token"\r\n\r\n{token(client)}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
        ).encode()
        + b"\xff\xfe\xc3("
        + (FILE_PART.format(boundary=boundary)).encode()
        + JPEG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 422 and "not valid UTF-8" in response.get_data(as_text=True)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@given(
    data=st.binary(max_size=4096),
    name=st.text(max_size=40),
    prefix=st.sampled_from(
        [
            b"",
            b"\xff\xd8\xff",
            b"\x89PNG\r\n\x1a\n",
            b"GIF89a",
            b"RIFF\0\0\0\0WEBP",
            b"\0\0\0 ftypisom",
        ]
    ),
)
def test_fuzzed_uploads_and_searches_never_fail_the_server(
    app: Flask, keys, data: bytes, name: str, prefix: bytes
) -> None:
    client = app.test_client()
    for path in ("/api/v1/media", "/api/v1/search"):
        boundary, body = encode_multipart(
            {"file": FileStorage(io.BytesIO(prefix + data), filename=name or "f")}
        )
        response = client.post(
            path,
            headers=keys["analyst"],
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        assert response.status_code < 500, response.get_data(as_text=True)
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json"
    with app.app_context():
        assert get_session().scalar(sa.select(sa.func.count()).select_from(Media)) == len(
            list(get_storage().iter_originals())
        )


def test_path_like_search_values_stay_values(client: FlaskClient, keys, tmp_path: Path) -> None:
    for sha in ("../../etc/passwd", "%2e%2e%2f" * 8, "a" * 64 + "/../x"):
        response = client.get(f"/api/v1/lookup/sha256/{sha}", headers=keys["viewer"])
        assert response.status_code in (400, 404)


def test_script_payloads_in_every_text_field_are_escaped_wherever_shown(
    app: Flask, client: FlaskClient
) -> None:
    payload = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
    sign_in(client, "ana")
    fields = {
        "title": f"t{payload}",
        "description": f"d{payload}",
        "credit": f"c{payload}",
        "incident": f"i{payload}",
        "tags": f"g{payload}",
        "sighting-url": "https://t.me/c/1?q=%3Cscript%3E",
        "sighting-source": f"s{payload}",
        "sighting-account": f"a{payload}",
        "sighting-posted_at": "2023-05-03T02:30+03:00",
        "ack-party": f"p{payload}",
        "ack-status": "official",
        "ack-statement": f"st{payload}",
        "ack-source": f"as{payload}",
    }
    boundary, body = encode_multipart(
        {
            "csrf_token": token(client),
            "file": FileStorage(io.BytesIO(JPEG), filename=f"f{payload}.jpg"),
            **fields,
        }
    )
    response = client.post(
        "/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    media_page = client.get(response.headers["Location"]).get_data(as_text=True)
    links = set(re_links(media_page))
    pages = [
        response.headers["Location"],
        "/",
        "/media",
        "/incidents",
        "/sources",
        "/parties",
        *links,
        "/search?tab=url&url=https://t.me/c/1?q=%3Cscript%3E",
        f"{response.headers['Location'].split('?')[0]}/report.html",
    ]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert(2)" not in html and "<img src=x" not in html, path
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in media_page


def re_links(html: str) -> list[str]:
    import re

    return re.findall(r'href="(/(?:incidents|sources|parties)/\d+)"', html)
