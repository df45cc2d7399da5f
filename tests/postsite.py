"""A local web server standing in for social-media sites: post pages with Open Graph and
schema.org data, a video post, a gallery, a post that can be deleted, and hostile pages (slow,
endless script, oversized, a redirect to a private address). Loopback only, a free port.
"""

from __future__ import annotations

import html
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .media import encode, pattern, photo
from .video_tools import clip

POSTED = "2026-05-03T21:40:00+00:00"
# A page that says when it was posted, served with a Last-Modified about the file that differs.
DATED = "2026-04-30T08:05:00+00:00"
LAST_MODIFIED = "Sat, 06 Jun 2026 10:00:00 GMT"


class PostSite:
    """Serve the pages in a thread; ``deleted`` paths answer 404 from then on, ``phrased``
    ones 200 with a platform's "not available" page."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {
            "/media/photo.jpg": ("image/jpeg", _jpeg("chelsea.png")),
            "/media/clip.mp4": ("video/mp4", clip("chair-19-sd-bar.mp4")),
            "/media/g1.jpg": ("image/jpeg", encode(pattern(400, 300, seed=11))),
            "/media/g2.jpg": ("image/jpeg", encode(pattern(400, 300, seed=12))),
            "/media/g3.jpg": ("image/jpeg", _jpeg("coffee.png")),
            "/media/photo-again.jpg": ("image/jpeg", _jpeg("chelsea.png")),
            "/media/fake.mp4": ("video/mp4", b"<html>not a video</html>" * 40),
            "/static/icon.png": ("image/png", encode(pattern(32, 32, seed=3), "PNG")),
            "/system/media/a1.jpg": ("image/jpeg", encode(pattern(480, 360, seed=21))),
            "/system/media/a2.jpg": ("image/jpeg", encode(pattern(480, 360, seed=22))),
        }
        self.deleted: set[str] = set()
        self.phrased: set[str] = set()
        self.requests: list[str] = []
        self.agents: dict[str, str] = {}  # path -> the User-Agent it was asked with
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                site.requests.append(self.path)
                site.agents[self.path.split("?")[0]] = self.headers.get("User-Agent", "")
                site.answer(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PostSite:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        """Return the full URL of a path on this site."""
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request."""
        path = handler.path.split("?")[0]
        if path in self.deleted:
            return _send(handler, 404, "text/html", b"<h1>This post is not available</h1>")
        if path in self.phrased:
            return _send(handler, 200, "text/html", b"<h1>Post not found</h1><p>Try later</p>")
        if path in self.files:
            kind, body = self.files[path]
            return _send(handler, 200, kind, body)
        if path == "/api/v1/statuses/109300":
            return _send(handler, 200, "application/json", _toot(self).encode())
        if path == "/api/v1/accounts/lookup":
            return _send(handler, 200, "application/json", b'{"id": "7", "acct": "newsdesk"}')
        if path == "/api/v1/accounts/7/statuses":  # the profile: two posts, newest first
            import json

            older = json.loads(_toot(self))
            older.update(id="109200", content="<p>An older post</p>")
            older["media_attachments"] = [
                {"id": "119", "type": "image", "url": self.url("/media/g3.jpg")}
            ]
            body = f"[{_toot(self)}, {json.dumps(older)}]"
            return _send(handler, 200, "application/json", body.encode())
        page = PAGES.get(path)
        if path == "/post/dated":  # the file's date in a header, the post's in its markup
            extra = [("Last-Modified", LAST_MODIFIED)]
            return _send(handler, 200, "text/html; charset=utf-8", _dated(self).encode(), extra)
        if page is not None:
            return _send(handler, 200, "text/html; charset=utf-8", page(self).encode())
        if path == "/slow":
            time.sleep(30)
            return _send(handler, 200, "text/html", b"<p>late</p>")
        if path == "/echo":  # the headers it was sent, as JSON
            import json

            sent = json.dumps({k.lower(): v for k, v in handler.headers.items()})
            return _send(handler, 200, "application/json", sent.encode())
        if path in ("/bounce", "/bounce-here"):  # to another origin, or to the same one
            host = "localhost" if path == "/bounce" else "127.0.0.1"
            handler.send_response(302)
            handler.send_header("Location", f"http://{host}:{self.port}/echo")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        if path == "/to-private":
            handler.send_response(302)
            handler.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        if path == "/drip":  # a byte at a time, for ever: only a deadline ends it
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.end_headers()
            try:
                for _ in range(15):  # 3 s: longer than the tests' deadline of 1 s
                    handler.wfile.write(b"x")
                    handler.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass  # the client gave up, as it should
            return None
        if path == "/media/live.m3u8":  # a playlist of one segment, the site's clip
            segment = self.url("/media/clip.mp4")
            playlist = (
                f"#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:17.0,\n{segment}\n#EXT-X-ENDLIST\n"
            )
            return _send(handler, 200, "application/vnd.apple.mpegurl", playlist.encode())
        if path == "/secret.json":  # public to anyone who asks, but no page may read it
            return _send(handler, 200, "application/json", b'{"secret": "tell-no-page"}')
        if path.startswith("/media/slow-"):  # a picture that takes 2.5 s to come
            time.sleep(2.5)
            return _send(handler, 200, "image/jpeg", self.files["/media/g1.jpg"][1])
        if path == "/huge":
            return _send(handler, 200, "text/html", b"<p>" + b"x" * (12 * 1024 * 1024))
        return _send(handler, 404, "text/html", b"<h1>Not found</h1>")


