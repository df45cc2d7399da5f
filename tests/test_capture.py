"""Capturing post pages: the address guard, what a post page says, and captures end to end
against a local stand-in for social-media sites, through headless Chromium (Playwright) and
the `catalog capture --json` contract."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from catalog import schema
from catalog.capture.archive import read_records
from catalog.capture.extractors import extract
from catalog.capture.gallery import ask_gallery_dl, instances_from_setting
from catalog.capture.page import read_page
from catalog.capture.posted import choose
from catalog.db import get_session, make_engine
from catalog.jobs import make_consumer
from catalog.models import AuditEvent, Capture, CaptureStatus, Media, Sighting, utcnow
from catalog.netguard import AddressPolicy, Limits, Refused, fetch
from catalog.services.collection import captures
from catalog.services.people import accounts
from catalog.storage import get_storage

from .api_tools import PASSWORD
from .postsite import DATED, POSTED, PostSite
from .redisserver import RedisServer

ROOT = Path(__file__).resolve().parent.parent

LOCAL = ["127.0.0.1"]


@pytest.fixture
def site() -> PostSite:
    with PostSite() as running:
        yield running


@pytest.fixture
def capturing(app: Flask) -> Flask:
    app.config.update(CAPTURE_ALLOWED_HOSTS=LOCAL, CAPTURE_TIMEOUT_SECONDS=15)
    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def capture(runner: FlaskCliRunner, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(args=["catalog", "capture", *args, "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


# -- the address guard ---------------------------------------------------------------------


def test_guard_refuses_internal_addresses_unless_allowed(site: PostSite) -> None:
    with pytest.raises(Refused) as refused:
        fetch(site.url("/post/image"), AddressPolicy())
    assert refused.value.code == "forbidden_address"
    for url in (
        "http://169.254.169.254/latest/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ):
        with pytest.raises(Refused) as refused:
            fetch(url, AddressPolicy(), Limits(timeout_s=2))
        assert refused.value.code == "forbidden_address", url
    answer = fetch(site.url("/post/image"), AddressPolicy(frozenset(LOCAL)))[-1]
    assert answer.status == 200 and b"og:image" in answer.body


def test_guard_checks_each_redirect_and_keeps_to_its_limits(site: PostSite) -> None:
    policy = AddressPolicy(frozenset(LOCAL))
    with pytest.raises(Refused) as refused:
        fetch(site.url("/to-private"), policy)
    assert refused.value.code == "forbidden_address"  # the redirect's target, not the first hop
    with pytest.raises(Refused) as refused:
        fetch(site.url("/huge"), policy, Limits(max_bytes=1_000_000))
    assert refused.value.code == "too_large"
    started = time.monotonic()
    with pytest.raises(Refused) as refused:
        fetch(site.url("/slow"), policy, Limits(timeout_s=1))
    assert refused.value.code == "timeout" and time.monotonic() - started < 10
    for bad in ("file:///etc/passwd", "ftp://example.org/", "http://u:p@example.org/", "x"):
        with pytest.raises(Refused) as refused:
            fetch(bad, policy)
        assert refused.value.code == "bad_url"


def test_credentials_go_to_their_own_origin_only(site: PostSite) -> None:
    policy = AddressPolicy(frozenset([*LOCAL, "localhost"]))
    secret = [("Authorization", "Bearer s3cret"), ("Cookie", "session=abc"), ("Accept", "*/*")]
    for path, kept in (("/bounce", False), ("/bounce-here", True)):
        answer = fetch(site.url(path), policy, Limits(timeout_s=10), headers=secret)[-1]
        sent = json.loads(answer.body)
        assert sent["accept"] == "*/*"
        assert ("authorization" in sent, "cookie" in sent) == (kept, kept), (path, sent)


def test_a_slow_drip_ends_at_the_deadline(site: PostSite) -> None:
    started = time.monotonic()
    with pytest.raises(Refused) as refused:
        fetch(site.url("/drip"), AddressPolicy(frozenset(LOCAL)), Limits(timeout_s=1))
    assert refused.value.code == "timeout" and time.monotonic() - started < 4


def test_every_answer_is_checked_and_embedded_addresses_are_unwrapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = ["169.254.169.254", "10.0.0.5"]
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *_a, **_k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 80)) for a in answers],
    )
    with pytest.raises(Refused):  # one allowed answer does not let the other through
        AddressPolicy(frozenset({"10.0.0.5"})).resolve("two.example", 80)
    answers[:] = ["10.0.0.5"]
    assert AddressPolicy(frozenset({"10.0.0.5"})).resolve("one.example", 80) == "10.0.0.5"
    for hidden in (
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "::127.0.0.1",
        "::ffff:0:7f00:1",
        "fec0::1",
        "100.64.0.1",
    ):
        answers[:] = [hidden]
        with pytest.raises(Refused):
            AddressPolicy().resolve("hidden.example", 80)
    answers[:] = ["2001:4860:4860::8888", "8.8.8.8"]
    assert AddressPolicy().resolve("public.example", 80) == "2001:4860:4860::8888"


def test_extractors_make_their_requests_through_the_guard(site: PostSite) -> None:
    policy = AddressPolicy(frozenset(LOCAL))

    def get(url: str, method: str, headers: list, body: bytes):  # noqa: ANN202
        return fetch(url, policy, Limits(timeout_s=10), method=method, headers=headers)[-1]

    found = extract(site.url("/post/video"), get, 10)
    assert found is not None and found.media_urls == (site.url("/media/clip.mp4"),)
    asked = len(site.requests)

    def refuse(url: str, *_args: object):  # noqa: ANN202
        raise Refused("forbidden_address", f"{url} refused")

    assert extract(site.url("/post/video"), refuse, 10) is None
    assert len(site.requests) == asked  # yt-dlp reached nothing on its own


def test_yt_dlp_never_hands_a_format_to_ffmpeg(
    site: PostSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ffmpeg fetches on its own, past the guard: a stand-in on the PATH notes every call.
    calls = tmp_path / "calls"
    for name in ("ffmpeg", "ffprobe", "avconv", "avprobe"):
        tool = tmp_path / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> {calls}\n')
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    policy = AddressPolicy(frozenset(LOCAL))

    def get(url: str, method: str, headers: list, body: bytes):  # noqa: ANN202
        return fetch(url, policy, Limits(timeout_s=10), method=method, headers=headers)[-1]

    for post in ("/post/video", "/post/stream"):
        extract(site.url(post), get, 10)
    assert not calls.exists(), calls.read_text()


def test_gallery_dl_reads_a_fediverse_post_through_the_guard(site: PostSite) -> None:
    policy = AddressPolicy(frozenset(LOCAL))
    instances = instances_from_setting(f"mastodon={site.url('')}")

    def get(url: str, method: str, headers: list, body: bytes):  # noqa: ANN202
        return fetch(url, policy, Limits(timeout_s=10), method=method, headers=headers)[-1]

    found = ask_gallery_dl(site.url("/@newsdesk/109300"), get, 10, instances)
    assert found is not None and found.extractor == "gallery-dl:mastodon"
    assert found.media_urls == (site.url("/system/media/a1.jpg"), site.url("/system/media/a2.jpg"))
    assert (found.account, found.platform) == ("newsdesk", "mastodon")
    assert found.posted_at == datetime.fromisoformat("2026-05-04T06:15:00+00:00")
    assert found.caption == "Two pictures from the #dome this morning"  # its markup removed
    assert site.requests == ["/api/v1/statuses/109300"]
    # A server nobody named is not read as one; nor is a page only the generic extractor knows.
    unnamed = f"http://localhost:{site.port}/@newsdesk/109300"
    assert ask_gallery_dl(unnamed, get, 10, instances) is None
    assert ask_gallery_dl(site.url("/post/image"), get, 10, instances) is None

    def refuse(url: str, *_args: object):  # noqa: ANN202
        raise Refused("forbidden_address", f"{url} refused")

    asked = list(site.requests)
    assert ask_gallery_dl(site.url("/@newsdesk/109300"), refuse, 10, instances) is None
    assert site.requests == asked  # gallery-dl reached nothing itself
    # A profile: only its newest post is taken, not every post's pictures under its name.
    profile = ask_gallery_dl(site.url("/@newsdesk"), get, 10, instances, "evidence-capture")
    assert profile is not None and len(profile.media_urls) == 2
    assert site.url("/media/g3.jpg") not in profile.media_urls
    assert site.agents["/api/v1/accounts/7/statuses"] == "evidence-capture"
    home = Path.home() / ".cache" / "gallery-dl"
    assert not (home / "cache.sqlite3").exists() or home.stat().st_mtime < time.time() - 60


def test_instances_setting_is_checked_when_the_app_starts() -> None:
    from catalog import create_app

    assert instances_from_setting("mastodon=https://a.example, misskey=https://b.example/x") == {
        "mastodon": {"a.example": {"root": "https://a.example"}},
        "misskey": {"b.example": {"root": "https://b.example"}},
    }
    for bad in ("https://a.example", "mastodon=ftp://a.example", "=https://a.example"):
        with pytest.raises(RuntimeError, match="CAPTURE_INSTANCES"):
            create_app({"TESTING": True, "CAPTURE_INSTANCES": bad})


def test_allowed_hosts_setting_takes_a_list_or_a_string() -> None:
    assert AddressPolicy.from_setting("127.0.0.1, Localhost").allowed_hosts == {
        "127.0.0.1",
        "localhost",
    }
    assert AddressPolicy.from_setting(["[::1]"]).allowed_hosts == {"::1"}
    assert AddressPolicy.from_setting(None).allowed_hosts == frozenset()


# -- reading a post page -------------------------------------------------------------------


def test_post_metadata_from_open_graph_and_schema_org(site: PostSite) -> None:
    image = read_page(
        fetch(site.url("/post/image"), AddressPolicy(frozenset(LOCAL)))[-1].body.decode(),
        site.url("/post/image"),
    )
    assert image.platform == "telegram"  # og:site_name, the host being unknown
    assert image.account == "@eyewitness"
    assert image.posted_at == datetime.fromisoformat(POSTED)
    assert image.caption == "Smoke over the dome, seen from the embankment"
    assert image.media_urls == [site.url("/media/photo.jpg")]  # the 32-px icon is not media

    video = read_page(
        '<script type="application/ld+json">{"@type": "SocialMediaPosting",'
        ' "author": {"name": "reporter"}, "datePublished": "2026-05-03T21:40:00Z",'
        ' "articleBody": "Footage"}</script><video src="/v.mp4"></video>',
        "https://t.me/channel/42",
    )
    assert (video.platform, video.account, video.caption) == ("telegram", "reporter", "Footage")
    assert video.media_urls == ["https://t.me/v.mp4"]
    broken = read_page(
        '<meta property="article:published_time" content="yesterday"><img src=',
        "https://x.com/a/status/1",
    )
    assert broken.posted_at is None and broken.platform == "x"


def test_the_posted_time_is_chosen_by_the_order_of_trust() -> None:
    def told(at: str, said_by: str, trust: str) -> dict[str, str]:
        return {"at": at, "from": said_by, "trust": trust}

    header = told("2026-06-06T10:00:00+00:00", "Last-Modified", "header")
    page = told("2026-04-30T08:05:00+00:00", "the page's article:published_time", "page")
    later = told("2026-05-01T00:00:00+00:00", "the page's <time datetime> element", "page")
    platform = told("2026-04-29T23:00:00+00:00", "the Youtube extractor", "platform")
    # A header about the file is never a posted time, however early it is told.
    assert choose([header]) == (None, None)
    assert choose([header, later, page]) == (
        datetime.fromisoformat(later["at"]),
        "the page's <time datetime> element",
    )
    # The platform's word before the page's, wherever it stands in the list.
    assert choose([header, page, platform])[1] == "the Youtube extractor"
    # One that cannot be read gives way to the next.
    assert choose([told("soon", "x", "platform"), page])[1] == page["from"]
    assert choose([told(page["at"], "who knows", "rumour")]) == (None, None)

    # The page's own declarations, each kept, in the documented order.
    read = read_page(
        '<script type="application/ld+json">{"@type": "NewsArticle",'
        ' "datePublished": "2026-04-30T08:05:00Z", "uploadDate": "2026-04-30T09:00:00Z"}'
        '</script><meta property="article:published_time" content="2026-04-30T08:06:00Z">'
        '<p>posted <time datetime="2026-04-30T08:07:00+02:00">today</time></p>',
        "https://news.example/a/1",
    )
    assert read.posted_from == "the page's schema.org datePublished"
    assert [(c["from"], c["at"], c["trust"]) for c in read.posted_candidates] == [
        ("the page's schema.org datePublished", "2026-04-30T08:05:00+00:00", "page"),
        ("the page's article:published_time", "2026-04-30T08:06:00+00:00", "page"),
        ("the page's schema.org uploadDate", "2026-04-30T09:00:00+00:00", "page"),
        ("the page's <time datetime> element", "2026-04-30T06:07:00+00:00", "page"),
    ]
    only_time = read_page('<time datetime="2026-04-30T08:07:00Z">x</time>', "https://a.example/")
    assert only_time.posted_from == "the page's <time datetime> element"


def test_candidate_posted_times_are_kept_in_bounds() -> None:
    from catalog.services.collection.post import clean_post

    notes: list[str] = []
    told = [
        {"at": "2026-04-30T08:05:00+00:00", "from": "the page's\x00 date", "trust": "page"},
        {"at": "2026-04-30T08:05:00", "from": "no zone", "trust": "page"},
        {"at": "2026-04-30T08:05:00Z", "from": "x" * 5000, "trust": "platform"},
        {"at": "2026-04-30T08:05:00+00:00", "from": "a rumour", "trust": "rumour"},
        "not a candidate",
        *[{"at": "2026-04-30T08:05:00+00:00", "from": "again", "trust": "header"}] * 30,
    ]
    kept = clean_post({"posted_candidates": told}, notes)["posted_candidates"]
    assert kept[0] == {
        "at": "2026-04-30T08:05:00+00:00",
        "from": "the page's date",
        "trust": "page",
    }
    assert len(kept[1]["from"]) == 200 and kept[1]["trust"] == "platform"
    assert len(kept) == 2 + 15  # the first twenty told, three of them left out
    assert any("no zone" in n for n in notes) and any("no known kind" in n for n in notes)
    assert any("15 more candidate posted times" in n for n in notes), notes
    assert clean_post({"posted_candidates": "2026"}, [])["posted_candidates"] == []


def test_a_post_s_own_time_wins_over_the_file_s_last_modified(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [line] = capture(runner, site.url("/post/dated"))
    assert line["status"] == "done" and [m["kind"] for m in line["media"]] == ["video"], line
    captured = session.get(Capture, line["capture_id"])
    assert captured is not None
    post = captured.post
    assert post["extractor"] in ("Generic", "HTML5MediaEmbed")  # it was asked, and answered
    assert (post["posted_at"], post["posted_from"]) == (
        DATED,
        "the page's article:published_time",
    )
    told = {c["from"]: (c["at"], c["trust"]) for c in post["posted_candidates"]}
    header = [k for k in told if "Last-Modified" in k]
    assert len(header) == 1 and told[header[0]] == ("2026-06-06T10:00:00+00:00", "header"), told
    assert told["the page's <time datetime> element"] == (DATED, "page")
    sighting = session.scalar(sa.select(Sighting).where(Sighting.capture_id == captured.id))
    assert sighting is not None and sighting.posted_at == datetime.fromisoformat(DATED)

    # The capture's page says who told the time, and lists the others; so does the sighting.
    from .test_web import sign_in

    accounts.create_user(session, "viewer", PASSWORD, "viewer")
    client = capturing.test_client()
    sign_in(client, "viewer")
    page = client.get(f"/captures/{captured.id}").get_data(as_text=True)
    assert "the page&#39;s article:published_time" in page
    assert 'id="capture-posted-candidates"' in page and "Last-Modified" in page
    assert "never taken as the posted time" in page
    shown = client.get(f"/media/{sighting.media_id}").get_data(as_text=True)
    assert "as the page&#39;s article:published_time claims it" in shown


# -- captures end to end -------------------------------------------------------------------


def test_capture_keeps_screenshot_page_archive_and_media_with_a_sighting(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    url = site.url("/post/image")
    [line] = capture(runner, url, "--incident", "Dome fire")
    assert line["url"] == url and line["status"] == "done", line
    files = {f["role"]: f["sha256"] for f in line["files"]}
    assert set(files) == {"wacz", "screenshot", "html"}
    storage = get_storage()
    for sha in files.values():
        assert storage.hash_file(sha) == sha  # content-addressed originals, like any other
    with storage.open(files["screenshot"]) as shot:
        assert shot.read(8) == b"\x89PNG\r\n\x1a\n"
    with zipfile.ZipFile(storage.path_for(files["wacz"])) as package:  # replayable as it is
        assert {"datapackage.json", "pages/pages.jsonl"} <= set(package.namelist())
    records = read_records(storage.path_for(files["wacz"]))
    assert ("response", url, 200) in records
    assert ("response", site.url("/media/photo.jpg"), 200) in records
    assert any(kind == "request" for kind, _, _ in records)

    [found] = line["media"]
    assert found["kind"] == "image" and found["created"] is True
    media = session.get(Media, found["media_id"])
    assert media is not None and media.sha256 == found["sha256"]
    assert media.incident is not None and media.incident.title == "Dome fire"
    sighting = session.scalar(sa.select(Sighting).where(Sighting.capture_id == line["capture_id"]))
    assert sighting is not None and sighting.media_id == media.id
    assert (sighting.url, sighting.platform, sighting.account) == (url, "telegram", "@eyewitness")
    assert sighting.posted_at == datetime.fromisoformat(POSTED)
    assert sighting.caption == "Smoke over the dome, seen from the embankment"
    captured = session.get(Capture, line["capture_id"])
    assert captured is not None and sighting.observed_at == captured.started_at
    actions = set(
        session.scalars(
            sa.select(AuditEvent.action).where(
                AuditEvent.object_type == "capture", AuditEvent.object_id == str(captured.id)
            )
        )
    )
    assert actions == {"capture.create", "capture.done"}

    [again] = capture(runner, url)  # posts change: a new capture, but no duplicate media
    assert again["capture_id"] != line["capture_id"] and again["status"] == "done"
    assert [(m["media_id"], m["created"]) for m in again["media"]] == [(media.id, False)]
    assert session.scalar(sa.select(sa.func.count()).select_from(Media)) == 1


def test_the_same_bytes_twice_in_a_post_are_one_media_and_one_sighting(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [line] = capture(runner, site.url("/post/twice"))
    assert line["status"] == "done" and len(line["media"]) == 1, line
    sightings = session.scalars(
        sa.select(Sighting).where(Sighting.capture_id == line["capture_id"])
    )
    assert len(list(sightings)) == 1


def test_a_capture_held_by_another_worker_is_left_alone(
    capturing: Flask, session: Session, site: PostSite
) -> None:
    made = captures.create_capture(session, site.url("/post/image"), incident=None, actor=None)
    made.status, made.attempts = CaptureStatus.RUNNING, 1
    made.lease_until = utcnow() + timedelta(minutes=5)  # another worker's, still running
    session.commit()
    from catalog.services.media import get_index, thresholds_from

    settings = captures.CaptureSettings.from_config(capturing.config)
    left = captures.run_capture(
        session, get_storage(), get_index(), made.id, settings, thresholds_from(capturing.config)
    )
    assert left.status is CaptureStatus.RUNNING and left.attempts == 1 and left.files == []


def test_capture_of_a_video_post_and_of_a_gallery(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    video, gallery = capture(runner, site.url("/post/video"), site.url("/post/gallery"))
    assert video["status"] == "done" and [m["kind"] for m in video["media"]] == ["video"]
    # yt-dlp's generic extractor read the page too, its requests archived with the rest.
    post = session.get(Capture, video["capture_id"]).post  # type: ignore[union-attr]
    assert post["extractor"] == "HTML5MediaEmbed"
    archive = {f["role"]: f["sha256"] for f in video["files"]}["wacz"]
    pages = [r for r in read_records(get_storage().path_for(archive)) if r[0] == "response"]
    assert sum(uri == site.url("/post/video") for _, uri, _ in pages) == 2
    sighting = session.scalar(sa.select(Sighting).where(Sighting.capture_id == video["capture_id"]))
    assert sighting is not None and sighting.account == "field_reporter"
    assert gallery["status"] == "done"
    assert [m["kind"] for m in gallery["media"]] == ["image"] * 3


def test_capture_of_a_fediverse_post_keeps_every_picture_gallery_dl_names(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    capturing.config["CAPTURE_INSTANCES"] = [f"mastodon={site.url('')}"]
    url = site.url("/@newsdesk/109300")
    [line] = capture(runner, url)
    assert line["status"] == "done", line
    assert [m["kind"] for m in line["media"]] == ["image", "image"]
    post = session.get(Capture, line["capture_id"]).post  # type: ignore[union-attr]
    assert "gallery-dl:mastodon" in post["extractor"]
    archive = {f["role"]: f["sha256"] for f in line["files"]}["wacz"]
    uris = {
        uri for kind, uri, _ in read_records(get_storage().path_for(archive)) if kind == "response"
    }
    assert site.url("/api/v1/statuses/109300") in uris  # the extractor's request, archived
    sightings = session.scalars(
        sa.select(Sighting).where(Sighting.capture_id == line["capture_id"])
    ).all()
    assert {(s.platform, s.account, s.caption) for s in sightings} == {
        ("mastodon", "newsdesk", "Two pictures from the #dome this morning")
    }
    assert {s.posted_at for s in sightings} == {datetime.fromisoformat("2026-05-04T06:15:00+00:00")}


def test_refused_and_failed_captures_say_why_and_keep_nothing_half_done(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    bad, private = capture(runner, "ftp://example.org/post", site.url("/to-private"))
    assert set(bad) == {"url", "error"}
    assert private["status"] == "failed" and "169.254.169.254" in private["error"]
    assert private["media"] == []

    site.deleted.add("/post/deletable")
    [gone] = capture(runner, site.url("/post/deletable"))
    assert gone["status"] == "failed" and "404" in gone["error"] and gone["media"] == []
    assert [f["role"] for f in gone["files"]] == ["wacz"]  # what was answered is evidence

    [sneaky] = capture(runner, site.url("/post/sneaky"))
    assert sneaky["status"] == "done" and sneaky["media"] == []
    notes = session.get(Capture, sneaky["capture_id"]).notes  # type: ignore[union-attr]
    assert any("10.1.2.3" in note for note in notes)
    assert any("169.254.169.254" in note for note in notes)

    [disguised] = capture(runner, site.url("/post/disguised"))
    assert disguised["status"] == "done" and disguised["media"] == []
    notes = session.get(Capture, disguised["capture_id"]).notes  # type: ignore[union-attr]
    assert any("fake.mp4" in note for note in notes)
    assert session.scalar(sa.select(sa.func.count()).select_from(Media)) == 0


def test_a_hostile_page_ends_the_capture_not_the_worker(
    capturing: Flask, runner: FlaskCliRunner, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_TIMEOUT_SECONDS=4, CAPTURE_ATTEMPTS=1)
    started = time.monotonic()
    [endless] = capture(runner, site.url("/post/endless"))
    # Done when the browser answered before the script took over; else stopped at its time,
    # with what was fetched before (the page, in its archive) kept as a partial capture.
    assert endless["status"] in ("done", "partial"), endless
    assert {f["role"] for f in endless["files"]} & {"warc", "wacz"}
    assert time.monotonic() - started < 60


def test_a_page_that_takes_memory_without_end_is_stopped_at_the_limit(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    # A plain post page takes about 550 MB with its browser (proportional set sizes).
    capturing.config.update(CAPTURE_MAX_MEMORY_MB=900, CAPTURE_ATTEMPTS=1)
    started = time.monotonic()
    [hungry] = capture(runner, site.url("/post/hungry"))
    # Stopped at its limit: what it had fetched is kept, as a partial capture.
    assert hungry["status"] in ("partial", "failed"), hungry
    assert "more than the capture's limit" in hungry["error"]
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 15  # nothing left running (a crash reporter ends on its own)
    while left := capture_processes():
        assert time.monotonic() < deadline, [Path(f"/proc/{p}/comm").read_text() for p in left]
        time.sleep(0.2)
    [plain] = capture(runner, site.url("/post/image"))  # under the same limit, a plain page
    assert plain["status"] == "done", plain


def test_the_screenshot_and_rendered_page_count_against_the_size_limit(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_MAX_MB=1)  # the page is 1 KB; its screenshot 8 MB or so
    [noisy] = capture(runner, site.url("/post/noisy"))
    assert noisy["status"] == "done", noisy
    assert {f["role"] for f in noisy["files"]} == {"wacz", "html"}
    notes = session.get(Capture, noisy["capture_id"]).notes  # type: ignore[union-attr]
    assert any(n.startswith("screenshot missing:") and "size limit" in n for n in notes), notes


def capture_processes() -> list[int]:
    """Chromium and capture processes still running on this machine."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = stat.read_bytes()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid != os.getpid() and (
            b"catalog.capture.browser" in command or b"playwright_chromiumdev_profile" in command
        ):
            found.append(pid)
    return found


