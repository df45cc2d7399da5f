"""What gallery-dl's extractors know about a post: its account, posted time, caption and every
picture and video of it, for the sites whose galleries and multi-picture posts they read
(Instagram, X, Reddit, Bluesky, Mastodon and other fediverse servers, image boards...).

gallery-dl makes its requests through ``requests``. Here its session has one adapter, which
hands every request to the capture's own fetch: ``netguard``'s address rules and limits, and
the capture's web archive. gallery-dl's cache stays in memory (nothing is written in the
user's home), and nothing is downloaded here: the media URLs it names are fetched by the
capture like any others.

Self-hosted servers of a kind gallery-dl knows (a newsroom's Mastodon, a Misskey) are named by
the setting ``CAPTURE_INSTANCES``: ``kind=root URL`` pairs, such as
``mastodon=https://social.example``.

Pure: no Flask, no database.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ..netguard import Refused
from .extractors import Extracted, Get

# Extractors that read any page or any file link: the page itself says as much.
GENERIC = {"generic", "directlink"}
# gallery-dl's category -> the platform name a sighting records.
PLATFORM_NAMES = {"twitter": "x", "bsky": "bluesky"}
MAX_MEDIA = 50
MAX_MESSAGES = 500


def instances_from_setting(value: object) -> dict[str, dict[str, dict[str, str]]]:
    """Parse ``CAPTURE_INSTANCES`` (a list, or one string separated by commas or spaces, of
    ``kind=URL``) into gallery-dl's extractor configuration; raise ValueError on a bad item."""
    if not value:
        return {}
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    config: dict[str, dict[str, dict[str, str]]] = {}
    for item in items:
        kind, _, root = str(item).partition("=")
        parts = urlsplit(root.strip())
        if not kind.strip() or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"CAPTURE_INSTANCES: {item!r} is not kind=URL (such as mastodon=https://host)"
            )
        origin = f"{parts.scheme}://{parts.netloc}"
        config.setdefault(kind.strip().lower(), {})[parts.netloc.lower()] = {"root": origin}
    return config


def ask_gallery_dl(
    url: str,
    get: Get,
    timeout_s: float,
    instances: dict[str, Any] | None = None,
    user_agent: str | None = None,
) -> Extracted | None:
    """Ask gallery-dl's extractors about ``url``, every request made by ``get``; None when none
    but the generic ones knows the page, when it fails, or when gallery-dl is absent.

    gallery-dl reads ``instances`` as its extractor modules load: once a process. A capture
    runs in a process of its own, which asks once.
    """
    try:
        from gallery_dl import config, extractor, text
        from gallery_dl.extractor.message import Message
    except ImportError:
        return None
    config.clear()
    config.set(("cache",), "file", None)  # in memory: nothing in the user's home
    config.set(("extractor",), "timeout", timeout_s)
    config.set(("extractor",), "retries", 0)
    # No waiting between requests or for a rate limit to pass: the capture has its own time.
    for key in ("sleep-request", "sleep-429", "sleep-retries", "sleep-extractor"):
        config.set(("extractor",), key, 0)
    config.set(("extractor", "twitter"), "ratelimit", "abort")
    for kind, servers in (instances or {}).items():
        config.set(("extractor",), kind, servers)
    try:
        found = extractor.find(url)
    except Exception:  # noqa: BLE001 - a pattern gallery-dl cannot build is no extractor
        return None
    if found is None or found.category in GENERIC:
        return None
    deadline = time.monotonic() + timeout_s
    found.session = _guarded_session(get, deadline, user_agent)
    found.sleep = found.wait = _no_waiting  # a site that asks to wait is not waited for
    metadata: dict[str, Any] = {}
    media: list[str] = []
    first_post: object = None
    try:
        for count, message in enumerate(found):
            kind, payload, kwdict = (message + (None, None))[:3]
            if count >= MAX_MESSAGES or len(media) >= MAX_MEDIA or time.monotonic() > deadline:
                break
            if kind == Message.Directory and isinstance(kwdict, dict):
                post = _post_of(kwdict)
                if metadata and post != first_post:
                    break  # a profile or a timeline: the page's own post is the first one
                if not metadata:
                    metadata, first_post = dict(kwdict), post
            elif kind == Message.Url and isinstance(payload, str):
                metadata = metadata or dict(kwdict or {})
                if payload.startswith(("http://", "https://")) and payload not in media:
                    media.append(payload)
    except Exception:  # noqa: BLE001 - an extractor that fails leaves the page to speak
        if not media:
            return None
    if not media and not metadata:
        return None
    base = getattr(found, "basecategory", "") or found.category
    return Extracted(
        extractor=f"gallery-dl:{base.lower()}",
        account=_account(metadata),
        posted_at=_posted(metadata),
        caption=_caption(metadata, text.remove_html),
        title=None,
        media_urls=tuple(media),
        platform=PLATFORM_NAMES.get(base.lower(), base.lower())[:64],
    )


