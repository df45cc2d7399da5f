"""Load a post page and keep it: run in a process of its own (``python -m
catalog.capture.browser``), which the capture service kills, with everything it started, when
it overruns its time.

The page is loaded by headless Chromium through Playwright. Chromium itself reaches nothing:
every request it makes is intercepted and fetched by ``netguard`` (addresses checked, sizes
and times capped), written to the WARC at once, and handed back to the browser; requests
Playwright cannot intercept (WebSockets, WebRTC) meet a proxy that does not exist. Then a
full-page screenshot and the rendered HTML are kept, the post's metadata and media are read
off the page (``page.read_page``), and each media file is fetched the same guarded way (or
taken from the load, where the page fetched it already), with the subtitle files yt-dlp
offers for it in the languages asked for. The page's visible text is kept with the post.

Where Chromium cannot be started, the page is fetched without it: the archive and the media
are kept, and the result says plainly that the screenshot is missing.

What the process leaves in its folder: ``archive.warc.gz``, ``screenshot.png`` and
``page.html`` when made, ``media-N`` and ``subtitles-N`` files, and ``result.json``
describing them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..netguard import BROWSER_USER_AGENT, AddressPolicy, Exchange, Limits, Refused, fetch
from . import posted as posted_times
from .archive import Archive, package
from .extractors import GENERIC_EXTRACTORS, Extracted, extract
from .gallery import ask_gallery_dl
from .page import PostPage, read_page

# Taller pages are cut in the screenshot (pixels): a page that grows without end is hostile.
MAX_SCREENSHOT_HEIGHT = 16_000
MAX_REQUESTS = 400
MEDIA_TYPES = ("image/", "video/", "audio/", "application/octet-stream")
NOT_FORWARDED = {"range", "if-range"}
# What a captured page's own requests may be: reads, on the ports web pages are served from.
PAGE_METHODS = {"GET", "HEAD"}
WEB_PORTS = {80, 443}
# A CORS grant to an origin no page has: the browser refuses the page's read of the answer.
NO_GRANT = "https://cross-origin-read-not-granted.invalid"
# Smaller pictures are icons, avatars and tracking pixels, not the post's media (pixels).
MIN_PICTURE_SIDE = 100
VIEWPORT = {"width": 1280, "height": 900}
# An ordinary desktop browser's: a distinctive name would tell a site that it is being
# archived, and a site may answer an archive differently from its readers. With Chromium, its
# own major version is put in (``user_agent_of``).
USER_AGENT = BROWSER_USER_AGENT
# A subtitle file larger than this is not one (the catalogue's reader refuses it too).
MAX_SUBTITLE_BYTES = 5 * 1024 * 1024


@dataclass
class Job:
    """What the capture process is asked to do."""

    url: str
    folder: str
    allowed_hosts: list[str]
    max_bytes: int
    timeout_s: float
    chromium: str | None
    extractors: bool = True  # ask yt-dlp's and gallery-dl's extractors too
    sandbox: bool = True  # Chromium's own sandbox (off only by CAPTURE_UNSAFE_NO_SANDBOX)
    instances: dict[str, Any] = field(default_factory=dict)  # gallery-dl's self-hosted servers
    subtitle_languages: list[str] = field(default_factory=list)  # asked of yt-dlp


@dataclass
class _State:
    """What the load has gathered so far."""

    archive: Archive
    policy: AddressPolicy
    limits: Limits
    budget: int
    bodies: dict[str, Exchange] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    requests: int = 0
    main: Exchange | None = None
    # When the whole capture must be written: past it nothing more is fetched, and what was
    # fetched is kept as a partial capture (``out_of_time``) rather than lost to a kill.
    deadline: float = float("inf")
    out_of_time: bool = False

    def get(self, url: str, method: str = "GET", headers=None, body: bytes = b"") -> Exchange:  # noqa: ANN001
        """Fetch through the guard, archive every exchange, keep the budget; return the answer."""
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            raise Refused("too_many_requests", f"the page made more than {MAX_REQUESTS} requests")
        if self.budget <= 0:
            raise Refused("too_large", "the page and its media passed the capture's size limit")
        left = self.deadline - time.monotonic()
        if left <= 1:
            self.out_of_time = True
            raise Refused("out_of_time", "the capture's time ran out before this was fetched")
        limits = Limits(min(self.limits.max_bytes, self.budget), min(self.limits.timeout_s, left))
        try:
            exchanges = fetch(url, self.policy, limits, method=method, headers=headers, body=body)
        except Refused as exc:
            if exc.code == "timeout" and limits.timeout_s < self.limits.timeout_s:
                self.out_of_time = True  # cut short by the capture's time, not its own
            raise
        for exchange in exchanges:
            self.archive.add(exchange)
            self.budget -= len(exchange.body)
        final = exchanges[-1]
        if method == "GET":
            self.bodies[url] = final
        return final


def run(job: Job) -> dict[str, Any]:
    """Capture ``job.url`` into ``job.folder``; return the result (also written as JSON)."""
    folder = Path(job.folder)
    policy = AddressPolicy(frozenset(h.lower() for h in job.allowed_hosts))
    limits = Limits(job.max_bytes, job.timeout_s)
    state = _State(Archive(folder / "archive.warc.gz", job.url), policy, limits, job.max_bytes)
    # The capture's own time, inside the worker's hard limit (twice the page's time and a
    # grace): the rest of the grace is for packaging the archive and writing the result.
    state.deadline = time.monotonic() + job.timeout_s * 2
    result: dict[str, Any] = {"url": job.url, "files": [], "media": [], "notes": state.notes}
    try:
        html = None
        if job.chromium:
            try:
                html = _browse(job, state, folder)
            except _BrowserMissing as exc:
                state.notes.append(f"screenshot missing: the browser could not be started ({exc})")
        else:
            state.notes.append("screenshot missing: no Chromium on this machine")
        if html is None and state.main is None:
            state.main = state.get(job.url, headers=[("User-Agent", USER_AGENT)])
        if state.main is not None:
            result["status"] = state.main.status
            result["final_url"] = state.main.url
            if state.main.status >= 400:
                raise Refused("gone", f"the page answered {state.main.status} {state.main.reason}")
            if html is None:
                html = state.main.body.decode(_charset(state.main), "replace")
        post = read_page(html or "", state.main.url if state.main else job.url)
        told = _ask_extractors(job, state, post, result) if job.extractors else None
        result["post"] = {**post.as_dict(), "extractor": result.get("extractor")}
        result["media"] = _media(post.media_urls, state, folder)
        if told is not None and told.captions:
            result["subtitles"] = _subtitles(told, state, folder)
    except Refused as exc:
        result["error"] = {"code": exc.code, "message": str(exc)}
    finally:
        state.archive.close()
    if state.out_of_time:
        result["partial"] = True
        state.notes.append("partial: the capture's time ran out before everything was fetched")
    result["files"].append(package(folder, state.main.url if state.main else job.url, state.notes))
    for role, name in (("screenshot", "screenshot.png"), ("html", "page.html")):
        if (folder / name).exists():
            result["files"].append({"role": role, "file": name})
    (folder / "result.json").write_text(json.dumps(result))
    return result


class _BrowserMissing(Exception):
    """Chromium (or Playwright) could not be started here."""


def _browse(job: Job, state: _State, folder: Path) -> str | None:
    """Load the page in Chromium; keep the screenshot and rendered HTML; return the HTML."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise _BrowserMissing("Playwright is not installed") from exc
    args = [
        "--proxy-server=127.0.0.1:9",  # nothing Playwright does not intercept gets out
        "--proxy-bypass-list=<-loopback>",
        # Nor does it resolve names itself (DNS prefetch, preconnect).
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
        "--disable-background-networking",
    ]
    with sync_playwright() as playwright:
        try:
            browser = launch(playwright, job.chromium, args, job.sandbox)
        except PlaywrightError as exc:
            raise _BrowserMissing(str(exc).splitlines()[0]) from exc
        if not job.sandbox:
            state.notes.append(
                "captured without Chromium's sandbox (CAPTURE_UNSAFE_NO_SANDBOX is set)"
            )
        context = browser.new_context(
            viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
            user_agent=user_agent_of(browser.version),
            service_workers="block",
            accept_downloads=False,
        )

        def route(route, request) -> None:  # noqa: ANN001
            refused = _page_may_not(request.method, request.url, job)
            if refused:
                state.notes.append(f"refused: {request.method} {request.url[:200]} ({refused})")
                route.abort("blockedbyclient")
                return
            # Whole answers, not the ranges a media element asks for: the archive keeps the
            # file, and the browser plays a whole answer as well.
            headers = [(k, v) for k, v in request.headers.items() if k not in NOT_FORWARDED]
            try:
                answer = state.get(
                    request.url, request.method, headers, request.post_data_buffer or b""
                )
            except Refused as exc:
                state.notes.append(f"not fetched: {request.url[:200]} ({exc})")
                route.abort("blockedbyclient")
                return
            except Exception as exc:  # noqa: BLE001 - a broken answer must not hang the load
                state.notes.append(f"not fetched: {request.url[:200]} ({exc!r})"[:400])
                route.abort("failed")
                return
            if request.is_navigation_request() and request.frame == page.main_frame:
                state.main = answer
            route.fulfill(
                status=answer.status,
                headers=answer_headers(answer.headers, request.headers.get("origin"), request.url),
                body=answer.body,
            )

        context.route("**/*", route)
        page = context.new_page()
        budget_ms = job.timeout_s * 1000
        loaded = False
        try:
            page.goto(job.url, wait_until="load", timeout=budget_ms * 0.5)
            loaded = True
            page.wait_for_load_state("networkidle", timeout=min(5000, budget_ms * 0.15))
        except PlaywrightError as exc:
            state.notes.append(f"the page did not finish loading ({str(exc).splitlines()[0]})")
        if state.main is None or state.main.status >= 400:
            browser.close()
            return None
        if not loaded:
            # Its script keeps the page busy: asking it anything would wait for ever. What
            # was fetched stands in for what it rendered.
            state.notes.append("screenshot missing: the page never finished loading")
            browser.close()
            return None
        html = None
        try:
            height = page.evaluate("document.documentElement.scrollHeight")
            full = True
            if isinstance(height, int | float) and height > MAX_SCREENSHOT_HEIGHT:
                # A page that grows without end is shown as far as a tall window reaches.
                state.notes.append(f"the screenshot shows the first {MAX_SCREENSHOT_HEIGHT} px")
                page.set_viewport_size(
                    {"width": VIEWPORT["width"], "height": MAX_SCREENSHOT_HEIGHT}
                )
                full = False
            shot = page.screenshot(full_page=full, timeout=budget_ms * 0.2, animations="disabled")
            if _within_budget(state, shot, "screenshot missing"):
                (folder / "screenshot.png").write_bytes(shot)
                state.archive.add_resource(f"urn:screenshot:{job.url}", "image/png", shot)
            html = page.content()
            rendered = html.encode("utf-8")
            if _within_budget(state, rendered, "rendered page not kept"):
                (folder / "page.html").write_bytes(rendered)
                state.archive.add_resource(
                    f"urn:rendered:{job.url}", "text/html; charset=utf-8", rendered
                )
        except PlaywrightError as exc:
            state.notes.append(f"screenshot missing: {str(exc).splitlines()[0]}")
        browser.close()
        return html