def test_a_capture_stopped_for_overrunning_keeps_what_it_fetched(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_TIMEOUT_SECONDS=3, CAPTURE_ATTEMPTS=1)
    [spun] = capture(runner, site.url("/post/spins"))
    if spun["status"] == "done":  # the browser answered before the script took over
        return
    # Ended by its time, it keeps the archive of what it fetched, as a partial capture.
    assert spun["status"] == "partial", spun
    [kept] = spun["files"]
    assert kept["role"] in ("warc", "wacz")
    if kept["role"] == "warc":
        records = read_records(get_storage().path_for(kept["sha256"]))
        assert ("response", site.url("/post/spins"), 200) in records


def test_without_a_browser_the_archive_and_media_are_kept(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_BROWSER=False)
    [line] = capture(runner, site.url("/post/image"))
    assert line["status"] == "done" and [f["role"] for f in line["files"]] == ["wacz"]
    assert len(line["media"]) == 1
    notes = session.get(Capture, line["capture_id"]).notes  # type: ignore[union-attr]
    assert any(note.startswith("screenshot missing") for note in notes)


# -- background jobs -----------------------------------------------------------------------


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_api_capture_runs_as_a_job_and_an_abandoned_one_is_finished(
    queue: str,
    fresh_database_url: str,
    app_factory: Callable[..., Flask],
    tmp_path: Path,
    site: PostSite,
) -> None:
    # A Redis that asks for a password, as a deployment's does (docs/deploy.md).
    redis = RedisServer(password="capture-queue-secret").start() if queue == "redis" else None
    worker = None
    log = (tmp_path / "worker.log").open("wb")
    try:
        queue_url = redis.queue_url if redis else f"sqlite:///{tmp_path / 'queue.db'}"
        engine = make_engine(fresh_database_url)
        schema.upgrade(engine)
        engine.dispose()  # its connection would linger until collected
        app = app_factory(fresh_database_url, QUEUE_URL=queue_url, CAPTURE_ALLOWED_HOSTS=LOCAL)
        with app.app_context():
            accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
            _, secret = accounts.create_api_key(get_session(), "ana")
            # As a worker killed mid-capture leaves it: running, long ago, no job queued.
            abandoned = captures.create_capture(
                get_session(), site.url("/post/gallery"), incident=None, actor=None
            )
            abandoned.status, abandoned.attempts = CaptureStatus.RUNNING, 1
            abandoned.started_at = utcnow() - timedelta(hours=2)
            get_session().commit()
            abandoned_id = abandoned.id
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        asked = client.post(
            "/api/v1/captures",
            json={"url": site.url("/post/image"), "incident": "Dome fire"},
            headers=headers,
        )
        assert asked.status_code == 202, asked.json
        assert asked.json["status"] == "queued" and asked.json["media"] == []
        location = asked.headers["Location"]
        assert (
            client.post(
                "/api/v1/captures", json={"url": "file:///etc/passwd"}, headers=headers
            ).status_code
            == 422
        )

        env = {
            **os.environ,
            "CATALOG_DATABASE_URL": fresh_database_url,
            "CATALOG_MEDIA_ROOT": app.config["MEDIA_ROOT"],
            "CATALOG_INDEX_DIR": app.config["INDEX_DIR"],
            "CATALOG_QUEUE_URL": queue_url,
            "CATALOG_CAPTURE_ALLOWED_HOSTS": json.dumps(LOCAL),
            "CATALOG_SECRET_KEY": "worker-test",
            "CATALOG_INSTANCE_PATH": str(tmp_path / "instance"),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", "worker", "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        deadline = time.monotonic() + 120
        seen: set[str] = set()
        while True:
            done = client.get(location, headers=headers).json
            again = client.get(f"/api/v1/captures/{abandoned_id}", headers=headers).json
            seen.add(done["status"])
            if {done["status"], again["status"]} <= {"done", "failed"}:
                break
            assert time.monotonic() < deadline, (
                done["status"],
                done["progress"],
                again["status"],
                again["progress"],
                (tmp_path / "worker.log").read_text()[-3000:],
            )
            time.sleep(0.3)
        assert done["status"] == "done", done
        assert {f["role"] for f in done["files"]} == {"wacz", "screenshot", "html"}
        assert len(done["media"]) == 1 and done["incident"] == "Dome fire"
        assert again["status"] == "done" and again["attempts"] == 2 and len(again["media"]) == 3
        listed = client.get("/api/v1/captures?status=done", headers=headers).json
        assert [c["id"] for c in listed] == sorted((done["id"], abandoned_id), reverse=True)
        assert client.get("/api/v1/captures?status=nonsense", headers=headers).status_code == 422
        with app.app_context():
            assert get_session().scalar(sa.select(sa.func.count()).select_from(Media)) == 4
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        log.close()
        if redis is not None:
            redis.stop()


def test_recheck_marks_deleted_posts_and_never_an_unreachable_one(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [line] = capture(runner, site.url("/post/watched"), "--incident", "Watch")
    assert line["status"] == "done"
    media_id = line["media"][0]["media_id"]
    closed = free_port()  # nothing listens there
    unreachable = Sighting(media_id=media_id, url=f"http://127.0.0.1:{closed}/post/9")
    session.add(unreachable)
    session.commit()

    result = runner.invoke(args=["catalog", "recheck", "--incident", "Watch", "--json"])
    assert result.exit_code == 0, result.output
    states = {
        json.loads(x)["sighting_id"]: json.loads(x)["state"] for x in result.output.splitlines()
    }
    captured = session.scalar(sa.select(Sighting).where(Sighting.capture_id == line["capture_id"]))
    assert captured is not None
    assert states == {captured.id: "live", unreachable.id: "unreachable"}

    site.deleted.add("/post/watched")
    result = runner.invoke(args=["catalog", "recheck", "--incident", "Watch", "--json"])
    states = {
        json.loads(x)["sighting_id"]: json.loads(x)["state"] for x in result.output.splitlines()
    }
    assert states == {captured.id: "deleted", unreachable.id: "unreachable"}
    session.expire_all()
    assert captured.deleted_at is not None and captured.check_state == "deleted"
    assert unreachable.deleted_at is None and unreachable.check_state == "unreachable"
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sighting.deleted"))
    assert event is not None and event.details["status"] == 404
    assert event.details["sighting"] == captured.id

    # Deleted once: a later check keeps the first time it was found gone.
    first = captured.deleted_at
    runner.invoke(args=["catalog", "recheck", "--json"])
    session.expire_all()
    assert captured.deleted_at == first
    assert runner.invoke(args=["catalog", "recheck", "--incident", "Nope"]).exit_code != 0


@pytest.mark.parametrize("scheduler", [True, False])
def test_only_a_worker_with_the_scheduler_queues_the_periodic_jobs(
    app: Flask, scheduler: bool
) -> None:
    # A deployment runs one worker with the scheduler and the others with --no-scheduler, so
    # the deletion re-check and the head's timestamp are queued once, not once per worker.
    consumer = make_consumer(app, 1, scheduler=scheduler)
    assert consumer.periodic is scheduler
    assert consumer.scheduler is not None and len(consumer.worker_threads) == 1
