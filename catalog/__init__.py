"""The media-evidence catalogue: a Flask application built by ``create_app``."""

from __future__ import annotations

import os
from typing import Any, Mapping

from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: settings, database, storage, probes and commands."""
    # The instance folder holds the default database, media and secret key; deployments
    # may put it elsewhere.
    app = Flask(
        __name__,
        instance_path=os.environ.get("CATALOG_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )

    from . import config as settings

    settings.load(app, config)

    from . import cli, db, health, storage

    db.init_app(app)
    storage.init_app(app)
    health.init_app(app)
    cli.init_app(app)
    return app