def _page_may_not(method: str, url: str, job: Job) -> str | None:
    """Why a request the page makes is refused, or None: a captured page is archived, not
    browsed, so it may read (GET, HEAD) on the usual web ports, or the captured URL's own, or
    any port of a host the operator allowed; nothing else (a form sent, a PUT, a port scan)."""
    if method not in PAGE_METHODS:
        return f"a captured page may only read (GET, HEAD), not {method}"
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return "not a valid URL"
    own = urlsplit(job.url)
    own_port = own.port or {"http": 80, "https": 443}.get(own.scheme)
    host = (parts.hostname or "").lower()
    if (
        port in WEB_PORTS
        or (host == (own.hostname or "").lower() and port == own_port)
        or host in {h.lower() for h in job.allowed_hosts}
    ):
        return None
    return f"port {port} is not a usual web port"


def answer_headers(headers: list[tuple[str, str]], origin: str | None, url: str) -> dict[str, str]:
    """The headers handed to the browser with an answer, as the site sent them. Playwright
    adds a CORS grant to a fulfilled answer that has none, which would let the page's script
    read what another site answered (and send it home); a cross-origin answer without a grant
    gets one that matches no page instead, so the browser refuses the read as it would have."""
    given = {k.lower(): v for k, v in headers}
    if origin and "access-control-allow-origin" not in given:
        target = urlsplit(url)
        if origin.strip().lower() != f"{target.scheme}://{target.netloc}".lower():
            given["access-control-allow-origin"] = NO_GRANT
    return given


