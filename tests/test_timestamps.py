"""Trusted timestamps (RFC 3161) from a local authority (`openssl ts`): over each capture's
files and over the audit chain's head, checked by `catalog verify`, which then names a chain
cut short at its end or rewritten whole, as the chain's own hashes cannot."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import AuditEvent, Capture, Incident, TimestampToken
from catalog.services.evidence import audit, head_due
from catalog.services.records import named

from .postsite import PostSite
from .tsaserver import TimestampAuthority


@pytest.fixture
def authority() -> Iterator[TimestampAuthority]:
    with TimestampAuthority() as running:
        yield running


@pytest.fixture
def stamping(app: Flask, authority: TimestampAuthority) -> Flask:
    app.config.update(
        TIMESTAMP_AUTHORITIES=[authority.url],
        TIMESTAMP_ROOTS=str(authority.roots_pem),
        CAPTURE_ALLOWED_HOSTS=["127.0.0.1"],
    )
    return app


def verify(runner: FlaskCliRunner, *args: str) -> tuple[int, dict]:
    result = runner.invoke(args=["catalog", "verify", "--json", *args])
    return result.exit_code, json.loads(result.output[result.output.index("{") :])


def some_events(session: Session, count: int, first: int = 0) -> None:
    for n in range(first, first + count):
        named.create_named(session, Incident, {"title": f"Incident {n}"}, None)


def test_a_capture_is_stamped_and_verify_checks_the_token(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    with PostSite() as site:
        result = runner.invoke(args=["catalog", "capture", site.url("/post/image"), "--json"])
    line = json.loads(result.output.splitlines()[-1])
    assert line["status"] == "done"
    token = session.scalar(sa.select(TimestampToken).where(TimestampToken.subject == "capture"))
    assert token is not None and token.subject_id == line["capture_id"]
    for file in line["files"]:
        assert f"{file['role']}={file['sha256']}" in token.statement
    code, report = verify(runner)
    assert code == 0 and report["tokens_checked"] == 1 and report["timestamp_faults"] == []

    # A capture whose recorded files were changed no longer matches its token.
    capture = session.get(Capture, line["capture_id"])
    assert capture is not None
    capture.url = "https://elsewhere.example/post"
    session.commit()
    code, report = verify(runner)
    assert code == 1 and "no longer holds the files" in report["timestamp_faults"][0]


def test_verify_timestamp_anchors_the_head_and_names_a_shortened_chain(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    some_events(session, 4)
    assert head_due(session, 24)
    code, report = verify(runner, "--timestamp")
    assert code == 0 and report["tokens_checked"] == 1
    token = session.scalar(sa.select(TimestampToken))
    assert token is not None and token.subject == "audit_head"
    assert token.chain_count == session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert not head_due(session, 24)  # nothing new since

    # Remove the newest events: the chain still links up, but the token vouched for more.
    newest = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2))
    for event in list(newest):
        session.delete(event)
    session.commit()
    assert audit.verify_chain(session).ok  # the chain's own hashes see nothing wrong
    code, report = verify(runner)
    assert code == 1
    assert "fewer than the" in report["timestamp_faults"][0]


def test_a_chain_rewritten_with_fresh_hashes_is_named(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    some_events(session, 3)
    assert verify(runner, "--timestamp")[0] == 0
    # Rewrite one event's content and every hash from there on, as a forger with database
    # access would: the chain verifies, the token does not.
    events = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))
    events[1].details = {**events[1].details, "name": "Forged"}
    prev = events[0].hash
    for event in events[1:]:
        event.prev_hash = prev
        event.hash = audit.event_hash(
            prev_hash=prev,
            occurred_at=event.occurred_at,
            actor_id=event.actor_id,
            actor=event.actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            details=event.details,
        )
        prev = event.hash
    session.commit()
    assert audit.verify_chain(session).ok
    code, report = verify(runner)
    assert code == 1 and "rewritten" in report["timestamp_faults"][0]


def test_newest_events_removed_with_their_tokens_leave_a_gap_that_is_named(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    # The head is stamped every 2 s here (every day by default): a gap over 4 s is a fault.
    stamping.config["TIMESTAMP_HEAD_HOURS"] = 2 / 3600
    some_events(session, 3)
    assert verify(runner, "--timestamp")[0] == 0
    first = time.monotonic()
    time.sleep(1)
    some_events(session, 2, first=3)
    code, report = verify(runner, "--timestamp")
    assert code == 0 and report["timestamp_gaps"] == [], report  # an unbroken run
    # Someone with the database removes the newest events and the tokens over them: every
    # token left still holds...
    newest = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(2)))
    stamped = session.scalars(sa.select(TimestampToken).order_by(TimestampToken.id.desc()))
    for row in [*newest, next(iter(stamped))]:
        session.delete(row)
    session.commit()
    assert audit.verify_chain(session).ok
    # ...and a fresh token over the shortened chain holds too; but no authority dates one in
    # the past, so the run of tokens has a gap where the removed ones were.
    time.sleep(max(0.0, first + 5.5 - time.monotonic()))  # the authority dates to the second
    code, report = verify(runner, "--timestamp")
    assert report["timestamp_faults"] == []  # every token left holds...
    [gap] = report["timestamp_gaps"]  # ...but the stretch is named, for people to account for
    assert "no token over the audit chain's head from" in gap and "removed" in gap
    assert code == 0  # a stopped worker leaves the same gap: named, not a fault
    # Without authorities configured, no token is due; without roots, no time can be read.
    authorities = stamping.config["TIMESTAMP_AUTHORITIES"]
    stamping.config["TIMESTAMP_AUTHORITIES"] = []
    assert verify(runner)[1]["timestamp_gaps"] == []
    stamping.config.update(TIMESTAMP_AUTHORITIES=authorities, TIMESTAMP_ROOTS=None)
    assert verify(runner)[1]["timestamp_gaps"] == []


def test_tokens_from_an_untrusted_authority_do_not_hold(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    some_events(session, 1)
    assert verify(runner, "--timestamp")[0] == 0
    with TimestampAuthority("Other") as other:
        stamping.config["TIMESTAMP_ROOTS"] = str(other.roots_pem)
        code, report = verify(runner)
    assert code == 1 and "does not hold" in report["timestamp_faults"][0]


def test_an_authority_that_does_not_answer_is_said_plainly(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    some_events(session, 1)
    stamping.config["TIMESTAMP_AUTHORITIES"] = ["http://127.0.0.1:9/tsa"]
    result = runner.invoke(args=["catalog", "verify", "--timestamp"])
    assert result.exit_code != 0 and "no authority gave a token" in result.output
    # A token that would not hold against the configured roots is refused when it comes.
    with TimestampAuthority("Untrusted") as untrusted:
        stamping.config["TIMESTAMP_AUTHORITIES"] = [untrusted.url]
        result = runner.invoke(args=["catalog", "verify", "--timestamp"])
    assert result.exit_code != 0 and "does not hold" in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(TimestampToken)) == 0
    stamping.config["TIMESTAMP_AUTHORITIES"] = []
    result = runner.invoke(args=["catalog", "verify", "--timestamp"])
    assert result.exit_code != 0 and "no time-stamp authority is configured" in result.output


def test_every_authority_stamps_and_each_token_is_checked(
    stamping: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    some_events(session, 2)
    with TimestampAuthority("Second") as second:
        first_url = stamping.config["TIMESTAMP_AUTHORITIES"][0]
        roots = tmp_path / "roots.pem"
        roots.write_bytes(
            Path(stamping.config["TIMESTAMP_ROOTS"]).read_bytes() + second.roots_pem.read_bytes()
        )
        stamping.config.update(
            TIMESTAMP_AUTHORITIES=[first_url, second.url], TIMESTAMP_ROOTS=str(roots)
        )
        code, report = verify(runner, "--timestamp")
    assert code == 0 and report["tokens_checked"] == 2
    tokens = list(session.scalars(sa.select(TimestampToken).order_by(TimestampToken.id)))
    assert [t.authority for t in tokens] == [first_url, second.url]
    assert len({t.statement for t in tokens}) == 1  # the same head, vouched for twice
    # Each token is checked on its own: the damaged one is named, the other still holds.
    tokens[1].token = tokens[0].token[:-8] + bytes(8)
    session.commit()
    code, report = verify(runner)
    assert code == 1 and len(report["timestamp_faults"]) == 1