def _jpeg(name: str) -> bytes:
    from io import BytesIO

    from PIL import Image

    return encode(Image.open(BytesIO(photo(name))).convert("RGB"), quality=90)


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    kind: str,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    handler.send_response(status)
    for name, value in headers or []:
        handler.send_header(name, value)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    try:
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _image_post(site: PostSite) -> str:
    caption = "Smoke over the dome, seen from the embankment"
    return f"""<!doctype html><html><head><title>Channel post</title>
<meta property="og:title" content="Eyewitness channel">
<meta property="og:description" content="{html.escape(caption)}">
<meta property="og:image" content="{site.url("/media/photo.jpg")}">
<meta property="og:site_name" content="Telegram">
<meta property="article:published_time" content="{POSTED}">
<meta name="twitter:creator" content="@eyewitness">
<link rel="icon" href="/static/icon.png"></head>
<body><article><p>{html.escape(caption)}</p><img src="/media/photo.jpg" alt=""></article>
<img src="/static/icon.png" width="32" height="32"></body></html>"""


def _video_post(site: PostSite) -> str:
    return f"""<!doctype html><html><head><title>Video post</title>
<script type="application/ld+json">{{"@context": "https://schema.org",
 "@type": "SocialMediaPosting", "datePublished": "{POSTED}",
 "author": {{"@type": "Person", "name": "field_reporter"}},
 "articleBody": "Footage of the chair, filmed this evening"}}</script></head>
<body><video controls src="/media/clip.mp4" width="640"></video></body></html>"""


def _dated(site: PostSite) -> str:
    """A video post that says when it was posted; served with a Last-Modified that differs,
    which yt-dlp's generic extractor reports as its timestamp."""
    return f"""<!doctype html><html><head><title>Dated post</title>
<meta property="article:published_time" content="{DATED}"></head>
<body><article><p>Filmed at the crossing</p><time datetime="{DATED}">30 April</time>
<video controls src="/media/clip.mp4" width="640"></video></article></body></html>"""


def _gallery(site: PostSite) -> str:
    return """<!doctype html><html><head><title>Gallery</title>
<meta property="og:description" content="Three pictures from the scene"></head>
<body><div class="gallery"><img src="/media/g1.jpg"><img src="/media/g2.jpg">
<img src="/media/g3.jpg"></div></body></html>"""


def _deletable(site: PostSite) -> str:
    return _image_post(site)


def _endless(site: PostSite) -> str:
    return """<!doctype html><html><head><title>Busy</title></head><body><p>busy</p>
<script>window.addEventListener('load', () => { while (true) {} });</script></body></html>"""


def _spin_after_load(site: PostSite) -> str:
    return """<!doctype html><html><head><title>Spins</title></head><body><p>spins</p>
<script>window.addEventListener('load', () => setTimeout(() => { while (true) {} }, 0));
</script></body></html>"""


def _disguised(site: PostSite) -> str:
    return """<!doctype html><html><head><meta property="og:video" content="/media/fake.mp4">
</head><body><p>A video, they say</p></body></html>"""


def _private_resource(site: PostSite) -> str:
    return """<!doctype html><html><head><title>Sneaky</title></head><body>
<img src="http://10.1.2.3/internal.png"><img src="/to-private"><p>text</p></body></html>"""


def _toot_page(site: PostSite) -> str:
    """A Mastodon post as its server sends it without script: no media in the page itself."""
    return """<!doctype html><html><head><title>newsdesk: "Two pictures from the"</title>
<meta property="og:site_name" content="social.example"></head>
<body><div id="mastodon"><noscript>To use this web application, enable JavaScript.
</noscript></div></body></html>"""


