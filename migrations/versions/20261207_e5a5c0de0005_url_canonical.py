"""canonical URLs beside the URLs as given on sightings and captures, filled for every row:
look-ups by URL compare these, so a post is found in any common spelling of its address

The function that fills them is a frozen copy of catalog.urls.canonical_url as it stood when
this migration was written: migrations do not import app code that may change.

Revision ID: e5a5c0de0005
Revises: e3a3c0de0003
Create Date: 2026-12-07 23:30:00.000000
"""

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "e5a5c0de0005"
down_revision: str | None = "e3a3c0de0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("sightings", "captures")
BATCH = 500  # rows read and written at a time, so a large catalogue is filled in bounded memory


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("url_canonical", sa.String(length=2048), nullable=True))
            batch_op.create_index(
                batch_op.f(f"ix_{table}_url_canonical"), ["url_canonical"], unique=False
            )
    connection = op.get_bind()
    for table in TABLES:
        rows = sa.table(
            table,
            sa.column("id", sa.Integer()),
            sa.column("url", sa.String()),
            sa.column("url_canonical", sa.String()),
        )
        last = 0
        while True:
            found = connection.execute(
                sa.select(rows.c.id, rows.c.url)
                .where(rows.c.id > last, rows.c.url.is_not(None))
                .order_by(rows.c.id)
                .limit(BATCH)
            ).all()
            if not found:
                break
            connection.execute(
                sa.update(rows)
                .where(rows.c.id == sa.bindparam("row_id"))
                .values(url_canonical=sa.bindparam("canonical")),
                [{"row_id": i, "canonical": canonical_url(url)} for i, url in found],
            )
            last = found[-1][0]


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_url_canonical"))
            batch_op.drop_column("url_canonical")


# A frozen copy of catalog.urls as of this revision (see the docstring).

# Longest a canonical form is kept (the column's width); both sides cut alike still meet.
MAX_LENGTH = 2048

# Parameters that say who shared a link or how it was found, never which post it is.
TRACKING = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "igshid",
        "igsh",
        "ref",
        "ref_src",
        "ref_url",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "yclid",
        "mibextid",
        "rdid",
        "share_url",
        "__tn__",
        "__cft__[0]",
        "__cft__",
        "si",
        "share_id",
        "is_from_webapp",
        "sender_device",
        "sender_web_id",
        "web_id",
        "_r",
        "_t",
        "utm_id",
    }
)
# Parameters dropped on one platform only: elsewhere they may name content.
TRACKING_ON = {
    "x.com": frozenset({"s", "t", "lang", "ref_url", "cxt"}),
    "youtube.com": frozenset({"feature", "pp", "ab_channel", "t", "start", "list", "index"}),
    "t.me": frozenset({"single", "embed"}),
}
# Hosts that are one site under another name, after ``www.``/``m.``/``mobile.`` are taken off.
HOSTS = {
    "twitter.com": "x.com",
    "fxtwitter.com": "x.com",
    "vxtwitter.com": "x.com",
    "fixupx.com": "x.com",
    "fixvx.com": "x.com",
    "twittpr.com": "x.com",
    "nitter.net": "x.com",
    "telegram.me": "t.me",
    "telegram.dog": "t.me",
    "music.youtube.com": "youtube.com",
    "youtube-nocookie.com": "youtube.com",
    "ddinstagram.com": "instagram.com",
    "mbasic.facebook.com": "facebook.com",
    "web.facebook.com": "facebook.com",
    "touch.facebook.com": "facebook.com",
    "old.reddit.com": "reddit.com",
    "new.reddit.com": "reddit.com",
    "np.reddit.com": "reddit.com",
    "i.reddit.com": "reddit.com",
    "vk.ru": "vk.com",
    "vkontakte.ru": "vk.com",
    "new.vk.com": "vk.com",
}
HOST_PREFIXES = ("www.", "m.", "mobile.")
DEFAULT_PORTS = {"http": 80, "https": 443}

