"""Liveness and readiness probes."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_on_migrated_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"


def test_readyz_on_unmigrated_database(
    fresh_database_url: str, app_factory: Callable[..., Flask]
) -> None:
    app = app_factory(fresh_database_url)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["database"] == "not migrated"


def test_readyz_when_database_is_unreachable(app_factory: Callable[..., Flask]) -> None:
    app = app_factory("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}
    assert app.test_client().get("/healthz").status_code == 200


def test_readyz_waits_for_the_index_when_it_is_preloading(app: Flask, client: FlaskClient) -> None:
    from catalog.services.media import get_index

    holder = get_index(app)
    holder.preloading = True
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json["index"] == "loading"
    with app.app_context():
        from catalog.db import get_session

        holder.refresh(get_session(), force=True)
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["index"] == "loaded"


def test_no_process_name_unless_asked(client: FlaskClient) -> None:
    assert "X-Served-By" not in client.get("/healthz").headers


def test_served_by_names_the_answering_process(
    migrated_url: str, app_factory: Callable[..., Flask]
) -> None:
    app = app_factory(migrated_url, SERVED_BY_HEADER=True)
    client = app.test_client()
    for path in ("/healthz", "/login", "/api/v1/media"):
        host, _, pid = client.get(path).headers["X-Served-By"].rpartition(":")
        assert host == socket.gethostname() and int(pid) == os.getpid(), path
