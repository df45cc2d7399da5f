"""Facts an analyst can publish about parties and sources: a party's kind (government,
agency, media outlet, person, group), stances on an incident (claimed, denied involvement,
denied it happened) kept apart from stances on a media, merging two parties or two sources
(references moved, the name kept as an alias, audited), and the names the forms suggest."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.models import AuditEvent, Party, Source
from catalog.services.custody import replay
from catalog.services.evidence import incident_stance

from .api_tools import PASSWORD, assert_problem, keys, upload

__all__ = ["keys"]  # a fixture, used by name


def sign_in(client: FlaskClient, username: str) -> None:
    response = client.post(
        "/login",
        data={"csrf_token": csrf(client, "/login"), "username": username, "password": PASSWORD},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def csrf(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_party_kinds_are_the_issues_five_and_other(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    for kind in ("government", "agency", "media_outlet", "person", "group", "other"):
        made = client.post(
            "/api/v1/parties", headers=analyst, json={"name": f"P {kind}", "kind": kind}
        )
        assert made.status_code == 201 and made.json["kind"] == kind
    assert_problem(
        client.post("/api/v1/parties", headers=analyst, json={"name": "Q", "kind": "armed_force"}),
        422,
        "kind",
    )


def test_claimed_and_denied_involvement_are_stances_on_incidents_only(
    client: FlaskClient, keys
) -> None:
    analyst = keys["analyst"]
    media = upload(client, analyst, metadata={"incident": "Drone strike"}).json["media"]
    incident_id = client.get("/api/v1/incidents", headers=analyst).json[0]["id"]
    for party, status in (("Russia", "claimed"), ("Ukraine", "denied_involvement")):
        made = client.post(
            f"/api/v1/incidents/{incident_id}/acknowledgements",
            headers=analyst,
            json={"party": party, "status": status},
        )
        assert made.status_code == 201 and made.json["status"] == status
    # On one media they mean nothing: refused with a reason, on creation and on change.
    refused = client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "Russia", "status": "claimed"},
    )
    assert_problem(refused, 422, "incident")
    ack = client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "Russia", "status": "denied"},
    ).json
    assert_problem(
        client.patch(
            f"/api/v1/acknowledgements/{ack['id']}",
            headers=analyst,
            json={"status": "denied_involvement"},
        ),
        422,
        "incident",
    )
    assert client.get(f"/api/v1/acknowledgements/{ack['id']}", headers=analyst).json["status"] == (
        "denied"
    )
    # The media's provenance says the incident's stances in words.
    said = {
        a["party"]: a["summary"]
        for a in client.get(f"/api/v1/media/{media['id']}/provenance", headers=analyst).json[
            "incident_acknowledgements"
        ]
    }
    assert said == {
        "Russia": "Russia claimed it happened.",
        "Ukraine": "Ukraine denied involvement.",
    }
    assert incident_stance("U", "denied") == "U denied it happened."
    report = client.get(f"/api/v1/incidents/{incident_id}/report", headers=analyst).json
    assert "Ukraine denied involvement." in [
        a["summary"] for a in report["incident"]["acknowledgements"]
    ]


def test_the_web_offers_incident_stances_on_incidents_only(
    app: Flask, client: FlaskClient, keys
) -> None:
    media = upload(client, keys["analyst"], metadata={"incident": "Strike"}).json["media"]
    incident_id = client.get("/api/v1/incidents", headers=keys["analyst"]).json[0]["id"]
    sign_in(client, "analyst")
    incident_page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert 'value="denied_involvement"' in incident_page and "denied it happened" in incident_page
    media_page = client.get(f"/media/{media['id']}").get_data(as_text=True)
    assert 'value="denied"' in media_page and 'value="denied_involvement"' not in media_page
    posted = client.post(
        f"/incidents/{incident_id}/acknowledgements",
        data={
            "csrf_token": csrf(client, f"/incidents/{incident_id}"),
            "party": "Government of U",
            "status": "denied_involvement",
        },
        follow_redirects=True,
    )
    assert "Government of U" in posted.get_data(as_text=True)
    assert "denied involvement" in posted.get_data(as_text=True)


def test_merging_parties_moves_every_reference_and_keeps_the_name(
    app: Flask, client: FlaskClient, keys
) -> None:
    analyst = keys["analyst"]
    media = upload(client, analyst, metadata={"incident": "Strike"}).json["media"]
    incident_id = client.get("/api/v1/incidents", headers=analyst).json[0]["id"]
    kept = client.post(
        "/api/v1/parties", headers=analyst, json={"name": "Government of R", "kind": "government"}
    ).json
    merged = client.post(
        "/api/v1/parties",
        headers=analyst,
        json={"name": "R govt", "country": "R", "description": "typed in a hurry"},
    ).json
    client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "R govt", "status": "official"},
    )
    client.post(
        f"/api/v1/incidents/{incident_id}/acknowledgements",
        headers=analyst,
        json={"party": "R govt", "status": "claimed"},
    )
    client.post(
        "/api/v1/sources", headers=analyst, json={"name": "R TV", "affiliated_party": "R govt"}
    )
    assert_problem(
        client.post(
            f"/api/v1/parties/{merged['id']}/merge",
            headers=keys["viewer"],
            json={"into": kept["id"]},
        ),
        403,
    )
    assert_problem(
        client.post(
            f"/api/v1/parties/{merged['id']}/merge", headers=analyst, json={"into": merged["id"]}
        ),
        422,
        "itself",
    )
    assert_problem(
        client.post(f"/api/v1/parties/{merged['id']}/merge", headers=analyst, json={"into": 999}),
        404,
    )
    assert_problem(
        client.post(f"/api/v1/parties/{merged['id']}/merge", headers=analyst, json={"into": "x"}),
        422,
    )
    done = client.post(
        f"/api/v1/parties/{merged['id']}/merge", headers=analyst, json={"into": kept["id"]}
    )
    assert done.status_code == 200, done.json
    assert done.json["aliases"] == ["R govt"] and done.json["country"] == "R"
    assert client.get(f"/api/v1/parties/{merged['id']}", headers=analyst).status_code == 404
    assert [
        a["party"]
        for a in client.get(
            f"/api/v1/incidents/{incident_id}/acknowledgements", headers=analyst
        ).json
    ] == ["Government of R"]
    sources = client.get("/api/v1/sources", headers=analyst).json
    assert [s["affiliated_party"] for s in sources] == ["Government of R"]
    # The old name finds the party kept, and is no new party's name.
    again = client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "R govt", "status": "semi_official"},
    )
    assert again.json["party"] == "Government of R"
    assert_problem(
        client.post("/api/v1/parties", headers=analyst, json={"name": "R govt"}), 409, "merged"
    )
    with app.app_context():
        session = get_session()
        event = session.query(AuditEvent).filter_by(action="party.merge").one()
        assert event.details["merged"] == {"id": merged["id"], "name": "R govt"}
        assert event.details["into"] == {"id": kept["id"], "name": "Government of R"}
        assert len(event.details["moved"]["acknowledgements"]) == 2
        assert session.query(Party).count() == 1
        assert replay.check_rows(session) == []


def test_merging_sources_moves_sightings_and_statements(
    app: Flask, client: FlaskClient, keys
) -> None:
    analyst = keys["analyst"]
    media = upload(client, analyst).json["media"]
    client.post(
        f"/api/v1/media/{media['id']}/sightings",
        headers=analyst,
        json={"url": "https://t.me/c/1", "source": "Moscow news"},
    )
    client.post(
        f"/api/v1/media/{media['id']}/acknowledgements",
        headers=analyst,
        json={"party": "P", "status": "semi_official", "source": "moscow news"},
    )
    ids = {s["name"]: s["id"] for s in client.get("/api/v1/sources", headers=analyst).json}
    done = client.post(
        f"/api/v1/sources/{ids['moscow news']}/merge",
        headers=analyst,
        json={"into": ids["Moscow news"]},
    )
    assert done.status_code == 200 and done.json["aliases"] == ["moscow news"]
    record = client.get(f"/api/v1/media/{media['id']}", headers=analyst).json
    assert [s["source"] for s in record["sightings"]] == ["Moscow news"]
    assert [a["source"] for a in record["acknowledgements"]] == ["Moscow news"]
    with app.app_context():
        assert get_session().query(Source).count() == 1
        assert replay.check_rows(get_session()) == []


def test_the_web_merges_by_name_and_forms_suggest_names(
    app: Flask, client: FlaskClient, keys
) -> None:
    analyst = keys["analyst"]
    kept = client.post("/api/v1/parties", headers=analyst, json={"name": "Kept & Co"}).json
    gone = client.post("/api/v1/parties", headers=analyst, json={"name": "Gone"}).json
    client.post("/api/v1/sources", headers=analyst, json={"name": "Wire <b>"})
    sign_in(client, "viewer")
    assert "Merge into" not in client.get(f"/parties/{gone['id']}").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    sign_in(client, "analyst")
    page = client.get(f"/parties/{gone['id']}").get_data(as_text=True)
    assert "Merge into" in page and '<option value="Kept &amp; Co">' in page
    upload_page = client.get("/upload").get_data(as_text=True)
    assert 'list="party-names"' in upload_page and 'list="source-names"' in upload_page
    assert '<option value="Wire &lt;b&gt;">' in upload_page
    token = csrf(client, f"/parties/{gone['id']}")
    missing = client.post(
        f"/parties/{gone['id']}/merge",
        data={"csrf_token": token, "into": "Nobody"},
        follow_redirects=True,
    )
    assert "no party named" in missing.get_data(as_text=True)
    done = client.post(
        f"/parties/{gone['id']}/merge",
        data={"csrf_token": token, "into": "Kept & Co"},
        follow_redirects=True,
    )
    body = done.get_data(as_text=True)
    assert done.status_code == 200 and "Merged into Kept &amp; Co" in body
    assert "Also known as: Gone" in body
    assert client.get(f"/parties/{gone['id']}").status_code == 404
    assert kept["id"] != gone["id"]


def test_lists_filter_by_name_prefix(client: FlaskClient, keys) -> None:
    analyst = keys["analyst"]
    for name in ("Government of R", "government of U", "Agency_X", "AgencyY"):
        client.post("/api/v1/parties", headers=analyst, json={"name": name})
    names = [p["name"] for p in client.get("/api/v1/parties?q=govern", headers=analyst).json]
    assert names == ["Government of R", "government of U"]
    assert [p["name"] for p in client.get("/api/v1/parties?q=Agency_", headers=analyst).json] == [
        "Agency_X"
    ]
    assert len(client.get("/api/v1/parties", headers=analyst).json) == 4
