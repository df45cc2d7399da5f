"""Captures and uploads are limited per user (CAPTURE_RATE_LIMIT, UPLOAD_RATE_LIMIT): past the
limit the API answers 429 problem+json with Retry-After and the form says so, nothing is
stored or queued; the count is the user's, in the pages and the API together, so another
user is not held up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from catalog.db import get_session
from catalog.jobs import queue
from catalog.models import Capture, Media

from .api_tools import ASTRONAUT, assert_problem, keys, upload
from .conftest import make_test_app
from .test_web import sign_in, smaller, token
from .test_web import upload as upload_on_the_form

__all__ = ["keys"]  # a fixture, used by name

URL = "https://example.org/post/1"


def count(app: Flask, model: type) -> int:
    with app.app_context():
        return int(get_session().scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_captures_past_a_users_limit_are_refused_in_the_api_and_the_form(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    app.config["CAPTURE_RATE_LIMIT"] = "2 per minute"
    for _ in range(2):
        asked = client.post("/api/v1/captures", json={"url": URL}, headers=keys["analyst"])
        assert asked.status_code == 202, asked.json
    over = client.post("/api/v1/captures", json={"url": URL}, headers=keys["analyst"])
    assert_problem(over, 429, "try again in")
    assert 0 < int(over.headers["Retry-After"]) <= 60
    assert count(app, Capture) == 2 and queue(app).pending_count() == 2
    # Another user's count is their own.
    other = client.post("/api/v1/captures", json={"url": URL}, headers=keys["admin"])
    assert other.status_code == 202
    # The form counts against the same user: refused with the reason on the form.
    sign_in(client, "analyst")
    sent = client.post("/captures", data={"csrf_token": token(client, "/captures"), "url": URL})
    assert sent.status_code == 429
    html = sent.get_data(as_text=True)
    assert re.search(r"too many captures asked for by this user for now: try again in \d+ s", html)
    assert 'name="url"' in html and count(app, Capture) == 3


def test_the_capture_form_is_limited_and_then_the_api(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    app.config["CAPTURE_RATE_LIMIT"] = "1 per minute"
    sign_in(client, "analyst")
    first = client.post("/captures", data={"csrf_token": token(client, "/captures"), "url": URL})
    assert first.status_code == 302
    again = client.post("/captures", data={"csrf_token": token(client, "/captures"), "url": URL})
    assert again.status_code == 429 and "try again in" in again.get_data(as_text=True)
    api = client.post("/api/v1/captures", json={"url": URL}, headers=keys["analyst"])
    assert_problem(api, 429)
    assert count(app, Capture) == 1


def test_uploads_past_a_users_limit_are_refused_in_the_api_and_the_form(
    app: Flask, client: FlaskClient, keys: dict
) -> None:
    app.config["UPLOAD_RATE_LIMIT"] = "1 per minute"
    assert upload(client, keys["analyst"]).status_code == 201
    other = smaller(ASTRONAUT)
    over = upload(client, keys["analyst"], other, "m.jpg")
    assert_problem(over, 429, "too many uploads")
    assert int(over.headers["Retry-After"]) > 0 and count(app, Media) == 1
    assert upload(client, keys["admin"], other, "m.jpg").status_code == 201
    sign_in(client, "analyst")
    refused = upload_on_the_form(client, ASTRONAUT)
    assert refused.status_code == 429
    assert "too many uploads asked for by this user" in refused.get_data(as_text=True)
    assert count(app, Media) == 2


def test_a_limit_that_is_not_one_stops_the_start(migrated_url: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a rate limit"):
        make_test_app(migrated_url, tmp_path, UPLOAD_RATE_LIMIT="plenty")
