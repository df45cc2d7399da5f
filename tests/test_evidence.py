"""Provenance an analyst can defend: clusters and their roll-up, metadata warnings, the
`verify` command catching altered, missing and orphaned files and an edited audit row, and
the reports (JSON, CSV, HTML) through the CLI, the pages and the API."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import (
    Acknowledgement,
    AckStatus,
    AuditEvent,
    Capture,
    CaptureFile,
    CaptureStatus,
    Incident,
    LinkKind,
    LinkReview,
    Media,
    MediaKind,
    MediaLink,
    Party,
    Sighting,
    Source,
    TimestampToken,
)
from catalog.services.evidence import clusters, link_confidence, summarise
from catalog.storage import get_storage

from .media import encode, pattern

UTC = UTC


def media(session: Session, n: int, **fields) -> Media:
    row = Media(
        sha256=f"{n:064x}",
        kind=MediaKind.IMAGE,
        mime_type="image/jpeg",
        size_bytes=1,
        extracted={"format": "JPEG", "exif": {"Make": "X"}},
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def link(
    session: Session,
    a: Media,
    b: Media,
    distance: float,
    algorithm: str = "pdq",
    kind: LinkKind = LinkKind.NEAR_DUPLICATE,
    review: LinkReview = LinkReview.PROPOSED,
) -> None:
    session.add(
        MediaLink(
            source_media_id=a.id,
            target_media_id=b.id,
            kind=kind,
            algorithm=algorithm,
            distance=distance,
            review=review,
        )
    )
    session.flush()


def ack(
    session: Session,
    target: Media | None,
    party: str,
    status: AckStatus,
    incident: Incident | None = None,
    **fields,
) -> None:
    found = session.scalar(sa.select(Party).where(Party.name == party)) or Party(name=party)
    session.add(
        Acknowledgement(party=found, media=target, incident=incident, status=status, **fields)
    )
    session.flush()


def test_clusters_follow_confident_and_confirmed_links_never_rejected(session: Session) -> None:
    a, b, c, d, e = (media(session, n) for n in range(1, 6))
    link(session, b, a, 10)  # confident copy
    link(session, c, b, 50)  # weak, but an analyst confirmed it
    session.execute(
        sa.update(MediaLink)
        .where(MediaLink.source_media_id == c.id)
        .values(review=LinkReview.CONFIRMED)
    )
    link(session, d, a, 40)  # weak and only proposed: left out
    link(session, e, a, 5, review=LinkReview.REJECTED)
    found = clusters(session, [a.id, d.id])
    assert set(found[a.id]) == {b.id, c.id}
    assert found[a.id][b.id] == "a copy (re-encode, resize or edit)"
    assert found[a.id][c.id].startswith("a copy (re-encode, resize or edit) of #")
    assert found[d.id] == {}
    assert (
        link_confidence("pdq", 31) > 0.45 > link_confidence("pdq", 40)
        and link_confidence("orb", 99) == 0.9
    )


def test_roll_up_names_the_member_acknowledged_and_the_first_sighting(session: Session) -> None:
    incident = Incident(title="Strike")
    session.add(incident)
    original = media(
        session, 1, title="Column of smoke", credit="Photographer / AFP", incident=incident
    )
    copy = media(session, 2, title="Repost")
    frame = media(session, 3, title="Still")
    # Confirmed: only confirmed links make the roll-up's statements.
    link(session, copy, original, 8, review=LinkReview.CONFIRMED)
    link(session, frame, original, 20, kind=LinkKind.FRAME_OF, review=LinkReview.CONFIRMED)
    tv = Source(name="State TV")
    session.add_all(
        [
            Sighting(
                media=original,
                url="https://t.me/c/2",
                source=tv,
                posted_at=datetime(2023, 5, 3, 1, 0, tzinfo=UTC),
            ),
            Sighting(
                media=copy,
                url="https://t.me/c/1",
                posted_at=datetime(2023, 5, 2, 23, 40, tzinfo=UTC),
                deleted_at=datetime(2023, 5, 2, 23, 50, tzinfo=UTC),
            ),
        ]
    )
    ack(
        session,
        original,
        "Government of R",
        AckStatus.SEMI_OFFICIAL,
        statement="shown on air",
        source=tv,
        stated_at=datetime(2023, 5, 3, 12, 0, tzinfo=UTC),
    )
    ack(session, copy, "Government of R", AckStatus.UNACKNOWLEDGED)
    ack(
        session,
        None,
        "Government of U",
        AckStatus.DENIED,
        incident=incident,
        statement="we did not attack",
    )
    summary = summarise(session, [frame.id])[frame.id]
    assert (
        summary.earliest_sighting["media_id"] == copy.id
        and summary.earliest_sighting["this_file"] is False
    )
    assert summary.earliest_sighting["deleted_at"] == "2023-05-02T23:50:00+00:00"
    [strongest] = summary.acknowledgements
    assert strongest["status"] == "semi_official" and strongest["media_id"] == original.id
    assert strongest["summary"] == (
        f"The video this is a frame of (#{original.id}, Column of smoke) was semi-officially"
        " acknowledged by Government of R via State TV on 2023-05-03."
    )
    assert summary.sources == ["State TV"] and summary.credits == ["Photographer / AFP"]
    assert [a["party"] for a in summary.incident_acknowledgements] == ["Government of U"]
    assert {m["media_id"] for m in summary.cluster} == {original.id, copy.id}
    own = summarise(session, [original.id])[original.id]
    assert own.acknowledgements[0]["this_file"] is True and own.acknowledgements[0][
        "summary"
    ].startswith("This file was semi-officially")


def proposed_pair(session: Session) -> tuple[Incident, Media, Media]:
    """Media A (an early sighting, a credit, a stance) proposed as a copy of B, of an incident."""
    incident = Incident(title="Strike")
    session.add(incident)
    a = media(session, 1, title="Early repost", credit="Someone / Telegram")
    b = media(session, 2, title="Column of smoke", credit="Photographer / AFP", incident=incident)
    link(session, a, b, 8)  # confident, but only proposed
    session.add_all(
        [
            Sighting(
                media=a, url="https://t.me/early/1", posted_at=datetime(2023, 5, 1, tzinfo=UTC)
            ),
            Sighting(
                media=b, url="https://x.example/b", posted_at=datetime(2023, 5, 3, tzinfo=UTC)
            ),
        ]
    )
    ack(session, a, "Government of R", AckStatus.OFFICIAL, statement="ours")
    session.flush()
    return incident, a, b


def test_proposed_links_do_not_rewrite_facts_until_confirmed(session: Session) -> None:
    from catalog.services import reports

    incident, a, b = proposed_pair(session)
    summary = summarise(session, [b.id])[b.id]
    assert summary.earliest_sighting["media_id"] == b.id
    assert summary.credits == ["Photographer / AFP"] and summary.acknowledgements == []
    [apart] = summary.unconfirmed
    the_link = session.scalar(sa.select(MediaLink))
    assert apart["media_id"] == a.id and apart["link_id"] == the_link.id
    assert apart["confidence"] == round(link_confidence("pdq", 8), 3)
    assert apart["earliest_sighting"]["url"] == "https://t.me/early/1"
    assert apart["credit"] == "Someone / Telegram"
    assert [s["party"] for s in apart["acknowledgements"]] == ["Government of R"]
    assert summary.cluster[0]["confirmed"] is False
    report = reports.incident_report(session, incident.id)
    [entry] = report.media
    assert entry["provenance"]["earliest_sighting"]["url"] == "https://x.example/b"
    assert entry["provenance"]["unconfirmed"] == []
    for text in (json.dumps(reports.as_json(report)), reports.as_csv(report)):
        assert "t.me/early" not in text and "Someone / Telegram" not in text
    asked = reports.incident_report(session, incident.id, proposed=True)
    assert asked.proposed and asked.media[0]["provenance"]["unconfirmed"][0]["media_id"] == a.id
    rows = list(csv.DictReader(io.StringIO(reports.as_csv(asked))))
    assert {r["section"] for r in rows if "t.me/early" in (r["url"] or "")} == {
        "unconfirmed_first_seen"
    }
    the_link.review = LinkReview.CONFIRMED
    session.flush()
    confirmed = summarise(session, [b.id])[b.id]
    assert confirmed.earliest_sighting["media_id"] == a.id and confirmed.unconfirmed == []
    assert confirmed.credits == ["Photographer / AFP", "Someone / Telegram"]
    assert [s["party"] for s in confirmed.acknowledgements] == ["Government of R"]
    entry = reports.incident_report(session, incident.id).media[0]
    assert entry["provenance"]["earliest_sighting"]["url"] == "https://t.me/early/1"


def test_a_member_beyond_a_proposed_link_is_unconfirmed_with_the_weakest_way(
    session: Session,
) -> None:
    a, b, c = (media(session, n) for n in range(1, 4))
    link(session, b, a, 20)  # proposed
    link(session, c, b, 0, review=LinkReview.CONFIRMED)  # confirmed, but beyond the proposed
    shaky: dict = {}
    found = clusters(session, [a.id], links=None, unconfirmed=shaky)
    assert set(found[a.id]) == {b.id, c.id}
    first = session.scalar(sa.select(MediaLink.id).where(MediaLink.source_media_id == b.id))
    assert (
        shaky[a.id][b.id]
        == shaky[a.id][c.id]
        == {
            "link_id": first,
            "confidence": round(link_confidence("pdq", 20), 3),
        }
    )
    shaky = {}
    clusters(session, [b.id], unconfirmed=shaky)
    assert set(shaky[b.id]) == {a.id}


def test_flags_for_stripped_metadata_and_impossible_times(session: Session) -> None:
    stripped = media(session, 1)
    stripped.extracted = {"format": "JPEG"}
    late = media(session, 2, claimed_captured_at=datetime(2023, 5, 4, tzinfo=UTC))
    late.extracted = {
        "format": "JPEG",
        "exif": {"Make": "X"},
        "exif_captured_at": "2023-05-03T09:00:00+03:00",
    }
    png = media(session, 3)
    png.extracted = {"format": "PNG"}
    session.add(
        Sighting(
            media=late, url="https://x.example/1", posted_at=datetime(2023, 5, 3, 1, 0, tzinfo=UTC)
        )
    )
    session.flush()
    found = summarise(session, [stripped.id, late.id, png.id])
    assert [f["code"] for f in found[stripped.id].flags] == ["metadata_stripped"]
    assert [f["code"] for f in found[late.id].flags] == [
        "captured_after_first_sighting",
        "claimed_after_first_sighting",
    ]
    assert found[png.id].flags == []


def ingest_two(runner: FlaskCliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(pattern(seed=1), "PNG"))
    (folder / "b.png").write_bytes(encode(pattern(seed=2), "PNG"))
    result = runner.invoke(args=["catalog", "import", str(folder), "--incident", "Strike"])
    assert result.exit_code == 0, result.output


def test_verify_catches_altered_missing_orphaned_files_and_an_edited_audit_row(
    app: Flask, runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    ingest_two(runner, tmp_path)
    clean = runner.invoke(args=["catalog", "verify"])
    assert clean.exit_code == 0 and "OK" in clean.output and "2 originals re-hashed" in clean.output
    storage = get_storage(app)
    first, second = session.scalars(sa.select(Media.sha256).order_by(Media.id)).all()

    path = storage.path_for(first)
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    second_path = storage.path_for(second)
    kept = second_path.read_bytes()
    second_path.unlink()
    orphan = storage.put_bytes(encode(pattern(seed=9), "PNG"))
    old = time.time() - 7200  # an hour on: younger, it may be an ingest not yet committed
    os.utime(storage.path_for(orphan.sha256), (old, old))
    event = session.scalar(sa.select(AuditEvent).order_by(AuditEvent.id).limit(1))
    session.execute(
        sa.update(AuditEvent).where(AuditEvent.id == event.id).values(action="media.tampered")
    )
    session.commit()

    found = runner.invoke(args=["catalog", "verify", "--json"])
    assert found.exit_code == 1
    report = json.loads(found.output)
    assert report["ok"] is False
    assert len(report["altered"]) == 1 and first in report["altered"][0]
    assert len(report["missing"]) == 1 and second in report["missing"][0]
    assert report["orphans"] == [f"original {orphan.sha256} has no record"]
    assert report["audit_faults"] and str(event.id) in " ".join(report["audit_faults"])
    text = runner.invoke(args=["catalog", "verify"])
    assert text.exit_code == 1 and "FAULTS FOUND" in text.output
    second_path.write_bytes(kept)  # leave storage as the rollback leaves the database


def test_export_writes_json_csv_and_html_for_an_incident(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    ingest_two(runner, tmp_path)
    incident = session.scalar(sa.select(Incident).where(Incident.title == "Strike"))
    out = tmp_path / "out"
    result = runner.invoke(args=["catalog", "export", "Strike", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / f"incident-{incident.id}.json").read_text())
    assert data["incident"]["title"] == "Strike" and len(data["media"]) == 2
    assert {
        "hashes",
        "sightings",
        "acknowledgements",
        "links",
        "provenance",
        "audit",
        "embedded",
    } <= set(data["media"][0])
    rows = list(csv.DictReader(io.StringIO((out / f"incident-{incident.id}.csv").read_text())))
    assert {r["section"] for r in rows} >= {"media", "hash", "audit"}
    html = (out / f"incident-{incident.id}.html").read_text()
    assert "Provenance report: Strike" in html and "<script" not in html
    missing = runner.invoke(args=["catalog", "export", "No such incident", "-o", str(out)])
    assert missing.exit_code == 2 and "no incident" in missing.output


def test_reports_through_pages_and_api(
    app: Flask, client, session: Session, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    from catalog.services.people import accounts

    from .test_web import PASSWORD, sign_in

    ingest_two(runner, tmp_path)
    accounts.create_user(session, "ana", PASSWORD, "analyst")
    _, key = accounts.create_api_key(session, "ana")
    media_id, other = session.scalars(sa.select(Media.id).order_by(Media.id)).all()
    incident_id = session.scalar(sa.select(Incident.id))
    session.add(
        MediaLink(
            source_media_id=other,
            target_media_id=media_id,
            kind=LinkKind.NEAR_DUPLICATE,
            algorithm="orb",
            distance=30.0,
        )
    )
    session.commit()
    sign_in(client, "ana")
    page = client.get(f"/media/{media_id}")
    assert b"data-cluster-report" in page.data
    with client.get(f"/media/{media_id}/report.html?scope=cluster") as html:
        assert html.status_code == 200 and b"and its 1 copy" in html.data
    with client.get(f"/media/{media_id}/report.csv") as as_csv:
        assert (
            as_csv.mimetype == "text/csv" and "attachment" in as_csv.headers["Content-Disposition"]
        )
    # Joined by a link the matcher proposed: apart in what may be published, one cluster for
    # the reader who asks for proposed links.
    with client.get(f"/incidents/{incident_id}/report.json") as as_json:
        assert sorted(as_json.json["clusters"]) == sorted([[media_id], [other]])
    with client.get(f"/incidents/{incident_id}/report.json?proposed=1") as as_json:
        assert as_json.json["clusters"] == [sorted([media_id, other])]
    assert b"data-confirmed-clusters" in client.get(f"/incidents/{incident_id}").data
    headers = {"Authorization": f"Bearer {key}"}
    api = client.get(f"/api/v1/media/{media_id}/report?scope=cluster", headers=headers)
    assert [m["id"] for m in api.json["media"]] == [media_id, other]
    assert (
        client.get(f"/api/v1/incidents/{incident_id}/report?format=csv", headers=headers).mimetype
        == "text/csv"
    )
    assert (
        client.get(f"/api/v1/media/{media_id}/report?format=pdf", headers=headers).status_code
        == 422
    )
    provenance = client.get(f"/api/v1/media/{other}/provenance", headers=headers).json
    assert (
        provenance["cluster"][0]["media_id"] == media_id
        and provenance["cluster"][0]["relation"] == "a crop or part of the same picture"
    )


def test_summaries_made_together_keep_their_own_sources(session: Session) -> None:
    first, second = media(session, 1), media(session, 2)
    ack(session, first, "Government of R", AckStatus.OFFICIAL, source=Source(name="State TV"))
    session.add(Sighting(media=second, url="https://x.example/2", source=Source(name="Wire")))
    session.flush()
    found = summarise(session, [first.id, second.id])
    assert found[first.id].sources == ["State TV"] and found[second.id].sources == ["Wire"]
    assert [a["party"] for a in found[second.id].acknowledgements] == []


def test_csv_cells_never_start_a_formula(app: Flask, session: Session) -> None:
    from catalog.services import reports
    from catalog.services.records import AcknowledgementInput, IngestDetails, SightingInput

    from .test_ingest_search import ingest

    hostile = {
        "party": '=HYPERLINK("http://127.0.0.1/x","click")',
        "source": "+cmd|' /C calc'!A0",
        "statement": "@SUM(1+1)*cmd",
        "title": "-2+3",
        "credit": "\t=1",
    }
    media = ingest(
        app,
        encode(pattern(seed=21), "PNG"),
        IngestDetails(
            title=hostile["title"],
            credit=hostile["credit"],
            sighting=SightingInput(url="https://t.me/c/1", source="\r=2+2"),
            acknowledgement=AcknowledgementInput(
                party=hostile["party"],
                status="denied",
                statement=hostile["statement"],
                source=hostile["source"],
            ),
        ),
    ).media
    made = reports.media_report(session, media.id, "media", 0.45)
    rows = list(csv.reader(io.StringIO(reports.as_csv(made))))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    # Kept whole behind the quote that makes them text.
    for value in (hostile["party"], hostile["source"], hostile["statement"]):
        assert "'" + value in cells, value
    assert any(cell.startswith("'\r=2+2") or cell == "'=2+2" for cell in cells)


def test_each_start_a_spreadsheet_reads_as_a_formula_is_quoted() -> None:
    # Written out, not read from FORMULA_STARTS: a start dropped from that tuple fails here.
    # A tab or carriage return is passed over by some spreadsheets, which then run what follows.
    from catalog.services.reports import neutralise

    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise(f"{start}SUM(1+1)") == f"'{start}SUM(1+1)", repr(start)
    assert neutralise("plain text") == "plain text" and neutralise(3) == 3


def test_unconfirmed_facts_apart_in_the_page_the_api_and_reports_only_when_asked(
    app: Flask, client, session: Session
) -> None:
    from catalog.services.people import accounts

    from .test_web import PASSWORD, sign_in

    incident, a, b = proposed_pair(session)
    accounts.create_user(session, "ana", PASSWORD, "analyst")
    _, key = accounts.create_api_key(session, "ana")
    session.commit()
    sign_in(client, "ana")
    page = client.get(f"/media/{b.id}").get_data(as_text=True)
    first_seen = page.split("data-first-seen", 1)[1].split("</p>", 1)[0]
    assert "t.me/early" not in first_seen and "data-unconfirmed" in page
    html = client.get(f"/incidents/{incident.id}/report.html").get_data(as_text=True)
    assert "t.me/early" not in html and "Someone / Telegram" not in html
    html = client.get(f"/incidents/{incident.id}/report.html?proposed=1").get_data(as_text=True)
    assert "data-unconfirmed" in html and "t.me/early" in html
    headers = {"Authorization": f"Bearer {key}"}
    api = client.get(f"/api/v1/media/{b.id}/provenance", headers=headers).json
    assert api["earliest_sighting"]["media_id"] == b.id and api["credits"] == ["Photographer / AFP"]
    assert api["unconfirmed"][0]["media_id"] == a.id
    report = client.get(f"/api/v1/incidents/{incident.id}/report", headers=headers).json
    assert report["proposed"] is False and report["media"][0]["provenance"]["unconfirmed"] == []
    report = client.get(
        f"/api/v1/incidents/{incident.id}/report?proposed=true", headers=headers
    ).json
    assert report["media"][0]["provenance"]["unconfirmed"][0]["link_id"] is not None


def test_export_shows_unconfirmed_facts_only_with_proposed(
    runner: FlaskCliRunner, session: Session, tmp_path: Path
) -> None:
    incident, a, _ = proposed_pair(session)
    session.commit()
    for flag, expected in (([], False), (["--proposed"], True)):
        out = tmp_path / str(expected)
        result = runner.invoke(
            args=["catalog", "export", str(incident.id), "-o", str(out), "--format", "json", *flag]
        )
        assert result.exit_code == 0, result.output
        text = (out / f"incident-{incident.id}.json").read_text()
        assert ("t.me/early" in text) is expected and json.loads(text)["proposed"] is expected


def captured_sighting(session: Session, target: Media, n: int) -> Capture:
    """A capture of a post with its archive and screenshot, stamped, and the sighting it made."""
    capture = Capture(url=f"https://t.me/post/{n}", status=CaptureStatus.DONE)
    session.add(capture)
    session.flush()
    session.add_all(
        [
            CaptureFile(
                capture_id=capture.id,
                role=role,
                sha256=f"{n}{role[0]}".ljust(64, "0"),
                size_bytes=10,
                content_type="application/octet-stream",
            )
            for role in ("wacz", "screenshot", "html")
        ]
        + [
            TimestampToken(
                subject="capture",
                subject_id=capture.id,
                statement="s",
                authority="https://tsa.example/",
                token=b"t",
                gen_time=datetime(2023, 5, 3, 4, 5, 6, 789, tzinfo=UTC),
                serial="1",
            ),
            Sighting(
                media=target,
                url=capture.url,
                capture_id=capture.id,
                posted_at=datetime(2023, 5, n, tzinfo=UTC),
            ),
        ]
    )
    session.flush()
    return capture


def test_captures_are_cited_in_the_roll_up_reports_page_and_api(
    app: Flask, client, session: Session
) -> None:
    from catalog.services import reports
    from catalog.services.people import accounts

    from .test_web import PASSWORD, sign_in

    incident = Incident(title="Strike")
    session.add(incident)
    target = media(session, 1, title="Smoke", incident=incident)
    first, second = captured_sighting(session, target, 1), captured_sighting(session, target, 2)
    accounts.create_user(session, "ana", PASSWORD, "analyst")
    _, key = accounts.create_api_key(session, "ana")
    session.commit()
    statements: list[str] = []

    def count(*args) -> None:
        statements.append(args[2])

    engine = session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        summary = summarise(session, [target.id])[target.id]
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    # One query for the files of every capture, one for their tokens: none per sighting.
    assert sum("capture_files" in s for s in statements) == 1
    assert sum("timestamp_tokens" in s for s in statements) == 1
    cited = summary.earliest_sighting["capture"]
    assert cited["id"] == first.id and cited["files"]["wacz"]["sha256"].startswith("1w")
    assert set(cited["files"]) == {"wacz", "screenshot"}
    assert cited["timestamps"] == [
        {"time": "2023-05-03T04:05:06+00:00", "authority": "https://tsa.example/"}
    ]
    assert set(summary.captures) == {first.id, second.id}
    report = reports.incident_report(session, incident.id)
    assert [s["capture"]["id"] for s in report.media[0]["sightings"]] == [first.id, second.id]
    rows = [r for r in csv.DictReader(io.StringIO(reports.as_csv(report)))]
    cites = [r for r in rows if r["section"] == "capture"]
    assert len(cites) == 2 and "wacz sha256 1w" in cites[0]["detail"]
    assert "timestamp 2023-05-03T04:05:06+00:00 by https://tsa.example/" in cites[0]["detail"]
    sign_in(client, "ana")
    html = client.get(f"/incidents/{incident.id}/report.html").get_data(as_text=True)
    assert f'data-capture="{first.id}"' in html and f"/captures/{second.id}" in html
    assert "2s".ljust(64, "0") in html
    page = client.get(f"/media/{target.id}").get_data(as_text=True)
    assert f'data-capture="{second.id}"' in page and "1w".ljust(64, "0") in page
    assert "data-first-capture" in page
    headers = {"Authorization": f"Bearer {key}"}
    api = client.get(f"/api/v1/media/{target.id}", headers=headers).json
    assert [s["capture"]["id"] for s in api["sightings"]] == [first.id, second.id]
    assert api["sightings"][1]["capture"]["files"]["screenshot"]["sha256"].startswith("2s")


def test_the_printable_report_leads_with_summary_and_timeline_in_the_readers_zone(
    app: Flask, client, session: Session
) -> None:
    from catalog.services import reports
    from catalog.services.people import accounts

    from .test_web import PASSWORD, sign_in

    incident = Incident(title="Strike")
    session.add(incident)
    target = media(session, 1, title="Smoke", incident=incident)
    capture = captured_sighting(session, target, 1)
    session.add(
        Sighting(
            media=target,
            url="https://x.example/2",
            posted_at=datetime(2023, 4, 30, 12, 0, 1, 5, tzinfo=UTC),
        )
    )
    accounts.create_user(session, "ana", PASSWORD, "analyst")
    session.commit()
    made = reports.incident_report(session, incident.id)
    assert [e["url"] for e in made.timeline][:2] == ["https://x.example/2", capture.url]
    assert made.timeline[0]["time"] == "2023-04-30T12:00:01+00:00"  # no microseconds
    assert "." not in reports.as_json(made)["generated_at"]
    sign_in(client, "ana")
    with client.get(f"/incidents/{incident.id}/report.html?tz=Europe/Kyiv") as answer:
        html = answer.get_data(as_text=True)
    assert html.index("data-summary") < html.index("data-timeline") < html.index("<h3>Sightings")
    assert html.index("<h3>Sightings") < html.index("data-appendix") < html.index("<h4>Hashes")
    # 12:00:01 UTC is 15:00:01 in Kyiv (summer time); whole seconds, no microseconds.
    assert "2023-04-30 12:00:01 UTC (2023-04-30 15:00:01 Europe/Kyiv)" in html
    assert f'src="/media/{target.id}/thumb.jpg"' in html
    assert f'src="/captures/{capture.id}/files/screenshot"' in html
    bad = client.get(f"/incidents/{incident.id}/report.html?tz=Mars/Olympus")
    assert bad.status_code in (400, 422) and "not a time zone" in bad.get_data(as_text=True)
    _, key = accounts.create_api_key(session, "ana")
    api = client.get(
        f"/api/v1/incidents/{incident.id}/report?format=html&tz=Nowhere",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert api.status_code == 422 and api.mimetype == "application/problem+json"


def pdf_text(data: bytes) -> bytes:
    """The PDF's streams inflated (its metadata and text sit in compressed streams)."""
    import re
    import zlib

    found = b""
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            found += zlib.decompress(stream.group(1))
        except zlib.error:
            continue
    return found


