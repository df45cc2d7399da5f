"""The deletion re-check against a local stand-in for social-media sites: a time-out is never
"deleted", and a deletion read from a platform's phrase that the post later contradicts is
recorded as such, shown on the sighting and not kept; one read from a 404 is kept."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import AuditEvent, Sighting
from catalog.netguard import AddressPolicy, Limits
from catalog.services.collection import recheck_sightings

from .api_tools import keys, upload
from .media import encode, pattern
from .postsite import PostSite
from .test_web import sign_in

__all__ = ["keys"]  # a fixture, used by name

LOCAL = AddressPolicy(frozenset(["127.0.0.1"]))


@pytest.fixture
def site() -> Iterator[PostSite]:
    with PostSite() as running:
        yield running


def sighted(
    client: FlaskClient, session: Session, headers: dict, url: str, seed: int
) -> tuple[int, int]:
    """Upload a picture seen at ``url``; return its media's and its sighting's ids."""
    made = upload(
        client, headers, encode(pattern(seed=seed), "PNG"), metadata={"sighting": {"url": url}}
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    media_id = made.json["media"]["id"]
    sighting_id = session.scalar(sa.select(Sighting.id).where(Sighting.media_id == media_id))
    assert sighting_id is not None
    return media_id, sighting_id


def deletions(session: Session) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action.like("sighting.delet%"))
            .order_by(AuditEvent.id)
        )
    )


def test_a_timeout_is_never_a_deletion(
    app: Flask, client: FlaskClient, keys: dict, session: Session, site: PostSite
) -> None:
    _, sighting_id = sighted(client, session, keys["analyst"], site.url("/slow"), seed=31)
    [check] = recheck_sightings(session, LOCAL, limits=Limits(timeout_s=1))
    assert (check.sighting_id, check.state) == (sighting_id, "unreachable")
    assert check.reason.startswith("timeout:"), check.reason
    sighting = session.get(Sighting, sighting_id)
    assert sighting is not None
    session.refresh(sighting)
    assert sighting.deleted_at is None and sighting.check_state == "unreachable"
    assert deletions(session) == []


def test_a_phrase_the_post_contradicts_is_recorded_and_not_kept_as_deleted(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    keys: dict,
    session: Session,
    site: PostSite,
) -> None:
    media_id, phrased = sighted(
        client, session, keys["analyst"], site.url("/post/watched"), seed=32
    )
    _, gone = sighted(client, session, keys["analyst"], site.url("/post/deletable"), seed=33)
    site.phrased.add("/post/watched")  # 200, with "Post not found" on the page
    site.deleted.add("/post/deletable")  # 404
    states = {c.sighting_id: c.state for c in recheck_sightings(session, LOCAL)}
    assert states == {phrased: "deleted", gone: "deleted"}
    verdict, status = deletions(session)
    assert verdict.details["status"] == 200 and "post not found" in verdict.details["evidence"]
    session.expire_all()
    first = session.get(Sighting, phrased)
    assert first is not None and first.deleted_at is not None
    # The event says the time set, so the trail alone tells what the row holds.
    assert verdict.details["deleted_at"] == first.deleted_at.isoformat()

    site.phrased.clear()
    site.deleted.clear()
    states = {c.sighting_id: c.state for c in recheck_sightings(session, LOCAL)}
    assert states == {phrased: "live", gone: "live"}
    session.expire_all()
    [contradiction] = deletions(session)[2:]
    assert contradiction.action == "sighting.deletion_contradicted"
    assert contradiction.details["sighting"] == phrased
    assert contradiction.details["verdict"] == {
        "event": verdict.id,
        "evidence": verdict.details["evidence"],
    }
    fresh = session.get(Sighting, phrased)
    assert fresh is not None and fresh.deleted_at is None and fresh.check_state == "live"
    assert contradiction.details["deleted_at"] == {
        "from": verdict.details["deleted_at"],
        "to": None,
    }
    # A 404 is not contradicted by a later answer: the first time it was found gone stands.
    held = session.get(Sighting, gone)
    assert held is not None and held.deleted_at is not None
    # A third look changes nothing more.
    list(recheck_sightings(session, LOCAL))
    assert len(deletions(session)) == 3

    # The sighting says so on the media's page, and the rows agree with the trail.
    sign_in(client, "viewer")
    page = client.get(f"/media/{media_id}").get_data(as_text=True)
    assert "data-contradicted" in page and "Once marked deleted from the words of the page" in page
    assert "post not found" in page
    report = json.loads(runner.invoke(args=["catalog", "verify", "--json"]).output)
    assert report["row_faults"] == [] and report["ok"], report


def test_check_again_now_from_the_capture_the_sighting_and_the_api(
    app: Flask, client: FlaskClient, keys: dict, session: Session, site: PostSite
) -> None:
    from catalog.models import Capture, CaptureFile
    from catalog.services.collection import captures
    from catalog.services.evidence import stamp_capture
    from catalog.storage import get_storage

    from .test_web import token
    from .tsaserver import TimestampAuthority

    app.config.update(CAPTURE_ALLOWED_HOSTS=["127.0.0.1"])
    url = site.url("/post/deletable")
    media_id, sighting_id = sighted(client, session, keys["analyst"], url, seed=41)
    made = captures.create_capture(session, url, incident=None, actor=None)
    kept = get_storage(app).put_bytes(b"<html>the page as captured</html>")
    capture = session.get(Capture, made.id)
    assert capture is not None
    capture.files.append(
        CaptureFile(role="html", sha256=kept.sha256, size_bytes=kept.size, content_type="text/html")
    )
    sighting = session.get(Sighting, sighting_id)
    assert sighting is not None
    sighting.capture_id = capture.id
    session.commit()
    with TimestampAuthority() as authority:
        stamped = stamp_capture(session, get_storage(app), capture.id, [authority.url])
    assert stamped.made, stamped

    sign_in(client, "analyst")
    page = client.get(f"/captures/{capture.id}").get_data(as_text=True)
    assert "not checked since the capture" in page and 'id="capture-check"' in page
    # The capture's trusted timestamp: its time, its authority and the token's SHA-256.
    tokens = page[page.index('id="capture-tokens"') :]
    assert authority.url in tokens and "token sha256 " in tokens
    assert "data-deleted" not in page

    # Without the form's token nothing is checked.
    site.deleted.add("/post/deletable")
    refused = client.post(f"/captures/{capture.id}/check")
    assert refused.status_code == 400
    assert deletions(session) == []
    checked = client.post(
        f"/captures/{capture.id}/check", data={"csrf_token": token(client)}, follow_redirects=True
    )
    body = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "Checked now: deleted (answered 404)" in body
    assert "found deleted" in body and "last checked" in body
    session.expire_all()
    asked = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "sighting.check_requested")
    ).all()
    assert [(e.actor, e.details["sighting"], e.details["state"]) for e in asked] == [
        ("analyst", sighting_id, "deleted")
    ]
    assert len(deletions(session)) == 1

    # The same from the media page's sighting: the post is back, the check says so.
    site.deleted.clear()
    shown = client.get(f"/media/{media_id}").get_data(as_text=True)
    assert f"/sightings/{sighting_id}/check" in shown
    again = client.post(
        f"/sightings/{sighting_id}/check", data={"csrf_token": token(client)}, follow_redirects=True
    )
    assert "Checked now: live (answered 200)" in again.get_data(as_text=True)
    session.expire_all()
    fresh = session.get(Sighting, sighting_id)
    assert fresh is not None and fresh.check_state == "live"

    # And through the API: what was found, with the sighting's times.
    site.deleted.add("/post/deletable")
    answer = client.post(f"/api/v1/sightings/{sighting_id}/check", headers=keys["analyst"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["state"] == "deleted" and answer.json["status"] == 404
    assert answer.json["checked_at"] and answer.json["deleted_at"]
    # A sighting with no URL has nothing to check: a problem, not a 500.
    bare = upload(
        client,
        keys["analyst"],
        encode(pattern(seed=42), "PNG"),
        metadata={"sighting": {"platform": "x"}},
    )
    bare_id = session.scalar(
        sa.select(Sighting.id).where(Sighting.media_id == bare.json["media"]["id"])
    )
    nothing = client.post(f"/api/v1/sightings/{bare_id}/check", headers=keys["analyst"])
    assert nothing.status_code == 422 and "no URL" in nothing.get_data(as_text=True)
    assert nothing.content_type == "application/problem+json"
    assert client.post("/api/v1/sightings/999999/check", headers=keys["viewer"]).status_code == 403
    report = json.loads(app.test_cli_runner().invoke(args=["catalog", "verify", "--json"]).output)
    assert report["row_faults"] == [] and report["audit_faults"] == [], report
