"""The worked example: `flask catalog demo` loads the claimed Kremlin drone strike of 3 May
2023 with stand-in media; an analyst uploads a re-encoded copy of the acknowledged clip and
sees on one page that it matches, who acknowledged the original and how, and where it was
first seen."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.models import Acknowledgement, Incident, Media, MediaLink

from .test_web import PASSWORD, page, sign_in, token, upload


def test_demo_loads_once_and_the_reposted_clip_shows_its_provenance(
    app: Flask, runner: FlaskCliRunner, session: Session, client, tmp_path: Path
) -> None:
    loaded = runner.invoke(args=["catalog", "demo", "--copy-to", str(tmp_path)])
    assert loaded.exit_code == 0, loaded.output
    again = runner.invoke(args=["catalog", "demo"])
    assert (
        again.exit_code == 0 and session.scalar(sa.select(sa.func.count()).select_from(Media)) == 7
    )
    titles = session.scalars(sa.select(Media.title).order_by(Media.id)).all()
    assert all("stand-in" in t for t in titles)
    # Four distinct pictures; the repost, the still and the voice note each linked to its own.
    short = {m.id: m.title.split(",")[0].split(" (")[0] for m in session.scalars(sa.select(Media))}
    linked = {
        frozenset({short[link.source_media_id], short[link.target_media_id]})
        for link in session.scalars(sa.select(MediaLink))
    }
    assert linked == {
        frozenset({"Column of smoke over the Senate dome", "Column of smoke"}),
        frozenset({"Still of the blast in the sky", "Blast in the sky above the Kremlin"}),
        frozenset({"Sound of the building burning", "Building burning"}),
    }, linked
    incident = session.scalar(sa.select(Incident))
    stances = {
        (a.party.name, a.status.value)
        for a in session.scalars(
            sa.select(Acknowledgement).where(Acknowledgement.incident_id == incident.id)
        )
    }
    assert stances == {
        ("Government of the Russian Federation", "claimed"),
        ("Government of Ukraine", "denied_involvement"),
    }
    by_clip = {
        a.media.title.split(" (")[0]: a.status.value
        for a in session.scalars(
            sa.select(Acknowledgement).where(Acknowledgement.media_id.is_not(None))
        )
    }
    assert by_clip == {
        "Column of smoke over the Senate dome": "semi_official",
        "Blast in the sky above the Kremlin": "unacknowledged",
        "Building burning": "unacknowledged",
    }
    assert (
        session.scalar(sa.select(Media.credit).where(Media.title.like("%No Drone Zone%")))
        == "Photographer / AFP via Getty Images"
    )

    from catalog.services.people import accounts

    accounts.create_user(session, "ana", PASSWORD, "analyst")
    sign_in(client, "ana")
    copy = (tmp_path / "column-of-smoke-reposted.mp4").read_bytes()
    response = upload(client, copy, "reposted.mp4")
    assert response.status_code == 302
    html = page(client, response.headers["Location"])
    assert "a copy (re-encode, resize or edit)" in html
    assert "Column of smoke over the Senate dome" in html
    # Only proposed by the matcher: the original's stance is shown apart, as unconfirmed.
    shaky = html.split("data-unconfirmed", 1)[1]
    assert "semi official by Government of the Russian Federation" in shaky
    assert "data-ack-summaries" not in html
    # The copy matches the original and the demo's captured repost of it: confirmed, both.
    for link in sorted(set(re.findall(r'action="/links/(\d+)/review"', html))):
        reviewed = client.post(
            f"/links/{link}/review", data={"csrf_token": token(client), "review": "confirmed"}
        )
        assert reviewed.status_code == 302
    html = page(client, response.headers["Location"])
    assert (
        "semi-officially acknowledged by Government of the Russian Federation via RT on 2023-05-03"
        in html
    )
    assert "electronic warfare" in html
    assert (
        "Moscow news Telegram channel" in html
        and "2023-05-03 11:05 UTC" in html
        and "deleted 2023-05-03 11:20 UTC" in html
    )
    assert "Government of Ukraine: denied involvement" in html


def test_export_of_the_demo_incident(runner: FlaskCliRunner, tmp_path: Path) -> None:
    assert runner.invoke(args=["catalog", "demo"]).exit_code == 0
    result = runner.invoke(
        args=[
            "catalog",
            "export",
            "Claimed drone strike on the Kremlin, 3 May 2023",
            "-o",
            str(tmp_path),
            "--format",
            "html",
        ]
    )
    assert result.exit_code == 0 and "7 media in 4 clusters" in result.output
    html = next(tmp_path.glob("incident-*.html")).read_text()
    assert "Kremlin press service" in html and "Government of Ukraine" in html


def test_the_incident_page_says_who_acknowledged_which_clip_and_tells_the_day_in_order(
    app: Flask, runner: FlaskCliRunner, session: Session, client
) -> None:
    import re

    from catalog.services.people import accounts

    assert runner.invoke(args=["catalog", "demo"]).exit_code == 0
    accounts.create_user(session, "vi", PASSWORD, "viewer")
    incident = session.scalar(sa.select(Incident))
    sign_in(client, "vi")
    html = page(client, f"/incidents/{incident.id}")
    clusters = re.findall(
        r"<div class=\"cluster mb-3\" data-cluster>.*?</div>\s*</div>\s*</div>", html, re.S
    )
    smoke = next(c for c in clusters if "Column of smoke" in c)
    acks = re.search(r"data-cluster-acks>(.*?)</div>", smoke, re.S).group(1)
    assert "Government of the Russian Federation: semi-official" in acks and "via RT" in acks
    first = re.search(r"data-cluster-first>(.*?)</div>", smoke, re.S).group(1)
    assert "2023-05-03 11:05 UTC" in first and "Moscow news Telegram channel" in first
    assert "data-deleted>deleted 2023-05-03 11:20 UTC" in first
    sign = next(c for c in clusters if "No Drone Zone" in c)
    assert "No party has acknowledged" in sign and "data-deleted" not in sign
    # The day in time order: the Kremlin's statement, the post, its deletion, the other clips,
    # the still and the voice note, RT airing the smoke clip, the repost, the wire photo,
    # Ukraine's denial (undated stances left out); last, the demo's capture of the repost,
    # made when the demo was loaded.
    timeline = re.search(r"<ol[^>]*data-timeline>(.*?)</ol>", html, re.S).group(1)
    kinds = re.findall(r'data-kind="(\w+)"', timeline)
    times = re.findall(r'<time datetime="([^"]+)">', timeline)
    assert times == sorted(times) and len(times) == len(kinds) == 12, (kinds, times)
    assert kinds[:3] == ["statement", "sighting", "deleted"]
    assert kinds[-2:] == ["statement", "capture"], kinds
    # The capture is cited as evidence: its archive and screenshot by SHA-256, and whether a
    # time-stamp authority stamped it; so is the sighting it made.
    last = timeline.rsplit("<li", 1)[1]
    assert re.search(r"wacz SHA-256 <span[^>]*>[0-9a-f]{64}<", last), last
    assert re.search(r"screenshot SHA-256 <span[^>]*>[0-9a-f]{64}<", last)
    assert "no trusted timestamp" in last
    assert timeline.count("data-cited-capture") == 2
    assert "Government of Ukraine: denied involvement" in timeline.rsplit("<li", 2)[1]
    assert "the incident as a whole" in timeline


def test_a_capture_of_a_clip_is_in_the_incident_timeline(
    runner: FlaskCliRunner, session: Session, client
) -> None:
    from datetime import UTC, datetime

    from catalog.models import Capture, CaptureMedia, CaptureStatus
    from catalog.services.records import incident_story

    assert runner.invoke(args=["catalog", "demo"]).exit_code == 0
    incident = session.scalar(sa.select(Incident))
    # The original clip, not the demo's captured repost of it (titled alike).
    smoke = session.scalar(sa.select(Media).where(Media.title.like("Column of smoke over%")))
    at = datetime(2023, 5, 3, 11, 10, tzinfo=UTC)  # between the post and its deletion
    capture = Capture(
        url="https://t.me/moscow_news_demo/10452", status=CaptureStatus.DONE, finished_at=at
    )
    session.add(capture)
    session.flush()
    session.add(CaptureMedia(capture_id=capture.id, media_id=smoke.id, url=capture.url))
    session.commit()
    media = session.scalars(sa.select(Media.id)).all()
    story = incident_story(session, incident.id, [[m] for m in media])
    kinds = [(e.kind, e.media_id) for e in story.timeline]
    assert kinds[1:4] == [("sighting", smoke.id), ("capture", smoke.id), ("deleted", smoke.id)]
    from catalog.services.people import accounts

    accounts.create_user(session, "vi", PASSWORD, "viewer")
    sign_in(client, "vi")
    shown = page(client, f"/incidents/{incident.id}")
    assert f'href="/captures/{capture.id}">https://t.me/moscow_news_demo/10452</a>' in shown


def test_the_demo_tells_the_whole_story_without_an_upload(
    runner: FlaskCliRunner, session: Session, app: Flask
) -> None:
    from catalog.models import (
        Capture,
        CaptureFile,
        CaptureMedia,
        CaptureStatus,
        LinkKind,
        LinkReview,
        Sighting,
    )
    from catalog.services.evidence import match_name

    loaded = runner.invoke(args=["catalog", "demo"])
    assert loaded.exit_code == 0, loaded.output
    by_title = {m.title.split(" (")[0]: m for m in session.scalars(sa.select(Media))}
    smoke = by_title["Column of smoke over the Senate dome"]
    repost = by_title["Column of smoke, reposted by a channel"]
    blast = by_title["Blast in the sky above the Kremlin"]
    still = by_title["Still of the blast in the sky, captioned"]
    burning = by_title["Building burning"]
    heard = by_title["Sound of the building burning, sent as a voice note"]
    links = session.scalars(sa.select(MediaLink)).all()

    def between(a: Media, b: Media) -> MediaLink:
        return next(
            link for link in links if {link.source_media_id, link.target_media_id} == {a.id, b.id}
        )

    # A match: the repost to its original, proposed (or confirmed) as the matcher leaves it.
    match = between(repost, smoke)
    assert match.review in (LinkReview.PROPOSED, LinkReview.CONFIRMED)
    assert match.kind in (LinkKind.NEAR_DUPLICATE, LinkKind.DERIVED_FROM)
    # The deleted first sighting, and an acknowledgement of the original.
    first = min(smoke.sightings, key=lambda s: s.posted_at)
    assert first.deleted_at is not None and "moscow_news_demo" in first.url
    assert (
        session.scalar(
            sa.select(Acknowledgement).where(Acknowledgement.media_id == smoke.id)
        ).status.value
        == "semi_official"
    )
    # A capture, done, with its screenshot and web archive in the store, and the sighting of
    # the repost citing it.
    capture = session.scalar(sa.select(Capture))
    assert capture.status is CaptureStatus.DONE and "demo_standin" in capture.url
    files = {f.role: f for f in session.scalars(sa.select(CaptureFile))}
    assert set(files) >= {"screenshot", "wacz"}, set(files)
    from catalog.capture.archive import read_records
    from catalog.storage import get_storage

    store = get_storage(app)
    assert all(store.exists(f.sha256) for f in files.values())

    with store.local_copy(files["wacz"].sha256) as path:
        records = read_records(path)
    assert ("response", capture.url, 200) in records
    cited = session.scalar(sa.select(Sighting).where(Sighting.capture_id == capture.id))
    assert cited is not None and cited.media_id == repost.id
    assert (
        session.scalar(
            sa.select(CaptureMedia.media_id).where(CaptureMedia.capture_id == capture.id)
        )
        == repost.id
    )
    # A still: a frame of the blast clip at its time.
    frame = between(still, blast)
    assert frame.kind is LinkKind.FRAME_OF and frame.source_media_id == still.id
    assert frame.frame_time_s is not None and abs(frame.frame_time_s - 3.0) <= 1.0
    # A sound excerpt: the voice note named an excerpt of the burning clip's soundtrack.
    sound = between(heard, burning)
    name = match_name(
        sound.kind.value,
        sound.algorithm,
        time=sound.frame_time_s,
        other=burning.id,
        this_kind=heard.kind.value,
        other_kind=burning.kind.value,
    )
    assert name.startswith(f"an excerpt of the soundtrack of #{burning.id}"), name
