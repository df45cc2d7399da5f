"""Provenance a file carries inside itself: C2PA Content Credentials (read and validated with
c2pa-python, offline: no remote manifests, no OCSP) and the XMP fields that say which tool
made or changed a picture. Pure: bytes in, JSON-ready dictionaries out."""

from __future__ import annotations

import io
import json
import re
from typing import Any

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
_C2PA_CONTEXT: Any = None


def _context() -> Any:
    """A c2pa Context that never goes to the network (evidence is checked offline)."""
    global _C2PA_CONTEXT
    if _C2PA_CONTEXT is None:
        import c2pa

        settings = c2pa.Settings.from_dict(
            {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        )
        _C2PA_CONTEXT = c2pa.Context(settings)
    return _C2PA_CONTEXT


def read_c2pa(data: bytes, mime_type: str) -> dict[str, Any] | None:
    """Return a summary of the file's C2PA manifest store, or None when it has none."""
    import c2pa

    try:
        reader = c2pa.Reader(mime_type, io.BytesIO(data), context=_context())
    except c2pa.C2paError as exc:
        if (
            "ManifestNotFound" in type(exc).__name__
            or "no JUMBF" in str(exc)
            or "NotSupported" in type(exc).__name__
        ):
            return None
        # A manifest that cannot even be parsed is itself a finding.
        return {"present": True, "validation_state": "Invalid", "error": str(exc)[:500]}
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
    return {
        "present": True,
        "validation_state": state,
        "validation_status": [
            s.get("code") for s in store.get("validation_status", []) if isinstance(s, dict)
        ],
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
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    found: dict[str, str] = {}
    for name, key in XMP_FIELDS.items():
        # Plain pattern matching: no XML parser runs on untrusted input.
        match = re.search(rf'\w+:{name}="([^"]{{1,500}})"', text) or re.search(
            rf"<\w+:{name}>([^<]{{1,500}})</\w+:{name}>", text
        )
        if match:
            found[key] = match.group(1).strip()
    history = re.findall(r'stEvt:action="([^"]{1,50})"', text)
    if history:
        found["history"] = ", ".join(history[:20])
    return found or None
