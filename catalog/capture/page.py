"""What a post page says about itself: account, posted time, caption, platform, and the
pictures and videos it carries, read from its Open Graph tags, its schema.org data (JSON-LD)
and its ``<video>``, ``<source>`` and ``<img>`` elements; and the text the page shows (what
its body says outside scripts, styles and templates), which the catalogue makes searchable.

Pure: parses HTML text (the page as the browser rendered it, or as fetched) and nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from . import posted as posted_times

# Host names of the platforms analysts meet most, by the name a sighting records.
PLATFORMS = {
    "t.me": "telegram",
    "telegram.me": "telegram",
    "x.com": "x",
    "twitter.com": "x",
    "facebook.com": "facebook",
    "fb.watch": "facebook",
    "instagram.com": "instagram",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "tiktok.com": "tiktok",
    "vk.com": "vk",
    "reddit.com": "reddit",
    "bsky.app": "bluesky",
}
# schema.org types whose data describe a post.
POST_TYPES = {
    "SocialMediaPosting",
    "BlogPosting",
    "NewsArticle",
    "Article",
    "VideoObject",
    "ImageObject",
    "DiscussionForumPosting",
}
MAX_MEDIA = 20
# A bound against a runaway page only: the capture service cuts a caption to what a sighting
# keeps, and notes the cut.
MAX_TEXT = 200_000
# The page's visible text, whitespace collapsed: enough for a post and its comments; a page
# that says more is cut (and searched by what it says first).
MAX_VISIBLE = 20_000
# Elements whose text the reader never sees (the title is kept as the title).
UNSEEN = {"script", "style", "noscript", "template", "title"}


@dataclass
class PostPage:
    """What was read off a page."""

    title: str | None = None
    caption: str | None = None
    account: str | None = None
    platform: str | None = None
    posted_at: datetime | None = None
    # Where the posted time came from: it is the page's (or an extractor's) claim, not a fact.
    posted_from: str | None = None
    # Every posted time told, with who told it and its kind of trust (``posted``).
    posted_candidates: list[dict[str, str]] = field(default_factory=list)
    media_urls: list[str] = field(default_factory=list)
    visible_text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the metadata as JSON-ready data."""
        return {
            "title": self.title,
            "caption": self.caption,
            "account": self.account,
            "platform": self.platform,
            "posted_at": self.posted_at.isoformat() if self.posted_at else None,
            "posted_from": self.posted_from,
            "posted_candidates": list(self.posted_candidates),
            "media_urls": list(self.media_urls),
            "visible_text": self.visible_text,
        }


class _Reader(HTMLParser):
    """Collects meta tags, JSON-LD blocks, the title and media elements, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.ld: list[str] = []
        self.title = ""
        self.media: list[tuple[str, str]] = []  # (kind, src)
        self.times: list[str] = []  # the datetime of each <time> element, in order
        self._in: str | None = None
        self._buffer: list[str] = []
        self.shown: list[str] = []  # the text outside UNSEEN elements
        self._shown_chars = 0
        self._unseen = 0  # how deep inside UNSEEN elements the parser is

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in UNSEEN:
            self._unseen += 1
        if tag == "meta":
            key = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if key and "content" in a and key not in self.meta:
                self.meta[key] = a["content"]
        elif tag == "script" and a.get("type", "").lower() == "application/ld+json":
            self._in, self._buffer = "ld", []
        elif tag == "title":
            self._in, self._buffer = "title", []
        elif tag == "time" and a.get("datetime") and len(self.times) < 50:
            self.times.append(a["datetime"])
        elif tag in ("video", "audio", "source") and a.get("src"):
            self.media.append(("video", a["src"]))
        elif tag == "video" and a.get("poster"):
            self.media.append(("poster", a["poster"]))
        elif tag == "img":
            src = a.get("src") or a.get("data-src") or ""
            if src and not _tiny(a.get("width"), a.get("height")):
                self.media.append(("image", src))

    def handle_data(self, data: str) -> None:
        if self._in is not None and sum(map(len, self._buffer)) < 1_000_000:
            self._buffer.append(data)
        # Twice the bound: collapsing whitespace shortens it.
        if not self._unseen and self._shown_chars < 2 * MAX_VISIBLE and data.strip():
            self.shown.append(data)
            self._shown_chars += len(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in UNSEEN and self._unseen:
            self._unseen -= 1
        if self._in == "ld" and tag == "script":
            self.ld.append("".join(self._buffer))
            self._in = None
        elif self._in == "title" and tag == "title":
            self.title = "".join(self._buffer).strip()
            self._in = None


def _tiny(width: str | None, height: str | None) -> bool:
    """Whether an image's declared size marks it as an icon, avatar or tracking pixel."""
    for value in (width, height):
        if value and value.strip().isdigit() and int(value) < 100:
            return True
    return False


