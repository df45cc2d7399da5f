"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against the
app served on a local port with its own SQLite database and media folder.

An analyst signs in, uploads a real sample photograph through the form (the page's script
sends it with a progress bar), uploads a re-encoded, resized copy and is told it is a
near-duplicate of the first, searches by file, records an acknowledgement and sees its badge,
and opens the compare view. A viewer sees no edit controls. An analyst captures a post
through the "Capture from a URL" form, follows its progress and opens what it found.
Screenshots of the main pages go to docs/screenshots/ when CATALOG_SCREENSHOTS=1 (`make
screenshots`), else to a temporary folder.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.serving import make_server

from catalog import create_app, schema
from catalog.db import get_session, make_engine
from catalog.services.people import accounts

from .media import PHOTOS, VIDEOS
from .postsite import PostSite

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def closing(wsgi_app):
    """Wrap responses so their files close even when the browser drops the connection.

    Werkzeug's development server skips ``close()`` when the client goes away mid-response
    (a video element cancelling a range request does); a generator is finalised all the same.
    """

    def app(environ, start_response):
        body = wsgi_app(environ, start_response)

        def chunks():
            try:
                yield from body
            finally:
                if hasattr(body, "close"):
                    body.close()

        return chunks()

    return app


def settings(folder: Path) -> dict[str, object]:
    """The settings of a catalogue served from ``folder``."""
    return {
        "DATABASE_URL": f"sqlite:///{folder / 'catalog.db'}",
        "MEDIA_ROOT": str(folder / "media"),
        "INDEX_DIR": str(folder / "index"),
        "QUEUE_URL": f"sqlite:///{folder / 'queue.db'}",
        "SECRET_KEY": "browser-tests",
        "MAX_UPLOAD_MB": 20,
        "CAPTURE_ALLOWED_HOSTS": ["127.0.0.1"],
    }


