"""Embedded provenance: C2PA Content Credentials read and validated offline, XMP fields kept,
and both shown on the media page and in the API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image

from catalog.hashing.embedded import read_c2pa, read_xmp, set_trust_anchors
from catalog.hashing.pipeline import fingerprint_for_ingest

from .c2pa_tools import credentials, sign
from .media import encode, pattern, sample

XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
    'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
    'xmp:CreatorTool="Adobe Photoshop 25.0" '
    'xmp:CreateDate="2023-05-03T02:31:00+03:00" photoshop:Credit="Photographer / AFP">'
    '<xmp:History><rdf:Seq><rdf:li stEvt:action="created"/>'
    '<rdf:li stEvt:action="saved"/></rdf:Seq></xmp:History>'
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def test_signed_credentials_are_read_and_a_tampered_file_fails_validation() -> None:
    signed = sign(encode(pattern(seed=1), "JPEG"), title="smoke.jpg")
    found = read_c2pa(signed, "image/jpeg")
    assert found["present"] is True and found["validation_state"] == "Valid"
    assert found["trust"] == "untrusted"  # signed and intact, by a signer on no trust list
    assert (
        found["signer"]["common_name"] == "Test Camera"
        and found["signer"]["issuer"] == "Test Newsroom"
    )
    assert found["claim_generator"].startswith("catalogue-tests 1.0")
    assert found["actions"][0]["action"] == "c2pa.created" and found["title"] == "smoke.jpg"
    assert (
        "signingCredential.untrusted" in found["validation_status"]
    )  # our test root is on no trust list
    tampered = bytearray(signed)
    tampered[-200] ^= 0xFF  # a pixel changed after signing
    assert read_c2pa(bytes(tampered), "image/jpeg")["validation_state"] == "Invalid"
    assert read_c2pa(encode(pattern(seed=1), "JPEG"), "image/jpeg") is None
    assert read_c2pa(sample("photos/china.jpg"), "image/jpeg") is None


@pytest.fixture
def trusting_our_test_root() -> Iterator[None]:
    chain, _ = credentials()
    root = chain[chain.index(b"-----BEGIN CERTIFICATE-----", 10) :].decode()
    set_trust_anchors(root)
    yield
    set_trust_anchors(None)


def test_a_signer_on_the_trust_list_is_trusted(trusting_our_test_root: None) -> None:
    signed = sign(encode(pattern(seed=2), "JPEG"))
    found = read_c2pa(signed, "image/jpeg")
    assert (found["validation_state"], found["trust"]) == ("Trusted", "trusted")
    assert "signingCredential.untrusted" not in found["validation_status"]


def test_a_forged_claim_is_invalid_even_from_a_trusted_signer(
    trusting_our_test_root: None,
) -> None:
    signed = sign(encode(pattern(seed=2), "JPEG"), title="photo.jpg")
    at = signed.index(b"photo.jpg")
    forged = signed[:at] + b"fakes.jpg" + signed[at + 9 :]  # the claim says another title
    found = read_c2pa(forged, "image/jpeg")
    assert (found["validation_state"], found["trust"]) == ("Invalid", "invalid")
    assert "claimSignature.mismatch" in found["validation_status"]


def test_an_unparseable_manifest_is_reported_not_ignored() -> None:
    signed = bytearray(sign(encode(pattern(seed=2), "JPEG")))
    start = signed.index(b"jumb") + 200
    signed[start : start + 200] = b"\xab" * 200
    found = read_c2pa(bytes(signed), "image/jpeg")
    assert found["present"] is True and found["trust"] == "invalid" and found["error"]


def test_the_trust_list_comes_from_the_settings(
    app_factory, migrated_url: str, tmp_path: Path
) -> None:
    chain, _ = credentials()
    anchors = tmp_path / "trust.pem"
    anchors.write_bytes(chain[chain.index(b"-----BEGIN CERTIFICATE-----", 10) :])
    try:
        app_factory(migrated_url, C2PA_TRUST_ANCHORS=str(anchors))
        signed = sign(encode(pattern(seed=4), "JPEG"))
        assert read_c2pa(signed, "image/jpeg")["trust"] == "trusted"
        bad = tmp_path / "empty.pem"
        bad.write_text("not a certificate")
        with pytest.raises(RuntimeError, match="no PEM certificate"):
            app_factory(migrated_url, C2PA_TRUST_ANCHORS=str(bad))
    finally:
        set_trust_anchors(None)


def test_xmp_fields_are_kept() -> None:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(encode(pattern(seed=2), "PNG"))).convert("RGB").save(
        buffer, "JPEG", xmp=XMP.encode()
    )
    stored, _query = fingerprint_for_ingest(buffer.getvalue(), 80_000_000)
    assert stored.metadata["xmp"] == {
        "creator_tool": "Adobe Photoshop 25.0",
        "created": "2023-05-03T02:31:00+03:00",
        "credit": "Photographer / AFP",
        "history": "created, saved",
    }
    assert read_xmp(None) is None and read_xmp(b"<x:xmpmeta/>") is None


def test_credentials_are_stored_and_shown(app: Flask, client) -> None:
    from catalog.db import get_session
    from catalog.services.people import accounts

    from .test_web import PASSWORD, sign_in, uploaded

    with app.app_context():
        accounts.create_user(get_session(), "ana", PASSWORD, "analyst")
        _, key = accounts.create_api_key(get_session(), "ana")
    sign_in(client, "ana")
    media_id = uploaded(client, sign(encode(pattern(seed=3), "JPEG")), name="signed.jpg")
    page = client.get(f"/media/{media_id}").get_data(as_text=True)
    assert "c2pa" in page and "Test Camera" in page and "Valid" in page
    extracted = client.get(
        f"/api/v1/media/{media_id}", headers={"Authorization": f"Bearer {key}"}
    ).json["extracted"]
    assert extracted["c2pa"]["validation_state"] == "Valid"
