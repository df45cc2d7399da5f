"""Requests only to the addresses the user meant: the capture's guard against server-side
request forgery.

A capture fetches what a URL typed by a user points at, and what that page asks for in turn.
Every such request goes through ``fetch`` here: the host name is resolved once, every address
it resolves to must be public (not private, loopback, link-local, multicast or reserved), and
the connection is made to that checked address (so a second DNS answer cannot swap in an
internal one). Redirects are followed by hand, each hop checked the same way. Sizes, times and
hops are capped. ``AddressPolicy.allowed_hosts`` names hosts or addresses let through anyway
(``CAPTURE_ALLOWED_HOSTS``: a local test server, an intranet archive the operator trusts).

Pure: no Flask, no database.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

REDIRECTS = {301, 302, 303, 307, 308}
CHUNK = 64 * 1024
# Headers a fetch never forwards from the browser: they describe the browser's connection.
HOP_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "accept-encoding",
}
# Sent to the host they were meant for only: dropped when a redirect leads elsewhere.
PRIVATE_HEADERS = {"authorization", "cookie", "proxy-authorization"}
# What captures and re-checks call themselves: an ordinary desktop browser, so a site answers
# them as it answers its readers and is not told that it is being archived.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)


class Refused(Exception):
    """A request that is not made: a forbidden address, scheme, size, time or redirect."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AddressPolicy:
    """Which hosts a fetch may reach: public addresses, and ``allowed_hosts`` whatever they are."""

    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_setting(cls, value: object) -> AddressPolicy:
        """Build from a setting: a list of names, or one string separated by commas or spaces."""
        if value is None:
            return cls()
        items = value.replace(",", " ").split() if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        return cls(frozenset(str(item).strip().lower().strip("[]") for item in items if item))

    def resolve(self, host: str, port: int) -> str:
        """Return the address to connect to for ``host``, or raise Refused."""
        name = host.lower().strip("[]")
        try:
            answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused("unresolvable", f"the host {host} could not be resolved") from exc
        addresses = [str(answer[4][0]) for answer in answers]
        if not addresses:
            raise Refused("unresolvable", f"the host {host} has no address")
        if name in self.allowed_hosts:
            return addresses[0]
        for address in addresses:
            if address not in self.allowed_hosts and not _public(address):
                # Every answer must be public: a name that resolves to one public and one
                # internal address is a known way round a check of the first answer only.
                raise Refused(
                    "forbidden_address",
                    f"{host} resolves to {address}, a private, loopback or reserved address",
                )
        return addresses[0]


# IPv6 ranges that carry an IPv4 address (NAT64, IPv4-compatible) or are deprecated
# (site-local): judged by what they reach, or refused.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_REFUSED_V6 = (ipaddress.ip_network("::/96"), ipaddress.ip_network("fec0::/10"))


def _public(address: str) -> bool:
    """Whether an address is one the public internet routes to, whatever form it is in."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if any(ip in net for net in _NAT64):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(ip in net for net in _REFUSED_V6):
            return False
        inner = [e for e in embedded if e is not None]
        if inner:
            return all(_public(str(e)) for e in inner)
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


@dataclass
class Exchange:
    """One HTTP request made and the answer to it, as a web archive records them."""

    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    peer: str
    started: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        """Return the first response header called ``name``."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


@dataclass(frozen=True)
class Limits:
    """How far a fetch may go."""

    max_bytes: int = 50 * 1024 * 1024
    timeout_s: float = 20.0
    max_redirects: int = 5


def check_url(url: str) -> tuple[str, str, int]:
    """Return the scheme, host and port of an http(s) URL, or raise Refused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused("bad_url", f"not a valid URL: {url[:200]}") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused("bad_url", "only http and https URLs can be captured")
    if not parts.hostname:
        raise Refused("bad_url", "the URL names no host")
    if parts.username or parts.password:
        raise Refused("bad_url", "URLs with a user name or password are not fetched")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def fetch(
    url: str,
    policy: AddressPolicy,
    limits: Limits = Limits(),
    *,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    follow: bool = True,
) -> list[Exchange]:
    """Fetch ``url`` (and, when ``follow``, its redirects); return every exchange, the last
    being the answer. Raise Refused for what the policy or the limits forbid."""
    deadline = time.monotonic() + limits.timeout_s
    exchanges: list[Exchange] = []
    for _ in range(limits.max_redirects + 1):
        exchange = _one(url, policy, limits, deadline, method, headers or [], body)
        exchanges.append(exchange)
        location = exchange.header("location")
        if not follow or exchange.status not in REDIRECTS or not location:
            return exchanges
        following = urljoin(url, location)
        if _origin(following) != _origin(url):
            # Credentials are for the host they were meant for, not wherever it points.
            headers = [(k, v) for k, v in headers or [] if k.lower() not in PRIVATE_HEADERS]
        url = following
        if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
            method, body = "GET", b""
    raise Refused("too_many_redirects", f"more than {limits.max_redirects} redirects")


def _origin(url: str) -> tuple[str, str, int | None]:
    """The scheme, host and port of a URL."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _one(
    url: str,
    policy: AddressPolicy,
    limits: Limits,
    deadline: float,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> Exchange:
    scheme, host, port = check_url(url)
    address = policy.resolve(host, port)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise Refused("timeout", f"no answer from {host} in {limits.timeout_s:.0f} s")
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection = (
        _PinnedHTTPS(host, port, address, remaining)
        if scheme == "https"
        else _PinnedHTTP(host, port, address, remaining)
    )
    sent = [(k, v) for k, v in headers if k.lower() not in HOP_HEADERS]
    # Bodies as sent, never compressed: the archive and the browser get the same bytes.
    sent.append(("Accept-Encoding", "identity"))
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in sent:
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        try:
            data = _read(response, connection, url, limits, deadline)
        finally:
            # A response that closes the connection holds the socket itself.
            response.close()
        answered = [(k, v) for k, v in response.getheaders() if k.lower() != "transfer-encoding"]
        return Exchange(
            url=url,
            method=method,
            request_headers=[("Host", host if port in (80, 443) else f"{host}:{port}"), *sent],
            request_body=body,
            status=response.status,
            reason=response.reason,
            headers=answered,
            body=data,
            peer=address,
        )
    except TimeoutError as exc:
        raise Refused("timeout", f"no answer from {host} in {limits.timeout_s:.0f} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise Refused("unreachable", f"{host} could not be reached ({exc})") from exc
    finally:
        connection.close()


def _read(
    response: http.client.HTTPResponse,
    connection: http.client.HTTPConnection,
    url: str,
    limits: Limits,
    deadline: float,
) -> bytes:
    """Read a whole answer within the deadline and the size limit."""
    data = bytearray()
    while True:
        # The whole answer within the deadline, not each read: a server that sends a byte
        # now and then must not hold the fetch for ever.
        left = deadline - time.monotonic()
        if left <= 0:
            raise Refused("timeout", f"{url[:200]} took longer than {limits.timeout_s:.0f} s")
        if connection.sock is not None:
            connection.sock.settimeout(left)
        chunk = response.read1(CHUNK)
        if not chunk:
            return bytes(data)
        data += chunk
        if len(data) > limits.max_bytes:
            raise Refused("too_large", f"{url[:200]} is larger than {limits.max_bytes} bytes")


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a checked address, naming the host in its requests."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is checked for the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