def _no_waiting(*_args: Any, **_kwargs: Any) -> None:
    raise Refused("rate_limited", "the site asked to wait before it answers more")


def _post_of(kwdict: dict[str, Any]) -> object:
    """What tells one post from another in gallery-dl's metadata."""
    for key in ("tweet_id", "post_id", "status_id", "shortcode", "id"):
        if kwdict.get(key) is not None:
            return (key, kwdict[key])
    return None


def _guarded_session(get: Get, deadline: float, user_agent: str | None) -> Any:
    """A ``requests`` session whose only adapter makes each request with ``get``, until the
    ``deadline`` (time.monotonic) passes."""
    import requests
    from requests.adapters import BaseAdapter
    from requests.structures import CaseInsensitiveDict

    class GuardedAdapter(BaseAdapter):
        def send(self, request: Any, **_kwargs: Any) -> requests.Response:  # type: ignore[override]
            if time.monotonic() > deadline:
                raise requests.exceptions.ConnectionError(
                    "the extractor ran out of the capture's time", request=request
                )
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):  # a file or generator: read what it gives
                body = b"".join(body)
            try:
                answer = get(request.url, request.method, list(request.headers.items()), body)
            except Refused as exc:
                raise requests.exceptions.ConnectionError(str(exc), request=request) from exc
            response = requests.Response()
            response.status_code = answer.status
            response.reason = answer.reason
            response.headers = CaseInsensitiveDict(answer.headers)
            response.url = answer.url
            response._content = answer.body  # the whole answer, already read within limits
            response.encoding = requests.utils.get_encoding_from_headers(response.headers)
            response.request = request
            return response

        def close(self) -> None:
            pass

    session = requests.Session()
    session.trust_env = False  # no proxy or netrc from the environment: the guard decides
    session.headers.update(
        {"Accept": "*/*", "Accept-Language": "en-US,en;q=0.5"}
        | ({"User-Agent": user_agent} if user_agent else {})
    )
    session.adapters.clear()
    adapter = GuardedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _account(kw: dict[str, Any]) -> str | None:
    """The posting account, from the keys gallery-dl's extractors use for it."""
    for key in ("account", "author", "user", "owner", "uploader"):
        value = kw.get(key)
        if isinstance(value, dict):
            value = next(
                (
                    value[k]
                    for k in ("acct", "username", "screen_name", "handle", "name", "nick")
                    if value.get(k)
                ),
                None,
            )
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    value = kw.get("username")
    return value.strip()[:200] if isinstance(value, str) and value.strip() else None


def _posted(kw: dict[str, Any]) -> datetime | None:
    """The posted time: gallery-dl gives ``date`` as a naive UTC datetime."""
    value = kw.get("date")
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None


def _caption(kw: dict[str, Any], remove_html: Any) -> str | None:
    """The post's text, its markup removed."""
    for key in ("content", "description", "caption", "text", "title"):
        value = kw.get(key)
        if isinstance(value, str) and value.strip():
            return str(remove_html(value)).strip()[:20000] or None
    return None