_WEB_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_OTHER_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)", re.IGNORECASE)
_TWEET = re.compile(r"^/(?:i/web|i|[^/]+)/status(?:es)?/(\d+)(?:/.*)?$", re.IGNORECASE)
_YOUTUBE_PATH = re.compile(r"^/(?:shorts|embed|live|v|e)/([\w-]{11})(?:/.*)?$")
_TELEGRAM = re.compile(r"^/(?:s/)?([\w]+)/(\d+)$")
_INSTAGRAM = re.compile(r"^/(?:[^/]+/)?(?:p|reels?|tv)/([\w-]+)(?:/.*)?$")
_REDDIT = re.compile(r"^/(?:r/[^/]+/)?comments/(\w+)(?:/[^/]*)?$", re.IGNORECASE)


def _host(hostname: str) -> str:
    """Return the host lower-cased, its mobile and ``www.`` prefixes off, aliases joined."""
    host = hostname.lower().rstrip(".")
    if host in HOSTS:
        return HOSTS[host]
    for prefix in HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix) :]
            break
    return HOSTS.get(host, host)


def canonical_url(url: str | None) -> str | None:
    """Return the form of ``url`` that every common spelling of the same post shares (None for
    no URL); text that is no URL comes back trimmed, never an error."""
    if url is None or not url.strip():
        return None
    text = url.strip()
    if re.search(r"\s", text) or (_OTHER_SCHEME.match(text) and not _WEB_SCHEME.match(text)):
        return text[:MAX_LENGTH]  # no web address: kept as typed, matched only as typed
    if not _WEB_SCHEME.match(text):
        text = "https://" + text.lstrip("/")  # "x.com/user/status/1", as people paste it
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return url.strip()[:MAX_LENGTH]
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return url.strip()[:MAX_LENGTH]
    host = _host(parts.hostname)
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path, query = parts.path, parts.query
    # Old Twitter links put the path after "#!".
    if not path.strip("/") and parts.fragment.startswith("!/"):
        path = parts.fragment[1:]
    path = re.sub(r"/{2,}", "/", path).rstrip("/")
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
    drop = TRACKING_ON.get(host, frozenset())
    params = [
        (k, v)
        for k, v in params
        if k.lower() not in TRACKING
        and not k.lower().startswith("utm_")
        and k not in drop
        and (k, v) != ("feature", "share")  # "shared from the app", on any site
    ]
    netloc, path, params = _platform(host, netloc, path, params)
    query = urlencode(sorted(params))
    # Both schemes are one post; https is what platforms answer on.
    canonical = f"https://{netloc}{path}" + (f"?{query}" if query else "")
    return canonical[:MAX_LENGTH]


def _platform(
    host: str, netloc: str, path: str, params: list[tuple[str, str]]
) -> tuple[str, str, list[tuple[str, str]]]:
    """Return path and parameters in the one form a platform's post takes (as the address
    patterns of yt-dlp and gallery-dl know them)."""
    if host == "x.com":
        tweet = _TWEET.match(path)
        if tweet:  # a status ID is the tweet whatever account the link names
            return host, f"/i/status/{tweet.group(1)}", []
        return netloc, path.lower(), params  # account names are case-blind
    if host == "youtube.com" or (host == "youtu.be" and re.fullmatch(r"/[\w-]{11}", path)):
        video = _YOUTUBE_PATH.match(path)
        if host == "youtu.be":
            return "youtube.com", "/watch", [("v", path[1:])]
        if video:
            return "youtube.com", "/watch", [("v", video.group(1))]
        if path == "/watch":
            return "youtube.com", path, [(k, v) for k, v in params if k == "v"]
        return netloc, path, params
    if host == "t.me":
        post = _TELEGRAM.match(path)
        if post:  # channel names are case-blind; /s/ is the web preview of the same post
            return host, f"/{post.group(1).lower()}/{post.group(2)}", params
        if path.startswith("/s/"):
            path = path[2:]
        return netloc, path.lower(), params
    if host == "instagram.com":
        post = _INSTAGRAM.match(path)
        if post:
            return host, f"/p/{post.group(1)}", []
        return netloc, path, params
    if host == "reddit.com":
        post = _REDDIT.match(path)
        if post:
            return host, f"/comments/{post.group(1).lower()}", params
        return netloc, path, params
    if host == "redd.it" and re.fullmatch(r"/\w+", path):
        return "reddit.com", f"/comments/{path[1:].lower()}", params
    return netloc, path, params
