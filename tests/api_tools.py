"""What the API tests share: bearer keys for each role, an upload helper, a problem check."""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from catalog.db import get_session
from catalog.services.people import accounts

from .media import encode, sample

PASSWORD = "correct horse battery"
# Kept under 500 KB: larger bodies make Werkzeug's test client spool them to a temporary file
# that it leaves open when the app answers without reading the body (401, 403).
ASTRONAUT = encode(
    Image.open(io.BytesIO(sample("photos/astronaut.png"))).convert("RGB"), "JPEG", quality=90
)
SHA0 = "0" * 64


@pytest.fixture
def keys(app: Flask) -> dict[str, dict[str, str]]:
    """Bearer headers for a viewer, an analyst and an admin."""
    headers = {}
    with app.app_context():
        session = get_session()
        for role in ("viewer", "analyst", "admin"):
            accounts.create_user(session, role, PASSWORD, role)
            _, secret = accounts.create_api_key(session, role)
            headers[role] = {"Authorization": f"Bearer {secret}"}
    return headers


def upload(
    client: FlaskClient,
    headers: dict,
    data: bytes = ASTRONAUT,
    name: str = "a.png",
    metadata: dict | str | None = None,
):
    form: dict = {"file": (io.BytesIO(data), name)}
    if metadata is not None:
        form["metadata"] = metadata if isinstance(metadata, str) else json.dumps(metadata)
    return client.post(
        "/api/v1/media", headers=headers, data=form, content_type="multipart/form-data"
    )


def post_media(client: FlaskClient, headers: dict, data: bytes, name: str):  # noqa: ANN201
    """Upload through the API with the body encoded in memory: for bodies over 500 KB the test
    client spools to a temporary file that it never closes."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), filename=name)})
    return client.post(
        "/api/v1/media",
        headers=headers,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def assert_problem(response, status: int, text: str | None = None) -> None:
    """Assert an RFC 9457 answer with ``status``, a detail for people and, if given, ``text``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"] and "type" in body
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    if text is not None:
        assert text and text in json.dumps(body), (text, body)