def serve(folder: Path, *, demo: bool = False) -> Iterator[str]:
    """Serve a fresh catalogue (with the worked example if asked) on a free local port."""
    config = settings(folder)
    engine = make_engine(str(config["DATABASE_URL"]))
    schema.upgrade(engine)
    engine.dispose()
    app = create_app(config)
    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst", display_name="Ana Analyst")
        accounts.create_user(get_session(), "vic", PASSWORD, "viewer")
    if demo:
        result = app.test_cli_runner().invoke(
            args=["catalog", "demo", "--copy-to", str(folder / "to-upload")]
        )
        assert result.exit_code == 0, result.output
    app.wsgi_app = closing(app.wsgi_app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve(tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("demo")
    for base in serve(folder, demo=True):
        yield base, folder / "to-upload" / "column-of-smoke-reposted.mp4"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed; `make test` installs it")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("CATALOG_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


def sign_in(browser, base: str, username: str, **context: object):
    page = browser.new_page(**context)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The Content-Security-Policy allows no inline script or style: a page needing one fails
    # here; and no page may log an error, such as a missing icon or file.
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{base}/")
    assert page.url.startswith(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert f"Signed in as {username}" in page.inner_text("main")
    page.script_errors = errors
    return page


def fits_its_cards(page) -> list[str]:  # noqa: ANN001
    """Return what runs past the right edge of the card it sits in (empty when all fit)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.card *')].filter(e => {
            const card = e.closest('.card').getBoundingClientRect();
            const box = e.getBoundingClientRect();
            return box.width > 0 && box.right > card.right + 1;
        }).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 40))"""
    )


def variant_of(path: Path) -> bytes:
    """A re-encoded, resized, slightly brightened copy: what a repost looks like."""
    image = Image.open(path).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4)).point(
        lambda v: min(255, int(v * 1.05))
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def test_analyst_uploads_finds_duplicates_records_provenance_and_compares(
    browser, live_server: str, shots: Path, tmp_path: Path
) -> None:
    base = live_server
    page = sign_in(browser, base, "ana", viewport={"width": 1366, "height": 900})
    page.screenshot(path=str(shots / "home.png"), full_page=True)

    # Upload a real sample photograph with its provenance, through the form and its script.
    original = PHOTOS / "china.jpg"
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(original))
    assert "china.jpg" in page.inner_text("[data-file-name]")
    page.fill("#title", "Palace roofs <script>alert(1)</script>")
    page.fill("#credit", "Photographer / Agency")
    page.fill("#incident", "Claimed strike, 3 May")
    page.fill("#sighting-url", "https://t.me/channel/101")
    page.select_option("#sighting-platform", "telegram")
    page.fill("#sighting-source", "Channel 101")
    # A real picker, and the zone beside it.
    assert page.get_attribute("#sighting-posted_at", "type") == "datetime-local"
    page.fill("#sighting-posted_at", "2023-05-03T02:30")
    page.select_option("select[name='sighting-posted_at-tz']", "+03:00")
    page.screenshot(path=str(shots / "upload.png"), full_page=True)
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/*?upload=new")
    assert page.locator("[data-upload-result=new]").is_visible()
    first_url = page.url.split("?")[0]
    first_id = first_url.rsplit("/", 1)[1]
    assert (
        page.inner_text("[data-media-title]") == "Palace roofs <script>alert(1)</script>"
    )  # shown as text, not run
    assert "2023-05-02 23:30 UTC" in page.inner_text("[data-first-seen]")

    # A repost: re-encoded and resized. The answer says at once what it duplicates.
    copy = tmp_path / "repost.jpg"
    copy.write_bytes(variant_of(original))
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(copy))
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/*?upload=new")
    duplicates = page.locator("[data-near-duplicates]")
    assert duplicates.is_visible()
    assert "a copy (re-encode, resize or edit)" in duplicates.inner_text()
    assert duplicates.locator(f"a[href='/media/{first_id}']").count() >= 1
    page.screenshot(path=str(shots / "upload-result.png"), full_page=True)
    second_id = page.url.split("?")[0].rsplit("/", 1)[1]

    # The same bytes again: an exact match, nothing new stored.
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(copy))
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/{second_id}?upload=known")
    assert "Exact match" in page.inner_text("[data-upload-result=known]")

    # Search by file finds the first upload.
    page.goto(f"{base}/search")
    page.set_input_files("[data-search-file] input[name=file]", str(copy))
    page.click("[data-search-file] button[type=submit]")
    page.wait_for_selector("[data-results]")
    assert page.locator(f"[data-match='{first_id}']").is_visible()
    assert (
        page.locator(f"[data-match='{second_id}'] [data-match-kind]").inner_text()
        == "the same file"
    )
    page.screenshot(path=str(shots / "search.png"), full_page=True)

    # Record an acknowledgement on the first and see its badge.
    page.goto(first_url)
    page.click("#acknowledgements summary")
    form = page.locator("[data-ack-form]")
    form.locator("#party").fill("Government of R")
    form.locator("#status").select_option("semi_official")
    form.locator("#statement").fill("Shown on state television as the strike")
    form.locator("#source").fill("State TV")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{first_url}#acknowledgements")
    badge = page.locator("[data-ack-badges] .ack-badge")
    assert badge.inner_text() == "Government of R: semi-official"
    page.screenshot(path=str(shots / "media.png"), full_page=True)

    # The compare view, from the link on the media page; the slider moves the overlay.
    page.locator("#links a", has_text="Compare").first.click()
    page.wait_for_url(f"{base}/compare/**")
    page.wait_for_selector("[data-overlay-top]")
    page.fill("[data-compare-slider]", "20")
    page.dispatch_event("[data-compare-slider]", "input")
    assert "80%" in page.eval_on_selector("[data-overlay-top]", "el => el.style.clipPath")
    assert re.search(r"PDQ: \d+ of 256 bits differ", page.inner_text("[data-compare-facts]"))
    # Aligned: both layers in one box, the slider no wider than the picture; why they match;
    # what differs; then Confirm, with a note, on the page itself.
    assert "keypoints of #" in page.inner_text("[data-why]")
    boxes = page.evaluate(
        """() => ['[data-overlay-aligned]', '[data-overlay-top]', '[data-compare-slider]']
            .map(s => document.querySelector(s).getBoundingClientRect())
            .map(r => [Math.round(r.width), Math.round(r.height)])"""
    )
    assert boxes[0] == boxes[1] and boxes[2][0] <= boxes[0][0] + 1, boxes
    assert page.locator("[data-difference] img").evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(shots / "compare.png"), full_page=True)
    review = page.locator("[data-review]").first
    review.locator("input[name=note]").fill("same picture, reposted smaller")
    review.locator("button", has_text="Confirm").click()
    page.wait_for_url(f"{base}/compare/**")
    assert "confirmed" in page.locator("[data-review]").first.inner_text()
    assert "same picture, reposted smaller" in page.locator("[data-review]").first.inner_text()

    page.goto(f"{base}/incidents")
    page.click("text=Claimed strike, 3 May")
    assert page.locator("[data-cluster]").count() >= 1
    page.screenshot(path=str(shots / "incident.png"), full_page=True)
    assert page.script_errors == []
    page.close()


def test_viewer_sees_no_edit_controls_and_pages_fit_a_phone(
    browser, live_server: str, shots: Path
) -> None:
    page = sign_in(
        browser, live_server, "vic", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page.goto(f"{live_server}/media")
    assert page.locator("a:has-text('Upload')").count() == 0
    page.locator("[data-results] a.stretched-link").first.click()
    page.wait_for_url(f"{live_server}/media/*")
    assert page.locator("form[action*='/edit']").count() == 0
    assert page.locator("text=Add an acknowledgement").count() == 0
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, f"the page is wider than the phone: {width}"
    assert fits_its_cards(page) == [], "something runs past its card at 390 px"
    # Collapsed sections show their marker, so a closed one does not look empty.
    displays = page.evaluate(
        "() => [...document.querySelectorAll('summary')].map(s => getComputedStyle(s).display)"
    )
    assert displays and set(displays) == {"list-item"}, displays
    page.screenshot(path=str(shots / "media-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    assert fits_its_cards(page) == [], "something runs past its card at 1366 px"
    page.goto(f"{live_server}/upload")
    assert "403" in page.inner_text("main")
    # The refusal itself is logged as a failed load; nothing else may be.
    assert all("403" in error for error in page.script_errors), page.script_errors
    page.script_errors.clear()
    page.goto(f"{live_server}/api/v1/docs")
    page.wait_for_selector(
        ".swagger-ui .opblock", timeout=20_000
    )  # Swagger UI started under the CSP
    assert page.script_errors == []
    page.close()


def test_video_page_seeks_from_the_keyframe_strip(browser, live_server: str, shots: Path) -> None:
    page = sign_in(browser, live_server, "ana", viewport={"width": 1366, "height": 900})
    page.goto(f"{live_server}/upload")
    page.set_input_files("input[name=file]", str(VIDEOS / "chair-20-sd-bar.mp4"))
    page.fill("#title", "Chair clip")
    page.click("[data-submit]")
    page.wait_for_url(f"{live_server}/media/*?upload=new")
    player = page.locator("[data-player]")
    assert player.is_visible()
    frames = page.locator(".keyframe")
    assert frames.count() >= 5
    target = float(frames.nth(3).get_attribute("data-seek"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('.keyframe img')].slice(0, 5)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    frames.nth(3).click()
    assert (
        abs(page.evaluate("() => document.querySelector('[data-player]').currentTime") - target)
        < 0.5
    )
    assert "is-current" in frames.nth(3).get_attribute("class")
    page.screenshot(path=str(shots / "video.png"), full_page=True)
    assert page.script_errors == []
    page.close()


def test_upload_over_the_limit_is_refused_before_sending(
    browser, live_server: str, tmp_path: Path
) -> None:
    page = sign_in(browser, live_server, "ana")
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff" + b"\0" * (21 * 1000 * 1000))
    page.goto(f"{live_server}/upload")
    page.set_input_files("input[name=file]", str(big))
    assert "larger than the upload limit of 20 MB" in page.inner_text("[data-dropzone]")
    # The upload goes by XHR, so the address would not change even if it were sent: watch for
    # the request itself. None may leave within two seconds of the click.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with (
        pytest.raises(PlaywrightTimeout),
        page.expect_request(lambda r: r.method == "POST", timeout=2000),
    ):
        page.click("[data-submit]")
    assert page.is_hidden("[data-progress]")
    assert page.url == f"{live_server}/upload"
    page.close()


def test_demo_repost_shows_match_acknowledgement_and_first_sighting_on_one_screen(
    browser, demo_server, shots: Path
) -> None:
    base, repost = demo_server
    page = sign_in(browser, base, "ana", viewport={"width": 1366, "height": 900})
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(repost))
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/*?upload=new", timeout=60_000)
    # All of it above the fold of one laptop screen: the match, and, apart as unconfirmed until
    # an analyst confirms the proposed link, who acknowledged the original and where it was seen.
    for selector in ("[data-near-duplicates]", "[data-unconfirmed]"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900, selector
    assert "Column of smoke over the Senate dome" in page.inner_text("[data-near-duplicates]")
    shaky = page.inner_text("[data-unconfirmed]")
    assert "semi official by Government of the Russian Federation" in shaky
    assert "Moscow news Telegram channel" in shaky
    page.wait_for_function(
        "() => [...document.querySelectorAll('.keyframe img')].slice(0, 4)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(shots / "demo-match.png"))
    assert page.script_errors == []
    page.close()


def test_analyst_captures_a_post_through_the_form_and_follows_it(
    browser, tmp_path_factory: pytest.TempPathFactory, shots: Path
) -> None:
    folder = tmp_path_factory.mktemp("capture")
    env = {
        **os.environ,
        **{f"CATALOG_{k}": json.dumps(v) if isinstance(v, list) else str(v)
           for k, v in settings(folder).items()},
        "CATALOG_INSTANCE_PATH": str(folder / "instance"),
    }  # fmt: skip
    with PostSite() as site:
        for base in serve(folder):
            # The job worker `make run` starts beside the app, here started by the test.
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "catalog", "worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                page = sign_in(browser, base, "ana", viewport={"width": 1280, "height": 900})
                page.click("nav >> text=Captures")
                page.fill("#url", site.url("/post/gallery"))
                page.fill("#incident", "Scene")
                page.click("button:text-is('Capture')")
                page.wait_for_url(f"{base}/captures/*")
                assert page.inner_text("#capture-status") in ("queued", "running", "done")
                page.wait_for_selector("#capture-status:text-is('done')", timeout=90_000)
                assert (
                    page.evaluate("document.querySelector('#capture-screenshot').naturalWidth") > 0
                )
                assert page.locator("#capture-media .media-card").count() == 3
                assert "Three pictures from the scene" in page.inner_text("main")
                page.screenshot(path=str(shots / "capture.png"), full_page=True)
                page.click("#capture-media .media-card a.stretched-link >> nth=0")
                page.wait_for_url(f"{base}/media/*")
                assert site.url("/post/gallery") in page.inner_text("main")
                assert page.script_errors == []
            finally:
                worker.terminate()
                worker.wait(30)


def test_a_long_title_stays_inside_its_card_on_the_upload_answer(
    browser, live_server: str, tmp_path: Path
) -> None:
    base = live_server
    page = sign_in(browser, base, "ana", viewport={"width": 1366, "height": 900})
    title = (
        "Smoke over the refinery at dawn, as first posted by the regional emergency service " * 3
    )
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(PHOTOS / "astronaut.png"))
    page.fill("#title", title.strip())
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/*")
    copy = tmp_path / "astronaut-copy.jpg"
    copy.write_bytes(variant_of(PHOTOS / "astronaut.png"))
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(copy))
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/*")
    assert page.locator("[data-near-duplicates] .pair-card").count() >= 1
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert fits_its_cards(page) == [], f"something runs past its card at {width} px"
    assert page.script_errors == []
    page.close()


def too_narrow_pickers(page) -> list[str]:  # noqa: ANN001
    """Return the date-time pickers narrower than what they hold (the hour cut off)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input[type=datetime-local]')].filter(i => {
            const whole = i.cloneNode();
            whole.removeAttribute('id');
            whole.style.width = 'auto'; whole.style.minWidth = '0';
            whole.style.fieldSizing = 'content';
            i.after(whole);
            const needed = whole.getBoundingClientRect().width;
            whole.remove();
            return i.getBoundingClientRect().width + 1 < needed;
        }).map(i => i.name)"""
    )


def scrolls_sideways(page) -> list[str]:  # noqa: ANN001
    """Return what reaches past the right edge when the page scrolls sideways, else []."""
    return page.evaluate(
        """() => {
            const root = document.scrollingElement;
            if (root.scrollWidth <= root.clientWidth) return [];
            const held = e => { for (let p = e.parentElement; p; p = p.parentElement) {
                const x = getComputedStyle(p).overflowX;
                if (x === 'auto' || x === 'scroll' || x === 'hidden') return true;
            } return false; };
            const past = [...document.body.querySelectorAll('*')].filter(
                e => e.getBoundingClientRect().right > root.clientWidth + 1 && !held(e));
            return ['scrollWidth ' + root.scrollWidth, ...past.slice(-5).map(
                e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60))];
        }"""
    )


def test_pickers_show_the_hour_and_pages_fit_a_phone(browser, demo_server) -> None:
    base, repost = demo_server
    page = sign_in(browser, base, "ana", viewport={"width": 1366, "height": 900})
    page.goto(f"{base}/upload")
    page.set_input_files("input[name=file]", str(repost))
    page.click("[data-submit]")
    page.wait_for_url(f"{base}/media/*", timeout=60_000)
    copy_page = page.url.split("?")[0]
    # The smoke clip itself, not the demo's captured repost of it, which the copy matches too.
    original = page.locator(
        "#links tbody a", has_text="Column of smoke over the Senate dome"
    ).first.get_attribute("href")
    for path in ("/upload", copy_page.removeprefix(base), original):
        page.goto(f"{base}{path}")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        assert too_narrow_pickers(page) == [], f"a picker hides the hour on {path} at 1366 px"
    # A long word, as a hash or a URL is, in a review note and in a sighting.
    long_word = "https://t.me/c/" + "9" * 120
    page.goto(f"{base}{original}")
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    form = page.locator("form[action$='/sightings']")
    form.locator("input[name=url]").fill(long_word)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    # Local times beside the UTC ones make the deleted badge and the times longest.
    page.goto(f"{base}/account/sessions")
    longest = page.evaluate(
        "() => [...document.querySelectorAll('#timezone option')].map(o => o.value)"
        ".reduce((a, b) => (b.length > a.length ? b : a))"
    )
    page.select_option("#timezone", longest)
    page.click("[data-timezone-form] button[type=submit]")
    page.wait_for_load_state()
    page.set_viewport_size({"width": 390, "height": 844})
    pages = [
        "/account/sessions",
        copy_page.removeprefix(base),
        original,
        f"{original}/report.html",
        "/incidents/1",  # the demo's: clusters and the timeline, with long URLs
    ]
    for path in pages:
        page.goto(f"{base}{path}")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        past = scrolls_sideways(page)
        assert past == [], f"{path} scrolls sideways at 390 px: {past}"
    page.goto(f"{base}{original}")
    assert "deleted" in page.inner_text("#sightings"), "the demo's first sighting is deleted"
    page.goto(f"{base}/incidents/1")
    assert page.locator("[data-timeline] li").count() >= 8
    assert page.script_errors == []
    page.close()
