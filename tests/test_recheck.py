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
