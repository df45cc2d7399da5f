"""The JSON API: every endpoint's success, missing auth, wrong role, not found and invalid
input; problem+json errors; ETags and Location headers; the OpenAPI document, checked by a
validator and by a bounded schemathesis run."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from catalog.db import get_session
from catalog.services.people import accounts

from .api_tools import ASTRONAUT, PASSWORD, SHA0, assert_problem, keys, upload
from .media import encode, pattern
from .video_tools import clip

__all__ = ["keys"]  # a fixture, used by name

# Every operation of the API with the least role it needs.
ENDPOINTS = [
    ("GET", "/api/v1/media", "viewer"),
    ("POST", "/api/v1/media", "analyst"),
    ("GET", "/api/v1/media/1", "viewer"),
    ("PATCH", "/api/v1/media/1", "analyst"),
    ("GET", "/api/v1/media/1/original", "viewer"),
    ("GET", "/api/v1/media/1/files/poster.jpg", "viewer"),
    ("POST", "/api/v1/media/1/sightings", "analyst"),
    ("POST", "/api/v1/media/1/acknowledgements", "analyst"),
    ("GET", "/api/v1/media/1/audit", "viewer"),
    ("GET", "/api/v1/media/1/provenance", "viewer"),
    ("GET", "/api/v1/media/1/report", "viewer"),
    ("POST", "/api/v1/media/1/withdraw", "analyst"),
    ("POST", "/api/v1/media/1/restore", "admin"),
    ("POST", "/api/v1/search", "viewer"),
    ("GET", f"/api/v1/search/hash?algorithm=pdq&hex={SHA0}", "viewer"),
    ("GET", "/api/v1/search/text?q=x", "viewer"),
    ("GET", f"/api/v1/lookup/sha256/{SHA0}", "viewer"),
    ("GET", "/api/v1/lookup/url?url=https://t.me/c/1", "viewer"),
    *[
        entry
        for plural in ("sources", "parties", "incidents", "tags")
        for entry in [
            ("GET", f"/api/v1/{plural}", "viewer"),
            ("POST", f"/api/v1/{plural}", "analyst"),
            ("GET", f"/api/v1/{plural}/1", "viewer"),
            ("PATCH", f"/api/v1/{plural}/1", "analyst"),
            ("DELETE", f"/api/v1/{plural}/1", "analyst"),
        ]
    ],
    ("POST", "/api/v1/sources/1/merge", "analyst"),
    ("POST", "/api/v1/parties/1/merge", "analyst"),
    ("GET", "/api/v1/incidents/1/acknowledgements", "viewer"),
    ("POST", "/api/v1/incidents/1/acknowledgements", "analyst"),
    ("GET", "/api/v1/incidents/1/report", "viewer"),
    ("GET", "/api/v1/sightings/1", "viewer"),
    ("PATCH", "/api/v1/sightings/1", "analyst"),
    ("DELETE", "/api/v1/sightings/1", "analyst"),
    ("POST", "/api/v1/sightings/1/annotations", "analyst"),
    ("POST", "/api/v1/sightings/1/check", "analyst"),
    ("GET", "/api/v1/acknowledgements/1", "viewer"),
    ("PATCH", "/api/v1/acknowledgements/1", "analyst"),
    ("DELETE", "/api/v1/acknowledgements/1", "analyst"),
    ("POST", "/api/v1/links/1/review", "analyst"),
    ("GET", "/api/v1/captures", "viewer"),
    ("POST", "/api/v1/captures", "analyst"),
    ("GET", "/api/v1/captures/1", "viewer"),
    ("GET", "/api/v1/uploads/1", "viewer"),
    ("POST", "/api/v1/uploads/1/retry", "analyst"),
    ("GET", "/api/v1/me", "viewer"),
    ("GET", "/api/v1/users", "admin"),
    ("POST", "/api/v1/users", "admin"),
    ("GET", "/api/v1/users/1", "admin"),
    ("PATCH", "/api/v1/users/1", "admin"),
    ("GET", "/api/v1/users/1/keys", "admin"),
    ("POST", "/api/v1/users/1/keys", "admin"),
    ("GET", "/api/v1/users/1/sessions", "admin"),
    ("DELETE", "/api/v1/users/1/sessions", "admin"),
    ("GET", "/api/v1/keys", "admin"),
    ("GET", "/api/v1/keys/1", "admin"),
    ("DELETE", "/api/v1/keys/1", "admin"),
]
# A valid JSON body for each write, by method and the end of its path.
BODIES = {
    ("PATCH", "/media/1"): {"title": "x"},
    ("POST", "/sightings"): {"url": "https://x.org/1"},
    ("PATCH", "/sightings/1"): {"platform": "x"},
    ("POST", "/annotations"): {"text": "A note."},
    ("POST", "/acknowledgements"): {"party": "P", "status": "official"},
    ("PATCH", "/acknowledgements/1"): {"status": "denied"},
    ("POST", "/review"): {"review": "confirmed"},
    ("POST", "/sources"): {"name": "X"},
    ("POST", "/parties"): {"name": "X"},
    ("POST", "/incidents"): {"title": "X"},
    ("POST", "/tags"): {"name": "X"},
    ("PATCH", "/sources/1"): {"name": "Y"},
    ("PATCH", "/parties/1"): {"name": "Y"},
    ("PATCH", "/incidents/1"): {"title": "Y"},
    ("PATCH", "/tags/1"): {"name": "Y"},
    ("POST", "/users"): {"username": "newcomer", "password": PASSWORD},
    ("PATCH", "/users/1"): {"display_name": "Someone"},
    ("POST", "/keys"): {"name": "script"},
    ("POST", "/captures"): {"url": "https://example.org/post/1"},
    ("POST", "/merge"): {"into": 2},
    ("POST", "/retry"): {},  # no body: excluded from JSON_WRITES
    ("POST", "/check"): {},  # no body: excluded from JSON_WRITES
    ("POST", "/withdraw"): {"reason": "a test upload"},
    ("POST", "/restore"): {},  # no body: excluded from JSON_WRITES
}
JSON_WRITES = [
    (m, p)
    for m, p, _ in ENDPOINTS
    if m in ("POST", "PATCH")
    and not p.endswith(("/media", "/search", "/retry", "/check", "/restore"))
]


def body_for(method: str, path: str) -> dict:
    """The valid JSON body of a write endpoint (whatever the ids in its path)."""
    path = path.replace("/999", "/1")
    return next(body for (m, end), body in BODIES.items() if m == method and path.endswith(end))


def send(client: FlaskClient, method: str, path: str, headers: dict | None = None):
    kwargs: dict = {"headers": headers or {}}
    if method == "POST" and path.endswith(("/media", "/search")):
        kwargs.update(
            data={"file": (io.BytesIO(ASTRONAUT), "a.png")}, content_type="multipart/form-data"
        )
    elif method in ("POST", "PATCH"):
        kwargs["json"] = body_for(method, path)
    return client.open(path, method=method, **kwargs)


@pytest.mark.parametrize(("method", "path", "role"), ENDPOINTS)
def test_every_endpoint_needs_a_valid_key(
    client: FlaskClient, keys, method: str, path: str, role: str
) -> None:
    assert_problem(send(client, method, path), 401, "Bearer")
    assert send(client, method, path).headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(
        send(client, method, path, {"Authorization": "Bearer cat_not-a-key"}), 401, "unknown"
    )
    assert_problem(send(client, method, path, {"Authorization": "Basic dXNlcjpwYXNz"}), 401)


@pytest.mark.parametrize(("method", "path", "role"), [e for e in ENDPOINTS if e[2] != "viewer"])
def test_lower_roles_are_refused(
    client: FlaskClient, keys, method: str, path: str, role: str
) -> None:
    assert_problem(send(client, method, path, keys["viewer"]), 403, f"{role} role")
    if role == "admin":
        assert_problem(send(client, method, path, keys["analyst"]), 403, "admin role")


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
def test_invalid_bodies_are_refused(client: FlaskClient, keys, method: str, path: str) -> None:
    unknown = client.open(
        path,
        method=method,
        headers=keys["admin"],
        json={**body_for(method, path), "zzz_unknown": 1},
    )
    assert_problem(unknown, 422, "zzz_unknown")
    broken = client.open(
        path, method=method, headers=keys["admin"], data="{", content_type="application/json"
    )
    assert_problem(broken, 400, "JSON")


def test_every_documented_operation_is_covered_here(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    documented = {
        (method.upper(), re.sub(r"\{\w+\}", "{}", path))
        for path, operations in spec["paths"].items()
        for method in operations
        if method != "parameters"
    }
    listed = {
        (method, re.sub(r"/(1|poster\.jpg|0{64})(?=/|$)", "/{}", path.split("?")[0]))
        for method, path, _ in ENDPOINTS
    }
    assert documented == listed


@pytest.mark.parametrize(
    ("method", "path"),
    [(m, p) for m, p, _ in ENDPOINTS if "/1" in p and "lookup" not in p]
    + [("GET", "/api/v1/nothing-here"), ("GET", "/api/v1/media/99999999999999999999999")],
)
def test_unknown_ids_are_404(client: FlaskClient, keys, method: str, path: str) -> None:
    response = send(client, method, path.replace("/1", "/999"), keys["admin"])
    assert_problem(response, 404)


def test_revoked_key_stops_at_once(app: Flask, client: FlaskClient, keys) -> None:
    assert client.get("/api/v1/media", headers=keys["viewer"]).status_code == 200
    with app.app_context():
        session = get_session()
        key = accounts.list_api_keys(session, "viewer")[0]
        accounts.revoke_api_key(session, key.id)
    assert_problem(client.get("/api/v1/media", headers=keys["viewer"]), 401)


def test_upload_read_list_and_download(client: FlaskClient, keys) -> None:
    metadata = {
        "title": "Smoke over the dome <script>",
        "credit": "Photographer / AFP via Getty Images",
        "incident": "Claimed strike",
        "tags": ["smoke"],
        "sighting": {
            "url": "https://t.me/chan/12",
            "platform": "telegram",
            "source": "Chan",
            "posted_at": "2023-05-03T02:30:00+03:00",
        },
        "acknowledgement": {
            "party": "Government of R",
            "status": "semi_official",
            "statement": "aired",
            "source": "State TV",
        },
    }
    created = upload(client, keys["analyst"], metadata=metadata)
    assert created.status_code == 201
    media = created.json["media"]
    assert created.headers["Location"].endswith(f"/api/v1/media/{media['id']}")
    assert (
        media["title"] == "Smoke over the dome <script>" and media["incident"] == "Claimed strike"
    )
    assert media["provenance"]["earliest_sighting"]["time"] == "2023-05-02T23:30:00+00:00"
    assert media["acknowledgements"][0]["status"] == "semi_official"
    assert {h["algorithm"] for h in media["hashes"]} >= {"pdq", "phash"}

    again = upload(client, keys["analyst"])
    assert (
        again.status_code == 200
        and again.json["created"] is False
        and again.json["media"]["id"] == media["id"]
    )
    copy = upload(
        client,
        keys["analyst"],
        encode(
            __import__("PIL.Image", fromlist=["Image"])
            .open(io.BytesIO(ASTRONAUT))
            .convert("RGB")
            .resize((256, 256)),
            "JPEG",
        ),
        "copy.jpg",
    )
    assert copy.status_code == 201 and [m["media_id"] for m in copy.json["near_duplicates"]] == [
        media["id"]
    ]

    read = client.get(f"/api/v1/media/{media['id']}", headers=keys["viewer"])
    assert read.status_code == 200 and read.headers["ETag"]
    assert read.json["links"][0]["kind"] == "near_duplicate"
    assert (
        client.get(
            f"/api/v1/media/{media['id']}",
            headers={**keys["viewer"], "If-None-Match": read.headers["ETag"]},
        ).status_code
        == 304
    )

    page = client.get("/api/v1/media?limit=1", headers=keys["viewer"]).json
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = client.get(
        f"/api/v1/media?limit=1&cursor={page['next_cursor']}", headers=keys["viewer"]
    ).json
    assert rest["items"][0]["id"] == media["id"] and rest["next_cursor"] is None
    for query, expected in [
        ("incident=Claimed%20strike", [media["id"]]),
        ("party=Government%20of%20R&status=semi_official", [media["id"]]),
        ("party=Government%20of%20R&status=official", []),
        ("source=Chan", [media["id"]]),
        ("tag=smoke", [media["id"]]),
        ("q=dome", [media["id"]]),
        ("q=100%25", []),
        ("kind=video", []),
        ("seen_after=2023-05-02T00:00:00Z&seen_before=2023-05-04T00:00:00Z", [media["id"]]),
    ]:
        assert [
            m["id"]
            for m in client.get(f"/api/v1/media?{query}", headers=keys["viewer"]).json["items"]
        ] == expected, query

    original = client.get(f"/api/v1/media/{media['id']}/original", headers=keys["viewer"])
    assert original.data == ASTRONAUT and original.mimetype == "image/jpeg"
    assert "attachment" in original.headers["Content-Disposition"]
    original.close()
    assert (
        client.get(f"/api/v1/media/{media['id']}/audit", headers=keys["viewer"]).json[0]["action"]
        == "media.create"
    )
    assert (
        client.get(f"/api/v1/media/{media['id']}/provenance", headers=keys["viewer"]).json[
            "sightings"
        ]
        == 1
    )
    assert_problem(
        client.get(f"/api/v1/media/{media['id']}/files/poster.jpg", headers=keys["viewer"]),
        404,
        "no poster.jpg",
    )


def test_video_upload_has_poster_and_contact_sheet(client: FlaskClient, keys) -> None:
    created = upload(client, keys["analyst"], clip("doorknob-hd-no-bar.mp4"), "door.mp4")
    assert created.status_code == 201 and created.json["media"]["kind"] == "video"
    assert sorted(created.json["media"]["derived"]) == [
        "contact-sheet.jpg",
        "poster.jpg",
        "waveform.png",  # the clip has a soundtrack
    ]
    poster = client.get(
        f"/api/v1/media/{created.json['media']['id']}/files/poster.jpg", headers=keys["viewer"]
    )
    assert poster.status_code == 200 and poster.data[:3] == b"\xff\xd8\xff"
    poster.close()


def test_search_and_lookups(client: FlaskClient, keys) -> None:
    media = upload(
        client, keys["analyst"], metadata={"sighting": {"url": "https://t.me/chan/1"}}
    ).json["media"]
    found = client.post(
        "/api/v1/search", headers=keys["viewer"], data={"file": (io.BytesIO(ASTRONAUT), "q.png")}
    ).json
    assert found["matches"][0]["kind"] == "exact" and found["matches"][0]["media_id"] == media["id"]
    pdq = next(
        h["hex"] for h in media["hashes"] if h["algorithm"] == "pdq" and h["variant"] == "full"
    )
    by_hash = client.get(
        f"/api/v1/search/hash?algorithm=pdq&hex={pdq}", headers=keys["viewer"]
    ).json
    assert (
        by_hash["matches"][0]["media_id"] == media["id"] and by_hash["matches"][0]["distance"] == 0
    )
    assert (
        client.get(f"/api/v1/lookup/sha256/{media['sha256'].upper()}", headers=keys["viewer"]).json[
            "id"
        ]
        == media["id"]
    )
    assert [
        m["id"]
        for m in client.get(
            "/api/v1/lookup/url?url=https://t.me/chan/1", headers=keys["viewer"]
        ).json
    ] == [media["id"]]
    assert (
        client.get("/api/v1/lookup/url?url=https://t.me/other", headers=keys["viewer"]).json == []
    )


def test_a_media_and_its_look_up_give_the_provenance_its_own_endpoint_gives(
    client: FlaskClient, keys
) -> None:
    # A media's page reuses the sightings, stances and links it has loaded for its provenance;
    # the provenance endpoint reads them all from scratch. Both must agree, cluster and all.
    analyst = keys["analyst"]
    incident = client.post("/api/v1/incidents", headers=analyst, json={"title": "Strike"}).json
    original = upload(
        client,
        analyst,
        metadata={
            "incident": "Strike",
            "sighting": {"url": "https://t.me/chan/1", "posted_at": "2023-05-03T01:00:00Z"},
            "acknowledgement": {"party": "Ministry", "status": "denied", "source": "TASS"},
        },
    ).json["media"]
    resized = Image.open(io.BytesIO(ASTRONAUT)).convert("RGB").resize((300, 300))
    copy = upload(
        client,
        analyst,
        encode(resized, "JPEG"),
        "c.jpg",
        metadata={
            "tags": ["strike", "copy"],
            "sighting": {"url": "https://x.com/p/2", "posted_at": "2023-05-02T20:00:00Z"},
            "acknowledgement": {"party": "Army", "status": "official"},
        },
    ).json
    assert copy["media"]["links"], "the copy should be linked to the original"
    provenance = client.get(f"/api/v1/media/{copy['media']['id']}/provenance", headers=analyst).json
    assert copy["media"]["provenance"] == provenance  # computed right after the upload
    # Alone in its cluster, but in the incident: the incident's stances are read all the same.
    lone = upload(
        client, analyst, encode(pattern(seed=1), "PNG"), "p.png", metadata={"incident": "Strike"}
    ).json["media"]
    client.post(
        f"/api/v1/incidents/{incident['id']}/acknowledgements",
        headers=analyst,
        json={"party": "Ministry", "status": "official"},
    )
    assert provenance["cluster"] and provenance["acknowledgements"]
    assert provenance["earliest_sighting"]["time"] == "2023-05-02T20:00:00+00:00"
    for media in (original, copy["media"], lone):
        alone = client.get(f"/api/v1/media/{media['id']}/provenance", headers=analyst).json
        # The copy is the original's only by a proposed link: the original's incident is not
        # the copy's to report until someone confirms it.
        assert bool(alone["incident_acknowledgements"]) is (media is not copy["media"])
        page = client.get(f"/api/v1/media/{media['id']}", headers=analyst).json
        assert page["provenance"] == alone
        found = client.get(f"/api/v1/lookup/sha256/{media['sha256']}", headers=analyst).json
        assert found == page


def test_records_sightings_acknowledgements_and_reviews(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    source = client.post(
        "/api/v1/sources",
        headers=analyst,
        json={"name": "TASS", "kind": "news_agency", "url": "https://tass.ru"},
    )
    assert source.status_code == 201 and source.headers["Location"]
    assert_problem(
        client.post("/api/v1/sources", headers=analyst, json={"name": "TASS"}),
        409,
        "already exists",
    )
    assert (
        client.post(
            "/api/v1/parties",
            headers=analyst,
            json={"name": "Government of R", "kind": "government"},
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/incidents",
            headers=analyst,
            json={"title": "Strike", "occurred_on": "2023-05-03"},
        ).json["occurred_on"]
        == "2023-05-03"
    )
    assert [s["name"] for s in client.get("/api/v1/sources", headers=keys["viewer"]).json] == [
        "TASS"
    ]

    media = upload(client, analyst).json["media"]
    sighting = client.post(
        f"/api/v1/media/{media['id']}/sightings",
        headers=analyst,
        json={"url": "https://x.com/p/1", "source": "TASS", "deleted_at": "2023-05-03T03:00:00Z"},
    )
    assert sighting.status_code == 201 and sighting.json["source"] == "TASS"
    ack = client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "Government of R", "status": "denied", "statement": "fake"},
    )
    assert ack.status_code == 201 and ack.json["status"] == "denied"
    assert (
        client.delete(f"/api/v1/sightings/{sighting.json['id']}", headers=analyst).status_code
        == 204
    )
    assert (
        client.delete(f"/api/v1/acknowledgements/{ack.json['id']}", headers=analyst).status_code
        == 204
    )
    actions = [
        e["action"] for e in client.get(f"/api/v1/media/{media['id']}/audit", headers=analyst).json
    ]
    assert actions == [
        "media.create",
        "sighting.create",
        "acknowledgement.create",
        "sighting.delete",
        "acknowledgement.delete",
    ]

    copy = upload(client, analyst, encode(pattern(seed=1), "PNG"), "p.png")
    del copy
    near = upload(
        client,
        analyst,
        encode(
            __import__("PIL.Image", fromlist=["Image"])
            .open(io.BytesIO(ASTRONAUT))
            .convert("RGB")
            .resize((300, 300)),
            "JPEG",
        ),
        "c.jpg",
    ).json
    link_id = client.get(f"/api/v1/media/{near['media']['id']}", headers=analyst).json["links"][0][
        "id"
    ]
    reviewed = client.post(
        f"/api/v1/links/{link_id}/review", headers=analyst, json={"review": "rejected"}
    )
    assert reviewed.status_code == 200 and reviewed.json["review"] == "rejected"


@pytest.mark.parametrize(
    ("metadata", "text"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "metadata"),
        ({"acknowledgement": {"party": "P", "status": "sort_of"}}, "status"),
        ({"sighting": {"posted_at": "2023-05-03T02:30:00"}}, "posted_at"),
        ({"sighting": {"url": "ftp://x/y"}}, "url"),
        (
            {
                "sighting": {
                    "posted_at": "2023-05-03T02:30:00Z",
                    "deleted_at": "2023-05-02T02:30:00Z",
                }
            },
            "deleted before",
        ),
        ({"title": "x" * 600}, "title"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_metadata_is_422_and_stores_nothing(
    client: FlaskClient, keys, metadata, text: str
) -> None:
    assert_problem(upload(client, keys["analyst"], metadata=metadata), 422, text)
    assert client.get("/api/v1/media", headers=keys["viewer"]).json["items"] == []


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "photo.jpg", 415, "not_an_image"),
        (b"", "empty.jpg", 422, "empty"),
        (encode(pattern(), "PNG")[:300], "cut.png", 422, "truncated"),
    ],
)
def test_bad_files_are_refused(
    client: FlaskClient, keys, data: bytes, name: str, status: int, code: str
) -> None:
    response = upload(client, keys["analyst"], data, name)
    assert_problem(response, status)
    assert response.json["code"] == code


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/api/v1/search/hash?algorithm=pdq&hex=xyz", "hex"),
        ("/api/v1/search/hash?algorithm=md5&hex=" + "0" * 64, "algorithm"),
        ("/api/v1/search/hash?algorithm=phash&hex=" + "0" * 64, "16 hexadecimal"),
        ("/api/v1/lookup/sha256/abc", "64 hexadecimal"),
        ("/api/v1/media?added_after=yesterday", "added_after"),
        ("/api/v1/media?status=official", "party"),
        ("/api/v1/media?limit=100000", "limit"),
    ],
)
def test_bad_queries(client: FlaskClient, keys, path: str, text: str) -> None:
    # A malformed value is refused one way wherever it is given: 422, titled as RFC 9110
    # names it.
    response = client.get(path, headers=keys["viewer"])
    assert_problem(response, 422, text)
    assert response.json["title"] == "Unprocessable Content"


def test_missing_file_and_bad_bodies(client: FlaskClient, keys) -> None:
    assert_problem(
        client.post(
            "/api/v1/media", headers=keys["analyst"], data={}, content_type="multipart/form-data"
        ),
        422,
        "file",
    )
    assert_problem(
        client.post("/api/v1/sources", headers=keys["analyst"], json={"kind": "nonsense"}),
        422,
        "name",
    )
    assert_problem(
        client.post("/api/v1/links/1/review", headers=keys["analyst"], json={"review": "maybe"}),
        422,
        "review",
    )


def test_oversized_upload_is_413(
    app_factory: Callable[..., Flask], fresh_database_url: str
) -> None:
    from catalog import schema
    from catalog.db import make_engine

    engine = make_engine(fresh_database_url)
    schema.upgrade(engine)
    engine.dispose()
    small = app_factory(fresh_database_url, MAX_UPLOAD_MB=0.01)
    with small.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
        _, secret = accounts.create_api_key(get_session(), "ana")
    response = small.test_client().post(
        "/api/v1/media",
        headers={"Authorization": f"Bearer {secret}"},
        data={"file": (io.BytesIO(b"x" * 20_000), "big.jpg")},
        content_type="multipart/form-data",
    )
    assert_problem(response, 413, "0.01 MB")


def test_openapi_document_is_valid_and_documents_security(client: FlaskClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").json
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operations = [
        op
        for path in spec["paths"].values()
        for method, op in path.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) >= 20 and all(
        op.get("security") == [{"bearerAuth": []}] for op in operations
    )
    assert all({"401", "403"} <= set(op["responses"]) for op in operations)
    problem = spec["components"]["responses"]["UNAUTHORIZED"]["content"][
        "application/problem+json"
    ]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert {"413", "415", "422"} <= set(spec["paths"]["/api/v1/media"]["post"]["responses"])
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"/api/v1/docs/assets/swagger-ui-bundle.js" in docs.data
    with client.get("/api/v1/docs/assets/swagger-ui-bundle.js") as script:
        assert script.status_code == 200


def test_a_nul_in_a_query_parameter_is_refused(client: FlaskClient, keys) -> None:
    for path in ("/api/v1/media?q=%00", "/api/v1/media?incident=a%00b", "/api/v1/captures?url=%00"):
        assert_problem(client.get(path, headers=keys["viewer"]), 422, "NUL")


def test_schemathesis_finds_no_server_error_or_schema_violation(
    app: Flask, client: FlaskClient, keys
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        response_schema_conformance,
        status_code_conformance,
    )

    upload(client, keys["analyst"], metadata={"sighting": {"url": "https://t.me/c/1"}})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith(("/original", "/files/{name}")):
            # File downloads: covered above; the schemathesis WSGI transport does not close
            # their file responses, which the suite's warning filter would report.
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case) -> None:
            response = case.call(headers=keys["analyst"])
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
                headers=keys["analyst"],
            )

        exercise()
        checked += 1
    assert checked >= 18
