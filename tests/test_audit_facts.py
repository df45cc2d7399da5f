"""Every fact that enters the catalogue is an event of its own with its fields, by whoever
brought it: what an upload carries (sighting, acknowledgement, incident, tags), what a repeated
upload adds, the incidents, sources, parties and tags created on the way; and a media's
history shows everything that touched it, link reviews included."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.models import AuditEvent, MediaLink
from catalog.services.evidence import audit

from .api_tools import keys, upload
from .media import encode, pattern

__all__ = ["keys"]  # a fixture, used by name

SIGHTING = {
    "url": "https://t.me/channel/123",
    "platform": "telegram",
    "source": "Field Channel",
    "account": "@field",
    "posted_at": "2023-05-03T02:30:00+03:00",
    "caption": "Smoke over the dome",
}
ACK = {
    "party": "Government of R",
    "status": "semi_official",
    "statement": "The drones were disabled",
    "source": "State TV",
}


def events(app: Flask, **where: object) -> list[AuditEvent]:
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(get_session().scalars(query))


def test_an_upload_records_every_fact_it_carries(app: Flask, client: FlaskClient, keys) -> None:
    metadata = {
        "title": "Column of smoke",
        "description": "From the first post",
        "credit": "Field team",
        "incident": "Claimed strike",
        "tags": ["smoke", "dome"],
        "sighting": SIGHTING,
        "acknowledgement": ACK,
    }
    created = upload(client, keys["analyst"], metadata=metadata)
    assert created.status_code == 201
    media_id = created.json["media"]["id"]
    history = client.get(f"/api/v1/media/{media_id}/audit", headers=keys["viewer"]).json
    by_action = {e["action"]: e for e in history}
    assert {"media.create", "sighting.create", "acknowledgement.create"} <= set(by_action)
    create = by_action["media.create"]["details"]
    assert create["title"] == "Column of smoke" and create["credit"] == "Field team"
    assert create["description"] == "From the first post"
    assert create["incident"] == "Claimed strike" and sorted(create["tags"]) == ["dome", "smoke"]
    sighting = by_action["sighting.create"]["details"]
    for field in ("url", "platform", "source", "account", "caption"):
        assert sighting[field] == SIGHTING[field], field
    assert sighting["posted_at"] == "2023-05-02T23:30:00+00:00" and sighting["sighting"]
    ack = by_action["acknowledgement.create"]["details"]
    for field in ("party", "status", "statement", "source"):
        assert ack[field] == ACK[field], field
    assert all(e["actor"] == "analyst" for e in history)
    # The records created on the way are events of their own, by the same person.
    made = {(e.action, e.details.get("name")) for e in events(app) if e.action.endswith(".create")}
    assert {
        ("incident.create", "Claimed strike"),
        ("tag.create", "smoke"),
        ("tag.create", "dome"),
        ("source.create", "Field Channel"),
        ("source.create", "State TV"),
        ("party.create", "Government of R"),
    } <= made
    assert {e.actor for e in events(app) if e.action.startswith(("tag.", "party."))} == {"analyst"}
    with app.app_context():
        assert audit.verify_chain(get_session()).ok


def test_a_repeated_upload_records_what_it_adds(app: Flask, client: FlaskClient, keys) -> None:
    first = upload(client, keys["analyst"]).json["media"]["id"]
    again = upload(
        client,
        keys["analyst"],
        metadata={
            "incident": "Claimed strike",
            "tags": ["repost"],
            "sighting": {**SIGHTING, "url": "https://x.com/a/status/9", "platform": "x"},
            "acknowledgement": {**ACK, "status": "denied", "party": "Government of U"},
        },
    )
    assert again.status_code == 200
    history = client.get(f"/api/v1/media/{first}/audit", headers=keys["viewer"]).json
    added = next(e for e in history if e["action"] == "media.add_details")["details"]
    assert added["incident"] == "Claimed strike" and added["tags"] == ["repost"]
    ack = [e for e in history if e["action"] == "acknowledgement.create"][-1]["details"]
    assert (ack["party"], ack["status"], ack["statement"]) == (
        "Government of U",
        "denied",
        ACK["statement"],
    )
    sighting = [e for e in history if e["action"] == "sighting.create"][-1]["details"]
    assert (sighting["url"], sighting["platform"]) == ("https://x.com/a/status/9", "x")


def test_a_link_review_is_in_both_media_histories(app: Flask, client: FlaskClient, keys) -> None:
    original = upload(client, keys["analyst"], encode(pattern(seed=5), "PNG"), "a.png")
    copy = upload(client, keys["analyst"], encode(pattern(seed=5), "JPEG", quality=70), "b.jpg")
    first, second = original.json["media"]["id"], copy.json["media"]["id"]
    with app.app_context():
        link_id = get_session().scalar(sa.select(MediaLink.id))
    assert link_id is not None
    reviewed = client.post(
        f"/api/v1/links/{link_id}/review", headers=keys["analyst"], json={"review": "confirmed"}
    )
    assert reviewed.status_code == 200
    for media_id in (first, second):
        history = client.get(f"/api/v1/media/{media_id}/audit", headers=keys["viewer"]).json
        review = [e for e in history if e["action"] == "link.confirmed"]
        assert len(review) == 1 and review[0]["details"]["source"] == second, media_id


def test_nothing_is_recorded_for_records_that_already_existed(
    app: Flask, client: FlaskClient, keys
) -> None:
    upload(client, keys["analyst"], metadata={"tags": ["smoke"]})
    upload(client, keys["analyst"], encode(pattern(seed=8), "PNG"), metadata={"tags": ["smoke"]})
    assert len([e for e in events(app) if e.action == "tag.create"]) == 1
