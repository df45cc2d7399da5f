"""Trusted timestamps (RFC 3161) from a local authority (`openssl ts`): over each capture's
files and over the audit chain's head, checked by `catalog verify`, which then names a chain
cut short at its end or rewritten whole, as the chain's own hashes cannot; every token kept
in the store too and exported, so a chain replaced whole with its tokens is named as well."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.jobs import _stamp_head_due
from catalog.models import GENESIS_HASH, AuditEvent, Capture, CaptureFile, Incident, TimestampToken
from catalog.services.evidence import audit, head_due, stamp_capture
from catalog.services.records import named
from catalog.storage import AlreadyKept, get_storage
from catalog.tsa import load_roots, verify_token

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

    # Every file the capture kept is re-hashed: the screenshot, the page and the archive.
    store = get_storage(stamping)
    assert {f["role"] for f in line["files"]} == {"screenshot", "html", "wacz"}
    for file in line["files"]:
        path = store.path_for(file["sha256"])
        path.chmod(0o644)
        path.write_bytes(path.read_bytes() + b"\x00")
    code, report = verify(runner)
    assert code == 1 and len(report["altered"]) == 3, report
    for file in line["files"]:
        [altered] = [a for a in report["altered"] if file["sha256"] in a]
        assert altered.startswith(f"capture #{line['capture_id']} {file['role']}: stored bytes")
        path = store.path_for(file["sha256"])
        path.write_bytes(path.read_bytes()[:-1])
    assert verify(runner)[0] == 0

    # A capture whose recorded files were changed no longer matches its token.
    capture = session.get(Capture, line["capture_id"])
    assert capture is not None
    capture.url = "https://elsewhere.example/post"
    session.commit()
    code, report = verify(runner)
    assert code == 1 and "no longer holds the files" in report["timestamp_faults"][0]
    # And the row differs from the trail's record of the capture.
    [row] = report["row_faults"]
    assert row.startswith(f"capture #{line['capture_id']}: url is 'https://elsewhere.example")


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
        event.hash = audit.hash_of(event)
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
    [gap] = report["timestamp_gaps"]  # the stretch is named, for people to account for...
    assert "no token over the audit chain's head from" in gap and "removed" in gap
    # ...and, where a stopped worker would leave only the gap, the removed token's copy in the
    # store is what makes it a fault: every token left holds, the removed one is missing.
    [removed] = report["timestamp_faults"]
    assert "the store keeps a token over the audit chain's head at 5 events" in removed
    assert "that the database does not hold" in removed and code == 1
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
    faults = report["timestamp_faults"]
    [broken] = [f for f in faults if "the token does not hold" in f]
    assert code == 1 and broken.startswith(f"token {tokens[1].id} (")
    # The store's copy of the token as it was made names the change as well.
    assert any(f.startswith("the store keeps a token") for f in faults)


def forge_chain(session: Session, backdate: timedelta) -> None:
    """Rewrite every event from the first on, with fresh hashes and earlier times, as a forger
    able to write the database would: the chain's own hashes see nothing wrong."""
    prev = GENESIS_HASH
    for event in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)):
        if event.action == "incident.create" and event.details.get("title") == "Incident 1":
            event.details = {**event.details, "title": "Forged"}
        event.occurred_at = event.occurred_at - backdate
        event.prev_hash = prev
        event.hash = audit.hash_of(event)
        prev = event.hash
    session.commit()


