"""What yt-dlp's extractors know about a post: account, posted time, caption, platform and
the media file, for the sites they know (and the HTML5 video pages their generic extractor
reads), and the subtitles and automatic captions it offers in the languages asked for.

yt-dlp makes its own HTTP requests. Here every one of them goes through the capture's own
fetch (a request handler of yt-dlp's networking layer, the only one the instance may use):
``netguard``'s address rules and limits, written to the capture's web archive. So an
extractor cannot be led to an internal address either. Nothing is downloaded here: the media
URL it names is fetched by the capture like any other, and so are the subtitle files it picks
(``writesubtitles``, ``writeautomaticsub``, ``subtitleslangs`` and ``subtitlesformat`` only
choose them: with ``download=False`` yt-dlp writes nothing).

Pure: no Flask, no database.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..netguard import BROWSER_USER_AGENT, Exchange, Refused

# The capture's fetch: URL, method, headers, body -> the final answer (raises Refused).
Get = Callable[[str, str, list[tuple[str, str]], bytes], Exchange]


@dataclass(frozen=True)
class Caption:
    """A subtitle file yt-dlp offers for the post's media: its language, where it is (or its
    text, where the extractor gave it inline) and whether the platform made it by itself."""

    lang: str
    ext: str
    url: str | None
    data: str | None = None
    automatic: bool = False


@dataclass(frozen=True)
class Extracted:
    """What an extractor said about a post."""

    extractor: str
    account: str | None
    posted_at: datetime | None
    caption: str | None
    title: str | None
    media_urls: tuple[str, ...] = ()
    platform: str | None = None  # None: the page's own host or site name says it
    captions: tuple[Caption, ...] = ()  # for the first of media_urls


# The subtitle formats the catalogue reads, in order of preference.
CAPTION_FORMATS = "vtt/srt/best"
CAPTION_EXTS = {"vtt", "srt"}
# A post offering more is cut here: each is a request, and an analyst reads a few languages.
MAX_CAPTIONS = 8
LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,3}")


# yt-dlp's generic extractors: they read the page as ``page.read_page`` does, and say less.
GENERIC_EXTRACTORS = {"Generic", "HTML5MediaEmbed"}


class _Quiet:
    """yt-dlp's logger, silenced: what went wrong is in the capture's notes."""

    def debug(self, _msg: str) -> None:
        pass

    warning = info = error = debug


# Where yt-dlp is told ffmpeg lies: nowhere, so it runs without it.
NO_FFMPEG = "/nonexistent/ffmpeg-is-not-used-by-captures"


def extract(
    url: str, get: Get, timeout_s: float, languages: tuple[str, ...] = ()
) -> Extracted | None:
    """Ask yt-dlp's extractors about ``url``, every request made by ``get``, and for its
    subtitles in ``languages`` (and the post's own); None when none knows the page (or
    yt-dlp is absent)."""
    try:
        import yt_dlp
        from yt_dlp.networking.common import RequestHandler, Response
        from yt_dlp.networking.exceptions import HTTPError, TransportError
        from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor
    except ImportError:
        return None
    # ffmpeg fetches on its own, past the guard: yt-dlp must never find it, also where it asks
    # without this instance's options (the default its command line sets by this hook).
    FFmpegPostProcessor._ffmpeg_location.set(NO_FFMPEG)

    class GuardedRH(RequestHandler):  # yt-dlp requires the "RH" suffix
        _SUPPORTED_URL_SCHEMES = ("http", "https")
        _SUPPORTED_PROXY_SCHEMES = None
        _SUPPORTED_FEATURES = None

        def _check_extensions(self, extensions: dict[str, Any]) -> None:
            super()._check_extensions(extensions)
            for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
                extensions.pop(name, None)

        def _send(self, request: Any) -> Any:
            data = request.data
            body = data.read() if hasattr(data, "read") else bytes(data or b"")
            try:
                headers = list(request.headers.items())
                if not any(k.lower() == "user-agent" for k, _ in headers):
                    headers.append(("User-Agent", BROWSER_USER_AGENT))  # as a reader's browser
                answer = get(request.url, request.method, headers, body)
            except Refused as exc:
                raise TransportError(cause=exc) from exc
            response = Response(
                io.BytesIO(answer.body), answer.url, dict(answer.headers), answer.status
            )
            if not 200 <= answer.status < 300:
                raise HTTPError(response)
            return response

    options = {
        "quiet": True,
        "no_warnings": True,
        "skip_download": True,
        "noplaylist": True,
        "logger": _Quiet(),
        "socket_timeout": timeout_s,
        "cachedir": False,  # nothing written in the user's home
        # Every request goes through the guarded handler: no format is tested by fetching it,
        # and ffmpeg, which would fetch on its own past the guard, is never found or asked.
        "check_formats": False,
        "ffmpeg_location": NO_FFMPEG,
        "fixup": "never",
    }
    wanted = [lang for lang in languages if LANGUAGE.fullmatch(lang)]
    if wanted:
        # Only chosen here (with ``download=False`` nothing is written): "en" takes "en-US".
        options.update(
            writesubtitles=True,
            writeautomaticsub=True,
            subtitleslangs=[_language_pattern(lang) for lang in wanted],
            subtitlesformat=CAPTION_FORMATS,
        )
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            # The instance's only way out: its cached request director, built of our handler.
            ydl.__dict__["_request_director"] = ydl.build_request_director([GuardedRH])
            info = ydl.extract_info(url, download=False)
            if wanted and isinstance(info, dict):
                _add_own_language(ydl, info, wanted)
    except Exception:  # noqa: BLE001 - no extractor knows the page: the page speaks for itself
        return None
    if not isinstance(info, dict):
        return None
    return _read(info)


def _language_pattern(lang: str) -> str:
    """yt-dlp's pattern (matched whole, any case) for a language and its regional forms."""
    return re.escape(lang) + r"([-_].+)?"


