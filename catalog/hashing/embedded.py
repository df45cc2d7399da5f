"""Provenance a file carries inside itself: C2PA Content Credentials (read and validated with
c2pa-python, offline: no remote manifests, no OCSP) and the XMP fields that say which tool
made or changed a picture. Pure: bytes in, JSON-ready dictionaries out."""

from __future__ import annotations

import json
import re
from typing import Any

from .views import Source, stream_of

XMP_FIELDS = {
    "CreatorTool": "creator_tool",
    "CreateDate": "created",
    "ModifyDate": "modified",
    "MetadataDate": "metadata_date",
    "DocumentID": "document_id",
    "InstanceID": "instance_id",
    "OriginalDocumentID": "original_document_id",
    "Credit": "credit",
    "Source": "source",
    "DateCreated": "date_created",
    "Headline": "headline",
    "DigitalSourceType": "digital_source_type",
    "Label": "label",
}
# The head of an XMP packet that is read, the longest value kept, and the edit history's length.
MAX_XMP_CHARS = 256 * 1024
XMP_VALUE_CHARS = 500
XMP_HISTORY_LIMIT = 20
# prefix:Name="value" or <prefix:Name>value</prefix:Name>. Each part is bounded and a name must
# start where a word starts, so a match attempt costs at most a name and a value.
_NAME = r"[A-Za-z][\w.-]{0,40}"
_XMP_PROPERTY = re.compile(
    rf"(?<![\w.-])(?P<attr_prefix>{_NAME}):(?P<attr_name>[A-Za-z]\w{{0,40}})="
    rf'"(?P<attr_value>[^"<]{{0,{XMP_VALUE_CHARS}}})"'
    rf"|<{_NAME}:(?P<elem_name>[A-Za-z]\w{{0,40}})>(?P<elem_value>[^<]{{0,{XMP_VALUE_CHARS}}})<"
)
# The signers this process trusts (PEM certificates, e.g. the C2PA trust list), set once per
# process by set_trust_anchors; None trusts no one, so a signature is only "signed".
_TRUST_ANCHORS: str | None = None
_C2PA_CONTEXT: Any = None
# What a manifest's signature tells: a trusted signer, a signer not on the trust list (the
# file is intact and signed, but anyone can make a certificate), or a broken manifest.
TRUSTED, UNTRUSTED, INVALID = "trusted", "untrusted", "invalid"


def set_trust_anchors(pem: str | None) -> None:
    """Trust signers chained to these PEM certificates from now on in this process."""
    global _TRUST_ANCHORS, _C2PA_CONTEXT
    _TRUST_ANCHORS = (pem.strip() or None) if pem else None
    _C2PA_CONTEXT = None


def _context() -> Any:
    """A c2pa Context that never goes to the network (evidence is checked offline)."""
    global _C2PA_CONTEXT
    if _C2PA_CONTEXT is None:
        import c2pa

        settings: dict[str, Any] = {
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True}
        }
        if _TRUST_ANCHORS:
            settings["trust"] = {"trust_anchors": _TRUST_ANCHORS}
        _C2PA_CONTEXT = c2pa.Context(c2pa.Settings.from_dict(settings))
    return _C2PA_CONTEXT


def _trust_of(state: str) -> str:
    if state == "Trusted":
        return TRUSTED
    if state == "Valid":
        return UNTRUSTED
    return INVALID


def read_c2pa(data: Source, mime_type: str) -> dict[str, Any] | None:
    """Return a summary of the file's C2PA manifest store, or None when it has none."""
    import c2pa

    try:
        reader = c2pa.Reader(mime_type, stream_of(data), context=_context())
    except c2pa.C2paError as exc:
        if (
            "ManifestNotFound" in type(exc).__name__
            or "no JUMBF" in str(exc)
            or "NotSupported" in type(exc).__name__
        ):
            return None
        # A manifest that cannot even be parsed is itself a finding.
        return {
            "present": True,
            "validation_state": "Invalid",
            "trust": INVALID,
            "error": str(exc)[:500],
        }
    try:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
    finally:
        reader.close()
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    generator = active.get("claim_generator_info") or []
    signature = active.get("signature_info") or {}
    actions = []
    for assertion in active.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                actions.append(
                    {
                        k: action[k]
                        for k in ("action", "digitalSourceType", "softwareAgent", "when")
                        if k in action and isinstance(action[k], str)
                    }
                )
    codes = [s.get("code") for s in store.get("validation_status", []) if isinstance(s, dict)]
    return {
        "present": True,
        "validation_state": state,
        "trust": _trust_of(state),
        "validation_status": codes,
        "active_manifest": store.get("active_manifest"),
        "manifests": len(store.get("manifests", {})),
        "title": active.get("title"),
        "claim_generator": ", ".join(
            f"{g.get('name', '')} {g.get('version', '')}".strip()
            for g in generator
            if isinstance(g, dict)
        )
        or active.get("claim_generator"),
        "signer": {
            k: signature.get(k)
            for k in ("issuer", "common_name", "alg", "time")
            if signature.get(k)
        },
        "actions": actions,
        "ingredients": [
            i.get("title") for i in active.get("ingredients", []) if isinstance(i, dict)
        ],
    }


def read_xmp(packet: bytes | str | None) -> dict[str, str] | None:
    """Return the XMP fields analysts use from an XMP packet (attributes or elements)."""
    if not packet:
        return None
    # Only the head of an oversized packet is read: the fields sit in its first description.
    head = packet[:MAX_XMP_CHARS]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    found: dict[str, str] = {}
    history: list[str] = []
    # One pass over the packet with bounded patterns: no XML parser runs on untrusted input,
    # and no pattern backtracks over more than a name or a value, so the time grows with the
    # packet's length (a quadratic pattern let 64 KB of XMP stall a worker for minutes).
    for match in _XMP_PROPERTY.finditer(text):
        name = match.group("attr_name") or match.group("elem_name")
        value = match.group("attr_value") if match.group("attr_name") else match.group("elem_value")
        if name == "action" and match.group("attr_prefix") == "stEvt":
            if len(history) < XMP_HISTORY_LIMIT and value:
                history.append(value[:50])
            continue
        key = XMP_FIELDS.get(name)
        if key and key not in found and value.strip():
            found[key] = value.strip()
    if history:
        found["history"] = ", ".join(history)
    return found or None
