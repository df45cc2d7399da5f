"""The capture process as a hostile page meets it: run as an unprivileged user of its own with
an environment that holds no secret and Chromium's sandbox on; refused (with the reason, also
in /readyz) where that cannot be had; a page that may only read, on web ports, without CORS
grants it was not given; files copied out only by their own names; text that cannot fail a
capture; an unforeseen error that leaves no capture "running"; slow pictures that leave a
partial capture instead of nothing."""

from __future__ import annotations

import os
import pwd
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from catalog.capture import _collect, family
from catalog.capture.browser import Job, _page_may_not, answer_headers
from catalog.capture.sandbox import DEFAULT_USER
from catalog.models import Capture, CaptureStatus

from .api_tools import assert_problem, keys
from .postsite import PostSite
from .test_capture import LOCAL, capture
from .test_web import PASSWORD, sign_in

__all__ = ["keys"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the capture user is made by root")


@pytest.fixture
def site() -> PostSite:
    with PostSite() as running:
        yield running


@pytest.fixture
def capturing(app: Flask) -> Flask:
    app.config.update(CAPTURE_ALLOWED_HOSTS=[*LOCAL, "localhost"], CAPTURE_TIMEOUT_SECONDS=15)
    return app


@pytest.fixture
def reader(capturing: Flask) -> FlaskClient:
    from catalog.db import get_session
    from catalog.services.people import accounts

    with capturing.app_context():
        accounts.create_user(get_session(), "reader", PASSWORD, "viewer")
    client = capturing.test_client()
    sign_in(client, "reader")
    return client


def capture_processes() -> list[int]:
    """Every running capture process of this test run (python -m catalog.capture.browser)."""
    found = []
    for pid in family(os.getpid()):
        try:
            if b"catalog.capture.browser\x00{" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def test_the_capture_runs_as_its_own_user_without_secrets_and_with_chromium_sandboxed(
    capturing: Flask, runner: FlaskCliRunner, site: PostSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret-never-shared")
    monkeypatch.setenv("CATALOG_SECRET_KEY", "another-worker-secret")
    seen: dict[str, Any] = {}

    def spy() -> None:  # looks at the capture's processes while the capture runs
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "env" not in seen:
            for pid in capture_processes():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    seen["uid"] = int(status.split("Uid:")[1].split()[1])
                    seen["env"] = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
            time.sleep(0.05)

    def chromium_flags() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "chromium" not in seen:
            for pid in family(os.getpid()):
                try:
                    line = Path(f"/proc/{pid}/cmdline").read_bytes()
                    if b"chromium" in line.split(b"\x00")[0] and b"--type=renderer" in line:
                        seen["renderer_ns"] = os.readlink(f"/proc/{pid}/ns/user")
                        seen["chromium"] = line
                except OSError:
                    continue
            time.sleep(0.05)

    watchers = [threading.Thread(target=spy), threading.Thread(target=chromium_flags)]
    for watcher in watchers:
        watcher.start()
    [done] = capture(runner, site.url("/post/image"))
    for watcher in watchers:
        watcher.join()
    assert done["status"] == "done", done
    assert seen["uid"] == pwd.getpwnam(DEFAULT_USER).pw_uid != 0
    assert b"worker-secret" not in seen["env"] and b"SECRET" not in seen["env"]
    assert b"--no-sandbox" not in seen["chromium"]
    assert seen["renderer_ns"] != os.readlink("/proc/self/ns/user")  # a sandbox of its own


def test_captures_are_refused_with_the_reason_where_they_cannot_be_sandboxed(
    capturing: Flask, runner: FlaskCliRunner, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_USER="no-such-capture-user", CAPTURE_ATTEMPTS=1)
    [refused] = capture(runner, site.url("/post/image"))
    assert refused["status"] == "failed" and not refused["media"], refused
    assert "captures are refused" in refused["error"] and "no-such-capture-user" in refused["error"]
    ready = capturing.test_client().get("/readyz")
    assert ready.status_code == 503 and "no-such-capture-user" in ready.get_json()["capture"]


def test_without_the_sandbox_only_when_the_operator_says_so_and_it_is_noted(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_UNSAFE_NO_SANDBOX=True)
    [done] = capture(runner, site.url("/post/image"))
    assert done["status"] == "done", done
    notes = session.get(Capture, done["capture_id"]).notes  # type: ignore[union-attr]
    assert any("without Chromium's sandbox" in n for n in notes), notes
    assert capturing.test_client().get("/readyz").get_json()["capture"] == "unsandboxed"


def test_a_page_may_read_but_not_what_another_origin_did_not_grant_nor_send(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [done] = capture(runner, site.url("/post/reader"))
    assert done["status"] == "done", done
    kept = session.get(Capture, done["capture_id"])
    assert kept is not None
    html = _file(capturing, kept, "html")  # the page as rendered, as the capture kept it
    assert "<title>blocked</title>" in html and "tell-no-page" not in html
    assert any(n.startswith("refused: POST") for n in kept.notes or []), kept.notes
    assert not any(r.startswith("/echo") for r in site.requests)  # the POST never left


def _file(app: Flask, capture_row: Capture, role: str) -> str:
    from catalog.storage import get_storage

    kept = next(f for f in capture_row.files if f.role == role)
    with app.app_context(), get_storage().open(kept.sha256) as stream:
        return stream.read().decode("utf-8", "replace")


def test_page_requests_are_reads_on_web_ports_or_the_captured_address() -> None:
    job = Job("http://news.example:8080/post/1", "/x", ["archive.internal"], 1, 1.0, None)
    assert _page_may_not("GET", "https://cdn.example/a.jpg", job) is None
    assert _page_may_not("HEAD", "http://cdn.example/a.jpg", job) is None
    assert _page_may_not("GET", "http://news.example:8080/api", job) is None  # its own
    assert _page_may_not("GET", "http://archive.internal:9000/x", job) is None  # allowed
    assert "port 6379" in (_page_may_not("GET", "http://cdn.example:6379/", job) or "")
    assert "port 8080" in (_page_may_not("GET", "http://other.example:8080/", job) or "")
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
        assert "only read" in (_page_may_not(method, "https://cdn.example/", job) or "")
    # A grant is never invented; one the site gave is kept; same-origin needs none.
    page = "https://news.example"
    refused = answer_headers([("Content-Type", "text/plain")], page, "https://api.example/x")
    assert refused["access-control-allow-origin"] != page
    granted = answer_headers([("Access-Control-Allow-Origin", "*")], page, "https://api.example/x")
    assert granted["access-control-allow-origin"] == "*"
    same = answer_headers([], page, "https://news.example/x")
    assert "access-control-allow-origin" not in same


def test_files_are_copied_out_only_by_their_own_names_and_never_through_links(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    (source / "media-0").write_bytes(b"a picture")
    (source / "media-1").symlink_to("/etc/passwd")
    (source / "screenshot.png").symlink_to(source / "media-0")
    (tmp_path / "outside").write_bytes(b"secret")
    result = {
        "files": [{"role": "screenshot", "file": "screenshot.png"}],
        "media": [
            {"url": "u0", "file": "media-0"},
            {"url": "u1", "file": "media-1"},
            {"url": "u2", "file": "../outside"},
            {"url": "u3", "file": "/etc/passwd"},
        ],
        "notes": [],
    }
    kept = _collect(source, target, result)
    assert [m["file"] for m in kept["media"]] == ["media-0"] and kept["files"] == []
    assert sorted(p.name for p in target.iterdir()) == ["media-0"]
    assert sum("refused" in n for n in kept["notes"]) == 4


def test_stray_characters_and_long_text_cost_a_note_never_the_capture(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    [done] = capture(runner, site.url("/post/dirty"))
    assert done["status"] == "done" and done["media"], done
    kept = session.get(Capture, done["capture_id"])
    assert kept is not None and kept.post is not None
    caption = kept.post["caption"]
    assert "\x00" not in caption and "\ufffd" not in caption and 19000 < len(caption) <= 20000
    notes = kept.notes or []
    assert any("cut to 20,000" in n for n in notes), notes


def test_an_unforeseen_error_ends_the_capture_plainly_never_running(
    capturing: Flask, runner: FlaskCliRunner, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog.services.collection import captures

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    monkeypatch.setattr(captures, "capture_page", broken)
    capturing.config.update(CAPTURE_ATTEMPTS=1)
    [ended] = capture(runner, "https://example.com/post/1")
    assert ended["status"] == "failed", ended
    assert "internal error" in ended["error"] and "SELECT" not in ended["error"]
    row = session.get(Capture, ended["capture_id"])
    assert row is not None and row.status is CaptureStatus.FAILED


def test_slow_pictures_leave_a_partial_capture_with_what_was_fetched(
    capturing: Flask, runner: FlaskCliRunner, site: PostSite
) -> None:
    capturing.config.update(CAPTURE_TIMEOUT_SECONDS=4, CAPTURE_ATTEMPTS=1)
    started = time.monotonic()
    [partial] = capture(runner, site.url("/post/slow-pictures"))
    assert partial["status"] == "partial", partial
    assert len(partial["media"]) < 10  # what came in time is kept; the rest is noted
    assert {f["role"] for f in partial["files"]} & {"wacz", "warc"}
    assert time.monotonic() - started < 22  # ended by its own time, not killed at 23 s


def test_sites_are_asked_as_an_ordinary_browser_asks(
    capturing: Flask, runner: FlaskCliRunner, site: PostSite
) -> None:
    capture(runner, site.url("/post/image"))
    agents = [site.agents[p] for p in ("/post/image", "/media/photo.jpg")]
    assert all(a.startswith("Mozilla/5.0") and "Chrome/" in a for a in agents), agents
    assert not any("evidence" in a.lower() or "headless" in a.lower() for a in agents), agents


def test_a_screenshot_is_kept_by_the_viewer_only(
    capturing: Flask, runner: FlaskCliRunner, site: PostSite, reader: FlaskClient
) -> None:
    [done] = capture(runner, site.url("/post/image"))
    answer = reader.get(f"/captures/{done['capture_id']}/files/screenshot")
    answer.close()
    assert answer.status_code == 200
    cache = answer.headers["Cache-Control"]
    assert "private" in cache and "public" not in cache


def test_the_kernel_holds_a_capture_process_to_its_memory_limit() -> None:
    import subprocess
    import sys

    from catalog.capture.cage import MemoryCage

    hog = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(0.5); x = b'1' * (400 << 20)",
        ]
    )
    cage = MemoryCage.enclose(hog.pid, 100)
    if cage is None:
        hog.kill()
        hog.wait()
        pytest.skip("no memory cgroup can be made on this machine")
    try:
        assert hog.wait(timeout=30) == -9  # killed by the kernel at 100 MB, not after 400
        assert cage.exceeded()
    finally:
        cage.remove()
    assert not cage.folder.exists()


def test_a_posted_time_is_shown_as_the_page_s_claim_with_its_source(
    capturing: Flask,
    runner: FlaskCliRunner,
    session: Session,
    site: PostSite,
    reader: FlaskClient,
) -> None:
    [done] = capture(runner, site.url("/post/image"))
    kept = session.get(Capture, done["capture_id"])
    assert kept is not None and kept.post is not None
    assert kept.post["posted_from"] == "the page's article:published_time"
    page = reader.get(f"/captures/{done['capture_id']}").get_data(as_text=True)
    assert "Posted (claimed)" in page and "as the page&#39;s article:published_time claims" in page
    assert "Observed" in page
    media = reader.get(f"/media/{done['media'][0]['media_id']}").get_data(as_text=True)
    # The sighting names where its capture read the time, as the capture page does.
    assert "posted time as the page&#39;s article:published_time claims it" in media


def test_facts_a_capture_recorded_stay_as_captured_and_are_corrected_by_annotations(
    capturing: Flask,
    runner: FlaskCliRunner,
    session: Session,
    site: PostSite,
    keys: dict[str, dict[str, str]],
) -> None:
    from catalog.models import Sighting

    headers = keys
    [done] = capture(runner, site.url("/post/image"))
    sighting = session.query(Sighting).filter_by(capture_id=done["capture_id"]).one()
    api = capturing.test_client()
    at = f"/api/v1/sightings/{sighting.id}"
    changed = api.patch(
        at, json={"posted_at": "2020-01-01T00:00:00+00:00"}, headers=headers["analyst"]
    )
    assert_problem(changed, 422, "recorded by capture")
    assert_problem(api.delete(at, headers=headers["analyst"]), 422, "recorded by capture")
    # What is not the capture's word may still be set (the source behind the account).
    assert (
        api.patch(at, json={"source": "Eyewitness"}, headers=headers["analyst"]).status_code == 200
    )
    note = {"field": "posted_at", "text": "The channel posted this at 21:40 Moscow time."}
    added = api.post(f"{at}/annotations", json=note, headers=headers["analyst"])
    assert added.status_code == 201, added.get_json()
    assert api.post(f"{at}/annotations", json=note, headers=headers["viewer"]).status_code == 403
    assert_problem(
        api.post(
            f"{at}/annotations", json={"text": "x", "field": "nope"}, headers=headers["analyst"]
        ),
        422,
        "no field",
    )
    shown = api.get(at, headers=headers["viewer"]).get_json()
    assert shown["posted_at"].startswith("2026-05-03T21:40")  # as captured
    assert [(a["field"], a["text"]) for a in shown["annotations"]] == [("posted_at", note["text"])]
    history = api.get(f"/api/v1/media/{sighting.media_id}/audit", headers=headers["viewer"])
    events = history.get_json()
    events = events["events"] if isinstance(events, dict) else events
    assert "sighting.annotate" in [e["action"] for e in events]


def test_the_media_page_annotates_a_captured_sighting_and_edits_only_what_is_not_captured(
    capturing: Flask, runner: FlaskCliRunner, session: Session, site: PostSite
) -> None:
    from catalog.db import get_session
    from catalog.models import Sighting
    from catalog.services.people import accounts

    from .test_web import token

    with capturing.app_context():
        accounts.create_user(get_session(), "editor", PASSWORD, "analyst")
    editor = capturing.test_client()
    sign_in(editor, "editor")
    [done] = capture(runner, site.url("/post/image"))
    sighting = session.query(Sighting).filter_by(capture_id=done["capture_id"]).one()
    page_url = f"/media/{sighting.media_id}"
    page = editor.get(page_url).get_data(as_text=True)
    assert f'name="s{sighting.id}-posted_at"' not in page  # no field for a captured fact
    assert f'name="s{sighting.id}-deleted_at"' in page
    sent = editor.post(
        f"/sightings/{sighting.id}/annotate",
        data={
            "csrf_token": token(editor, page_url),
            f"a{sighting.id}-field": "caption",
            f"a{sighting.id}-text": "The caption was edited by the channel an hour later.",
        },
    )
    assert sent.status_code == 302
    shown = editor.get(page_url).get_data(as_text=True)
    assert "The caption was edited by the channel an hour later." in shown
    assert "on its caption" in shown
