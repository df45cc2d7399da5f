"""The copies of every trusted timestamp kept outside the database: in the object store, under
names never rewritten, and in an export an operator sends elsewhere.

Someone able to rewrite the database can replace the audit chain and every token in it, then
have fresh tokens made over the forgery: every token left would hold. What they cannot do is
unmake the copies the store kept of the tokens they removed (``Store.keep`` never rewrites a
name, and a bucket can add versioning or object lock), nor reach an export kept elsewhere.
``check_copies`` compares the database's tokens with both and names every token one of them
holds and another lacks, and every one that differs.

A copy is one JSON document per token, named by the SHA-256 of the token's bytes
(``timestamps/<subject>/<sha256>.json``), holding the token and the statement it was made over.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.orm import Session

from ...models import TimestampToken
from ...storage import StorageError, Store
from ...tsa import TimestampError, verify_token

FOLDER = "timestamps"
EXPORT_FORMAT = "catalog-timestamps/1"
# What a copy must say the same as the database's row; the token's own bytes are its name.
COMPARED = ("subject", "subject_id", "statement", "chain_count", "chain_head", "authority")


def token_document(token: TimestampToken) -> dict[str, Any]:
    """The token and what it was made over, as its copies keep them."""
    return {
        "sha256": hashlib.sha256(token.token).hexdigest(),
        "subject": token.subject,
        "subject_id": token.subject_id,
        "statement": token.statement,
        "chain_count": token.chain_count,
        "chain_head": token.chain_head,
        "authority": token.authority,
        "gen_time": token.gen_time.astimezone(UTC).isoformat(),
        "serial": token.serial,
        "token": base64.b64encode(token.token).decode("ascii"),
    }


def copy_name(document: dict[str, Any]) -> str:
    """The name a token's copy is kept under in the store."""
    return f"{FOLDER}/{document['subject']}/{document['sha256']}.json"


def _encoded(document: dict[str, Any]) -> bytes:
    # One spelling per token, so keeping the same token again finds the same bytes.
    return json.dumps(document, sort_keys=True, indent=1).encode("utf-8")


def keep_copy(store: Store, token: TimestampToken) -> None:
    """Keep a copy of ``token`` in the store (StorageError when it cannot be written)."""
    document = token_document(token)
    store.keep(copy_name(document), _encoded(document))


def keep_missing_copies(session: Session, store: Store) -> int:
    """Keep a copy of every token the store has none of (made before copies were kept);
    return how many were written."""
    held = {name for name in store.kept_names(FOLDER)}
    written = 0
    for token in _tokens(session):
        document = token_document(token)
        if copy_name(document) not in held:
            store.keep(copy_name(document), _encoded(document))
            written += 1
    return written


def export_document(session: Session) -> dict[str, Any]:
    """Every token with its statement, to be kept away from the catalogue and checked later
    (``catalog verify --tokens``)."""
    return {
        "format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "tokens": [token_document(token) for token in _tokens(session)],
    }


def read_export(data: bytes) -> list[dict[str, Any]]:
    """Return the token documents of an export; raise ValueError when it is not one."""
    try:
        loaded = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an export of timestamps ({exc})") from None
    if not isinstance(loaded, dict) or loaded.get("format") != EXPORT_FORMAT:
        raise ValueError(f"not an export of timestamps (no format {EXPORT_FORMAT!r})")
    tokens = loaded.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, dict) for t in tokens):
        raise ValueError("not an export of timestamps (no list of tokens)")
    return tokens


def der_of(document: dict[str, Any]) -> bytes:
    """The token's own bytes (DER), from its document; ValueError when they cannot be read."""
    try:
        return base64.b64decode(str(document.get("token", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("its token is not base64") from None


def check_copies(
    session: Session,
    store: Store,
    roots: list[x509.Certificate],
    exported: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Compare the database's tokens with the copies the store keeps (and with an export):
    name each token one holds and another lacks, and each one that differs."""
    faults: list[str] = []
    ours = {}
    for token in _tokens(session):
        document = token_document(token)
        ours[document["sha256"]] = (token.id, document)
    kept = _kept_copies(store, faults)
    for digest, (token_id, document) in ours.items():
        name = f"token {token_id} ({_what(document)}, {document['authority']})"
        copy = kept.pop(digest, None)
        if copy is None:
            faults.append(
                f"{name}: the store keeps no copy of it (made before copies were kept: run "
                "`catalog timestamps keep`; or its copy was removed)"
            )
        else:
            faults.extend(f"{name}: {d} the copy the store keeps" for d in _differ(document, copy))
    for document in kept.values():
        faults.append(
            f"the store keeps a token over {_what(document)} ({document.get('authority')}, "
            f"{document.get('gen_time')}) that the database does not hold: tokens were removed "
            f"or replaced there{_holds(document, roots)}"
        )
    for document in exported or []:
        digest = str(document.get("sha256"))
        found = ours.get(digest)
        name = f"the exported token over {_what(document)} ({document.get('gen_time')})"
        if found is None:
            faults.append(
                f"{name} is not in the database: tokens were removed or replaced there"
                f"{_holds(document, roots)}"
            )
        else:
            faults.extend(f"token {found[0]}: {d} the export" for d in _differ(found[1], document))
        if store.read_kept(copy_name(document)) is None:
            faults.append(f"{name} has no copy in the store: the copy was removed")
    return faults


def _tokens(session: Session) -> Iterator[TimestampToken]:
    yield from session.scalars(sa.select(TimestampToken).order_by(TimestampToken.id))


def _kept_copies(store: Store, faults: list[str]) -> dict[str, dict[str, Any]]:
    """Read every copy the store keeps, by the digest of its token; note the unreadable."""
    copies: dict[str, dict[str, Any]] = {}
    try:
        names = list(store.kept_names(FOLDER))
    except StorageError as exc:
        faults.append(f"the copies of the tokens cannot be listed ({exc})")
        return copies
    for name in names:
        try:
            document = json.loads(store.read_kept(name) or b"null")
            digest = hashlib.sha256(der_of(document)).hexdigest()
            if copy_name(document) != name or digest != document.get("sha256"):
                raise ValueError("it does not hold the token its name promises")
        except (StorageError, ValueError, TypeError, AttributeError, KeyError) as exc:
            faults.append(f"the copy {name} in the store cannot be read ({exc})")
            continue
        copies[digest] = document
    return copies


def _what(document: dict[str, Any]) -> str:
    if document.get("subject") == "audit_head":
        return f"the audit chain's head at {document.get('chain_count')} events"
    return f"{document.get('subject')} #{document.get('subject_id')}"


def _differ(ours: dict[str, Any], theirs: dict[str, Any]) -> Iterator[str]:
    for field in COMPARED:
        if ours.get(field) != theirs.get(field):
            yield f"its {field} is {ours.get(field)!r} here, {theirs.get(field)!r} in"


def _holds(document: dict[str, Any], roots: list[x509.Certificate]) -> str:
    """Say whether a token known only from a copy holds over its statement."""
    if not roots:
        return ""
    try:
        verify_token(der_of(document), str(document.get("statement", "")).encode(), roots)
    except (TimestampError, ValueError) as exc:
        return f" (and the copy does not hold: {exc})"
    return " (the copy holds: an authority vouched for it)"
