"""Replaying the audit trail against the evidence rows (`catalog verify`): every change made
through the services replays clean, events of an older shape are replayed as their code wrote
them, and a sighting, an acknowledgement, a link's review, a user's role, a media's fields or a
capture's files edited, inserted or removed in their tables directly are each named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import (
    Acknowledgement,
    AckStatus,
    Capture,
    CaptureFile,
    CaptureStatus,
    Incident,
    LinkReview,
    Media,
    MediaLink,
    Party,
    Role,
    Sighting,
    Source,
    Tag,
    User,
    utcnow,
)
from catalog.services.collection import create_capture
from catalog.services.evidence import audit
from catalog.services.people import accounts
from catalog.services.records import AcknowledgementInput, SightingInput, catalogue, editing, named

from .api_tools import keys, upload
from .media import encode, pattern

__all__ = ["keys"]  # a fixture, used by name

METADATA = {
    "title": "Column of smoke",
    "incident": "Claimed strike",
    "tags": ["smoke", " dome "],
    "sighting": {
        "url": "https://t.me/channel/123",
        "platform": "telegram",
        "source": "Field Channel",
        "posted_at": "2023-05-03T02:30:00+03:00",
        "caption": "Smoke over the dome",
    },
    "acknowledgement": {
        "party": "Government of R",
        "status": "semi_official",
        "statement": "The drones were disabled",
        "source": "State TV",
        "stated_at": "2023-05-03T12:00:00+03:00",
    },
}


def rows(runner: FlaskCliRunner) -> tuple[int, dict]:
    result = runner.invoke(args=["catalog", "verify", "--json"])
    return result.exit_code, json.loads(result.output)


def catalogue_of_two(client: FlaskClient, keys: dict, session: Session) -> dict[str, int]:
    """A picture with every detail, and a copy of it linked to it; return their ids."""
    first = upload(client, keys["analyst"], encode(pattern(seed=5), "PNG"), metadata=METADATA)
    copy = upload(client, keys["analyst"], encode(pattern(seed=5), "JPEG", quality=70), "b.jpg")
    assert first.status_code == copy.status_code == 201
    media_id = first.json["media"]["id"]
    ids = {"media": media_id, "copy": copy.json["media"]["id"]}
    ids["sighting"] = session.scalar(sa.select(Sighting.id).where(Sighting.media_id == media_id))
    ids["ack"] = session.scalar(sa.select(Acknowledgement.id))
    ids["link"] = session.scalar(sa.select(MediaLink.id))
    assert None not in ids.values(), ids
    return ids


def test_every_change_made_through_the_services_replays_clean(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, keys: dict, session: Session
) -> None:
    ids = catalogue_of_two(client, keys, session)
    admin = accounts.get_user(session, "admin")
    # A repeated upload adds a sighting, a tag and a stance (``media.add_details``).
    again = {
        "tags": ["night"],
        "sighting": {"url": "https://x.com/a/status/9", "platform": "x"},
        "acknowledgement": {"party": "Ministry of Q", "status": "denied"},
    }
    repeated = upload(client, keys["analyst"], encode(pattern(seed=5), "PNG"), metadata=again)
    assert repeated.status_code == 200, repeated.get_data(as_text=True)
    later = datetime(2023, 5, 3, 9, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=3)))
    editing.update_media(
        session,
        ids["media"],
        {
            "title": "Column of smoke, Moscow",
            "verification": "verified",
            "claimed_captured_at": later.isoformat(),
            "claimed_place": "Moscow",
            "tags": ["smoke", "dome", "kremlin"],
        },
        admin,
    )
    editing.update_sighting(
        session, ids["sighting"], {"deleted_at": later.isoformat(), "caption": None}, admin
    )
    extra = editing.add_sighting(
        session, ids["copy"], SightingInput(url="https://e.example/1"), admin
    )
    editing.delete_sighting(session, extra.id, admin)
    incident = session.scalar(sa.select(Incident).where(Incident.title == "Claimed strike"))
    assert incident is not None
    stance = editing.add_acknowledgement(
        session,
        AcknowledgementInput("Ministry of Q", "unacknowledged"),
        admin,
        incident_id=incident.id,
    )
    editing.update_acknowledgement(
        session, ids["ack"], {"status": "official", "url": "https://gov.example/s"}, admin
    )
    editing.update_acknowledgement(session, stance.id, {"source": "Field Channel"}, admin)
    dropped = editing.add_acknowledgement(
        session, AcknowledgementInput("Ministry of Q", "denied"), admin, media_id=ids["copy"]
    )
    editing.delete_acknowledgement(session, dropped.id, admin)
    # Renames of what rows name, and a tag taken off everything.
    for model, name, values in (
        (Source, "Field Channel", {"name": "Field Channel (archived)"}),
        (Party, "Government of R", {"name": "Government of the R"}),
        (Incident, "Claimed strike", {"title": "Claimed drone strike"}),
        (Tag, "smoke", {"name": "smoke column"}),
    ):
        column = getattr(model, named.NAME_COLUMN[model])
        record = session.scalar(sa.select(model).where(column == name))
        named.update_named(session, model, record.id, values, admin)
    night = session.scalar(sa.select(Tag).where(Tag.name == "night"))
    named.delete_named(session, Tag, night.id, admin)
    catalogue.review_link(session, ids["link"], "rejected", admin, note="not the same")
    catalogue.review_link(session, ids["link"], "confirmed", admin)
    viewer = accounts.get_user(session, "viewer")
    accounts.update_user(session, viewer.id, {"role": "analyst"}, actor=admin)
    accounts.update_user(session, viewer.id, {"active": False}, actor=admin)
    create_capture(session, "https://example.org/post/1", incident=None, actor=admin)

    code, report = rows(runner)
    assert report["row_faults"] == [] and code == 0, report


def test_rows_edited_in_their_tables_are_each_named(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, keys: dict, session: Session
) -> None:
    ids = catalogue_of_two(client, keys, session)
    admin = accounts.get_user(session, "admin")
    catalogue.review_link(session, ids["link"], "rejected", admin)
    capture = create_capture(session, "https://example.org/post/2", incident=None, actor=admin)
    assert rows(runner)[0] == 0
    viewer = accounts.get_user(session, "viewer")
    forged_time = datetime(2023, 5, 3, 1, 0, tzinfo=UTC)
    # Someone with the database edits each kind of evidence row with SQL, no event written.
    for statement in (
        sa.update(Sighting).where(Sighting.id == ids["sighting"]).values(deleted_at=forged_time),
        sa.update(Acknowledgement)
        .where(Acknowledgement.id == ids["ack"])
        .values(status=AckStatus.DENIED),
        sa.update(MediaLink).where(MediaLink.id == ids["link"]).values(review=LinkReview.CONFIRMED),
        sa.update(User).where(User.id == viewer.id).values(role=Role.ADMIN),
        sa.update(Media).where(Media.id == ids["media"]).values(credit="Someone else"),
        sa.insert(Sighting).values(media_id=ids["copy"], url="https://planted.example/1"),
        sa.insert(CaptureFile).values(
            capture_id=capture.id, role="wacz", sha256="0" * 64, size_bytes=1, content_type="x"
        ),
    ):
        session.execute(statement)
    session.execute(sa.update(Capture).values(status=CaptureStatus.DONE))
    session.commit()
    planted = session.scalar(sa.select(sa.func.max(Sighting.id)))

    code, report = rows(runner)
    faults = report["row_faults"]
    assert code == 1 and report["audit_faults"] == [], report
    expected = [
        f"sighting #{ids['sighting']} (media #{ids['media']}): deleted_at is "
        "2023-05-03T01:00:00+00:00 in the table, but the audit trail says None",
        f"sighting #{planted} (media #{ids['copy']}): no audit event records it",
        f"acknowledgement #{ids['ack']} (media #{ids['media']}): status is 'denied' in the "
        "table, but the audit trail says 'semi_official'",
        f"link #{ids['link']} (media #{ids['copy']} to #{ids['media']}): review is 'confirmed' "
        "in the table, but the audit trail says 'rejected'",
        f"user #{viewer.id} (viewer): role is 'admin' in the table, but the audit trail says "
        "'viewer'",
        f"capture #{capture.id}: status is 'done' in the table, but the audit trail says "
        "'queued or running'",
        f"media #{ids['media']}: credit is 'Someone else' in the table, but the audit trail "
        "says None",
    ]
    for start in expected:
        assert sum(fault.startswith(start) for fault in faults) == 1, (start, faults)
    assert len(faults) == len(expected), faults

    # A row removed without its event is named too.
    session.execute(sa.delete(Acknowledgement).where(Acknowledgement.id == ids["ack"]))
    session.commit()
    faults = rows(runner)[1]["row_faults"]
    assert any(
        f.startswith(f"acknowledgement #{ids['ack']}: the audit trail records it (event ")
        and f.endswith("but the table has no such row (removed without an event)")
        for f in faults
    ), faults


def test_events_of_an_older_shape_are_replayed_as_their_code_wrote_them(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, keys: dict, session: Session
) -> None:
    ids = catalogue_of_two(client, keys, session)
    # The re-check's deletion before its event said the time set: the later of the check's
    # time and the posting time, which the replay works out.
    sighting = session.get(Sighting, ids["sighting"])
    assert sighting is not None and sighting.posted_at is not None
    checked = utcnow()
    sighting.deleted_at = max(checked, sighting.posted_at)
    sighting.checked_at, sighting.check_state = checked, "deleted"
    audit.record(
        session,
        None,
        "sighting.deleted",
        "media",
        sighting.media_id,
        {
            "sighting": sighting.id,
            "url": sighting.url,
            "status": 404,
            "evidence": "answered 404",
            "checked_at": checked.isoformat(),
        },
        actor_label="deletion watch",
    )
    session.commit()
    # A failed capture before its event named the files it kept (a partial archive).
    capture = create_capture(session, "https://example.org/post/3", incident=None, actor=None)
    capture.status = CaptureStatus.FAILED
    capture.files.append(CaptureFile(role="warc", sha256="1" * 64, size_bytes=1, content_type="x"))
    audit.record(
        session,
        None,
        "capture.failed",
        "capture",
        capture.id,
        {"url": capture.url, "reason": "gone", "attempts": 1},
    )
    session.commit()
    code, report = rows(runner)
    assert report["row_faults"] == [], report
    # The time worked out is compared all the same.
    session.execute(
        sa.update(Sighting)
        .where(Sighting.id == ids["sighting"])
        .values(deleted_at=checked + timedelta(days=1))
    )
    session.commit()
    [fault] = rows(runner)[1]["row_faults"]
    assert fault.startswith(f"sighting #{ids['sighting']} (media #{ids['media']}): deleted_at is ")