def _add_own_language(ydl: Any, info: dict[str, Any], wanted: list[str]) -> None:
    """Choose the post's own language's subtitles too, when the extractor tells it."""
    own = info.get("language")
    if not isinstance(own, str) or not LANGUAGE.fullmatch(own) or own in wanted:
        return
    ydl.params["subtitleslangs"] = [_language_pattern(lang) for lang in (*wanted, own)]
    chosen = ydl.process_subtitles(
        info.get("id"), info.get("subtitles"), info.get("automatic_captions")
    )
    if chosen:
        info["requested_subtitles"] = chosen


def _captions(info: dict[str, Any]) -> tuple[Caption, ...]:
    """The subtitle files yt-dlp chose, in a format the catalogue reads."""
    chosen = info.get("requested_subtitles")
    if not isinstance(chosen, dict):
        return ()
    given = info.get("subtitles")
    own: dict[str, Any] = given if isinstance(given, dict) else {}
    found = []
    for lang, offer in list(chosen.items())[:MAX_CAPTIONS]:
        if not isinstance(offer, dict) or not isinstance(lang, str) or not LANGUAGE.fullmatch(lang):
            continue
        ext = str(offer.get("ext") or "").lower()
        address, data = offer.get("url"), offer.get("data")
        if ext not in CAPTION_EXTS:
            continue  # a format the catalogue cannot read (json3, ttml): not worth a fetch
        if isinstance(address, str) and address.startswith(("http://", "https://")):
            found.append(Caption(lang, ext, address, None, lang not in own))
        elif isinstance(data, str):
            found.append(Caption(lang, ext, None, data, lang not in own))
    return tuple(found)


def _read(info: dict[str, Any]) -> Extracted:
    """Take what a capture keeps from yt-dlp's info dictionary."""
    posted = None
    if isinstance(info.get("timestamp"), int | float):
        posted = datetime.fromtimestamp(info["timestamp"], UTC)
    elif isinstance(info.get("upload_date"), str) and len(info["upload_date"]) == 8:
        try:
            posted = datetime.strptime(info["upload_date"], "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            posted = None
    media = info.get("url")
    if not media:
        formats = [f for f in info.get("formats") or [] if f.get("protocol") in ("http", "https")]
        media = formats[-1].get("url") if formats else None
    account = info.get("uploader_id") or info.get("uploader") or info.get("channel")
    key = str(info.get("extractor_key") or info.get("extractor") or "")
    return Extracted(
        extractor=key,
        account=str(account)[:200] if account else None,
        posted_at=posted,
        caption=(info.get("description") or None),
        title=(info.get("title") or None),
        media_urls=(media,) if isinstance(media, str) and media.startswith("http") else (),
        platform=None if key in GENERIC_EXTRACTORS else key.lower()[:64],
        captions=_captions(info),
    )