def _toot(site: PostSite) -> str:
    """The same post through the Mastodon API, as gallery-dl's extractor reads it."""
    import json

    media = [
        {"id": f"11{n}", "type": "image", "url": site.url(f"/system/media/a{n}.jpg")}
        for n in (1, 2)
    ]
    return json.dumps(
        {
            "id": "109300",
            "created_at": "2026-05-04T06:15:00.000Z",
            "in_reply_to_id": None,
            "reblog": None,
            "tags": [{"name": "dome"}],
            "media_attachments": media,
            "content": "<p>Two pictures from the <a href='#'>#dome</a> this morning</p>",
            "account": {"id": "7", "acct": "newsdesk", "username": "newsdesk"},
        }
    )


def _hungry(site: PostSite) -> str:
    """A page whose script takes 1.5 GB at once and holds it (filled, so the pages are really
    used): well past the tests' limit, and under the browser's own limits, so only the
    capture's memory watch stops it."""
    return """<!doctype html><html><head><title>Hungry</title></head><body><p>hungry</p>
<script>window.hog = [];
for (let i = 0; i < 24; i++) hog.push(new Float64Array(1 << 23).fill(i + 0.5));
</script></body></html>"""


def _noisy(site: PostSite) -> str:
    """A small page that draws a large picture of noise: its screenshot is many megabytes."""
    return """<!doctype html><html><head><title>Noise</title></head><body>
<canvas id="c" width="1200" height="2400"></canvas><script>
const c = document.getElementById('c').getContext('2d'), d = c.createImageData(1200, 2400);
for (let i = 0; i < d.data.length; i++) d.data[i] = (i % 4 == 3) ? 255 : Math.random() * 256;
c.putImageData(d, 0, 0);</script></body></html>"""


def _reader(site: PostSite) -> str:
    """A page whose script reads another origin's answer and tries to send and to post."""
    other = f"http://localhost:{site.port}/secret.json"
    return f"""<!doctype html><html><head><title>waiting</title></head><body><p>reads</p>
<script>
fetch("{other}").then(r => r.text()).then(t => {{ document.title = "read " + t; }})
  .catch(() => {{ document.title = "blocked"; }});
fetch("/echo", {{method: "POST", body: "x"}}).catch(() => {{}});
</script></body></html>"""


def _dirty(site: PostSite) -> str:
    """A post whose text carries a NUL, replacement characters and far too many words."""
    caption = "Smoke \x00over the dome \ufffd\ufffd " + "very long " * 3000
    return f"""<!doctype html><html><head><title>Dirty</title>
<meta property="og:description" content="{html.escape(caption)}">
<meta property="og:image" content="{site.url("/media/photo.jpg")}">
<meta name="twitter:creator" content="@dirty\x00account"></head>
<body><p>dirty</p></body></html>"""


def _slow_pictures(site: PostSite) -> str:
    """A post of ten pictures, each slow to come: together longer than a capture's time."""
    pictures = "".join(f'<img src="/media/slow-{n}.jpg" alt="">' for n in range(10))
    return f"""<!doctype html><html><head><title>Slow</title></head>
<body><p>ten slow pictures</p>{pictures}</body></html>"""


def _stream(site: PostSite) -> str:
    """A post whose video is an HLS playlist: the kind of format yt-dlp hands to ffmpeg."""
    return f"""<!doctype html><html><head><title>Live</title>
<meta property="og:video" content="{site.url("/media/live.m3u8")}"></head>
<body><video src="/media/live.m3u8"></video></body></html>"""


def _same_twice(site: PostSite) -> str:
    return """<!doctype html><html><head><meta property="og:image" content="/media/photo.jpg">
</head><body><img src="/media/photo-again.jpg"><p>The same picture, twice</p></body></html>"""


PAGES = {
    "/post/twice": _same_twice,
    "/post/image": _image_post,
    "/post/video": _video_post,
    "/post/gallery": _gallery,
    "/post/deletable": _deletable,
    "/post/watched": _deletable,
    "/post/endless": _endless,
    "/post/spins": _spin_after_load,
    "/post/hungry": _hungry,
    "/post/noisy": _noisy,
    "/post/disguised": _disguised,
    "/post/sneaky": _private_resource,
    "/@newsdesk/109300": _toot_page,
    "/post/reader": _reader,
    "/post/stream": _stream,
    "/post/dirty": _dirty,
    "/post/slow-pictures": _slow_pictures,
}
