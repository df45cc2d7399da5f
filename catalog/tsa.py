"""Trusted timestamps (RFC 3161): asking a time-stamp authority to vouch that a statement
existed at a time, and checking such a token later (rfc3161-client).

A statement is short text the catalogue can rebuild from its records: "this capture kept
these files" or "the audit chain had N events ending in this hash". Its SHA-256 goes to the
authority; the token that comes back is kept whole (DER) and checked against the statement
rebuilt from the records and against the authorities' root certificates.

The authorities are the operator's settings (``TIMESTAMP_AUTHORITIES``), not anything a user
types, so they are reached as configured. Pure: no Flask, no database.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

MAX_TOKEN_BYTES = 1024 * 1024


class TimestampError(Exception):
    """A token could not be had, or does not hold."""


@dataclass(frozen=True)
class Token:
    """A granted token: the authority's answer, whole, and the time it vouches for."""

    der: bytes
    gen_time: datetime
    serial: int


def request_token(
    url: str,
    statement: bytes,
    timeout_s: float = 20.0,
    roots: list[x509.Certificate] | None = None,
) -> Token:
    """Ask the authority at ``url`` to stamp ``statement``; return its token, checked against
    ``roots`` when given (a token that would fail ``verify`` later is refused now)."""
    request = TimestampRequestBuilder().data(statement).hash_algorithm(HashAlgorithm.SHA256)
    built = request.build()
    http = urllib.request.Request(
        url,
        data=built.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout_s) as answer:  # noqa: S310 - operator's URL
            body = answer.read(MAX_TOKEN_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"{url}: no token ({exc})") from exc
    if len(body) > MAX_TOKEN_BYTES:
        raise TimestampError(f"{url}: the answer is larger than a token can be")
    try:
        response = decode_timestamp_response(body)
    except ValueError as exc:
        raise TimestampError(f"{url}: the answer is not a time-stamp response ({exc})") from exc
    if PKIStatus(response.status) != PKIStatus.GRANTED:
        raise TimestampError(f"{url}: the authority refused ({response.status_string})")
    if response.tst_info.nonce != built.nonce:
        raise TimestampError(f"{url}: the token answers another request (nonce)")
    if roots:
        try:
            verify_token(body, statement, roots)
        except TimestampError as exc:
            raise TimestampError(f"{url}: {exc}") from None
    return Token(body, response.tst_info.gen_time, response.tst_info.serial_number)


def verify_token(der: bytes, statement: bytes, roots: list[x509.Certificate]) -> datetime:
    """Check a token over ``statement`` against the ``roots``; return the time it vouches for,
    or raise TimestampError saying what does not hold."""
    try:
        response = decode_timestamp_response(der)
    except ValueError as exc:
        raise TimestampError(f"the token cannot be read ({exc})") from exc
    if not roots:
        raise TimestampError("no root certificates of time-stamp authorities are configured")
    errors = []
    for root in roots:
        try:
            VerifierBuilder(roots=[root]).build().verify_message(response, statement)
            return response.tst_info.gen_time
        except VerificationError as exc:
            errors.append(str(exc))
    raise TimestampError(f"the token does not hold: {'; '.join(sorted(set(errors)))}")


def load_roots(path: str | None) -> list[x509.Certificate]:
    """Read the PEM file of trusted authorities' root certificates (none without a path)."""
    if not path:
        return []
    return list(x509.load_pem_x509_certificates(Path(path).read_bytes()))