def test_a_chain_replaced_whole_with_its_tokens_and_stamped_afresh_is_named(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    some_events(session, 3)
    assert verify(runner, "--timestamp")[0] == 0
    [kept] = list(get_storage(stamping).kept_names("timestamps"))
    # Someone with the database removes every token, rewrites the whole chain (backdated, as
    # if written long ago), and leaves the worker to stamp the forgery on its own.
    session.execute(sa.delete(TimestampToken))
    session.commit()
    forge_chain(session, timedelta(days=3))
    assert audit.verify_chain(session).ok
    assert head_due(session, 24)
    with stamping.app_context():
        assert _stamp_head_due() == 1  # the worker's job: at once, there being no token
    code, report = verify(runner)
    # The fresh token holds over the forgery; the copy the store kept of the first does not
    # match anything the database holds: that is the fault.
    assert code == 1 and report["audit_faults"] == []
    [fault] = report["timestamp_faults"]
    assert fault.startswith("the store keeps a token over the audit chain's head at 3 events")
    assert "that the database does not hold" in fault and "the copy holds" in fault
    assert kept.endswith(".json")
    # And the chain's earliest events were never covered by a token in time: a named gap.
    [gap] = report["timestamp_gaps"]
    assert gap.startswith("events 1-3 of the audit chain (from ")
    assert "never covered by a token within twice the schedule (48 h)" in gap


def test_tokens_are_kept_in_the_store_exported_and_checked_against_both(
    stamping: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    some_events(session, 2)
    assert verify(runner, "--timestamp")[0] == 0
    store = get_storage(stamping)
    [token] = session.scalars(sa.select(TimestampToken)).all()
    [name] = list(store.kept_names("timestamps"))
    copy = json.loads(store.read_kept(name) or b"")
    assert copy["statement"] == token.statement and copy["chain_count"] == 2
    assert name == f"timestamps/audit_head/{hashlib.sha256(token.token).hexdigest()}.json"

    # The export: a folder an operator can check with openssl, and one JSON file.
    folder, single = tmp_path / "tokens", tmp_path / "tokens.json"
    result = runner.invoke(args=["catalog", "timestamps", "export", str(folder)])
    assert result.exit_code == 0 and "wrote 1 tokens" in result.output, result.output
    [tsr] = list(folder.glob("*.tsr"))
    roots = load_roots(stamping.config["TIMESTAMP_ROOTS"])
    assert verify_token(tsr.read_bytes(), tsr.with_suffix(".txt").read_bytes(), roots)
    result = runner.invoke(args=["catalog", "timestamps", "export", str(single), "--json"])
    assert result.exit_code == 0 and json.loads(single.read_text())["tokens"][0] == copy
    for export in (folder, single):
        assert verify(runner, "--tokens", str(export))[0] == 0

    # Someone with the database and the store removes the token and its copy: only the
    # export kept elsewhere still shows it.
    columns = ("subject", "statement", "chain_count", "chain_head", "authority", "token")
    made = {c: getattr(token, c) for c in (*columns, "gen_time", "serial")}
    session.execute(sa.delete(TimestampToken))
    session.commit()
    kept = store.root / "kept" / name
    kept.unlink()
    assert verify(runner)[1]["timestamp_faults"] == []
    code, report = verify(runner, "--tokens", str(single))
    assert code == 1
    missing, uncopied = report["timestamp_faults"]
    assert missing.startswith("the exported token over the audit chain's head at 2 events")
    assert "is not in the database" in missing and "has no copy in the store" in uncopied

    # A token the database holds without its copy (made before copies were kept) is named
    # until `timestamps keep` writes it; a copy is never rewritten with other bytes.
    session.add(TimestampToken(**made))
    session.commit()
    code, report = verify(runner)
    assert code == 1 and "the store keeps no copy of it" in report["timestamp_faults"][0]
    result = runner.invoke(args=["catalog", "timestamps", "keep"])
    assert result.exit_code == 0 and "kept 1 copies" in result.output
    assert verify(runner, "--tokens", str(folder))[0] == 0
    with pytest.raises(AlreadyKept):
        store.keep(name, b"{}")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = runner.invoke(args=["catalog", "verify", "--tokens", str(bad)])
    assert result.exit_code != 0 and "not an export of timestamps" in result.output


def test_a_token_whose_copy_cannot_be_kept_is_not_recorded(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    some_events(session, 1)
    blocked = get_storage(stamping).root / "kept" / "timestamps"
    blocked.parent.mkdir(parents=True)
    blocked.write_bytes(b"")  # a file where the copies' folder goes
    result = runner.invoke(args=["catalog", "verify", "--timestamp"])
    assert result.exit_code != 0 and "its token could not be kept" in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(TimestampToken)) == 0


def test_a_capture_archive_swapped_and_stamped_afresh_is_named(
    stamping: Flask, runner: FlaskCliRunner, session: Session
) -> None:
    stamping.config["CAPTURE_BROWSER"] = False  # the archive is what is swapped
    with PostSite() as site:
        result = runner.invoke(args=["catalog", "capture", site.url("/post/image"), "--json"])
    line = json.loads(result.output.splitlines()[-1])
    assert line["status"] == "done", line
    assert verify(runner)[0] == 0
    # Someone with the database and the store puts another archive in place of the one kept,
    # removes the token over the capture and has the new files stamped afresh.
    store = get_storage(stamping)
    archive = session.scalar(
        sa.select(CaptureFile).where(CaptureFile.capture_id == line["capture_id"])
    )
    assert archive is not None and archive.role == "wacz"
    old = archive.sha256
    forged = store.put_bytes(b"PK another archive")
    archive.sha256, archive.size_bytes = forged.sha256, forged.size
    session.execute(sa.delete(TimestampToken))
    session.commit()
    store.discard(old)
    config = stamping.config
    stamped = stamp_capture(
        session,
        store,
        line["capture_id"],
        config["TIMESTAMP_AUTHORITIES"],
        roots=load_roots(config["TIMESTAMP_ROOTS"]),
    )
    assert len(stamped.made) == 1
    code, report = verify(runner)
    assert code == 1 and report["altered"] == report["missing"] == report["orphans"] == []
    [fault] = report["timestamp_faults"]  # the new token holds; the old one's copy is named
    assert fault.startswith(f"the store keeps a token over capture #{line['capture_id']} (")
    [row] = report["row_faults"]  # and the trail's record of the capture's files differs
    assert row.startswith(f"capture #{line['capture_id']}: files is {{'wacz': '{forged.sha256}'}}")
    assert f"the audit trail says {{'wacz': '{old}'}}" in row


def test_verify_says_plainly_when_no_authority_is_configured(
    app: Flask, runner: FlaskCliRunner, session: Session, authority: TimestampAuthority
) -> None:
    some_events(session, 2)
    app.config.update(TIMESTAMP_AUTHORITIES=[])
    plain = runner.invoke(args=["catalog", "verify"])
    assert plain.exit_code == 0, plain.output
    assert "no time-stamp authority configured: audit chain not stamped" in plain.output
    assert "0 timestamps checked" not in plain.output
    code, report = verify(runner)
    assert code == 0 and report["authorities_configured"] is False
    assert report["stamping"] == "no time-stamp authority configured: audit chain not stamped"
    # With an authority the count of tokens checked is the news, not the warning.
    app.config.update(
        TIMESTAMP_AUTHORITIES=[authority.url], TIMESTAMP_ROOTS=str(authority.roots_pem)
    )
    stamped = runner.invoke(args=["catalog", "verify", "--timestamp"])
    assert stamped.exit_code == 0 and "1 timestamps checked" in stamped.output, stamped.output
    assert "no time-stamp authority" not in stamped.output
    # Authorities removed later: the tokens made are still checked, and no new ones are made.
    app.config.update(TIMESTAMP_AUTHORITIES=[])
    later = runner.invoke(args=["catalog", "verify"])
    assert "no new tokens are made (1 earlier timestamps checked)" in later.output, later.output