def _within_budget(state: _State, data: bytes, missing: str) -> bool:
    """Count a file the capture makes (screenshot, rendered page) against its size limit;
    False, with a note, when it would pass it."""
    if len(data) > state.budget:
        state.notes.append(f"{missing}: {len(data)} bytes would pass the capture's size limit")
        return False
    state.budget -= len(data)
    return True


def _media(urls: list[str], state: _State, folder: Path) -> list[dict[str, Any]]:
    """Fetch each media URL of the post (or take it from the load); keep the files."""
    kept = []
    for n, url in enumerate(urls):
        answer = state.bodies.get(url)
        try:
            if answer is None or answer.status != 200:
                answer = state.get(url, headers=[("User-Agent", USER_AGENT)])
        except Refused as exc:
            state.notes.append(f"media not fetched: {url[:200]} ({exc})")
            continue
        kind = (answer.header("content-type") or "").split(";")[0].strip().lower()
        if answer.status != 200 or not answer.body:
            state.notes.append(f"media not fetched: {url[:200]} (answered {answer.status})")
            continue
        if kind and not kind.startswith(MEDIA_TYPES):
            continue  # a page or a script named like a picture: not the post's media
        if kind.startswith("image/") and _too_small(answer.body):
            continue
        name = f"media-{n}"
        (folder / name).write_bytes(answer.body)
        kept.append({"url": url, "file": name, "content_type": kind or None})
    return kept


