"""Liveness and readiness probes for load balancers and orchestrators, and (when the
``SERVED_BY_HEADER`` setting asks for it) the name of the process behind every answer."""

from __future__ import annotations

import os
import socket

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from . import schema
from .db import database
from .security import talisman
from .services.collection import CaptureSettings, capture_refusal
from .services.media import get_index
from .storage import StorageError, get_storage

bp = Blueprint("health", __name__)


# Probes answer over plain HTTP even where FORCE_HTTPS redirects everything else: a load
# balancer or container runtime checks the server directly, behind the TLS it terminates.
@bp.get("/healthz")
@talisman(force_https=False)
def healthz() -> ResponseReturnValue:
    """Answer while the process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
@talisman(force_https=False)
def readyz() -> ResponseReturnValue:
    """Answer 200 when the database is reachable and migrated, the media store answers and
    the index is loaded; else 503 with the reason."""
    head = current_app.extensions["catalog.schema_head"]
    try:
        current = schema.current_revision(database().engine)
    except SQLAlchemyError as exc:
        current_app.logger.warning("readiness: database unreachable: %s", exc)
        return jsonify(status="unavailable", database="unreachable"), 503
    if current != head:
        return (
            jsonify(status="unavailable", database="not migrated", revision=current, expected=head),
            503,
        )
    try:
        get_storage().check()
    except StorageError as exc:
        current_app.logger.warning("readiness: media store unreachable: %s", exc)
        return jsonify(status="unavailable", database="ok", storage="unreachable"), 503
    holder = get_index()
    if holder.preloading and not holder.loaded.is_set():
        return jsonify(status="unavailable", database="ok", index="loading"), 503
    index_state = "loaded" if holder.loaded.is_set() else "on demand"
    # Captures run here (this process's embedded worker, or a worker of the same image): a
    # machine where they would be refused is not ready, and says why.
    # The probe (Chromium started once as the capture user) is not waited for: a readiness
    # probe answers at once, and names a refusal from the answer after the probe ends.
    refused = capture_refusal(CaptureSettings.from_config(current_app.config), wait=False)
    if refused:
        current_app.logger.error("readiness: captures are refused: %s", refused)
        return jsonify(status="unavailable", database="ok", storage="ok", capture=refused), 503
    return jsonify(
        status="ok",
        database="ok",
        storage="ok",
        revision=current,
        index=index_state,
        capture="unsandboxed" if current_app.config.get("CAPTURE_UNSAFE_NO_SANDBOX") else "ok",
    )


def init_app(app: Flask) -> None:
    """Register the probes."""
    # Read once: the migrations on disk do not change while the process runs.
    app.extensions["catalog.schema_head"] = schema.head_revision()
    app.register_blueprint(bp)
    if app.config["SERVED_BY_HEADER"]:
        app.after_request(_served_by)


def _served_by(response: Response) -> Response:
    # Read per answer: gunicorn forks its workers after the app is built.
    response.headers["X-Served-By"] = f"{socket.gethostname()}:{os.getpid()}"
    return response
