"""The media-evidence catalogue: a Flask application built by ``create_app``.

Flask is imported inside the factory so that the pure parts (``catalog.hashing``,
``catalog.index``) can be imported, and tested, without the web stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: settings, database, storage, probes, API, pages and commands."""
    from flask import Flask

    from . import api, cli, db, health, jobs, security, storage, web
    from . import config as settings
    from .services.media import matching

    # The instance folder holds the default database, media and secret key; deployments
    # may put it elsewhere.
    app = Flask(
        __name__,
        instance_path=os.environ.get("CATALOG_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    settings.load(app, config)
    db.init_app(app)
    storage.init_app(app)
    matching.init_app(app)
    jobs.init_app(app)
    health.init_app(app)
    api.init_app(app)
    web.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    return app