def _subtitles(told: Extracted, state: _State, folder: Path) -> list[dict[str, Any]]:
    """Fetch the subtitle files yt-dlp chose for its media (or take them from the load, or
    as it gave them inline); keep each as ``subtitles-N`` with its language."""
    kept = []
    media_url = told.media_urls[0] if told.media_urls else None
    for n, caption in enumerate(told.captions):
        if caption.url is None:
            body = (caption.data or "").encode("utf-8")
        else:
            answer = state.bodies.get(caption.url)
            try:
                if answer is None or answer.status != 200:
                    answer = state.get(caption.url, headers=[("User-Agent", USER_AGENT)])
            except Refused as exc:
                state.notes.append(f"subtitles not fetched: {caption.url[:200]} ({exc})")
                continue
            if answer.status != 200:
                state.notes.append(
                    f"subtitles not fetched: {caption.url[:200]} (answered {answer.status})"
                )
                continue
            body = answer.body
        if not body or len(body) > MAX_SUBTITLE_BYTES:
            state.notes.append(f"the {caption.lang} subtitles were empty or too large to keep")
            continue
        name = f"subtitles-{n}"
        (folder / name).write_bytes(body)
        kept.append(
            {
                "file": name,
                "lang": caption.lang,
                "ext": caption.ext,
                "url": caption.url,
                "automatic": caption.automatic,
                "media_url": media_url,
            }
        )
    return kept


