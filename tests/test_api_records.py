"""The API's editing endpoints: media edits and tags, sightings and acknowledgements changed
and removed, incidents, sources and parties with their delete rules, incident-level
acknowledgements, and admin management of users and keys. Each write is audited with the
key's user as actor."""

from __future__ import annotations

from flask.testing import FlaskClient

from .api_tools import PASSWORD, assert_problem, keys, upload

__all__ = ["keys"]  # a fixture, used by name


def audit_of(client: FlaskClient, headers: dict, media_id: int) -> list[dict]:
    return client.get(f"/api/v1/media/{media_id}/audit", headers=headers).json


def test_media_edits_are_partial_audited_and_change_the_etag(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    media = upload(client, analyst, metadata={"title": "Smoke", "credit": "Someone"}).json["media"]
    path = f"/api/v1/media/{media['id']}"
    etag = client.get(path, headers=analyst).headers["ETag"]

    edited = client.patch(
        path,
        headers=analyst,
        json={
            "title": "Column of smoke over the dome",
            "credit": None,
            "verification": "verified",
            "incident": "Claimed strike",
            "claimed_captured_at": "2023-05-03T02:27:00+03:00",
            "claimed_place": "Moscow",
            "tags": ["smoke", "dome", "smoke"],
        },
    )
    assert edited.status_code == 200, edited.json
    body = edited.json
    assert body["title"] == "Column of smoke over the dome" and body["credit"] is None
    assert body["verification"] == "verified" and body["incident"] == "Claimed strike"
    assert body["claimed_captured_at"] == "2023-05-02T23:27:00+00:00" and body["tags"] == [
        "dome",
        "smoke",
    ]
    assert client.get(path, headers={**analyst, "If-None-Match": etag}).status_code == 200

    event = audit_of(client, analyst, media["id"])[-1]
    assert event["action"] == "media.update" and event["actor"] == "analyst"
    assert event["details"]["changes"]["credit"] == {"from": "Someone", "to": None}
    assert event["details"]["changes"]["tags"] == {"from": [], "to": ["dome", "smoke"]}

    # Nothing changes: nothing is written.
    assert (
        client.patch(
            path, headers=analyst, json={"title": "Column of smoke over the dome"}
        ).status_code
        == 200
    )
    assert len(audit_of(client, analyst, media["id"])) == 2
    # Detaching the incident, and what cannot be cleared or is badly typed.
    assert client.patch(path, headers=analyst, json={"incident": None}).json["incident"] is None
    assert_problem(
        client.patch(path, headers=analyst, json={"verification": None}), 422, "verification"
    )
    assert_problem(
        client.patch(path, headers=analyst, json={"verification": "probably"}), 422, "verification"
    )
    assert_problem(
        client.patch(path, headers=analyst, json={"claimed_captured_at": "2023-05-03T02:27:00"}),
        422,
        "claimed_captured_at",
    )
    assert_problem(client.patch(path, headers=analyst, json={"title": "x" * 501}), 422, "title")
    assert_problem(client.patch(path, headers=keys["viewer"], json={"title": "x"}), 403)


def test_sightings_are_read_changed_and_checked_as_a_whole(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    media = upload(client, analyst).json["media"]
    created = client.post(
        f"/api/v1/media/{media['id']}/sightings",
        headers=analyst,
        json={
            "url": "https://t.me/chan/7",
            "posted_at": "2023-05-03T02:30:00+03:00",
            "source": "Chan",
        },
    )
    assert created.status_code == 201 and created.headers["Location"].endswith(
        f"/api/v1/sightings/{created.json['id']}"
    )
    path = f"/api/v1/sightings/{created.json['id']}"
    assert client.get(path, headers=keys["viewer"]).json["source"] == "Chan"

    changed = client.patch(
        path,
        headers=analyst,
        json={"deleted_at": "2023-05-03T04:00:00+03:00", "source": None, "platform": "telegram"},
    )
    assert changed.status_code == 200
    assert (
        changed.json["deleted_at"] == "2023-05-03T01:00:00+00:00" and changed.json["source"] is None
    )
    assert_problem(
        client.patch(path, headers=analyst, json={"deleted_at": "2023-05-02T00:00:00Z"}),
        422,
        "deleted before",
    )
    assert_problem(
        client.patch(path, headers=analyst, json={"url": "javascript:alert(1)"}), 422, "url"
    )
    assert (
        client.get(path, headers=analyst).json["deleted_at"] == "2023-05-03T01:00:00+00:00"
    )  # unchanged by the refusals

    assert client.delete(path, headers=analyst).status_code == 204
    assert_problem(client.get(path, headers=analyst), 404)
    deleted = audit_of(client, analyst, media["id"])[-1]
    assert (
        deleted["action"] == "sighting.delete"
        and deleted["details"]["url"] == "https://t.me/chan/7"
    )
    assert deleted["details"]["platform"] == "telegram"


def test_acknowledgements_of_media_and_incidents(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    media = upload(client, analyst, metadata={"incident": "Claimed strike"}).json["media"]
    ack = client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "Government of R", "status": "unacknowledged"},
    )
    assert ack.headers["Location"].endswith(f"/api/v1/acknowledgements/{ack.json['id']}")
    path = f"/api/v1/acknowledgements/{ack.json['id']}"
    changed = client.patch(
        path,
        headers=analyst,
        json={
            "status": "semi_official",
            "statement": "aired by state TV",
            "source": "State TV",
            "url": "https://tv.example/clip",
            "stated_at": "2023-05-03T12:00:00Z",
        },
    )
    assert (
        changed.status_code == 200
        and changed.json["status"] == "semi_official"
        and changed.json["url"] == "https://tv.example/clip"
    )
    assert (
        client.get(f"/api/v1/media/{media['id']}/provenance", headers=analyst).json[
            "acknowledgements"
        ][0]["status"]
        == "semi_official"
    )
    assert_problem(client.patch(path, headers=analyst, json={"party": None}), 422, "party")
    assert_problem(client.patch(path, headers=analyst, json={"status": "maybe"}), 422, "status")
    event = audit_of(client, analyst, media["id"])[-1]
    assert event["details"]["changes"]["status"] == {
        "from": "unacknowledged",
        "to": "semi_official",
    }

    incident_id = client.get("/api/v1/incidents", headers=analyst).json[0]["id"]
    stance = client.post(
        f"/api/v1/incidents/{incident_id}/acknowledgements",
        headers=analyst,
        json={
            "party": "Government of U",
            "status": "denied",
            "statement": "We did not attack",
            "stated_at": "2023-05-03T15:00:00Z",
        },
    )
    assert (
        stance.status_code == 201
        and stance.json["incident_id"] == incident_id
        and stance.json["media_id"] is None
    )
    detail = client.get(f"/api/v1/incidents/{incident_id}", headers=keys["viewer"]).json
    assert detail["media_count"] == 1 and [a["party"] for a in detail["acknowledgements"]] == [
        "Government of U"
    ]
    assert [
        a["status"]
        for a in client.get(
            f"/api/v1/incidents/{incident_id}/acknowledgements", headers=analyst
        ).json
    ] == ["denied"]
    assert_problem(
        client.post(
            "/api/v1/incidents/999/acknowledgements",
            headers=analyst,
            json={"party": "P", "status": "denied"},
        ),
        404,
    )
    assert (
        client.delete(f"/api/v1/acknowledgements/{stance.json['id']}", headers=analyst).status_code
        == 204
    )
    assert (
        client.get(f"/api/v1/incidents/{incident_id}/acknowledgements", headers=analyst).json == []
    )


def test_named_records_update_and_delete_rules(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    source = client.post(
        "/api/v1/sources",
        headers=analyst,
        json={"name": "State TV", "kind": "state_media", "affiliated_party": "Government of R"},
    )
    assert source.status_code == 201 and source.json["affiliated_party"] == "Government of R"
    assert source.headers["Location"].endswith(f"/api/v1/sources/{source.json['id']}")
    path = f"/api/v1/sources/{source.json['id']}"
    renamed = client.patch(
        path,
        headers=analyst,
        json={"name": "State Television", "url": "https://tv.example", "affiliation": None},
    )
    assert (
        renamed.status_code == 200
        and renamed.json["name"] == "State Television"
        and renamed.json["url"] == "https://tv.example"
    )
    client.post("/api/v1/sources", headers=analyst, json={"name": "Wire"})
    assert_problem(
        client.patch(path, headers=analyst, json={"name": "Wire"}), 409, "already exists"
    )
    assert_problem(client.patch(path, headers=analyst, json={"kind": None}), 422, "kind")

    media = upload(
        client,
        analyst,
        metadata={"sighting": {"url": "https://tv.example/1", "source": "State Television"}},
    ).json["media"]
    assert_problem(client.delete(path, headers=analyst), 409, "1 sightings")
    party_id = next(
        p["id"]
        for p in client.get("/api/v1/parties", headers=analyst).json
        if p["name"] == "Government of R"
    )
    assert_problem(
        client.delete(f"/api/v1/parties/{party_id}", headers=analyst), 409, "1 affiliated sources"
    )
    sighting_id = client.get(f"/api/v1/media/{media['id']}", headers=analyst).json["sightings"][0][
        "id"
    ]
    client.delete(f"/api/v1/sightings/{sighting_id}", headers=analyst)
    assert client.delete(path, headers=analyst).status_code == 204
    assert_problem(client.get(path, headers=analyst), 404)
    assert client.delete(f"/api/v1/parties/{party_id}", headers=analyst).status_code == 204

    incident = client.post(
        "/api/v1/incidents", headers=analyst, json={"title": "Strike", "occurred_on": "2023-05-03"}
    ).json
    client.patch(f"/api/v1/media/{media['id']}", headers=analyst, json={"incident": "Strike"})
    assert_problem(
        client.delete(f"/api/v1/incidents/{incident['id']}", headers=analyst), 409, "1 media"
    )
    moved = client.patch(
        f"/api/v1/incidents/{incident['id']}",
        headers=analyst,
        json={"place": "Moscow", "occurred_on": None},
    )
    assert moved.json["place"] == "Moscow" and moved.json["occurred_on"] is None
    assert_problem(
        client.patch(
            f"/api/v1/incidents/{incident['id']}", headers=analyst, json={"occurred_on": "3 May"}
        ),
        422,
        "occurred_on",
    )

    events = client.get(f"/api/v1/media/{media['id']}/audit", headers=analyst).json
    assert {e["actor"] for e in events} == {"analyst"}


def test_tags_are_listed_with_counts_renamed_and_removed_from_media(
    client: FlaskClient, keys
) -> None:
    analyst = keys["analyst"]
    first = upload(client, analyst, metadata={"tags": ["smoke"]}).json["media"]
    assert (
        client.post("/api/v1/tags", headers=analyst, json={"name": "unused"}).json["media_count"]
        == 0
    )
    assert_problem(client.post("/api/v1/tags", headers=analyst, json={"name": "smoke"}), 409)
    tags = {t["name"]: t for t in client.get("/api/v1/tags", headers=keys["viewer"]).json}
    assert tags["smoke"]["media_count"] == 1 and tags["unused"]["media_count"] == 0
    smoke = tags["smoke"]["id"]
    assert client.patch(
        f"/api/v1/tags/{smoke}", headers=analyst, json={"name": "smoke column"}
    ).json == {"id": smoke, "name": "smoke column", "media_count": 1}
    assert client.get(f"/api/v1/media/{first['id']}", headers=analyst).json["tags"] == [
        "smoke column"
    ]
    assert [
        m["id"]
        for m in client.get("/api/v1/media?tag=smoke%20column", headers=analyst).json["items"]
    ] == [first["id"]]
    assert client.delete(f"/api/v1/tags/{smoke}", headers=analyst).status_code == 204
    assert client.get(f"/api/v1/media/{first['id']}", headers=analyst).json["tags"] == []
    assert audit_of(client, analyst, first["id"])[-1]["details"] == {"tag": "smoke column"}


def test_admins_manage_users_and_keys(client: FlaskClient, keys) -> None:
    admin = keys["admin"]
    assert client.get("/api/v1/me", headers=keys["viewer"]).json["role"] == "viewer"
    created = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "username": "bot",
            "password": PASSWORD,
            "role": "analyst",
            "display_name": "Import bot",
        },
    )
    assert created.status_code == 201 and "password" not in created.json
    user_path = created.headers["Location"]
    assert user_path.endswith(f"/api/v1/users/{created.json['id']}")
    assert_problem(
        client.post("/api/v1/users", headers=admin, json={"username": "bot", "password": PASSWORD}),
        409,
        "already exists",
    )
    assert_problem(
        client.post("/api/v1/users", headers=admin, json={"username": "weak", "password": "short"}),
        422,
        "password",
    )
    assert_problem(
        client.post(
            "/api/v1/users", headers=admin, json={"username": "../x", "password": PASSWORD}
        ),
        422,
        "username",
    )
    assert_problem(
        client.post(
            "/api/v1/users",
            headers=admin,
            json={"username": "x", "password": PASSWORD, "role": "owner"},
        ),
        422,
        "role",
    )

    key = client.post(f"{user_path}/keys", headers=admin, json={"name": "nightly import"})
    assert key.status_code == 201 and key.json["secret"].startswith("cat_") and key.json["active"]
    bot = {"Authorization": f"Bearer {key.json['secret']}"}
    assert client.get("/api/v1/me", headers=bot).json["username"] == "bot"
    listed = client.get(f"{user_path}/keys", headers=admin).json
    assert [k["name"] for k in listed] == ["nightly import"] and "secret" not in listed[0]
    assert key.json["id"] in [k["id"] for k in client.get("/api/v1/keys", headers=admin).json]

    assert client.patch(user_path, headers=admin, json={"role": "viewer"}).json["role"] == "viewer"
    assert_problem(client.post("/api/v1/tags", headers=bot, json={"name": "t"}), 403)
    assert client.patch(user_path, headers=admin, json={"active": False}).json["active"] is False
    assert_problem(client.get("/api/v1/me", headers=bot), 401)
    listed = client.get(key.headers["Location"], headers=admin).json
    assert listed["suspended_at"] and not listed["active"] and not listed["revoked_at"]
    # Keys come back only when the admin says so.
    client.patch(user_path, headers=admin, json={"active": True, "restore_keys": True})
    assert client.get("/api/v1/me", headers=bot).status_code == 200
    assert client.get(key.headers["Location"], headers=admin).json["last_used_at"]
    assert client.delete(key.headers["Location"], headers=admin).status_code == 204
    assert_problem(client.get("/api/v1/me", headers=bot), 401)
    assert client.get(key.headers["Location"], headers=admin).json["revoked_at"]

    admin_id = client.get("/api/v1/me", headers=admin).json["id"]
    assert_problem(
        client.patch(f"/api/v1/users/{admin_id}", headers=admin, json={"role": "analyst"}),
        409,
        "last active admin",
    )
    assert_problem(
        client.patch(f"/api/v1/users/{admin_id}", headers=admin, json={"active": False}),
        409,
        "last active admin",
    )
    client.patch(user_path, headers=admin, json={"role": "admin"})
    assert (
        client.patch(
            f"/api/v1/users/{admin_id}",
            headers=admin,
            json={"display_name": "Former admin", "role": "analyst"},
        ).json["role"]
        == "analyst"
    )
    assert_problem(client.get("/api/v1/users", headers=admin), 403)
