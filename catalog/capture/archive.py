"""The web archive of a capture: every HTTP exchange of the page's load, written as WARC
records (warcio) the moment it is made, so what was fetched before a crash or a kill is kept.

Pure: no Flask, no database.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ..netguard import Exchange

SOFTWARE = "media-evidence catalogue capture"


class Archive:
    """A gzipped WARC file written record by record."""

    def __init__(self, path: Path, url: str) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "wb")  # closed by close()
        self._writer = WARCWriter(self._file, gzip=True, warc_version="WARC/1.1")
        info = self._writer.create_warcinfo_record(
            path.name,
            {"software": SOFTWARE, "format": "WARC File Format 1.1", "isPartOf": url},
        )
        self._writer.write_record(info)
        self._file.flush()
        self.records = 0
        self.bytes = 0

    def add(self, exchange: Exchange) -> None:
        """Write one request and its response."""
        when = _warc_date(exchange.started)
        parts = urlsplit(exchange.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_headers = StatusAndHeaders(
            f"{exchange.method} {target} HTTP/1.1",
            exchange.request_headers,
            is_http_request=True,
        )
        request = self._writer.create_warc_record(
            exchange.url,
            "request",
            payload=io.BytesIO(exchange.request_body),
            http_headers=request_headers,
            warc_headers_dict={"WARC-Date": when},
        )
        headers = [(k, v) for k, v in exchange.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(exchange.body))))
        response = self._writer.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(exchange.body),
            http_headers=StatusAndHeaders(
                f"{exchange.status} {exchange.reason}", headers, protocol="HTTP/1.1"
            ),
            warc_headers_dict={"WARC-Date": when, "WARC-IP-Address": exchange.peer},
        )
        self._writer.write_request_response_pair(request, response)
        # warcio buffers a body of no stated length in a temporary file it never closes.
        request.raw_stream.close()
        response.raw_stream.close()
        self._file.flush()
        self.records += 2
        self.bytes += len(exchange.body)

    def add_resource(self, uri: str, content_type: str, data: bytes) -> None:
        """Write a file made during the capture (the screenshot, the rendered page)."""
        record = self._writer.create_warc_record(
            uri,
            "resource",
            payload=io.BytesIO(data),
            warc_content_type=content_type,
            warc_headers_dict={"WARC-Date": _warc_date(None)},
        )
        self._writer.write_record(record)
        record.raw_stream.close()
        self._file.flush()
        self.records += 1

    def close(self) -> None:
        """Finish the file."""
        self._file.close()


def package(folder: Path, url: str, notes: list[str]) -> dict[str, str]:
    """Package the WARC as WACZ (its index and page list beside it, which replay tools such as
    ReplayWeb.page open as they are); keep the bare WARC where that cannot be done."""
    warc, wacz = folder / "archive.warc.gz", folder / "archive.wacz"
    try:
        from wacz.main import main as wacz_main

        with contextlib.redirect_stdout(io.StringIO()):
            code = wacz_main(["create", "-o", str(wacz), "--url", url, "--detect-pages", str(warc)])
    except Exception as exc:  # noqa: BLE001 - the WARC stands without its package
        code = f"{exc!r}"[:200]
    if code == 0 and wacz.exists():
        warc.unlink()
        return {"role": "wacz", "file": wacz.name}
    notes.append(f"the web archive is kept as WARC: it could not be packaged as WACZ ({code})")
    return {"role": "warc", "file": warc.name}


def _warc_date(timestamp: float | None) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC) if timestamp else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_records(path: Path) -> list[tuple[str, str, int | None]]:
    """Return (type, target URI, HTTP status) of every record in a WARC file, or in the WARC
    files of a WACZ package (for checks)."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as package:
            found = []
            for name in package.namelist():
                if name.startswith("archive/") and ".warc" in name:
                    with package.open(name) as member:
                        found.extend(_records(member))
            return found
    with open(path, "rb") as stream:
        return _records(stream)


def _records(stream: IO[bytes]) -> list[tuple[str, str, int | None]]:
    from warcio.archiveiterator import ArchiveIterator

    found = []
    for record in ArchiveIterator(stream):
        status = None
        if record.rec_type == "response" and record.http_headers is not None:
            status = int(record.http_headers.get_statuscode())
        found.append(
            (record.rec_type, record.rec_headers.get_header("WARC-Target-URI") or "", status)
        )
    return found