def _ask_extractors(
    job: Job, state: _State, post: PostPage, result: dict[str, Any]
) -> Extracted | None:
    """Add what yt-dlp's and gallery-dl's extractors know of the post to what the page said:
    theirs first, yt-dlp's before gallery-dl's, every media URL any of them named. Their posted
    times join the page's as candidates, and the time recorded is chosen by ``posted``'s order
    of trust: a generic extractor's (the file's Last-Modified header) never. Return yt-dlp's
    answer (its subtitles are fetched with the media)."""
    get = lambda u, m, h, b: state.get(u, m, h, b)  # noqa: E731
    by_yt_dlp = extract(job.url, get, job.timeout_s, tuple(job.subtitle_languages))
    answers = [
        found
        for found in (
            by_yt_dlp,
            ask_gallery_dl(job.url, get, job.timeout_s, job.instances, USER_AGENT),
        )
        if found is not None
    ]
    if not answers:
        return None
    result["extractor"] = " + ".join(found.extractor for found in answers)
    told = []
    for found in answers:
        if found.posted_at is None:
            continue
        if found.extractor in GENERIC_EXTRACTORS:  # a header about the file, not the post
            said_by = f"yt-dlp's {found.extractor} extractor (the HTTP Last-Modified header)"
            told.append(posted_times.candidate(found.posted_at, said_by, posted_times.HEADER))
        else:
            said_by = f"the {found.extractor} extractor"
            told.append(posted_times.candidate(found.posted_at, said_by, posted_times.PLATFORM))
    post.posted_candidates[:0] = told
    post.posted_at, post.posted_from = posted_times.choose(post.posted_candidates)
    for found in reversed(answers):  # the first answer's word stands
        post.account = found.account or post.account
        post.caption = found.caption or post.caption
        post.platform = found.platform or post.platform
    post.title = post.title or next((f.title for f in answers if f.title), None)
    named = [u for found in answers for u in found.media_urls]
    post.media_urls[:0] = [u for i, u in enumerate(named) if u not in named[:i]]
    post.media_urls[:] = [u for i, u in enumerate(post.media_urls) if u not in post.media_urls[:i]]
    return by_yt_dlp


def _too_small(data: bytes) -> bool:
    """Whether a picture is too small to be a post's media (its header read, not decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return min(image.size) < MIN_PICTURE_SIDE
    except (UnidentifiedImageError, OSError, ValueError):
        return False  # not for this check to judge: ingest refuses what does not decode


def _charset(exchange: Exchange) -> str:
    content_type = exchange.header("content-type") or ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                "".encode(value.strip('"'))
                return value.strip('"')
            except LookupError:
                break
    return "utf-8"


def find_chromium() -> str | None:
    """Return Debian's Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright: Any, chromium: str | None, args: list[str], sandbox: bool) -> Any:
    """Start Chromium with its sandbox on (Playwright turns it off unless asked not to), or,
    when ``sandbox`` is false, explicitly without it."""
    return playwright.chromium.launch(
        executable_path=chromium,
        args=args if sandbox else [*args, "--no-sandbox"],
        chromium_sandbox=sandbox,
    )


def user_agent_of(version: str) -> str:
    """Return the User-Agent an ordinary Chrome of this major version sends on Linux."""
    major = version.split(".", 1)[0]
    if not major.isdigit():
        return USER_AGENT
    return USER_AGENT.replace("Chrome/130.0.0.0", f"Chrome/{major}.0.0.0")


def probe(chromium: str, sandbox: bool) -> str:
    """Start Chromium as a capture would and say whether its pages run sandboxed: a renderer
    in a user namespace other than this process's is."""
    from playwright.sync_api import sync_playwright

    own = os.readlink("/proc/self/ns/user")
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium, ["--disable-background-networking"], sandbox)
        page = browser.new_page()
        page.goto("about:blank")
        namespaces = set()
        for pid in _descendants(os.getpid()):
            try:
                line = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"--type=renderer" in line:
                    namespaces.add(os.readlink(f"/proc/{pid}/ns/user"))
            except OSError:
                continue
        browser.close()
    return "sandboxed" if namespaces and own not in namespaces else "unsandboxed"


def _descendants(pid: int) -> list[int]:
    """Every process descended from ``pid`` (Linux)."""
    from . import family

    return [p for p in family(pid) if p != pid]


def main() -> int:
    """Entry point of the capture process: a Job as JSON on the command line (or
    ``--probe [chromium, sandbox]``: start the browser once and say how it ran)."""
    if sys.argv[1] == "--probe":
        chromium, unsafe = json.loads(sys.argv[2])
        print(probe(chromium, not unsafe), flush=True)
        return 0
    job = Job(**json.loads(sys.argv[1]))
    run(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