def test_the_dossier_is_a_pdf_made_offline_with_its_pictures_embedded(
    app: Flask, client, session: Session, runner: FlaskCliRunner, tmp_path: Path, monkeypatch
) -> None:
    from catalog.services import reports
    from catalog.services.people import accounts

    from .test_web import PASSWORD, sign_in

    ingest_two(runner, tmp_path)  # two stored pictures in the incident "Strike"
    incident_id = session.scalar(sa.select(Incident.id))
    accounts.create_user(session, "ana", PASSWORD, "viewer")
    session.commit()
    asked: list[str] = []
    made = reports.as_pdf

    def noting(page: str, wanted: list[str] | None = None) -> bytes:
        return made(page, asked)

    monkeypatch.setattr(reports, "as_pdf", noting)
    sign_in(client, "ana")
    answer = client.get(f"/incidents/{incident_id}/report.pdf?tz=Europe/Kyiv")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.data.startswith(b"%PDF") and len(answer.data) > 3000
    assert b"Provenance report: Strike" in pdf_text(answer.data)
    # The thumbnails came embedded; every URL WeasyPrint wanted was the page's own data:.
    assert sum(url.startswith("data:image/jpeg") for url in asked) == 2
    assert all(url.startswith("data:") for url in asked), asked
    # A URL to the web, or a file, in a page is refused, never fetched.
    from catalog.services.reports.pdf import offline_fetcher

    refused: list[str] = []
    fetcher = offline_fetcher(refused)
    for url in ("http://192.0.2.1/x.png", "file:///etc/passwd"):
        with pytest.raises(reports.RefusedURL):
            fetcher.fetch(url)
    assert refused == ["http://192.0.2.1/x.png", "file:///etc/passwd"]
    assert made('<p>x</p><img src="http://192.0.2.1/x.png">').startswith(b"%PDF")
    # WeasyPrint turns on Pillow's reading of truncated pictures when imported: put back, a
    # truncated upload after a dossier is still refused.
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
