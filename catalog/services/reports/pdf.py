"""The printable dossier as PDF: the report's page rendered by WeasyPrint, offline. Pictures
come embedded in the page as data: URIs; any other URL the page names (a stylesheet, a
font, a picture on the web) is refused rather than fetched, so a dossier never reaches the
network and reads the same wherever it is made. Fonts are the system's (DejaVu)."""

from __future__ import annotations

import base64
import importlib
from types import ModuleType
from typing import Any

from PIL import ImageFile

# WeasyPrint is loaded only where a PDF is asked for; only URLs of these schemes are read.
OFFLINE_SCHEMES = ("data:",)


class RefusedURL(ValueError):
    """A URL the dossier would have fetched from outside the page itself."""


def data_uri(data: bytes, mimetype: str) -> str:
    """Return bytes as a data: URI, to embed a picture in the page."""
    return f"data:{mimetype};base64,{base64.b64encode(data).decode('ascii')}"


def _weasyprint(name: str = "weasyprint") -> ModuleType:
    """Import WeasyPrint (or one of its modules) without the side effect it has on Pillow.

    Importing WeasyPrint sets Pillow's process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES``; left
    on, every truncated upload would be catalogued as a whole picture after the first PDF. The
    dossier only embeds whole pictures the catalogue made, so the flag is put back at once.
    """
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        return importlib.import_module(name)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def offline_fetcher(asked: list[str]) -> Any:
    """Return a WeasyPrint URL fetcher that serves data: URIs and refuses every other URL,
    noting each URL it was asked for in ``asked``."""
    urls = _weasyprint("weasyprint.urls")

    class Offline(urls.URLFetcher):  # type: ignore[name-defined]
        def fetch(self, url: str, headers: Any = None) -> Any:
            asked.append(url)
            if not url.startswith(OFFLINE_SCHEMES):
                raise RefusedURL(f"the dossier is made offline: {url[:80]} not fetched")
            return super().fetch(url, headers)

    return Offline(allowed_protocols={"data"})


def as_pdf(html: str, asked: list[str] | None = None) -> bytes:
    """Return the report's page (with its style inline and its pictures embedded) as PDF;
    ``asked`` collects every URL WeasyPrint wanted (only data: ones are served)."""
    weasyprint = _weasyprint()
    wanted: list[str] = [] if asked is None else asked
    # base_url is none: a relative URL has nothing to resolve against, so nothing is read
    # from the disk either.
    document = weasyprint.HTML(string=html, url_fetcher=offline_fetcher(wanted))
    return bytes(document.write_pdf())