def read_page(html: str, url: str) -> PostPage:
    """Return what the page at ``url`` says about its post."""
    reader = _Reader()
    try:
        reader.feed(html)
        reader.close()
    except (AssertionError, ValueError):
        pass  # a broken page: keep what was read before the break
    meta = reader.meta
    post = _ld_post(reader.ld)
    page = PostPage()
    page.title = _text(meta.get("og:title") or post.get("headline") or reader.title, 500)
    page.caption = _text(
        post.get("articleBody")
        or post.get("text")
        or post.get("description")
        or meta.get("og:description")
        or meta.get("twitter:description")
        or meta.get("description"),
        MAX_TEXT,
    )
    page.account = _text(
        _author(post.get("author"))
        or meta.get("article:author")
        or meta.get("twitter:creator")
        or meta.get("author"),
        200,
    )
    # The page's own declarations, in the order ``posted`` documents.
    for source, claimed in (
        ("schema.org datePublished", post.get("datePublished")),
        ("article:published_time", meta.get("article:published_time")),
        ("og:published_time", meta.get("og:published_time")),
        ("microdata datePublished", meta.get("datepublished")),
        ("schema.org uploadDate", post.get("uploadDate")),
        ("<time datetime> element", reader.times[0] if reader.times else None),
        ("date meta tag", meta.get("date")),
    ):
        at = _date(claimed)
        if at is not None:
            said_by = f"the page's {source}"
            page.posted_candidates.append(posted_times.candidate(at, said_by, posted_times.PAGE))
    page.posted_at, page.posted_from = posted_times.choose(page.posted_candidates)
    page.platform = platform_of(url, meta.get("og:site_name"))
    page.media_urls = _media(url, meta, post, reader.media)
    page.visible_text = visible_text(reader.shown)
    return page


def visible_text(pieces: list[str]) -> str | None:
    """The page's text nodes as one text, whitespace collapsed, at most MAX_VISIBLE long."""
    text = " ".join(" ".join(pieces).split())
    if len(text) > MAX_VISIBLE:
        cut = text.rfind(" ", 0, MAX_VISIBLE)
        text = text[: cut if cut > MAX_VISIBLE // 2 else MAX_VISIBLE]
    return text or None


def platform_of(url: str, site_name: str | None = None) -> str | None:
    """Return the platform a URL belongs to: a known host's name, else the site's own name."""
    host = (urlsplit(url).hostname or "").lower()
    for known, name in PLATFORMS.items():
        if host == known or host.endswith("." + known):
            return name
    if site_name and site_name.strip():
        return site_name.strip().lower()[:64]
    return host[:64] or None


def _ld_post(blocks: list[str]) -> dict[str, Any]:
    """Return the first schema.org object of a post type in the JSON-LD blocks."""
    for block in blocks:
        try:
            data = json.loads(block)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                kinds = item.get("@type")
                kinds = kinds if isinstance(kinds, list) else [kinds]
                if any(k in POST_TYPES for k in kinds if isinstance(k, str)):
                    return item
                stack.extend(v for k, v in item.items() if k == "@graph")
    return {}


def _author(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("alternateName") or value.get("name") or value.get("url")
    return value if isinstance(value, str) else None


def _media(
    url: str, meta: dict[str, str], post: dict[str, Any], elements: list[tuple[str, str]]
) -> list[str]:
    """The post's media, the declared first (Open Graph, schema.org), then the page's own."""
    found: list[str] = []
    declared = [
        meta.get("og:video:secure_url"),
        meta.get("og:video:url"),
        meta.get("og:video"),
        _ld_url(post.get("contentUrl")),
        _ld_url(post.get("video")),
        meta.get("og:image:secure_url"),
        meta.get("og:image"),
        meta.get("twitter:image"),
        _ld_url(post.get("image")),
    ]
    for src in [*declared, *(src for kind, src in elements if kind != "poster")]:
        if not src or src.startswith("data:"):
            continue
        absolute = urljoin(url, src.strip())
        if urlsplit(absolute).scheme in ("http", "https") and absolute not in found:
            found.append(absolute)
    return found[:MAX_MEDIA]


def _ld_url(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("contentUrl") or value.get("url")
    return value if isinstance(value, str) else None


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split()) if limit <= 500 else value.strip()
    return cleaned[:limit] or None


_date = posted_times.parse
